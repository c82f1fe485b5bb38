"""The public measurement API of DESIGN.md: ``from ccverify import measurements``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ccverify import measurements
from ccverify.verifier.errors import InputError
from tests.conftest import fixture

AMDSEV = fixture("ovmf/ovmf_AmdSev_suffix.bin")
#: sev-snp-measure's golden digest for this tail, 1 vCPU EPYC-v4, 0x21, empty kernel/initrd
GOLDEN = "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"


def test_snp_launch_digest_is_the_golden_digest(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    digest = measurements.snp_launch_digest(
        AMDSEV, vcpus=1, vcpu_type="EPYC-v4", guest_features=0x21, kernel=empty, initrd=empty,
        cmdline="console=ttyS0 loglevel=7",
    )  # fmt: skip
    assert digest.hex() == GOLDEN


def test_snp_launch_digest_equals_measure_snp() -> None:
    m = measurements.measure_snp(AMDSEV, vcpus=2, vcpu_type="EPYC-Milan", guest_features=0x1)
    assert isinstance(m, measurements.Measurement)
    digest = measurements.snp_launch_digest(AMDSEV, vcpus=2, vcpu_type="EPYC-Milan", guest_features=0x1)
    assert digest == m.values["measurement"] and len(digest) == 48


def test_guest_features_are_required() -> None:
    with pytest.raises(TypeError):
        measurements.snp_launch_digest(AMDSEV, vcpus=1, vcpu_type="EPYC")  # type: ignore[call-arg]


def test_bad_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        measurements.snp_launch_digest(tmp_path / "missing.fd", vcpus=1, vcpu_type="EPYC", guest_features=1)


def test_every_public_name_resolves_and_unknown_names_do_not() -> None:
    for name in measurements.__all__:
        assert getattr(measurements, name) is not None
    with pytest.raises(AttributeError):
        _ = measurements.no_such_name


def test_importing_the_package_loads_nothing_else() -> None:
    probe = (
        "import sys, ccverify.measurements; "
        "print(sorted(m for m in sys.modules if m.startswith('ccverify.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "['ccverify.measurements']"
