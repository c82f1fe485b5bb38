"""Fast positional construction of frozen, slotted dataclasses for hot parsers.

A frozen dataclass's ``__init__`` stores each field through ``object.__setattr__`` (the
class's own ``__setattr__`` refuses), which costs about 0.3 us per field: a TDX quote is 46
fields in 7 structures, a large share of parsing it. ``positional(cls)`` returns a function
taking every field in declaration order that stores them through the slots' own descriptors
(the same storage ``__init__`` ends in) about three times faster. The instance is the same:
equal to one built by ``cls(...)``, just as frozen. Only for classes with ``slots=True``,
no ``__post_init__`` and no ``InitVar``/``init=False`` fields, which this checks once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["positional"]

T = TypeVar("T")


def positional(cls: type[T]) -> Callable[..., T]:
    """A constructor ``make(v1, ..., vN)`` for frozen, slotted dataclass ``cls`` (see module doc)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass")
    if "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not slotted (dataclass(slots=True))")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has __post_init__, which positional() would skip")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # checked above: a dataclass
    if any(not f.init for f in fields):
        raise TypeError(f"{cls.__name__} has init=False fields")
    names = [f.name for f in fields]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    self = _new(_cls)"]
    for index, name in enumerate(names):
        namespace[f"_set{index}"] = cls.__dict__[name].__set__
        lines.append(f"    _set{index}(self, {name})")
    lines.append("    return self")
    exec("\n".join(lines), namespace)  # a fixed template over the dataclass's own field names
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = f"positional({cls.__name__})"
    return make
