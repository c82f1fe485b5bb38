"""``cli/dataclass_code.py``: the initramfs gives ``dataclasses`` the methods compiled at build
time. The code run is the code compiled from the same text, so the classes are the same; a text
or a module not in the table, a table for another interpreter, or no table: compiled as before."""

from __future__ import annotations

import dataclasses
import marshal
from pathlib import Path
from typing import Any

import pytest

from ccverify.cli import dataclass_code
from ccverify.verifier import _frozen


def _make() -> type:
    @dataclasses.dataclass(frozen=True, order=True)
    class Point:
        x: int
        y: int = 2
        tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)

    return Point


def _behaviour(cls: Any) -> tuple[Any, ...]:
    a, b = cls(1), cls(1, 3, ("t",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.x = 5
    return (repr(a), repr(b), a == cls(1), a < b, hash(a) == hash(cls(1)), b.tags,
            cls.__init__.__annotations__, cls.__init__.__defaults__ is None)  # fmt: skip


def _installed(table: dataclass_code.Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``table`` written and installed; the list fills with what each exec then runs."""
    path = tmp_path / "code.bin"
    path.write_bytes(dataclass_code.dump(table))
    assert dataclass_code.install(str(path))
    used: list[Any] = []
    run = dataclass_code._run
    monkeypatch.setattr(
        dataclass_code, "_run", lambda source, *rest: (used.append(source), run(source, *rest))
    )
    return used


def _restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``recorder`` and ``install`` replace, put back after the test."""
    monkeypatch.setattr(dataclasses, "exec", None, raising=False)
    monkeypatch.setattr(_frozen, "exec", None, raising=False)
    monkeypatch.setattr(dataclasses, "_process_class", dataclasses._process_class)  # type: ignore[attr-defined]


def test_the_recorded_code_makes_the_same_class(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without recipes (``cli/dataclass_snapshot.py``), every method text comes from the table."""
    _restored(monkeypatch)
    table = dataclass_code.recorder(lambda module: False)
    recorded = _make()
    texts = table.texts[__name__]
    assert len(texts) >= 5 and all(isinstance(code, type(_make.__code__)) for code in texts.values())
    # what exec would compile: the same code object, compiled from the text
    text, code = next(iter(texts.items()))
    assert dataclass_code.compile_text(text) == code
    used = _installed(table, tmp_path, monkeypatch)
    cached = _make()
    assert used and not [source for source in used if isinstance(source, str)]  # every text from the table
    monkeypatch.undo()
    plain = _make()
    assert _behaviour(cached) == _behaviour(recorded) == _behaviour(plain)


def test_a_text_or_module_not_in_the_table_is_compiled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _restored(monkeypatch)
    other = dataclass_code.Recorded()
    other.texts["some.other.module"] = {"x = 1": dataclass_code.compile_text("x = 1")}
    other.needed.add("x = 1")
    path = tmp_path / "code.bin"
    path.write_bytes(dataclass_code.dump(other))
    assert dataclass_code.install(str(path))
    assert _behaviour(_make()) == _behaviour(_make())


def _table_with_head(head: bytes) -> bytes:
    return dataclass_code.MAGIC + len(head).to_bytes(8, "little") + head


@pytest.mark.parametrize(
    "content",
    [
        None,
        b"",
        b"not marshal",
        dataclass_code.MAGIC,
        dataclass_code.MAGIC + (5).to_bytes(8, "little") + b"not marshal",
        _table_with_head(marshal.dumps(("cpython-0 other interpreter", {}, ""))),
        _table_with_head(marshal.dumps(("x", "y", "z"))),
        _table_with_head(marshal.dumps((dataclass_code.tag(), ["not", "an", "index"], ""))),
        _table_with_head(marshal.dumps((dataclass_code.tag(), {}))),  # made before build ids
    ],
)
def test_no_usable_table_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: bytes | None
) -> None:
    monkeypatch.delattr(dataclasses, "exec", raising=False)
    path = tmp_path / "code.bin"
    if content is not None:
        path.write_bytes(content)
    assert not dataclass_code.install(str(path))
    assert "exec" not in vars(dataclasses)


def test_positional_goes_through_the_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``verifier/_frozen.positional`` writes a constructor's text; the table holds its code."""
    _restored(monkeypatch)
    table = dataclass_code.recorder()

    @dataclasses.dataclass(frozen=True, slots=True)
    class Pair:
        a: int
        b: bytes

    recorded = _frozen.positional(Pair)
    assert len(table.texts[_frozen.__name__]) == 1
    used = _installed(table, tmp_path, monkeypatch)
    cached = _frozen.positional(Pair)
    assert len(used) == 1 and not isinstance(used[0], str)  # the table's code, not the text
    assert cached(1, b"x") == recorded(1, b"x") == Pair(1, b"x")
    assert cached.__code__ == recorded.__code__ and cached.__module__ == _frozen.__name__
