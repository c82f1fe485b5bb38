"""positional(): a faster constructor that builds the same frozen instance as __init__."""

from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass, field
from typing import ClassVar

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

    @dataclass(frozen=True, slots=True)
    class WithInitVar:  # without __post_init__ an InitVar is dropped, yet __init__ takes it
        x: int
        scale: InitVar[int] = 1
        y: int = 0

    @dataclass(frozen=True, slots=True, init=False)
    class OwnInit:
        x: int

        def __init__(self, x: int) -> None:
            object.__setattr__(self, "x", abs(x))

    @dataclass(frozen=True, slots=True)
    class KeywordFirst:  # __init__ takes (y, *, x): make(x, y) would not take what cls() takes
        x: int = field(kw_only=True)
        y: int

    for cls in (NoSlots, NotFrozen, PostInit, Hidden, WithInitVar, OwnInit, KeywordFirst, int):
        with pytest.raises(TypeError):
            positional(cls)


@dataclass(frozen=True, slots=True)
class Base:
    a: int


@dataclass(frozen=True, slots=True)
class Derived(Base):
    b: bytes


def test_inherited_fields_are_stored_through_the_base_slots() -> None:
    assert positional(Derived)(1, b"x") == Derived(1, b"x")
    assert repr(positional(Derived)(1, b"x")) == "Derived(a=1, b=b'x')"


@dataclass(frozen=True, slots=True)
class Clashing:
    self: int
    _cls: int
    _new: int
    _set0: int


def test_field_names_do_not_clash_with_the_template() -> None:
    built = positional(Clashing)(1, 2, 3, 4)
    assert built == Clashing(1, 2, 3, 4)
    assert built.self == 1


@dataclass(frozen=True, slots=True)
class WithClassVarAndFactory:
    limit: ClassVar[int] = 3
    x: int
    items: tuple[int, ...] = field(default_factory=tuple)


def test_class_variables_are_not_fields_and_factories_are_not_called() -> None:
    make = positional(WithClassVarAndFactory)
    assert make(1, (2,)) == WithClassVarAndFactory(1, (2,))
    with pytest.raises(TypeError):
        make(1)
