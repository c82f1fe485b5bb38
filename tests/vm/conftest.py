"""Fixtures of the real-kernel tests: one harness (kernel, QEMU, initramfs) per session.

A missing kernel, QEMU or busybox fails these tests with the reason (CI installs them with
tests/setup-system.sh); developers without them deselect with ``-m "not vm"``.
"""

from __future__ import annotations

import compileall
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.vm.harness import Harness, VmUnavailable


def venv_bin() -> Path:
    """The bin directory of the venv running the tests (its ccverify runs inside the guest as-is)."""
    here = Path(sys.executable).parent
    return here if (here / "ccverify").exists() else REPO / ".venv" / "bin"


@pytest.fixture(scope="session")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    try:
        harness = Harness.create(tmp_path_factory.mktemp("vm"))
    except VmUnavailable as error:
        missing = str(error)
    else:
        missing = ""
    if missing:
        pytest.fail(f"real-kernel tests need their system packages: {missing}", pytrace=False)
    ccverify = venv_bin() / "ccverify"
    if not ccverify.exists():
        pytest.fail(f"{ccverify} not found: install the project into a venv first", pytrace=False)
    # The guest sees the checkout through a read-only overlay: byte-compile it on the host once,
    # or every boot compiles the modules it imports again (into its tmpfs, lost at power-off).
    for package in ("verifier", "measurements", "cli"):
        compileall.compile_dir(REPO / package, quiet=1)
    return harness


@pytest.fixture(scope="session")
def ccverify() -> str:
    """The ccverify console script, at the same path inside the guest as on the host."""
    return str(venv_bin() / "ccverify")
