"""Fast positional construction of frozen, slotted dataclasses for hot parsers.

A frozen dataclass's ``__init__`` stores each field through ``object.__setattr__`` (the
class's own ``__setattr__`` refuses), which costs about 0.3 us per field: a TDX quote is 46
fields in 7 structures, a large share of parsing it. ``positional(cls)`` returns a function
taking every field in declaration order that stores them through the slots' own descriptors
(the same storage ``__init__`` ends in) about three times faster. The instance is the same:
equal to one built by ``cls(...)``, just as frozen. Only for classes whose ``__init__`` is the
one ``dataclass`` generates over exactly their fields, each stored in a slot: ``slots=True``
(fields inherited from slotted dataclasses are fine), no ``__post_init__``, no ``InitVar``,
``init=False`` or ``kw_only`` fields, which this checks once. A hand-written ``__init__`` taking
the same parameters cannot be told apart from a generated one: do not combine the two.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["positional"]

T = TypeVar("T")

# The template's own names: parameters are the field names, so these must not be one of them
# (a field called ``self`` would otherwise be stored as the instance itself).
_NEW, _CLS, _SELF, _SET = "_positional_new", "_positional_cls", "_positional_self", "_positional_set"


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
    if not params.init:
        raise TypeError(f"{cls.__name__} is dataclass(init=False): its __init__ is not generated")
    # fields() leaves out InitVars and __init__ moves kw_only fields last: make() would not
    # take what cls() takes (read from the code: inspect.signature costs more than the rest)
    init = getattr(cls.__init__, "__code__", None)
    if init is None:
        raise TypeError(f"{cls.__name__}.__init__ is not a Python function")
    init_names = list(init.co_varnames[1 : init.co_argcount + init.co_kwonlyargcount])
    if init_names != names:
        raise TypeError(
            f"{cls.__name__}.__init__ takes ({', '.join(init_names)}), not its fields in order "
            f"({', '.join(names)})"
        )
    clashes = {_NEW, _CLS, _SELF} | {f"{_SET}{index}" for index in range(len(names))}
    if clashes.intersection(names):
        raise TypeError(f"{cls.__name__} has a field named like positional()'s own variables")
    # (named for cli/dataclass_code.py, whose table also holds the compiled template in the
    # initramfs, and for the function's __module__)
    namespace: dict[str, Any] = {"__name__": __name__, _NEW: object.__new__, _CLS: cls}
    lines = [f"def make({', '.join(names)}):", f"    {_SELF} = {_NEW}({_CLS})"]
    for index, name in enumerate(names):
        namespace[f"{_SET}{index}"] = _slot(cls, name).__set__
        lines.append(f"    {_SET}{index}({_SELF}, {name})")
    lines.append(f"    return {_SELF}")
    exec("\n".join(lines), namespace)  # a fixed template over the dataclass's own field names
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = f"positional({cls.__name__})"
    return make


def _slot(cls: type, name: str) -> types.MemberDescriptorType:
    """The slot storing field ``name``: a base's, for an inherited field."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            found = klass.__dict__[name]
            if isinstance(found, types.MemberDescriptorType):
                return found
            break
    raise TypeError(f"{cls.__name__}.{name} is not stored in a slot")
