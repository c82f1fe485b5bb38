"""The console entry runs the initramfs hook's own ``guest`` command lines without typer: it must
read them as typer does (or leave them to typer), and answer as the typer command does."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer._click.types import STRING as CLICK_STRING  # the click typer vendors
from typer.core import TyperArgument, TyperGroup
from typer.models import TyperPath
from typer.testing import CliRunner

from ccverify.cli import guest, guest_run
from ccverify.cli.app import app
from ccverify.cli.guest_args import ARGUMENT, FLAG, OPTIONS, PATH, TEXT, parse
from tests import cli_json
from tests.cli_json import envelope_result


def _params(verb: str) -> dict[str, Any]:
    group = typer.main.get_command(guest.app)
    assert isinstance(group, TyperGroup)
    return {param.name: param for param in group.commands[verb].params}


@pytest.mark.parametrize("verb", sorted(OPTIONS))
def test_the_table_is_what_typer_declares(verb: str) -> None:
    """Option names, parameters and kinds against the typer command; ``guest_run``'s function
    takes the typer command's parameters, keyword-only, with its defaults."""
    params = _params(verb)
    for name, (parameter, kind) in OPTIONS[verb].items():
        param = params[parameter]
        assert param.opts == [name] and param.secondary_opts == [] and param.envvar is None
        assert not param.multiple and not param.required
        if kind == FLAG:
            assert param.is_flag and param.default is False
        elif kind == PATH:
            assert isinstance(param.type, TyperPath)
        else:
            assert kind == TEXT and param.type is CLICK_STRING
    if verb in ARGUMENT:
        argument = params[ARGUMENT[verb]]
        assert isinstance(argument, TyperArgument) and argument.type is CLICK_STRING
        assert argument.nargs == 1 and not argument.required
    parameters = inspect.signature(getattr(guest_run, verb)).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert {name: p.default for name, p in parameters.items()} == {
        name: param.default for name, param in params.items()
    }


def _typer_call(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> tuple[int, dict[str, Any] | None]:
    """The exit code of the typer app for ``ccverify <argv>``, and the keyword arguments its
    command passed to ``guest_run`` (None: it did not get that far)."""
    seen: list[dict[str, Any]] = []
    for verb in OPTIONS:
        monkeypatch.setattr(guest_run, verb, lambda **kwargs: seen.append(kwargs))
    result = CliRunner().invoke(app, argv)
    monkeypatch.undo()
    assert len(seen) <= 1
    return result.exit_code, seen[0] if seen else None


WELL_FORMED = [
    ["guest", "lockdown", "--config", "/etc/ccverify/guest.toml"],
    ["guest", "lockdown", "--config=g.toml", "--json"],
    ["guest", "authorize", "--config", "/etc/ccverify/guest.toml"],
    ["guest", "authorize", "--json", "--config", "x y.toml"],
    ["guest", "authorize", "--config", "/etc/ccverify/guest.toml", "--trust-root", "/etc/ccverify/root.pem"],
    ["guest", "authorize", "--trust-root=r.pem", "--json", "--config", "g"],
    ["guest", "finish", "--config", "/etc/ccverify/guest.toml"],
    ["guest", "finish", "--config", "g", "--json"],
    ["guest", "unlock", "--config", "/etc/ccverify/guest.toml", "--volume", "cryptroot"],
    ["guest", "unlock", "--config", "g"],
    ["guest", "unlock", "disk-key", "--config", "g", "--json"],
    ["guest", "unlock", "--config", "g", "disk-key", "--volume=v"],
]

DECLINED = [
    ["guest", "lockdown"],  # no --config: typer decides (the default file)
    ["guest", "lockdown", "--config"],
    ["guest", "lockdown", "--config", ""],
    ["guest", "lockdown", "--config", "-"],
    ["guest", "lockdown", "--config", "g", "--config", "h"],
    ["guest", "lockdown", "--config", "g", "--json", "--json"],
    ["guest", "lockdown", "--config", "g", "--json=1"],
    ["guest", "lockdown", "--config", "g", "--sysfs", "s"],
    ["guest", "lockdown", "--config", "g", "--help"],
    ["guest", "lockdown", "--config", "g", "--"],
    ["guest", "lockdown", "--config", "g", "extra"],
    ["guest", "lockdown", "--conf", "g"],
    ["guest", "authorize", "--config", "g", "--dry-run"],
    ["guest", "authorize", "--config", "g", "--trust-root"],
    ["guest", "authorize", "--config", "g", "--trust-root", ""],
    ["guest", "authorize", "--config", "g", "--trust-root", "a", "--trust-root", "b"],
    ["guest", "authorize", "--trust-root", "r.pem"],  # no --config
    ["guest", "lockdown", "--config", "g", "--trust-root", "r.pem"],
    ["guest", "finish", "--config", "g", "--persist"],
    ["guest", "unlock", "--config", "g", "a", "b"],
    ["guest", "unlock", "--config", "g", "-"],
    ["guest", "unlock", "--config", "g", "--volume"],
    ["guest", "askpass", "--config", "g"],
    ["guest", "evidence", "--config", "g"],
    ["guest", "--help", "lockdown", "--config", "g"],
    ["devices", "lockdown", "--config", "g"],
    ["guest"],
    [],
]


@pytest.mark.parametrize("argv", WELL_FORMED, ids=" ".join)
def test_well_formed_arguments_are_read_as_typer_reads_them(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    fast = parse(argv)
    assert fast is not None
    verb, given = fast
    code, kwargs = _typer_call(monkeypatch, argv)
    defaults = {name: p.default for name, p in inspect.signature(getattr(guest_run, verb)).parameters.items()}
    assert (code, argv[1], kwargs) == (0, verb, {**defaults, **given}), argv
    for name, value in given.items():  # equal is not enough for the types: Path vs str, bool vs int
        assert type(value) is type(kwargs[name]), (name, value)


@pytest.mark.parametrize("argv", DECLINED, ids=" ".join)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert parse(argv) is None


# ------------------------------------------------------------------------------ real processes

_TYPER = ["-c", "import sys; sys.argv[0] = 'ccverify'; from ccverify.cli.app import app; app()"]
_ENTRY = ["-X", "importtime", "-m", "ccverify.cli.entry"]


def _run(how: list[str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100", "CRYPTTAB_NAME": "cryptroot"}
    return subprocess.run([sys.executable, *how, *argv], capture_output=True, text=True, env=env, check=False)


def _imported(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    return [line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")]


def _untimed(text: str) -> str:
    """The applied state's time (``"at"``) is when each run applied it."""
    return re.sub(r'"at": "[^"]*"', '"at": "-"', text)


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A fake q35 tree already locked down (the first lockdown in this process, with the fake
    kernel answering the writes), a signed policy, a run dir in /dev/shm with a released
    secret, and configurations naming them."""
    import shutil
    import tempfile

    from ccverify.verifier.release.secrets import SecretStore
    from tests.unit.test_devices_cli import Setup

    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm tmpfs")
    root = tmp_path_factory.mktemp("gate")
    monkeypatch = pytest.MonkeyPatch()
    setup = Setup(root, monkeypatch)
    shm = Path(tempfile.mkdtemp(prefix="ccverify-test-", dir="/dev/shm"))
    run_dir = shm / "ccverify"
    good = root / "guest.toml"
    good.write_text(
        f'device_policy = "{setup.cose}"\ntrust_anchors = ["{setup.anchor}"]\nsysfs = "{setup.tree.sysfs}"\n'
        f'run_dir = "{run_dir}"\npersist_secrets = true\n[volumes.cryptroot]\nsecret = "disk-key"\n'
    )
    first = CliRunner().invoke(
        app, ["guest", "lockdown", "--config", str(good), "--modules-dir", str(setup.tree.modules_dir),
              "--modprobe", str(setup.tree.modprobe_script())],
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    monkeypatch.undo()
    SecretStore(run_dir).write({"disk-key": b"the key\n"})
    no_policy = root / "no-policy.toml"
    no_policy.write_text(f'trust_anchors = ["{setup.anchor}"]\nrun_dir = "{run_dir}"\n')
    not_toml = root / "not.toml"
    not_toml.write_text("this is [not toml\n")
    try:
        yield {"good": good, "no_policy": no_policy, "not_toml": not_toml, "missing": root / "missing.toml"}
    finally:
        shutil.rmtree(shm, ignore_errors=True)


ENTRY_CASES = {
    "lockdown": ("good", ["guest", "lockdown"]),
    "lockdown-json": ("good", ["guest", "lockdown", "--json"]),
    "lockdown-no-policy": ("no_policy", ["guest", "lockdown"]),
    "lockdown-no-policy-json": ("no_policy", ["guest", "lockdown", "--json"]),
    "lockdown-not-toml": ("not_toml", ["guest", "lockdown"]),
    "lockdown-missing": ("missing", ["guest", "lockdown", "--json"]),
    "authorize-no-policy": ("no_policy", ["guest", "authorize"]),
    "authorize-no-policy-json": ("no_policy", ["guest", "authorize", "--json"]),
    "unlock": ("good", ["guest", "unlock", "--volume", "cryptroot"]),
    "unlock-crypttab-name": ("good", ["guest", "unlock"]),
    "unlock-name-json": ("good", ["guest", "unlock", "disk-key", "--json"]),
    "unlock-unknown": ("good", ["guest", "unlock", "nothing"]),
    "finish-json": ("good", ["guest", "finish", "--json"]),
    "finish": ("good", ["guest", "finish"]),
}


@pytest.mark.parametrize("case", ENTRY_CASES.values(), ids=ENTRY_CASES.keys())
def test_the_console_entry_answers_as_the_typer_command_without_importing_typer(
    gate: dict[str, Path], case: tuple[str, list[str]]
) -> None:
    config, words = case
    argv = [*words, "--config", str(gate[config])]
    assert parse(argv) is not None
    entry, typed = _run(_ENTRY, argv), _run(_TYPER, argv)
    imported = _imported(entry.stderr)
    answer = "\n".join(line for line in entry.stderr.splitlines() if not line.startswith("import time:"))
    expected = (typed.returncode, _untimed(typed.stdout), typed.stderr.rstrip("\n"))
    assert (entry.returncode, _untimed(entry.stdout), answer) == expected
    assert "ccverify.cli.guest_run" in imported
    assert not [name for name in imported if name.split(".")[0] in ("typer", "click")]
    assert "Traceback" not in entry.stderr
    # into a pipe (the hook writes a log) every form is plain text, without rich
    assert not [name for name in imported if name.split(".")[0] == "rich"]
    if "--json" in argv and entry.returncode == 0:
        assert envelope_result(entry.stdout, f"guest {words[1]}") is not None


EXAMPLE_ROOT = Path(__file__).resolve().parents[2] / "reference-values" / "examples"


@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_local_authorize_with_a_trust_root_runs_as_the_typer_command(
    gate: dict[str, Path], tmp_path: Path, json_out: bool
) -> None:
    """Local mode on the sample (the example provider, the signed reference values), as the
    boot benchmark runs it: ``--trust-root`` takes the fast path, which answers as typer does,
    without typer or rich; without ``--trust-root`` the example quote's root is refused alike;
    the configuration's ``trust_root`` key names it as the option does, its ``collateral`` key
    the collateral used."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from ccverify.verifier.testing.pki import derive_ec_key
    from ccverify.verifier.testing.sample import SEED

    signer = derive_ec_key(SEED, "refvalues-signer", ec.SECP256R1()).public_key()
    anchor = tmp_path / "refvalues-signer.pub.pem"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    anchor.write_bytes(signer.public_bytes(serialization.Encoding.PEM, spki))
    good = gate["good"].read_text()
    # the sample's signer first (it signs the reference values), the policy's own next
    config = tmp_path / "local.toml"
    config.write_text(
        f'reference_values = "{EXAMPLE_ROOT / "tdx-refvalues.cbor"}"\nevidence_provider = "example"\n'
        + good.replace("trust_anchors = [", f'trust_anchors = ["{anchor}", ', 1)
    )
    json_flag = ["--json"] if json_out else []
    root = ["--trust-root", str(EXAMPLE_ROOT / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem")]
    # a first run authorizes what the policy allows in the fake tree (plain files keep what was
    # written): the runs compared then start from the same state
    _run(_ENTRY, ["guest", "authorize", "--config", str(config), *root])
    # the same root named by the configuration's trust_root key, not on the command line
    rooted = tmp_path / "rooted.toml"
    rooted.write_text(f'trust_root = "{root[1]}"\n' + config.read_text())
    # and its collateral key is used before the provider's: a document that is none is refused
    (tmp_path / "not-collateral.json").write_text("{}")
    collateral = tmp_path / "collateral.toml"
    collateral.write_text(f'collateral = "{tmp_path / "not-collateral.json"}"\n' + rooted.read_text())
    for extra, code, conf in ((root, 0, config), ([], 1, config), ([], 0, rooted), ([], 2, collateral)):
        argv = ["guest", "authorize", "--config", str(conf), *extra, *json_flag]
        assert parse(argv) is not None
        entry, typed = _run(_ENTRY, argv), _run(_TYPER, argv)
        imported = _imported(entry.stderr)
        answer = "\n".join(line for line in entry.stderr.splitlines() if not line.startswith("import time:"))
        assert (entry.returncode, typed.returncode) == (code, code), typed.stderr[-600:]
        assert answer == typed.stderr.rstrip("\n") and "NOT HARDWARE" in answer
        if json_out:  # REPORT_DATA is fresh in each run: the same envelope otherwise
            documents = [cli_json.envelope(out, "guest authorize") for out in (entry.stdout, typed.stdout)]
            assert [(d["exit_code"], d["error"]) for d in documents] == [(code, documents[1]["error"])] * 2
            for document in documents:
                assert document["result"]["mode"] == "local"
                assert document["result"]["evidence"]["hardware"] is False
        else:
            assert _untimed(entry.stdout) == _untimed(typed.stdout)
        assert not [name for name in imported if name.split(".")[0] in ("typer", "click", "rich")]


def test_guest_verbs_run_with_the_collector_rarely_woken() -> None:
    """A guest verb sets the collector's young threshold to 50,000 (the hook's imports no longer
    set off a collection every 700 allocations), and the collector stays on."""
    code = (
        "import gc, sys\n"
        "from ccverify.cli import entry, guest_run\n"
        "seen = []\n"
        "guest_run.finish = lambda **options: seen.append((gc.get_threshold(), gc.isenabled()))\n"
        "sys.argv = ['ccverify', 'guest', 'finish', '--config', '/nonexistent.toml']\n"
        "try:\n"
        "    entry._run_guest.__globals__['os']._exit = lambda status: sys.exit(status)\n"
        "    entry.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(seen)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[((50000, 20, 100), True)]", done.stderr
