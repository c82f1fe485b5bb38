"""The example provider's pre-minted material (``cli/example_evidence.py``): EXAMPLE, NOT TRUSTED.

What the initramfs's example provider signs at boot from the template is byte for byte what
``mint_tdx_quote`` mints for the same REPORT_DATA and build time; outside the template's window,
without it or with a template that does not hold together, the provider mints at run time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ccverify.cli import example_evidence, hook_payload
from ccverify.cli.guest_providers import ExampleEvidenceProvider
from ccverify.verifier.testing.sample import mint_tdx_quote, sample_tdx_event_log

BUILT = datetime(2027, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("example") / example_evidence.FILE_NAME
    example_evidence.write(path, BUILT)
    return path


@pytest.fixture
def preminted(template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(example_evidence, "PREMINTED", str(template))
    return template


def test_the_file_says_what_it_is(template: Path) -> None:
    data = json.loads(template.read_text())
    assert "EXAMPLE, NOT TRUSTED, NOT HARDWARE" in data["WARNING"]
    assert data["valid_until"] == (BUILT.replace(microsecond=0) + timedelta(days=30)).isoformat()
    assert hook_payload.EXAMPLE_EVIDENCE == example_evidence.FILE_NAME
    assert "example_evidence.PREMINTED" in hook_payload.LAUNCHER_EXAMPLE
    assert "{example}" in hook_payload.LAUNCHER  # named only where the material is shipped


@pytest.mark.parametrize("report_data", [bytes(64), bytes(range(64)), b"\xff" * 64, bytes(range(1, 65))])
def test_signed_from_the_template_equals_minted(preminted: Path, report_data: bytes) -> None:
    at = BUILT + timedelta(days=3)
    got = example_evidence.from_preminted(report_data, at)
    quote, collateral = mint_tdx_quote(report_data, now=BUILT)
    assert got == (quote, collateral, sample_tdx_event_log())
    evidence = ExampleEvidenceProvider(now=at, warn=False).get(report_data)
    assert (evidence.evidence, evidence.collateral, evidence.event_log) == got
    assert evidence.hardware is False


def test_outside_its_window_the_provider_mints(preminted: Path) -> None:
    report_data = bytes(range(64))
    for at in (BUILT - timedelta(seconds=1), BUILT + timedelta(days=30)):
        assert example_evidence.from_preminted(report_data, at) is None
        evidence = ExampleEvidenceProvider(now=at, warn=False).get(report_data)
        assert (evidence.evidence, evidence.collateral) == mint_tdx_quote(report_data, now=at)
    assert example_evidence.from_preminted(report_data, BUILT.replace(tzinfo=None)) is None


def test_without_a_template_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(example_evidence, "PREMINTED", None)
    assert example_evidence.from_preminted(bytes(64), BUILT) is None
    monkeypatch.setattr(example_evidence, "PREMINTED", str(tmp_path / "missing.json"))
    assert example_evidence.from_preminted(bytes(64), BUILT) is None


def _altered(template: Path, tmp_path: Path, **changes: object) -> Path:
    data = json.loads(template.read_text())
    data.update(changes)
    path = tmp_path / "altered.json"
    path.write_text(json.dumps(data))
    return path


def test_a_template_that_does_not_hold_together_is_not_used(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
    order = bytes.fromhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
    at = BUILT + timedelta(days=1)
    for changes in (
        {"format": "something else"},
        {"attestation_key_scalar": other.hex()},  # not the key the quote names
        {"attestation_key_scalar": order.hex()},  # not a private key (the group's order)
        {"attestation_key_scalar": other.hex()[:-2]},  # 31 bytes
        {"signature_offset": 10},
        {"report_data_offset": -1},
        {"quote_template": "zz"},
        {"valid_from": "not a date"},
    ):
        monkeypatch.setattr(example_evidence, "PREMINTED", str(_altered(template, tmp_path, **changes)))
        assert example_evidence.from_preminted(bytes(64), at) is None, changes


def test_signing_from_the_template_needs_neither_the_test_pki_nor_pyasn1(template: Path) -> None:
    code = (
        "import sys; from datetime import datetime, UTC, timedelta\n"
        "from ccverify.cli import example_evidence as e\n"
        f"e.PREMINTED = {str(template)!r}\n"
        "from ccverify.cli.guest_providers import ExampleEvidenceProvider\n"
        f"at = datetime.fromisoformat({BUILT.isoformat()!r}) + timedelta(days=1)\n"
        "ExampleEvidenceProvider(now=at, warn=False).get(bytes(64))\n"
        "assert 'cryptography.hazmat.backends.openssl.backend' not in sys.modules\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pyasn1', 'ccverify.verifier.testing'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
