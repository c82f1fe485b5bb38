"""``cli/dataclass_snapshot.py``: a dataclass finished from its recorded recipe is the class
``dataclasses`` makes: the same dictionary in the same order, the same functions (code, names,
defaults, annotations, globals, closure contents), the same fields. A recipe whose conditions do
not hold, or a class without one, is left to ``dataclasses``."""

from __future__ import annotations

import dataclasses
import enum
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from ccverify.cli import dataclass_code, dataclass_snapshot, module_store

REPO = Path(__file__).resolve().parents[2]

#: classes of many shapes; ``{deco}`` is the decorator's arguments
SHAPES = '''
from __future__ import annotations
import dataclasses, enum
from dataclasses import dataclass, field, KW_ONLY, InitVar
from typing import ClassVar

class Colour(enum.Enum):
    RED = 1

def make_list():
    return [1]

@dataclass({deco})
class Plain:
    """plain"""
    a: int
    b: str = "x"
    c: tuple[int, ...] = ()
    d: Colour = Colour.RED

@dataclass({deco})
class WithFields:
    """fields"""
    a: int = field(default=3, repr=False)
    b: list[int] = field(default_factory=make_list, compare=False)
    c: dict[str, int] = field(default_factory=dict, hash=False, metadata={{"k": 1}})
    d: bytes = field(default=b"", kw_only=True)

@dataclass({deco})
class KwOnly:
    """kw-only"""
    a: int
    _: KW_ONLY
    b: int = 2
    c: str = "c"

@dataclass({deco})
class WithClassVar:
    """class variables and init-only variables"""
    limit: ClassVar[int] = 5
    a: int = 0
    scale: InitVar[int] = 1

    def __post_init__(self, scale: int) -> None:
        object.__setattr__(self, "a", self.a * scale) if {frozen} else setattr(self, "a", self.a * scale)

@dataclass({deco})
class Child(Plain):
    """a dataclass base"""
    e: float = 1.5

@dataclass({deco})
class Empty:
    """no fields"""

@dataclass({deco})
class Self:
    """a field named self"""
    self: int = 1
'''

DECORATORS = [
    ("frozen=True", True),
    ("frozen=True, order=True", True),
    ("frozen=True, slots=True", True),
    ("eq=False", False),
    ("unsafe_hash=True", False),
    ("", False),
    ("repr=False, match_args=False", False),
]


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"<{name}>", "exec", dont_inherit=True), module.__dict__)
    return module


def _classes(module: types.ModuleType) -> dict[str, type]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module.__name__
    }


def describe(value: Any, module: types.ModuleType, depth: int = 0) -> Any:
    """What makes a class (or a value in it) what it is, with the module and its classes named,
    so that two imports of the same source compare equal."""
    if depth > 6:
        return "..."
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return (type(value).__name__, value)
    if isinstance(value, tuple):
        return ("tuple", tuple(describe(v, module, depth + 1) for v in value))
    if isinstance(value, dict):
        return ("dict", [(k, describe(v, module, depth + 1)) for k, v in value.items()])
    if isinstance(value, types.MappingProxyType):
        return ("mappingproxy", [(k, describe(v, module, depth + 1)) for k, v in value.items()])
    if isinstance(value, set):
        return ("set", sorted(map(repr, value)))
    if isinstance(value, types.FunctionType):
        owner = "own" if value.__globals__ is module.__dict__ else value.__globals__.get("__name__")
        return (
            "function",
            describe(value.__code__, module, depth + 1),
            value.__name__,
            value.__qualname__,
            value.__module__,
            value.__doc__,
            owner,
            describe(value.__defaults__, module, depth + 1),
            describe(value.__kwdefaults__, module, depth + 1),
            describe(value.__annotations__, module, depth + 1),
            describe(tuple(c.cell_contents for c in value.__closure__ or ()), module, depth + 1),
            describe(value.__dict__, module, depth + 1),
        )
    if isinstance(value, types.CodeType):
        consts = tuple(describe(c, module, depth + 1) for c in value.co_consts)
        return (
            "code",
            value.co_code,
            consts,
            value.co_names,
            value.co_varnames,
            value.co_freevars,
            value.co_qualname,
        )
    if isinstance(value, (classmethod, staticmethod)):
        return (type(value).__name__, describe(value.__func__, module, depth + 1))
    if isinstance(value, property):
        return ("property", *(describe(f, module, depth + 1) for f in (value.fget, value.fset, value.fdel)))
    if isinstance(value, dataclasses.Field):
        slots = dataclasses.Field.__slots__
        return ("Field", [(s, describe(getattr(value, s), module, depth + 1)) for s in slots])
    if isinstance(value, dataclasses._DataclassParams):  # type: ignore[attr-defined]
        return ("params", repr(value))
    if isinstance(value, type):
        if value.__module__ == module.__name__:
            return ("own class", value.__qualname__)
        return ("class", value.__module__, value.__qualname__)
    if isinstance(value, enum.Enum):
        return ("enum", type(value).__qualname__, value.name)
    for name in ("MISSING", "_HAS_DEFAULT_FACTORY", "_FIELD", "_FIELD_CLASSVAR", "_FIELD_INITVAR"):
        if value is getattr(dataclasses, name):
            return ("dataclasses", name)
    return ("other", type(value).__qualname__, re.sub(" at 0x[0-9a-f]+", "", repr(value)))


def describe_class(cls: type, module: types.ModuleType) -> Any:
    return (
        [c.__qualname__ for c in cls.__mro__],
        list(cls.__dict__),
        [(k, describe(v, module)) for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")],
    )


def _record(name: str, source: str) -> tuple[types.ModuleType, dict[str, dict[str, tuple[Any, ...]]]]:
    table: dict[str, dict[str, tuple[Any, ...]]] = {}
    original = dataclasses._process_class  # type: ignore[attr-defined]
    dataclasses._process_class = dataclass_snapshot.recorder(original, table)  # type: ignore[attr-defined]
    try:
        return _module(name, source), table
    finally:
        dataclasses._process_class = original  # type: ignore[attr-defined]


def _follow(
    name: str, source: str, table: dict[str, dict[str, tuple[Any, ...]]]
) -> tuple[types.ModuleType, list[str]]:
    """The module made with the recipes in ``table``; the classes ``dataclasses`` finished."""
    original = dataclasses._process_class  # type: ignore[attr-defined]
    left: list[str] = []

    def fallback(cls: type, *args: Any) -> type:
        left.append(cls.__qualname__)
        return original(cls, *args)  # type: ignore[no-any-return]

    dataclasses._process_class = dataclass_snapshot.fast_process_class(  # type: ignore[attr-defined]
        lambda module: table.get(module, {}), fallback
    )
    try:
        return _module(name, source), left
    finally:
        dataclasses._process_class = original  # type: ignore[attr-defined]


@pytest.mark.parametrize(("deco", "frozen"), DECORATORS)
def test_a_class_from_its_recipe_is_the_class_dataclasses_makes(deco: str, frozen: bool) -> None:
    source = SHAPES.format(deco=deco, frozen=frozen)
    name = "ccverify_snapshot_shapes"
    recorded, table = _record(name, source)
    followed, left = _follow(name, source, table)
    plain = _module(name, source)
    assert set(table[name]) == set(_classes(plain))  # every shape has a recipe
    assert left == []  # and each one was followed
    for qualname, cls in _classes(plain).items():
        expected = describe_class(cls, plain)
        assert describe_class(_classes(recorded)[qualname], recorded) == expected
        assert describe_class(_classes(followed)[qualname], followed) == expected, qualname
    # and they behave alike
    for module in (plain, followed):
        p = module.Plain(1)
        if "repr=False" not in deco:
            assert repr(p) == "Plain(a=1, b='x', c=(), d=<Colour.RED: 1>)"
        assert (p == module.Plain(1)) is ("eq=False" not in deco)
        w = module.WithFields()
        assert w.b == [1] and w.c == {} and w.d == b""
        assert module.WithClassVar(2, 3).a == 6 and module.WithClassVar.limit == 5
        assert module.KwOnly(1, c="z").c == "z"
        if frozen:
            with pytest.raises(dataclasses.FrozenInstanceError):
                p.a = 2  # type: ignore[misc]
            assert hash(p) == hash(module.Plain(1))
    assert dataclasses.fields(followed.Child)[-1].name == "e"


def test_a_recipe_whose_conditions_do_not_hold_is_left_to_dataclasses() -> None:
    name = "ccverify_snapshot_changed"
    source = SHAPES.format(deco="frozen=True", frozen=True)
    _, table = _record(name, source)
    changes = [
        source.replace('    b: str = "x"', '    b: bytes = b"x"'),  # an annotation
        source.replace('    b: str = "x"', '    b: str = field(default="x", repr=False)'),  # field(...)
        source.replace('    """plain"""', '    """plain"""\n    extra = 1'),  # the class dictionary
        source.replace("class Child(Plain):", "class Child(WithFields):"),  # the bases' fields
        source.replace("@dataclass(frozen=True)\nclass Plain", "@dataclass(frozen=True, eq=0)\nclass Plain"),
    ]
    for changed in changes:
        followed, left = _follow(name, changed, table)
        plain = _module(name, changed)
        assert left, changed  # at least the changed class was made by dataclasses
        for qualname, cls in _classes(plain).items():
            assert describe_class(_classes(followed)[qualname], followed) == describe_class(cls, plain)


def test_classes_without_a_recipe() -> None:
    """Annotations that are not strings, a metaclass, a docstring written from the signature:
    no recipe, and the class is what dataclasses makes."""
    source = textwrap.dedent(
        '''
        import abc
        from dataclasses import dataclass

        @dataclass(frozen=True)
        class Evaluated:
            """annotations evaluated: no __future__ import"""
            a: int = 1

        @dataclass(frozen=True)
        class Abstract(abc.ABC):
            """an ABC"""
            a: int = 1

        @dataclass(frozen=True)
        class Undocumented:
            a: int = 1
        '''
    )
    name = "ccverify_snapshot_none"
    _, table = _record(name, source)
    assert table.get(name, {}) == {}
    followed, left = _follow(name, source, table)
    assert sorted(left) == ["Abstract", "Evaluated", "Undocumented"]
    assert followed.Undocumented.__doc__ == "Undocumented(a: int = 1)"


def test_a_recipe_holds_only_what_the_table_can() -> None:
    """A value the recipe cannot say where it came from is no recipe (here: a default that is
    a function, whose origin is the class body)."""
    source = "from __future__ import annotations\nfrom dataclasses import dataclass\n" + textwrap.dedent(
        '''
        def helper() -> int:
            return 1

        @dataclass(frozen=True)
        class Odd:
            """a default that is a set"""
            a: frozenset[int] = frozenset({1})
        '''
    )
    name = "ccverify_snapshot_odd"
    _, table = _record(name, source)
    followed, left = _follow(name, source, table)
    plain = _module(name, source)
    assert describe_class(followed.Odd, followed) == describe_class(plain.Odd, plain)
    assert left == ([] if table.get(name) else ["Odd"])


# the guest path, as the payload makes it: recorded, then followed after a fresh import
_GUEST_PATH = r"""
import dataclasses, importlib, json, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/tests/unit")
from ccverify.cli import dataclass_snapshot
table = {}
original = dataclasses._process_class
dataclasses._process_class = dataclass_snapshot.recorder(original, table)
names = json.loads(sys.argv[2])
for name in names:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
def classes():
    out = {}
    for name in names:
        module = sys.modules.get(name)
        for value in vars(module).values() if module else ():
            if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == name:
                out[name + ":" + value.__qualname__] = json.dumps(describe_class(value, module), default=repr)
    return out
from test_dataclass_snapshot import describe_class
first = classes()
for name in [n for n in sys.modules if n.startswith("ccverify.") and n != "ccverify.cli.dataclass_snapshot"]:
    del sys.modules[name]
left = []
def fallback(cls, *args):
    left.append(cls.__module__ + ":" + cls.__qualname__)
    return original(cls, *args)
dataclasses._process_class = dataclass_snapshot.fast_process_class(lambda m: table.get(m, {}), fallback)
for name in names:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
from test_dataclass_snapshot import describe_class
second = classes()
print(json.dumps({"first": first, "second": second, "left": left,
                  "recipes": sum(len(t) for t in table.values())}))
"""


def test_the_guest_path_classes_from_recipes_are_the_same() -> None:
    """Every dataclass on the guest path, made again from its recipe after a fresh import,
    describes the same as the one dataclasses made."""
    import json

    from ccverify.cli.hook_payload import GUEST_ENTRY, static_closure

    names = sorted(n for n in static_closure(GUEST_ENTRY)[0] if n.startswith("ccverify."))
    done = subprocess.run(
        [sys.executable, "-c", _GUEST_PATH, str(REPO), json.dumps(names)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["recipes"] >= 100
    assert len(result["left"]) <= 5, result["left"]  # nearly every class followed its recipe
    assert result["second"].keys() == result["first"].keys()
    different = [k for k in result["first"] if result["first"][k] != result["second"][k]]
    assert different == []


def test_the_table_follows_recipes_only_with_the_store_of_its_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dataclasses, "exec", None, raising=False)
    monkeypatch.setattr(dataclasses, "_process_class", dataclasses._process_class)  # type: ignore[attr-defined]
    recorded = dataclass_code.recorder()
    name = "ccverify_snapshot_build"
    _module(name, SHAPES.format(deco="frozen=True", frozen=True))
    monkeypatch.undo()
    assert recorded.recipes[name]
    path = tmp_path / "table.bin"
    path.write_bytes(dataclass_code.dump(recorded, build="build-1"))
    assert dataclass_code.read_build(path.read_bytes()) == "build-1"
    for store_build, follows in (("build-2", False), ("", False), ("build-1", True)):
        monkeypatch.setattr(module_store, "BUILD", store_build)
        monkeypatch.setattr(dataclasses, "exec", None, raising=False)
        original = dataclasses._process_class  # type: ignore[attr-defined]
        monkeypatch.setattr(dataclasses, "_process_class", original)
        assert dataclass_code.install(str(path))
        assert (dataclasses._process_class is not original) is follows  # type: ignore[attr-defined]
        monkeypatch.undo()


def test_a_class_with_slots_of_its_own() -> None:
    """Fields declared in the class's own ``__slots__`` have no default (their class attribute
    is the slot's descriptor), at boot as when recorded."""
    source = textwrap.dedent(
        '''
        from __future__ import annotations
        from dataclasses import dataclass

        @dataclass(frozen=True)
        class Slotted:
            """slots written by hand"""
            __slots__ = ("a", "b")
            a: int
            b: str
        '''
    )
    name = "ccverify_snapshot_slotted"
    _, table = _record(name, source)
    followed, left = _follow(name, source, table)
    plain = _module(name, source)
    assert table[name] and left == []
    assert describe_class(followed.Slotted, followed) == describe_class(plain.Slotted, plain)
    assert followed.Slotted(1, "x") == followed.Slotted(1, "x") and not hasattr(
        followed.Slotted(1, "x"), "__dict__"
    )


@pytest.mark.parametrize("recipe", [(), ("not", "a", "recipe"), None, (1,) * 9])
def test_a_damaged_recipe_is_left_to_dataclasses(recipe: Any) -> None:
    name = "ccverify_snapshot_damaged"
    source = SHAPES.format(deco="frozen=True", frozen=True)
    followed, left = _follow(name, source, {name: {"Plain": recipe}})
    plain = _module(name, source)
    assert "Plain" in left
    assert describe_class(followed.Plain, followed) == describe_class(plain.Plain, plain)
