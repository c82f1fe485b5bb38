"""``cli/regex_code.py``: the guest path's regular expressions compiled at build time."""

from __future__ import annotations

import marshal
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ccverify.cli import regex_code
from ccverify.cli.module_store import tag

_compiler: Any = sys.modules["re._compiler"]
_sre: Any = sys.modules["_sre"]

PATTERNS: list[tuple[str | bytes, int]] = [
    (r"^(?P<oid>[0-9]+(\.[0-9]+)+)=(?P<value>.*)$", 0),
    (r"[a-z]+  # letters\n  \d*", int(re.IGNORECASE | re.VERBOSE)),
    (rb"^\x00+(?:ab|cd){2,5}$", 0),
    ("ünïcödé\\w+", int(re.UNICODE)),
    (r"(a)(b)?(?(2)c|d)", int(re.ASCII | re.MULTILINE | re.DOTALL)),
]


@pytest.mark.parametrize(("pattern", "flags"), PATTERNS)
def test_the_recorded_arguments_compile_to_what_re_compiles(pattern: str | bytes, flags: int) -> None:
    arguments = regex_code.arguments(pattern, flags)
    compiled = _sre.compile(*arguments)
    assert compiled == _compiler.compile(pattern, flags)  # pattern, flags and program
    assert compiled.groupindex == re.compile(pattern, flags).groupindex
    marshal.dumps(arguments)  # plain values only
    # and a pattern with other flags is another program, so the key holds both
    assert _sre.compile(*regex_code.arguments(pattern, flags ^ int(re.IGNORECASE))) != compiled


def test_capture_holds_what_this_process_compiled() -> None:
    unique = r"ccverify-test-(\d+)-capture"
    re.compile(unique)
    table = regex_code.capture()
    assert (unique, 0) in table
    assert _sre.compile(*table[unique, 0]) == re.compile(unique)


def test_the_file_round_trips_and_refuses_what_this_interpreter_did_not_make(tmp_path: Path) -> None:
    table = {key: regex_code.arguments(*key) for key in PATTERNS}
    loaded = regex_code.load(regex_code.dump(table))
    assert loaded is not None and {key: marshal.loads(value) for key, value in loaded.items()} == table
    other = regex_code.MAGIC + marshal.dumps(("cpython-99 " + tag(), {}))
    damaged = regex_code.MAGIC + b"\xff\x00"
    for data in (b"", b"not a table", damaged, other, regex_code.MAGIC + marshal.dumps(1)):
        assert regex_code.load(data) is None, data
    assert not regex_code.install(str(tmp_path / "absent"))
    (tmp_path / "other").write_bytes(other)
    assert not regex_code.install(str(tmp_path / "other"))


def test_installed_patterns_come_from_the_table(tmp_path: Path) -> None:
    """After ``install``, a pattern in the table compiles without the parser; one that is not
    is parsed as before; the result equals what a fresh process compiles."""
    path = tmp_path / "table.bin"
    path.write_bytes(regex_code.dump({key: regex_code.arguments(*key) for key in PATTERNS}))
    probe = f"""
import re, sys
from re import _parser
from ccverify.cli import regex_code
assert regex_code.install({str(path)!r})
parse = _parser.parse
parsed = []
def counting(*args, **kwargs):
    parsed.append(args[0])
    return parse(*args, **kwargs)
_parser.parse = counting
table = {PATTERNS!r}
compiled = [re.compile(pattern, flags) for pattern, flags in table]
other = re.compile(r"not-in-the-(table)")
print(parsed == [r"not-in-the-(table)"], [(p.pattern, p.flags, p.groups) for p in compiled + [other]])
"""
    run = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True)
    out = run.stdout
    only_the_other, shown = out.split(" ", 1)
    assert only_the_other == "True"
    expected = [re.compile(p, f) for p, f in PATTERNS] + [re.compile(r"not-in-the-(table)")]
    assert shown.strip() == repr([(p.pattern, p.flags, p.groups) for p in expected])
