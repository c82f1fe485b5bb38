"""The console entry runs well-formed ``measure`` arguments without typer: it must read them as
typer does (or leave them to typer), and answer as the typer command does."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer._click.types import INT as CLICK_INT  # the click typer vendors
from typer._click.types import STRING as CLICK_STRING
from typer.core import TyperGroup, TyperOption
from typer.models import TyperPath
from typer.testing import CliRunner

from ccverify.cli import measure, measure_run
from ccverify.cli.app import app
from ccverify.cli.measure_args import FLAG, INT, OPTIONS, PATH, REQUIRED, TEXT, parse
from tests.cli_json import envelope_result
from tests.conftest import fixture

AMDSEV = str(fixture("ovmf/ovmf_AmdSev_suffix.bin"))
TRIXIE = str(fixture("measure/debian-ovmf/OVMF.fd.trixie-2025.02-8+deb13u1"))
EXAMPLE = str(Path(__file__).resolve().parents[2] / "reference-values/examples")


def _options(target: str) -> list[TyperOption]:
    group = typer.main.get_command(measure.app)
    assert isinstance(group, TyperGroup)
    params = group.commands[target].params
    assert all(isinstance(param, TyperOption) for param in params)
    return params  # type: ignore[return-value]


def _kind(param: TyperOption) -> str:
    if param.is_flag:
        return FLAG
    if isinstance(param.type, TyperPath):
        return PATH
    if param.type is CLICK_INT:
        return INT
    assert param.type is CLICK_STRING, param.type
    return TEXT


@pytest.mark.parametrize("target", sorted(OPTIONS))
def test_the_table_is_what_typer_declares(target: str) -> None:
    """Option names, parameters, kinds, defaults and what is required, against the typer
    command; and the parameters are those ``measure_run`` takes."""
    declared: dict[str, tuple[str, str, object]] = {}
    for param in _options(target):
        assert param.name is not None
        (name,) = param.opts
        assert param.secondary_opts == [] and not param.multiple and param.envvar is None
        default = REQUIRED if param.required else param.default
        declared[name] = (param.name, _kind(param), default)
    assert declared == OPTIONS[target]
    function = getattr(measure_run, target)
    parameters = inspect.signature(function).parameters
    assert list(parameters) == [spec[0] for spec in OPTIONS[target].values()]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())


def _typer_call(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> tuple[int, dict[str, Any] | None]:
    """The exit code of the typer app for ``ccverify <argv>``, and the keyword arguments its
    command passed to ``measure_run`` (None: it did not get that far)."""
    seen: list[dict[str, Any]] = []
    for target in OPTIONS:
        monkeypatch.setattr(measure_run, target, lambda **kwargs: seen.append(kwargs))
    result = CliRunner().invoke(app, argv)
    monkeypatch.undo()
    assert len(seen) <= 1
    return result.exit_code, seen[0] if seen else None


def _agree(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> bool:
    """The fast reader accepts ``argv`` only as typer reads it; True if it accepted."""
    fast = parse(argv)
    if fast is None:
        return False
    code, kwargs = _typer_call(monkeypatch, argv)
    assert (code, argv[1], kwargs) == (0, fast[0], fast[1]), argv
    for name, value in kwargs.items():  # equal is not enough for the types: Path vs str, bool vs int
        assert type(value) is type(fast[1][name]), (name, value)
    return True


WELL_FORMED = [
    ["measure", "snp", "--firmware", "fw"],
    ["measure", "snp", "--firmware=fw", "--vcpus=4", "--vcpu-type=EPYC-v4", "--guest-features=0x21"],
    [
        "measure", "snp", "--json", "--firmware", "OVMF.fd", "--kernel", "vmlinuz", "--initrd", "initrd.img",
        "--cmdline", "console=ttyS0 root=/dev/vda1 ro", "--vcpus", "64", "--vcpu-type", "EPYC-Milan",
        "--vmm-type", "ec2", "--guest-features", "0x1", "--mode", "snp", "--vcpu-sig", "0xa00f11",
    ],
    ["measure", "snp", "--firmware", "f", "--snp-ovmf-hash", "ab" * 48, "--vcpus", "007"],
    ["measure", "snp", "--mode", "snp:svsm", "--svsm", "s.bin", "--vars-size", "540672", "--firmware", "f"],
    ["measure", "snp", "--firmware", "f", "--cmdline", "a=b --c", "--vcpu-type", "x y"],
    ["measure", "snp", "--firmware", "f", "--cmdline=x=="],
    ["measure", "tdx", "--firmware", "f"],
    ["measure", "tdx", "--firmware", "f", "--kernel", "k", "--initrd", "i", "--cmdline", "c", "--json"],
    ["measure", "tdx", "--firmware=f", "--order=two-pass", "--rtmr0", "00" * 48],
    ["measure", "tdx", "--firmware", "f", "--rtmr0-from-log", "CCEL", "--order", "nonsense"],
    ["measure", "tdx", "--firmware", "f", "--kernel", "k", "--initrd", "i", "--load-options", "initrd-x"],
    ["measure", "tdx", "--load-options=initrd-prefix", "--firmware", "f", "--cmdline", "x\udcff"],
]  # fmt: skip

DECLINED = [
    ["measure", "snp"],  # --firmware is required
    ["measure", "snp", "--help"],
    ["measure", "snp", "--firmware", "f", "--help"],
    ["measure", "snp", "--firmware", "f", "--firmware", "g"],  # click: the last wins
    ["measure", "snp", "--firmware", "f", "--json", "--json"],
    ["measure", "snp", "--firmware", "f", "--json=1"],
    ["measure", "snp", "--firmware", "f", "--vcpus", "0x10"],
    ["measure", "snp", "--firmware", "f", "--vcpus", "-1"],
    ["measure", "snp", "--firmware", "f", "--vcpus", "+1"],
    ["measure", "snp", "--firmware", "f", "--vcpus", " 1"],
    ["measure", "snp", "--firmware", "f", "--vcpus", "\u0663"],  # int() takes an Arabic-Indic 3
    ["measure", "snp", "--firmware", "f", "--vcpus", "1" * 5000],  # int() refuses over 4300 digits
    ["measure", "snp", "--firmware", "f", "--vcpus"],
    ["measure", "snp", "--firmware", ""],
    ["measure", "snp", "--firmware", "f", "--cmdline", "-quiet"],  # click takes it; typer decides
    ["measure", "snp", "--firmware", "f", "--cmdline", "--json"],
    ["measure", "snp", "--firmware", "f", "--"],
    ["measure", "snp", "--firmware", "f", "extra"],
    ["measure", "snp", "--firmware", "f", "--bogus"],
    ["measure", "snp", "--firmware", "f", "--vcpu"],  # no abbreviations
    ["measure", "snp", "--firmware", "f", "--order", "two-pass"],  # a tdx option
    ["measure", "snp", "--firmware", "f", "-h"],
    ["measure", "--help", "snp", "--firmware", "f"],
    ["measure", "sev", "--firmware", "f"],
    ["measure", "tdx", "--firmware", "f", "--vcpus", "1"],
    ["show", "--firmware", "f"],
    ["measure"],
    [],
]


@pytest.mark.parametrize("argv", WELL_FORMED, ids=" ".join)
def test_well_formed_arguments_are_read_as_typer_reads_them(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    assert _agree(monkeypatch, argv)


@pytest.mark.parametrize("argv", DECLINED, ids=" ".join)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert parse(argv) is None


_TOKENS = st.sampled_from(
    [
        *OPTIONS["snp"], *OPTIONS["tdx"], "--help", "--", "-", "--json=", "--vcpus=", "--firmware=f",
        "--vcpus=12", "f", "0", "12", "0x21", "-1", "", "a=b", "EPYC-v4", "snp", "\u0663", " 1",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(["snp", "tdx"]), firmware=st.booleans(), tokens=st.lists(_TOKENS, max_size=10))
def test_generated_arguments_agree_with_typer(
    monkeypatch: pytest.MonkeyPatch, target: str, firmware: bool, tokens: list[str]
) -> None:
    _agree(monkeypatch, ["measure", target, *(["--firmware", "f"] if firmware else []), *tokens])


def _run(how: list[str], argv: list[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, *how, *argv], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )


def _imported(stderr: str) -> list[str]:
    """The modules ``-X importtime`` reported."""
    lines = stderr.splitlines()
    return [line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")]


_TYPER = ["-c", "import sys; sys.argv[0] = 'ccverify'; from ccverify.cli.app import app; app()"]
_ENTRY = ["-X", "importtime", "-m", "ccverify.cli.entry"]


SNP_ARGS = ["measure", "snp", "--vcpus", "1", "--guest-features", "0x1"]
ENTRY_CASES = {
    "snp-json": [*SNP_ARGS, "--firmware", AMDSEV, "--vcpu-type", "EPYC-v4", "--kernel", AMDSEV,
                 "--initrd", TRIXIE, "--cmdline", "console=ttyS0", "--json"],
    "snp-table": [*SNP_ARGS, "--firmware", AMDSEV, "--vcpu-type", "EPYC-Milan"],
    "tdx-json": ["measure", "tdx", "--firmware", TRIXIE, "--json"],
    "missing": [*SNP_ARGS, "--firmware", "/nonexistent", "--vcpu-type", "EPYC"],
    "no-hashes": [*SNP_ARGS, "--firmware", TRIXIE, "--vcpu-type", "EPYC", "--kernel", AMDSEV],
    "vcpu-type": [*SNP_ARGS, "--firmware", AMDSEV, "--vcpu-type", "EPYC-v9"],
    "mode": [*SNP_ARGS, "--firmware", AMDSEV, "--vcpu-type", "EPYC", "--mode", "bogus"],
    "not-tdvf": ["measure", "tdx", "--firmware", AMDSEV, "--json"],
    "rtmr0": ["measure", "tdx", "--firmware", TRIXIE, "--rtmr0", "zz"],
}  # fmt: skip


@pytest.mark.parametrize("argv", ENTRY_CASES.values(), ids=ENTRY_CASES.keys())
def test_the_console_entry_answers_as_the_typer_command_without_importing_typer(argv: list[str]) -> None:
    assert parse(argv) is not None
    entry, typed = _run(_ENTRY, argv), _run(_TYPER, argv)
    imported = _imported(entry.stderr)
    answer = "\n".join(line for line in entry.stderr.splitlines() if not line.startswith("import time:"))
    expected = (typed.returncode, typed.stdout, typed.stderr.rstrip("\n"))
    assert (entry.returncode, entry.stdout, answer) == expected
    assert "ccverify.cli.measure_run" in imported
    assert not [name for name in imported if name.split(".")[0] in ("typer", "click")]
    assert "Traceback" not in entry.stderr
    if entry.returncode == 0 and "--json" in argv:
        target = "measure snp" if "snp" in argv else "measure tdx"
        assert envelope_result(entry.stdout, target)["format"] == "ccverify-measurements/1"


def test_a_closed_stdout_ends_both_ways_alike() -> None:
    """``| head`` closed the pipe: no traceback, exit 1, as click ends a typer command."""
    argv = ["measure", "snp", "--firmware", AMDSEV, "--vcpus", "1", "--vcpu-type", "EPYC", "--guest-features",
            "0x1", "--json"]  # fmt: skip
    answers = []
    for how in (["-m", "ccverify.cli.entry"], _TYPER):
        read, write = os.pipe()
        os.close(read)
        try:
            done = subprocess.run(
                [sys.executable, *how, *argv], stdout=write, stderr=subprocess.PIPE, text=True, check=False
            )
        finally:
            os.close(write)
        answers.append((done.returncode, done.stderr))
    assert answers[0] == answers[1] == (1, "")


def test_the_readme_main_job_is_untouched_by_the_fast_path() -> None:
    """Only ``measure`` is read without typer: ``verify`` still goes through the app."""
    argv = ["verify", "tdx-quote.dat", "--collateral", "tdx-collateral.json", "--trust-root",
            "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem", "--at", "2026-01-15T00:00:00Z", "--json"]  # fmt: skip
    assert parse(argv) is None
    done = _run(_ENTRY, argv, cwd=EXAMPLE)
    assert done.returncode == 0, done.stderr
    assert "typer" in _imported(done.stderr)


_CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
_VALUE = st.text(_CHARACTERS, min_size=1, max_size=12).filter(lambda text: not text.startswith("-"))


@st.composite
def _well_formed(draw: st.DrawFn) -> list[str]:
    """A command line of the shape the fast reader takes: each option at most once, in any
    order, as ``--name value`` or ``--name=value``."""
    target = draw(st.sampled_from(sorted(OPTIONS)))
    names = ["--firmware", *draw(st.lists(st.sampled_from(list(OPTIONS[target])[1:]), unique=True))]
    names = draw(st.permutations(names))
    argv = ["measure", target]
    for name in names:
        kind = OPTIONS[target][name][1]
        if kind == FLAG:
            argv.append(name)
            continue
        value = draw(st.from_regex(r"[0-9]{1,6}", fullmatch=True) if kind == INT else _VALUE)
        argv.extend([f"{name}={value}"] if draw(st.booleans()) else [name, value])
    return argv


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=_well_formed())
def test_generated_well_formed_arguments_are_taken_and_agree_with_typer(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    assert _agree(monkeypatch, argv)
