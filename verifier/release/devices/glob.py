"""``fnmatch.fnmatchcase`` without compiling a regular expression for the common patterns.

``fnmatchcase`` translates each new pattern into a regular expression and compiles it, which
the guest's hook pays for every distinct ``modules.alias`` pattern a device's modalias is
compared with (~0.1 ms each on the host, thirty times that under an emulated CPU). The
patterns there are almost all ``*`` and literal text (``pci:v00001AF4d*sv*sd*bc*sc*i*``): for
those ``match`` compares the pieces between the stars with ``str`` methods (each piece found
leftmost after the last, which is exact for stars alone); a pattern with ``?`` or ``[`` goes to
``fnmatchcase``. Case-sensitive, ``/`` not special: ``fnmatchcase``'s rules.
"""

from __future__ import annotations

from fnmatch import fnmatchcase


def match(name: str, pattern: str) -> bool:
    """``fnmatchcase(name, pattern)``."""
    if "?" in pattern or "[" in pattern:
        return fnmatchcase(name, pattern)
    parts = pattern.split("*")
    if len(parts) == 1:
        return name == pattern
    first, last = parts[0], parts[-1]
    if len(name) < len(first) + len(last) or not name.startswith(first) or not name.endswith(last):
        return False
    at, end = len(first), len(name) - len(last)
    for part in parts[1:-1]:
        found = name.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return True
