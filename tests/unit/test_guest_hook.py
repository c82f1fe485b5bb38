"""``ccverify guest install-hook`` and the guest payload (``cli/hook_payload.py``), without building
an initramfs (``tests/vm/test_hook_build.py`` builds them with both generators)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccverify.cli import hook_payload, module_store
from ccverify.cli.app import app
from ccverify.cli.guest_hook import install

DATA = Path(hook_payload.__file__).parent / "initramfs"


@pytest.fixture(scope="module")
def modules() -> dict[str, str | None]:
    return hook_payload.runtime_modules(sys.executable)


def test_the_closure_has_the_guest_verbs_and_their_libraries(modules: dict[str, str | None]) -> None:
    for name in (
        "ccverify.cli.entry", "ccverify.cli.guest", "ccverify.cli.guest_gate",
        "ccverify.verifier.release.remote", "ccverify.verifier.release.devices",
        "ccverify.verifier.release.sealing", "ccverify.verifier.service.client",
        "ccverify.verifier.tdx.verify", "ccverify.verifier.appraisal", "ccverify.cli.guest_evidence",
        "cryptography.x509", "cryptography.hazmat.primitives.hpke", "cbor2", "requests", "tomllib",
        # imported by cryptography's X25519 and ML-KEM key generation only when called
        "cryptography.hazmat.backends.openssl.backend",
    ):  # fmt: skip
        assert name in modules, name
    # the CLI is typer-based and the guest verbs are typer commands: typer (with its vendored
    # click) and rich are in, measured by tests/benchmarks/bench_boot.py
    assert "typer" in modules and "rich.console" in modules


def test_the_closure_leaves_out_the_service_and_test_tools(modules: dict[str, str | None]) -> None:
    tops = {name.split(".")[0] for name in modules}
    for never in (
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "pydantic",
        "pytest",
        "hypothesis",
        "jsonschema",
    ):
        assert never not in tops, never
    for own in ("ccverify.verifier.service.app", "ccverify.verifier.service.store"):
        assert own not in modules, own


def test_module_level_walk_skips_function_bodies() -> None:
    source = "import a\nfrom b import c\ndef f():\n    import d\nif TYPE_CHECKING:\n    import e\n"
    assert hook_payload.imported_names(source, "x", False) == {"a", "b", "b.c", "d"}
    assert hook_payload.imported_names(source, "x", False, module_level=True) == {"a", "b", "b.c"}
    assert hook_payload.imported_names("from . import y\nfrom .z import w\n", "p.q", False) == {
        "p", "p.y", "p.z", "p.z.w",
    }  # fmt: skip


def test_site_destination_by_dotted_name() -> None:
    site = hook_payload.SITE
    assert hook_payload.site_destination("ccverify.cli.guest", "/src/cli/guest.py") == Path(
        f"{site}/ccverify/cli/guest.py"
    )
    assert hook_payload.site_destination("cbor2", "/v/site-packages/cbor2/__init__.py") == Path(
        f"{site}/cbor2/__init__.py"
    )


def test_payload_lines(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-m", "ccverify.cli.hook_payload", "--list", str(tmp_path / "s")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    assert all(len(parts) == 3 and parts[0] in ("exec", "file") for parts in lines)
    destinations = {parts[2] for parts in lines}
    site = hook_payload.SITE
    assert "/usr/bin/ccverify" in destinations
    assert any(d.endswith("/site/ccverify/verifier/roots/intel_sgx_root_ca.pem") for d in destinations)
    assert not any(d.endswith(".py") for d in destinations)  # sourceless .pyc only
    assert any(d.endswith("encodings/utf_16_le.pyc") for d in destinations)  # the standard library: files
    # the site folder's modules are in the store, but what the launcher imports to install it
    site_pycs = {d for d in destinations if d.startswith(f"{site}/") and d.endswith(".pyc")}
    assert site_pycs == {f"{site}/ccverify/cli/__init__.pyc", f"{site}/ccverify/cli/module_store.pyc"}
    store = next(parts[1] for parts in lines if parts[2] == f"{site}/{hook_payload.MODULE_STORE}")
    made_for, index = module_store.read_index(Path(store).read_bytes())
    assert made_for == module_store.tag()
    for module, file in (
        ("ccverify.cli.guest_run", "ccverify/cli/guest_run.pyc"),
        ("ccverify.verifier.tdx.verify", "ccverify/verifier/tdx/verify.pyc"),
        ("cryptography.x509", "cryptography/x509/__init__.pyc"),
        ("typer", "typer/__init__.pyc"),
    ):
        assert index[module][:2] == (file, file.endswith("__init__.pyc")), module
    assert not any(name.split(".")[0] in hook_payload.NEVER for name in index)
    # the standard library's modules the guest commands import: in the store at their own
    # places, not files; the start-up's (encodings) files only
    import json as json_module

    json_pyc = str(Path(json_module.__file__).resolve().with_suffix(".pyc"))
    assert index["json"][:2] == (json_pyc, True) and json_pyc not in destinations
    assert "encodings" not in index and any(d.endswith("/encodings/__init__.pyc") for d in destinations)
    # what module_store imports before it is installed, and the standard library's landmark
    for name in ("__future__", "os"):
        assert name not in index and any(
            d.endswith(f"/python3.{sys.version_info[1]}/{name}.pyc") for d in destinations
        )
    launcher = Path(next(parts[1] for parts in lines if parts[2] == "/usr/bin/ccverify")).read_text()
    assert " -I -S " in launcher and hook_payload.SITE in launcher
    # the collector's young threshold raised first, as the guest verbs' entry does (the installs
    # import dataclasses and re before it runs)
    assert launcher.index("gc.set_threshold(50_000, 20, 100)") < launcher.index("module_store")
    # the store first, before anything else is imported
    assert launcher.index(f'install("{site}/{hook_payload.MODULE_STORE}")') < launcher.index("dataclass_code")
    # the guest path's dataclass methods, compiled for this interpreter; the launcher installs them
    code = next(
        parts[1] for parts in lines if parts[2] == f"{hook_payload.SITE}/{hook_payload.DATACLASS_CODE}"
    )
    assert f'install("{hook_payload.SITE}/{hook_payload.DATACLASS_CODE}")' in launcher
    probe = (
        "import sys; from ccverify.cli import dataclass_code as d; "
        "tag, parts = d.read_index(open(sys.argv[1], 'rb').read()); "
        "print(d.install(sys.argv[1]), tag == d.tag(), sorted(parts))"
    )
    shown = subprocess.run(
        [sys.executable, "-I", "-c", probe, code], capture_output=True, text=True, check=True
    )
    installed, same_tag, modules = shown.stdout.split(" ", 2)
    assert (installed, same_tag) == ("True", "True")
    for module in (
        "ccverify.verifier.release.devices.policy",
        "ccverify.verifier.tdx.verify",
        "ccverify.cli._common",
        "ccverify.verifier._frozen",  # positional()'s constructors
    ):
        assert repr(module) in modules
    assert "'typer" not in modules and "'rich" not in modules  # the hook's fast path runs without them
    # and its regular expressions: every one compiles from the table to what re compiles anew,
    # those of cryptography's name parser among them; the launcher installs them before the
    # dataclass methods (dataclasses compiles one as it loads)
    regex = next(parts[1] for parts in lines if parts[2] == f"{site}/{hook_payload.REGEX_CODE}")
    installed_at = launcher.index(f'install("{site}/{hook_payload.REGEX_CODE}")')
    assert launcher.index(hook_payload.MODULE_STORE) < installed_at < launcher.index("dataclass_code")
    probe = (
        "import marshal, re, sys, _sre, cryptography.x509.name\n"
        "from re import _compiler\n"
        "from ccverify.cli import regex_code\n"
        "table = regex_code.load(open(sys.argv[1], 'rb').read())\n"
        "same = [_sre.compile(*marshal.loads(a)) == _compiler.compile(p, f) for (p, f), a in table.items()]\n"
        "parser = vars(cryptography.x509.name._RFC4514NameParser).values()\n"
        "names = [p for p, f in table if p in {v.pattern for v in parser if isinstance(v, re.Pattern)}]\n"
        "print(len(table), all(same), len(names))\n"
    )
    count, all_same, from_names = subprocess.run(
        [sys.executable, "-I", "-c", probe, regex], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(count) > 30 and all_same == "True" and int(from_names) > 0


@pytest.mark.parametrize("generator", ["initramfs-tools", "dracut"])
def test_install_writes_the_files_with_the_placeholders_filled(tmp_path: Path, generator: str) -> None:
    config = tmp_path / "etc" / "guest.toml"
    config.parent.mkdir()
    config.write_text("")
    written = install(generator, config=config, into=tmp_path / "gen", lib_dir=tmp_path / "lib", python="/py")
    names = {str(p.relative_to(tmp_path)) for p in written}
    assert {"lib/keyscript", "lib/finish"} <= names
    if generator == "initramfs-tools":
        assert {"gen/hooks/ccverify", "gen/scripts/init-top/ccverify", "gen/scripts/local-top/ccverify",
                "gen/scripts/local-premount/ccverify"} <= names  # fmt: skip
    else:
        assert {"gen/90ccverify/module-setup.sh", "gen/90ccverify/ccverify-lockdown.service",
                "gen/90ccverify/ccverify-authorize.service", "gen/90ccverify/ccverify-askpass.service",
                "gen/90ccverify/ccverify-finish.service"} <= names  # fmt: skip
    for path in written:
        text = path.read_text()
        assert "@PYTHON@" not in text and "@CONFIG@" not in text and "@LIB@" not in text
    hook = tmp_path / (
        "gen/hooks/ccverify" if generator == "initramfs-tools" else "gen/90ccverify/module-setup.sh"
    )
    assert 'CCVERIFY_PYTHON="/py"' in hook.read_text() and f'CCVERIFY_CONFIG="{config}"' in hook.read_text()


def test_install_hook_command_refusals(tmp_path: Path) -> None:
    both = CliRunner().invoke(app, ["guest", "install-hook", "--dracut", "--initramfs-tools"])
    assert both.exit_code == 2 and "exactly one" in both.output
    missing = CliRunner().invoke(
        app,
        [
            "guest",
            "install-hook",
            "--dracut",
            "--config",
            str(tmp_path / "none.toml"),
            "--into",
            str(tmp_path),
        ],
    )
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_shell_scripts_parse() -> None:
    scripts = [p for p in DATA.rglob("*") if p.is_file() and not p.name.endswith(".service")]
    assert len(scripts) >= 9
    for script in scripts:
        shell = "bash" if script.name == "module-setup.sh" else "sh"
        subprocess.run([shell, "-n", str(script)], check=True)


def test_units_are_ordered_as_the_stages_need() -> None:
    def unit(name: str) -> str:
        return (DATA / "systemd" / name).read_text()

    lockdown = unit("ccverify-lockdown.service")
    assert "DefaultDependencies=no" in lockdown and "Before=systemd-udev-trigger.service" in lockdown
    authorize = unit("ccverify-authorize.service")
    assert "After=ccverify-lockdown.service network-online.target" in authorize
    assert "Before=cryptsetup-pre.target" in authorize and "Wants=network-online.target" in authorize
    assert "Before=initrd-cleanup.service" in unit("ccverify-finish.service")


def test_the_example_material_goes_in_only_where_the_configuration_chooses_that_provider(
    tmp_path: Path,
) -> None:
    def listed(config: str) -> tuple[set[str], str]:
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.toml"
        path.write_text(config)
        done = subprocess.run(
            [sys.executable, "-I", "-m", "ccverify.cli.hook_payload", "--list", str(tmp_path / path.stem),
             "--config", str(path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        lines = [line.split("\t") for line in done.stdout.splitlines()]
        launcher = Path(next(parts[1] for parts in lines if parts[2] == "/usr/bin/ccverify")).read_text()
        return {parts[2] for parts in lines}, launcher

    example = f"{hook_payload.SITE}/{hook_payload.EXAMPLE_EVIDENCE}"
    destinations, launcher = listed('evidence_provider = "configfs"\n')
    assert example not in destinations and "PREMINTED" not in launcher
    assert "from ccverify.cli.entry import main; main()" in launcher
    destinations, launcher = listed('evidence_provider = "example"\n')
    assert example in destinations and f'example_evidence.PREMINTED = "{example}"' in launcher


def test_a_configuration_the_payload_cannot_read_stops_the_build(tmp_path: Path) -> None:
    bad = tmp_path / "guest.toml"
    bad.write_text('evidence_provider = "tpm"\n')
    payload = [sys.executable, "-I", "-m", "ccverify.cli.hook_payload", "--list", str(tmp_path / "s")]
    done = subprocess.run([*payload, "--config", str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == ""
    assert "guest.toml: evidence_provider" in done.stderr and "Traceback" not in done.stderr
    usage = subprocess.run([*payload, "--conf", "x"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr
