"""Dataclasses finished at boot from what the build recorded, without ``dataclasses`` working it out.

Even with its methods' code compiled at build time (``cli/dataclass_code.py``), ``dataclasses``
spends about 0.1 ms per class deciding what to write: each annotation tested for ``ClassVar``,
``InitVar`` and ``KW_ONLY`` with a regular expression and a look-up in the module, a ``Field``
per annotation, each method's text put together and looked up, and so on. On the guest path that
is about 10 ms of local-mode ``guest authorize`` on the host and a tenth of it in the VM.

While the hook's payload is built, its loader imports the guest path with ``recorder`` in
place: after ``dataclasses`` has finished a class, the class's dictionary before and after tells
what it did, and a recipe says how to do the same from the class alone:

- what must hold for the recipe to apply: the decorator's arguments, the class dictionary's
  keys, its annotations, the fields its dataclass bases give, and which fields are written as
  ``field(...)``;
- the fields: which ``Field`` each annotation gets (its kind, ``kw_only``);
- the keys removed and, in order, the keys set, each with where its value comes from: the class,
  a field's default, factory or type, an attribute of ``dataclasses`` or ``builtins``
  (``MISSING``, ``object``, ``FrozenInstanceError``), a constant, or a function: its code (the
  very code ``dataclasses`` compiled), its globals, and where each closure cell, default and
  annotation comes from.

A recipe is kept only if following it, there and then, gives the same dictionary, key for key in
the same order, with functions equal in code, names, defaults, annotations, globals and closure
contents, and fields equal in every slot (``same``). Anything else (an annotation that is not a
string, a metaclass, a value it cannot say where it came from) leaves the class to
``dataclasses``.

At boot, ``fast_process_class`` stands in for ``dataclasses._process_class``: a class with a
recipe whose conditions hold is finished from it; any other class, as before. The table holding
the recipes (``cli/dataclass_code.py``) is used only with the module store it was built with
(the same build id), so a recipe always meets the code it was recorded from.
Standard library only: it runs before anything else is imported.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: this runs before anything else is imported
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: where a value may come from by name: ``dataclasses``' own objects, then the builtins
_MODULES = ("dataclasses", "builtins")
#: ``dataclasses``' field kinds, by the name of their marker
_KINDS = ("_FIELD", "_FIELD_CLASSVAR", "_FIELD_INITVAR")


class Unrecordable(Exception):
    """The class cannot be finished from a recipe (it is left to ``dataclasses``)."""


# ---------------------------------------------------------------------------------- at boot


def _value(source: tuple[Any, ...], cls: type, fields: dict[str, Any]) -> Any:
    kind = source[0]
    if kind == "field":
        return getattr(fields[source[1]], source[2])
    if kind == "const":
        return source[1]
    if kind == "attr":
        return getattr(sys.modules[source[1]], source[2])
    if kind == "cls":
        return cls
    if kind == "fn":
        return _function(source, cls, fields)
    if kind == "fields":
        return fields
    if kind == "params":
        return sys.modules["dataclasses"]._DataclassParams(*source[1])
    if kind == "recursive_repr":
        wrapper = sys.modules["dataclasses"]._recursive_repr(_value(source[1], cls, fields))
        wrapper.__qualname__ = source[2]
        return wrapper
    raise Unrecordable(f"no such source {kind!r}")


def _cell_type() -> type:
    value = None
    return type((lambda: value).__closure__[0])  # type: ignore[index]


_FunctionType: Any = type(_value)
_CellType: Any = _cell_type()  # types.CellType, without importing types before anything else


def _function(source: tuple[Any, ...], cls: type, fields: dict[str, Any]) -> Any:
    _, code, module, closure, defaults, kwdefaults, annotations, qualname = source
    fn = _FunctionType(
        code,
        sys.modules[module].__dict__,
        None,
        None if defaults is None else tuple([_value(s, cls, fields) for s in defaults]),
        None if closure is None else tuple([_CellType(_value(s, cls, fields)) for s in closure]),
    )
    if kwdefaults is not None:
        fn.__kwdefaults__ = {name: _value(s, cls, fields) for name, s in kwdefaults}
    if annotations:  # left alone, a function's annotations are an empty dictionary
        fn.__annotations__ = {name: _value(s, cls, fields) for name, s in annotations}
    fn.__qualname__ = qualname
    return fn


def shape(f: Any, missing: Any) -> tuple[Any, ...]:
    """What of a field the methods ``dataclasses`` writes depend on (besides its name and type)."""
    return (
        f.name,
        f.init,
        f.repr,
        f.hash,
        f.compare,
        None if f.kw_only is missing else f.kw_only,
        f.default is missing,
        f.default_factory is missing,
        f._field_type is None or f._field_type.name,
    )


def _fields(recipe: tuple[Any, ...], cls: type) -> dict[str, Any] | None:
    """The class's fields as ``dataclasses`` would make them (None, and nothing changed: the
    recipe does not apply). A ``field(...)`` in the class body is completed in place, as
    ``dataclasses`` completes it."""
    _args, keys, annotations, bases, own, post_init = recipe[:6]
    namespace = cls.__dict__
    if (
        type(cls) is not type
        or tuple(namespace) != keys
        or namespace.get("__annotations__", {}) != annotations
    ):
        return None
    dataclasses = sys.modules["dataclasses"]
    field_class, missing = dataclasses.Field, dataclasses.MISSING
    fields = _base_fields(cls)
    if len(fields) != len(bases) or any(
        shape(f, missing) != s for f, s in zip(fields.values(), bases, strict=False)
    ):
        return None
    if hasattr(cls, "__post_init__") != post_init:
        return None
    defaults = [getattr(cls, entry[0], missing) for entry in own]
    for i, (default, (_name, written, _kind, _kw_only, was)) in enumerate(zip(defaults, own, strict=True)):
        if isinstance(default, field_class) != written:
            return None
        if not written and type(default).__name__ == "member_descriptor":  # a slot: no default
            defaults[i] = default = missing
        if (shape(default, missing) if written else (default is missing,)) != was:
            return None
    for (name, written, kind, kw_only, _was), default in zip(own, defaults, strict=True):
        f = default if written else dataclasses.field(default=default)
        fields[name] = _complete(f, name, annotations[name], kind, kw_only)
    return fields


def _base_fields(cls: type) -> dict[str, Any]:
    """The fields ``cls``'s dataclass bases give it, as ``dataclasses`` gathers them."""
    fields: dict[str, Any] = {}
    for base in cls.__mro__[-1:0:-1]:
        given = getattr(base, "__dataclass_fields__", None)
        if given is not None:
            for f in given.values():
                fields[f.name] = f
    return fields


def _complete(f: Any, name: str, annotation: str, kind: str, kw_only: bool | None) -> Any:
    """``f`` completed as ``dataclasses`` completes a class's field (``kw_only`` None: a
    ClassVar's, left unset)."""
    dataclasses = sys.modules["dataclasses"]
    f.name = name
    f.type = annotation
    f._field_type = getattr(dataclasses, kind)
    if kw_only is not None and f.kw_only is dataclasses.MISSING:
        f.kw_only = kw_only
    return f


def finish(recipe: tuple[Any, ...], cls: type, args: tuple[Any, ...]) -> type | None:
    """``cls`` finished from ``recipe`` (what ``_process_class(cls, *args)`` returns), or None
    when the recipe does not apply (the class dictionary unchanged then)."""
    try:
        if args != recipe[0]:
            return None
        removed, settings, slots = recipe[6:9]
        fields = _fields(recipe, cls)
        if fields is None:
            return None
        values = [(key, _value(source, cls, fields)) for key, source in settings]
    except Exception:  # a recipe this interpreter cannot follow (or a damaged one): dataclasses decides
        return None
    for key in removed:
        delattr(cls, key)
    for key, value in values:
        setattr(cls, key, value)
    if slots is not None:
        return sys.modules["dataclasses"]._add_slots(cls, *slots)  # type: ignore[no-any-return]
    return cls


def fast_process_class(
    recipes: Callable[[str], dict[str, tuple[Any, ...]]], original: Callable[..., type]
) -> Callable[..., type]:
    """A ``_process_class`` that finishes a class from its recipe (``recipes``: a module's, by
    qualified name) and leaves any other class to ``original``."""

    def process(cls: type, *args: Any) -> type:
        recipe = recipes(cls.__module__).get(cls.__qualname__)
        if recipe is not None:
            done = finish(recipe, cls, args)
            if done is not None:
                return done
        return original(cls, *args)

    return process


# ------------------------------------------------------------------------ while building


def _constant(value: Any) -> bool:
    if type(value) in (type(None), bool, int, float, str, bytes):
        return True
    return type(value) is tuple and all(_constant(v) for v in value)


class _Sources:
    """Where each value of a finished class comes from (``Unrecordable`` when it cannot say)."""

    def __init__(self, cls: type, fields: dict[str, Any], fields_dict: object) -> None:
        self.cls = cls
        self.fields = fields
        self.fields_dict = fields_dict

    def of(self, value: Any, hint: str = "") -> tuple[Any, ...]:
        from types import FunctionType

        dataclasses = sys.modules["dataclasses"]
        if value is self.cls:
            return ("cls",)
        if value is self.fields_dict:
            return ("fields",)
        for prefix, attribute in (("_dflt_", "default"), ("_dflt_", "default_factory"), ("_type_", "type")):
            name = hint[len(prefix) :] if hint.startswith(prefix) else None
            if name in self.fields and getattr(self.fields[name], attribute) is value:
                return ("field", name, attribute)
        if isinstance(value, FunctionType):
            return self.function(value)
        if type(value) is dataclasses._DataclassParams:
            values = tuple(getattr(value, slot) for slot in type(value).__slots__)
            if not _constant(values):
                raise Unrecordable("parameters that are not constants")
            return ("params", values)
        if _constant(value):
            return ("const", value)
        for module in _MODULES:
            for name, candidate in vars(sys.modules[module]).items():
                if candidate is value:
                    return ("attr", module, name)
        for name, f in self.fields.items():
            for attribute in ("default", "default_factory", "type"):
                if getattr(f, attribute) is value:
                    return ("field", name, attribute)
        raise Unrecordable(f"a {type(value).__name__} whose origin is unknown ({hint or 'value'})")

    def function(self, fn: Any) -> tuple[Any, ...]:
        dataclasses = sys.modules["dataclasses"]
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None and fn.__globals__ is vars(dataclasses) and fn.__code__.co_name == "wrapper":
            return ("recursive_repr", self.function(wrapped), fn.__qualname__)
        module = fn.__module__
        if sys.modules.get(module) is None or vars(sys.modules[module]) is not fn.__globals__:
            raise Unrecordable(f"{fn.__qualname__}: its globals are not its module's")
        if fn.__dict__:
            raise Unrecordable(f"{fn.__qualname__} has attributes")
        code = fn.__code__
        closure = None
        if fn.__closure__ is not None:
            closure = tuple(
                self.of(cell.cell_contents, name)
                for name, cell in zip(code.co_freevars, fn.__closure__, strict=True)
            )
        defaults = None
        if fn.__defaults__ is not None:
            names = code.co_varnames[: code.co_argcount][-len(fn.__defaults__) :]
            defaults = tuple(
                self.of(v, _hint(name, self.fields)) for name, v in zip(names, fn.__defaults__, strict=True)
            )
        kwdefaults = None
        if fn.__kwdefaults__ is not None:
            kwdefaults = tuple((k, self.of(v, _hint(k, self.fields))) for k, v in fn.__kwdefaults__.items())
        annotations = tuple(
            (k, self.of(v, "" if k == "return" else "_type_" + k)) for k, v in fn.__annotations__.items()
        )
        return ("fn", code, module, closure, defaults, kwdefaults, annotations, fn.__qualname__)


def _hint(parameter: str, fields: dict[str, Any]) -> str:
    """A default of ``__init__``'s parameter ``x`` is field ``x``'s default (or the factory marker)."""
    return "_dflt_" + parameter if parameter in fields else ""


def same(a: Any, b: Any) -> bool:
    """Whether ``b``, made from a recipe, is what ``dataclasses`` made as ``a``."""
    from types import FunctionType

    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, FunctionType):
        return (
            a.__code__ == b.__code__
            and a.__globals__ is b.__globals__
            and (a.__name__, a.__qualname__, a.__module__, a.__doc__)
            == (b.__name__, b.__qualname__, b.__module__, b.__doc__)
            and _same_items(a.__defaults__ or (), b.__defaults__ or ())
            and (a.__defaults__ is None) == (b.__defaults__ is None)
            and _same_mapping(a.__kwdefaults__, b.__kwdefaults__)
            and _same_mapping(a.__annotations__, b.__annotations__)
            and _same_items(
                tuple(c.cell_contents for c in a.__closure__ or ()),
                tuple(c.cell_contents for c in b.__closure__ or ()),
            )
            and _same_mapping(a.__dict__, b.__dict__)
        )
    if type(a) is sys.modules["dataclasses"].Field or type(a) is sys.modules["dataclasses"]._DataclassParams:
        return all(same(getattr(a, s), getattr(b, s)) for s in type(a).__slots__)
    if type(a) is dict:
        return _same_mapping(a, b)
    if type(a) is set:
        return bool(a == b)
    return _constant(a) and bool(a == b)


def _same_items(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))


def _same_mapping(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    if a is None or b is None:
        return a is b
    return list(a) == list(b) and all(same(a[k], b[k]) for k in a)


def recipe(
    cls: type,
    result: type,
    args: tuple[Any, ...],
    before: dict[str, Any],
    written_shapes: dict[str, tuple[Any, ...]],
) -> tuple[Any, ...]:
    """The recipe for ``cls``, which ``dataclasses`` has just finished (``result``) from
    ``args`` and the class dictionary ``before`` (``written_shapes``: the ``shape`` of each
    ``field(...)`` in it, taken before); ``Unrecordable`` if there is none that remakes it
    exactly."""
    dataclasses = sys.modules["dataclasses"]
    if type(cls) is not type or hasattr(cls, "__abstractmethods__"):
        raise Unrecordable("a metaclass or an abstract class")
    # (init, repr, eq, order, unsafe_hash, frozen, match_args, kw_only, slots, weakref_slot)
    if len(args) != 10:
        raise Unrecordable("another dataclasses")
    slots: tuple[Any, ...] | None = None
    if result is not cls:
        if not args[-2]:
            raise Unrecordable("a new class without slots")
        slots = (args[5], args[-1])  # _add_slots(cls, frozen, weakref_slot)
    annotations = before.get("__annotations__", {})
    if not all(type(k) is str and type(v) is str for k, v in annotations.items()):
        raise Unrecordable("annotations that are not strings")
    after = dict(cls.__dict__)
    fields = after["__dataclass_fields__"]
    base = _base_fields(cls)
    missing = dataclasses.MISSING
    own = []
    for name in annotations:
        f = fields.get(name)
        if f is None:
            continue  # the KW_ONLY marker
        kind = next((k for k in _KINDS if getattr(dataclasses, k, None) is f._field_type), None)
        if kind is None or f.name != name:
            raise Unrecordable(f"field {name}: an unknown kind")
        written = before.get(name) is f
        if written:
            was = written_shapes[name]
        else:
            default = before[name] if name in before else getattr(cls, name, missing)
            was = (default is missing or type(default).__name__ == "member_descriptor",)
        # kw_only stays unset (MISSING) on a ClassVar: None says so
        own.append((name, written, kind, None if f.kw_only is missing else f.kw_only, was))
    removed = tuple(k for k in before if k not in after)
    changed = [(k, v) for k, v in after.items() if k not in before or before[k] is not v]
    if any(k == "__doc__" for k, _ in changed):
        raise Unrecordable("a docstring written from the signature (reprs of defaults may differ)")
    sources = _Sources(cls, fields, fields)
    settings = tuple((k, sources.of(v, k)) for k, v in changed)
    bases = tuple(shape(f, missing) for f in base.values())
    post_init = hasattr(cls, "__post_init__")
    made = (
        tuple(args),
        tuple(before),
        dict(annotations),
        bases,
        tuple(own),
        post_init,
        removed,
        settings,
        slots,
    )
    _check(made, cls, before, after)
    import marshal

    marshal.dumps(made)  # ValueError if the table could not hold it
    return made


def _check(made: tuple[Any, ...], cls: type, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Follow the recipe against the finished class: the same dictionary, or ``Unrecordable``."""
    annotations, own = made[2], made[4]
    fields = _base_fields(cls)
    dataclasses = sys.modules["dataclasses"]
    for name, written, kind, kw_only, _was in own:
        if written:
            fields[name] = before[name]  # the same object, completed already
            continue
        default = before[name] if name in before else getattr(cls, name, dataclasses.MISSING)
        if type(default).__name__ == "member_descriptor":
            default = dataclasses.MISSING
        fields[name] = _complete(dataclasses.field(default=default), name, annotations[name], kind, kw_only)
    if not same(after["__dataclass_fields__"], fields):
        raise Unrecordable("its fields differ")
    remade = dict(before)
    for key in made[6]:
        del remade[key]
    for key, source in made[7]:
        remade[key] = _value(source, cls, after["__dataclass_fields__"])
    if list(remade) != list(after):
        raise Unrecordable("its dictionary's order differs")
    for key, value in after.items():
        if not same(value, remade[key]) and key != "__dataclass_fields__":
            raise Unrecordable(f"{key} differs")


def recorder(
    original: Callable[..., type], table: dict[str, dict[str, tuple[Any, ...]]]
) -> Callable[..., type]:
    """A ``_process_class`` that lets ``original`` finish each class and keeps its recipe in
    ``table`` (module -> qualified name -> recipe) when there is one."""

    def process(cls: type, *args: Any) -> type:
        before = dict(cls.__dict__)
        dataclasses = sys.modules["dataclasses"]
        written = {
            k: shape(v, dataclasses.MISSING) for k, v in before.items() if isinstance(v, dataclasses.Field)
        }
        result = original(cls, *args)
        try:
            made = recipe(cls, result, args, before, written)
        except Exception:  # whatever it is, this class is left to dataclasses
            table.setdefault(cls.__module__, {}).pop(cls.__qualname__, None)
        else:
            table.setdefault(cls.__module__, {})[cls.__qualname__] = made
        return result

    return process
