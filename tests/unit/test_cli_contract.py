"""The command line's contract (issue #14): --version, -h, one-line usage errors, Ctrl-C, completion."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sample_args import SAMPLE, TDX, TDX_REFERENCE, without

CCVERIFY = str(Path(sys.executable).with_name("ccverify"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CCVERIFY, *args], capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL
    )


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        done = run(flag)
        assert done.returncode == 0
        assert done.stdout == f"ccverify {version('ccverify')}\n"


@pytest.mark.parametrize("args", [["-h"], ["verify", "-h"], ["measure", "snp", "-h"], ["reference", "-h"]])
def test_h_is_help(args: list[str]) -> None:
    done = run(*args)
    assert done.returncode == 0
    assert "Usage" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["verify"], "Missing argument"),
        (["nosuch"], "No such command 'nosuch'"),
        (["show", "--bogus", "x"], "No such option"),
        (["measure", "snp", "--vcpus", "many"], "many"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error (usage): ccverify")
    assert says in lines[0]
    assert "╭" not in done.stderr and done.stdout == ""


def _wait_reading_stdin(pid: int, timeout: float = 30.0) -> None:
    """Until ``pid`` catches SIGINT (Python's handler is in) and sleeps (blocked on stdin)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
        )
        caught = int(fields["SigCgt"].strip(), 16)
        if caught & (1 << (signal.SIGINT - 1)) and fields["State"].strip().startswith("S"):
            time.sleep(0.2)  # sleeping may be an import's I/O: a moment more, then it's the read
            if Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].strip().startswith("S"):
                return
        time.sleep(0.05)
    raise AssertionError(f"ccverify show - did not block on its input within {timeout} s")


def test_ctrl_c_exits_130() -> None:
    """A command blocked on its input (stdin) gets SIGINT: exit 130, no traceback."""
    process = subprocess.Popen(
        [CCVERIFY, "show", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as a shell starts a command: SIGINT at its default, whatever this process inherited
        # (an ignored SIGINT is inherited, and Python then installs no handler of its own)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        _wait_reading_stdin(process.pid)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("shell", "marker"), [("bash", "complete -o"), ("zsh", "#compdef ccverify"), ("fish", "complete")]
)
def test_completion_scripts(shell: str, marker: str) -> None:
    done = run("completion", shell)
    assert done.returncode == 0 and marker in done.stdout
    assert "_CCVERIFY_COMPLETE" in done.stdout


def test_completion_refuses_other_shells() -> None:
    done = run("completion", "tcsh")
    assert done.returncode == 2 and "tcsh" in done.stderr


def test_completion_answers_the_shell() -> None:
    env = dict(
        os.environ, _CCVERIFY_COMPLETE="complete_bash", COMP_WORDS="ccverify verify --trust-r", COMP_CWORD="2"
    )
    done = run(env=env)
    assert done.returncode == 0
    assert done.stdout.split() == ["--trust-root"]


def test_a_pipe_gets_plain_key_value_lines_with_whole_values() -> None:
    from ccverify.verifier.evidence.tdx_quote import TdxQuote

    quote = TdxQuote.from_bytes((SAMPLE / "tdx-quote.dat").read_bytes())
    done = run("show", str(SAMPLE / "tdx-quote.dat"))
    assert done.returncode == 0
    assert not set("╭╮╰╯│┃━─") & set(done.stdout)
    assert f"body.mr_td: {quote.body.mr_td.hex()}" in done.stdout.splitlines()


def test_a_pipe_gets_every_event_digest_whole_and_registers_named() -> None:
    done = run("show", str(SAMPLE / "tdx-event-log.bin"))
    assert done.returncode == 0
    rows = [line.split("\t") for line in done.stdout.splitlines()[2:]]
    assert all(len(row[3]) == 96 for row in rows)  # SHA-384, whole
    assert {row[1] for row in rows} <= {"MRTD", "RTMR0", "RTMR1", "RTMR2", "RTMR3"}
    assert all(row[2].startswith("EV_") for row in rows)


def test_a_terminal_gets_tables() -> None:
    import pty

    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [CCVERIFY, "show", str(SAMPLE / "tdx-quote.dat")],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, COLUMNS="120"),
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0
    finally:
        os.close(leader)
    assert "│" in b"".join(chunks).decode()


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["show", "/nonexistent/file"], "input"),
        (["show", str(SAMPLE / "tdx-collateral.json")], "input"),
    ],
)
def test_errors_say_their_kind_in_words_not_class_names(args: list[str], kind: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error ({kind}): ")
    assert "Error)" not in done.stderr


def on_a_terminal(args: list[str], columns: int = 80) -> tuple[int, str]:
    """Run ccverify with stdout and stderr on a terminal ``columns`` wide."""
    import pty

    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [CCVERIFY, *args],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
            env=dict(os.environ, COLUMNS=str(columns), NO_COLOR="1", TERM="dumb"),
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=60)
    finally:
        os.close(leader)
    return code, b"".join(chunks).decode().replace("\r\n", "\n")


MAIN_JOB = [*TDX, *without(TDX_REFERENCE, "--event-log")]


def test_at_80_columns_codes_and_field_paths_are_whole(tmp_path: Path) -> None:
    log = bytearray((SAMPLE / "tdx-event-log.bin").read_bytes())
    log[0x4D + 14] ^= 1  # the first event's digest: rtmr0_mismatch
    (tmp_path / "log.bin").write_bytes(bytes(log))
    args = [*MAIN_JOB, "--event-log", str(tmp_path / "log.bin")]
    code, shown = on_a_terminal(args)
    assert code == 1
    table = shown[: shown.index("error (")]
    assert all(len(line) <= 80 for line in table.splitlines()), max(table.splitlines(), key=len)
    from typer.testing import CliRunner

    from ccverify.cli.app import app  # the codes the JSON has, each whole on the terminal
    from tests.cli_json import envelope

    document = envelope(CliRunner().invoke(app, [*args, "--json"]).stdout, "verify")
    reasons = document["result"]["attestation_result"]["submods"]["tdx"]["ccverify_reasons"]
    cells = {cell.strip() for line in table.splitlines() for cell in line.split("│")}
    for reason in reasons:
        assert reason["code"] in cells, reason["code"]
    # dotted names are broken only at a '.' or '[': each piece is made of whole names
    import re

    from ccverify.cli._common import flatten

    code, quote = on_a_terminal(["show", str(SAMPLE / "tdx-quote.dat")])
    assert code == 0
    shown_json = CliRunner().invoke(app, ["show", str(SAMPLE / "tdx-quote.dat"), "--json"]).stdout
    result = envelope(shown_json, "show")["result"]
    words = {w for name, _ in flatten(result["tdx-quote"]) for w in re.split(r"[.\[\]]", name) if w}
    pieces = [line.split("│")[1].strip() for line in quote.splitlines() if line.startswith("│")]
    assert "qe_certification_data.qe_report." in pieces
    for piece in pieces:
        assert {w for w in re.split(r"[.\[\]]", piece) if w} <= words | {"field"}, piece


def test_confirmed_reasons_show_expected_and_actual() -> None:
    """The table shows every expected/actual the JSON has, confirmed reasons' too."""
    code, shown = on_a_terminal([*MAIN_JOB, "--event-log", str(SAMPLE / "tdx-event-log.bin")], columns=200)
    assert code == 0
    assert "xfam matches the reference value" in shown
    assert "expected: e702060000000000" in shown and "actual: e702060000000000" in shown
    piped = run(*MAIN_JOB, "--event-log", str(SAMPLE / "tdx-event-log.bin"))
    lines = piped.stdout.splitlines()
    rows = [line.split("\t") for line in lines if line.startswith("configuration\tok\txfam")]
    assert rows and rows[0][3:] == ["e702060000000000", "e702060000000000"]


def test_plain_output_has_no_markup_and_keeps_brackets_in_data() -> None:
    """A title's colour markup is not printed into a pipe; "[...]" inside values is data, shown as is."""
    done = run(*TDX, *TDX_REFERENCE)
    assert done.returncode == 0, done.stderr
    assert "# attestation result: affirming" in done.stdout
    assert "[green]" not in done.stdout and "[/]" not in done.stdout


def test_markup_in_evidence_is_shown_as_data(tmp_path: Path) -> None:
    from ccverify.cli._common import plain_lines, table

    lines = plain_lines(table("t", [("cmdline", "console=[bold]ttyS0[/bold] x[0]")]))
    assert lines == ["# t", "cmdline: console=[bold]ttyS0[/bold] x[0]"]
