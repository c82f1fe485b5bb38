"""positional(): a faster constructor that builds the same frozen instance as __init__."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from ccverify.verifier._frozen import positional


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: bytes
    z: tuple[int, ...] = ()


def test_same_instance_as_init() -> None:
    make = positional(Point)
    built = make(1, b"a", (2, 3))
    assert built == Point(1, b"a", (2, 3))
    assert type(built) is Point
    assert hash(built) == hash(Point(1, b"a", (2, 3)))
    assert repr(built) == "Point(x=1, y=b'a', z=(2, 3))"


def test_still_frozen() -> None:
    built = positional(Point)(1, b"a", ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.x = 2  # type: ignore[misc]


def test_every_field_is_required() -> None:
    make = positional(Point)
    with pytest.raises(TypeError):
        make(1, b"a")


def test_refuses_classes_it_cannot_build_faithfully() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(slots=True)
    class NotFrozen:
        x: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        x: int

        def __post_init__(self) -> None:
            raise AssertionError

    @dataclass(frozen=True, slots=True)
    class Hidden:
        x: int
        y: int = field(init=False, default=0)

    for cls in (NoSlots, NotFrozen, PostInit, Hidden, int):
        with pytest.raises(TypeError):
            positional(cls)
