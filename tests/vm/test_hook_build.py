"""The hook in Debian's dracut (issue #17): ``ccverify guest install-hook --dracut`` into a copy of
/usr/lib/dracut, ``dracut`` builds an image with systemd, crypt, network and the ccverify
module; the image holds the payload, the configuration and the enabled units, and the payload
runs: ``ccverify`` in a chroot of the unpacked image (its own interpreter and libraries only).
The initramfs-tools image is built and booted by ``test_vm_hook.py``, a dracut image with the
same module by ``test_vm_dracut.py``. Marked ``vm``: it needs
the system packages of ``tests/setup-system.sh`` (dracut-core, initramfs-tools) and root for
the chroot; a build takes about a minute.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ccverify.cli import hook_payload, module_store
from tests.vm.harness import find_kernel
from tests.vm.hook_boot import build_dracut

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, ccverify: str) -> Path:
    work = tmp_path_factory.mktemp("dracut-hook")
    config = work / "etc-ccverify"
    config.mkdir()
    (config / "guest.toml").write_text('trust_anchors = ["anchor.pem"]\ndevice_policy = "policy.cose"\n')
    (config / "anchor.pem").write_text("placeholder\n")
    built = build_dracut(
        find_kernel(), work / "dracut.img", ccverify=ccverify, config=config / "guest.toml", work=work
    )
    unpacked = work / "unpacked"
    subprocess.run(["unmkinitramfs", str(built), str(unpacked)], check=True, capture_output=True)
    main = unpacked / "main"
    return main if main.is_dir() else unpacked


def test_the_image_holds_payload_configuration_and_enabled_units(image: Path) -> None:
    assert os.access(image / "usr/bin/ccverify", os.X_OK)
    assert (image / "etc/ccverify/guest.toml").is_file() and (image / "etc/ccverify/anchor.pem").is_file()
    units = image / "usr/lib/systemd/system"
    for unit in ("lockdown", "authorize", "askpass", "finish"):
        assert (units / f"ccverify-{unit}.service").is_file(), unit
    wants = image / "etc/systemd/system"
    assert (wants / "sysinit.target.wants/ccverify-lockdown.service").is_symlink()
    assert (wants / "cryptsetup-pre.target.wants/ccverify-authorize.service").is_symlink()
    assert (wants / "initrd-switch-root.target.wants/ccverify-finish.service").is_symlink()
    assert (image / "etc/cmdline.d/90ccverify.conf").read_text().strip() == "rd.neednet=1"
    site = image / "usr/lib/ccverify/site"
    # the site folder's Python modules are in one store (cli/module_store.py), their data beside
    _tag, index = module_store.read_index((site / hook_payload.MODULE_STORE).read_bytes())
    packages = {name.split(".")[0] for name in index}
    assert (site / "ccverify/verifier/roots/intel_sgx_root_ca.pem").is_file()
    # the configuration does not choose the example provider: none of its material goes in
    assert not (site / hook_payload.EXAMPLE_EVIDENCE).exists()
    assert "PREMINTED" not in (image / "usr/bin/ccverify").read_text()
    assert {"ccverify", "cryptography", "cbor2", "requests", "typer", "rich"} <= packages
    assert not packages & {"fastapi", "starlette", "uvicorn", "sqlalchemy", "pydantic", "pytest"}
    assert not list(site.rglob("*.py"))  # sourceless .pyc


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_the_payload_runs_from_the_image_alone(image: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["chroot", str(image), "/usr/bin/ccverify", *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    helped = run("guest", "lockdown", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "--config" in helped.stdout
    # no configfs in the chroot: the clear refusal, not a traceback
    refused = run("guest", "evidence", "--evidence-provider", "configfs", "-o", "/tmp/evidence")
    assert refused.returncode == 2, refused.stderr
    assert "configfs-tsm" in refused.stderr and "Traceback" not in refused.stderr
