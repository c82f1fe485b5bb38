"""The guest's own evidence (``verifier/release/guest.py``, ``sev_guest.py``) on fake trees.

Every acquisition path and race: configfs-tsm for TDX and SNP (unique entries, removed
afterwards; provider checks; the generation race retried, then refused; REPORT_DATA checked;
EFBIG, size bound and CWT quotes refused), the ``/dev/sev-guest`` ioctls (extended report,
too-small certificate buffer, plain report, firmware and driver errors), the TD-report-only
``/dev/tdx_guest``, the CCEL and the choice of a provider.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from ccverify.verifier.errors import InputError, ParseError, VerificationError
from ccverify.verifier.evidence.snp_report import SnpReport
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.release import guest
from ccverify.verifier.release.guest import (
    ConfigfsTsmProvider,
    GuestEvidence,
    TdxGuestDeviceProvider,
    default_provider,
    read_ccel,
    report_data_from,
)
from ccverify.verifier.release.sev_guest import SNP_GET_EXT_REPORT, SNP_GET_REPORT, SevGuestProvider
from tests.unit.guest_fakes import (
    SAMPLE_CCEL,
    SNP_CERTS,
    FakeKernel,
    FakeSevGuest,
    snp_outblob,
    snp_report,
    sysfs_tree,
    tdx_outblob,
)

REPORT_DATA = bytes(range(64))


def _tdx(tmp_path: Path, **kernel: object) -> tuple[ConfigfsTsmProvider, FakeKernel]:
    fake = FakeKernel(tmp_path / "config", **kernel)  # type: ignore[arg-type]
    sysfs = sysfs_tree(tmp_path / "sys", ccel=SAMPLE_CCEL)
    return ConfigfsTsmProvider(tmp_path / "config", sysfs_root=sysfs, ops=fake), fake


def _snp(tmp_path: Path, **kernel: object) -> tuple[ConfigfsTsmProvider, FakeKernel]:
    fake = FakeKernel(tmp_path / "config", provider="sev_guest", generate=snp_outblob, **kernel)  # type: ignore[arg-type]
    return ConfigfsTsmProvider(tmp_path / "config", sysfs_root=tmp_path / "sys", ops=fake), fake


# -- REPORT_DATA ---------------------------------------------------------------------------------


def test_report_data_is_the_64_bytes_given_or_a_zero_padded_nonce() -> None:
    assert report_data_from(REPORT_DATA) == REPORT_DATA
    assert report_data_from(b"\x01\x02") == b"\x01\x02" + bytes(62)
    for bad in (b"", bytes(65)):
        with pytest.raises(InputError, match="1 to 64 bytes"):
            report_data_from(bad)


def test_providers_take_exactly_64_bytes(tmp_path: Path) -> None:
    provider, fake = _tdx(tmp_path)
    with pytest.raises(InputError, match="exactly 64 bytes"):
        provider.get(b"\x01\x02")
    assert fake.made == []


# -- configfs-tsm ---------------------------------------------------------------------------------


def test_configfs_tdx_quote_ccel_and_cleanup(tmp_path: Path) -> None:
    provider, fake = _tdx(tmp_path)
    got = provider.get(REPORT_DATA)
    assert got.tee == "tdx" and got.hardware and got.provider_name == "configfs-tsm (tdx_guest)"
    assert TdxQuote.from_bytes(got.evidence).body.report_data == REPORT_DATA
    assert got.aux_blob is None
    assert got.event_log == SAMPLE_CCEL
    assert got.report_data == REPORT_DATA
    assert ("inblob", REPORT_DATA) in fake.writes  # the 64 bytes, one write
    assert len(fake.made) == 1 and fake.removed == fake.made
    assert not any(fake.reports.iterdir())
    assert fake.made[0].name.startswith("ccverify-")


def test_configfs_entries_are_unique_per_request(tmp_path: Path) -> None:
    provider, fake = _tdx(tmp_path)
    provider.get(REPORT_DATA)
    provider.get(REPORT_DATA)
    assert len({p.name for p in fake.made}) == 2


def test_configfs_snp_report_and_certificate_table(tmp_path: Path) -> None:
    provider, fake = _snp(tmp_path)
    got = provider.get(REPORT_DATA)
    assert got.tee == "snp" and got.event_log is None
    assert SnpReport.from_bytes(got.evidence).report_data == REPORT_DATA
    assert got.aux_blob == SNP_CERTS
    assert fake.removed == fake.made


def test_configfs_privlevel_is_written_and_counted(tmp_path: Path) -> None:
    fake = FakeKernel(tmp_path / "config", provider="sev_guest", generate=snp_outblob)
    provider = ConfigfsTsmProvider(tmp_path / "config", privlevel=2, ops=fake)
    provider.get(REPORT_DATA)  # generation moves by 2, which is what was written
    assert [name for name, _ in fake.writes] == ["privlevel", "inblob"]
    assert fake.writes[0][1] == b"2"
    with pytest.raises(InputError, match="0-3"):
        ConfigfsTsmProvider(tmp_path, privlevel=4)


def test_a_concurrent_writer_means_a_retry_on_a_fresh_entry(tmp_path: Path) -> None:
    provider, fake = _tdx(tmp_path, racing_attempts=2)
    got = provider.get(REPORT_DATA)
    assert TdxQuote.from_bytes(got.evidence).body.report_data == REPORT_DATA
    assert len(fake.made) == 3 and fake.removed == fake.made


def test_a_writer_racing_every_attempt_is_refused(tmp_path: Path) -> None:
    provider, fake = _tdx(tmp_path, racing_attempts=99)
    with pytest.raises(InputError, match="another writer changed the report entry during each of 3 attempts"):
        provider.get(REPORT_DATA)
    assert len(fake.made) == 3 and fake.removed == fake.made
    assert not any(fake.reports.iterdir())


def test_the_expected_tee_is_checked(tmp_path: Path) -> None:
    fake = FakeKernel(tmp_path / "config", provider="sev_guest", generate=snp_outblob)
    provider = ConfigfsTsmProvider(tmp_path / "config", tee="tdx", ops=fake)
    with pytest.raises(VerificationError) as refused:
        provider.get(REPORT_DATA)
    assert refused.value.code == "tee_mismatch"
    assert fake.removed == fake.made


def test_an_unknown_provider_is_refused(tmp_path: Path) -> None:
    provider, fake = _tdx(tmp_path, provider="arm_cca_guest")
    with pytest.raises(InputError, match="'arm_cca_guest' is not supported"):
        provider.get(REPORT_DATA)
    assert fake.removed == fake.made


def test_evidence_for_another_report_data_is_refused(tmp_path: Path) -> None:
    provider, _ = _tdx(tmp_path, generate=lambda inblob: tdx_outblob(bytes(64)))
    with pytest.raises(VerificationError) as refused:
        provider.get(REPORT_DATA)
    assert refused.value.code == "report_data_mismatch"
    assert refused.value.expected == REPORT_DATA and refused.value.actual == bytes(64)


def test_efbig_says_what_it_means(tmp_path: Path) -> None:
    provider, fake = _tdx(tmp_path, outblob_error=errno.EFBIG)
    with pytest.raises(InputError, match="EFBIG"):
        provider.get(REPORT_DATA)
    assert fake.removed == fake.made


def test_outblob_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guest, "BLOB_MAX", 4096)
    provider, fake = _tdx(tmp_path)
    with pytest.raises(InputError, match="more than 4096 bytes"):
        provider.get(REPORT_DATA)
    assert fake.removed == fake.made


@pytest.mark.parametrize("prefix", [b"\xd8\x3d\xd2\x84", b"\xd2\x84\x43", b"\x84\x43\xa1"])
def test_a_cwt_quote_is_recognised_and_refused(tmp_path: Path, prefix: bytes) -> None:
    cwt = prefix + bytes(12 * 1024)  # DICE-based TDX attestation: a CWT over 8 KB
    provider, _ = _tdx(tmp_path, generate=lambda inblob: (cwt, b""))
    with pytest.raises(InputError, match="CBOR Web Token") as refused:
        provider.get(REPORT_DATA)
    assert "not verify CWT quotes yet" in str(refused.value)


def test_a_malformed_quote_is_a_parse_error(tmp_path: Path) -> None:
    provider, _ = _tdx(tmp_path, generate=lambda inblob: (b"\x04\x00junk", b""))
    with pytest.raises(ParseError):
        provider.get(REPORT_DATA)


def test_no_configfs_tsm(tmp_path: Path) -> None:
    provider = ConfigfsTsmProvider(tmp_path / "nothing")
    assert not provider.available()
    with pytest.raises(InputError, match="no configfs-tsm"):
        provider.get(REPORT_DATA)


def test_the_real_file_ops_write_once_without_truncating(tmp_path: Path) -> None:
    target = tmp_path / "attr"
    target.write_bytes(b"x" * 100)
    guest.FileOps().write(target, b"abc")
    assert target.read_bytes() == b"abc" + b"x" * 97  # O_WRONLY, offset 0, no O_TRUNC
    with pytest.raises(InputError, match="more than 10 bytes"):
        guest.FileOps().read(target, 10)
    assert guest.FileOps().read(target, 100) == target.read_bytes()


# -- /dev/sev-guest -----------------------------------------------------------------------------


def _device(tmp_path: Path) -> Path:
    device = tmp_path / "sev-guest"
    device.write_bytes(b"")
    return device


def test_sev_guest_extended_report(tmp_path: Path) -> None:
    fake = FakeSevGuest()
    got = SevGuestProvider(_device(tmp_path), vmpl=1, ioctl=fake).get(REPORT_DATA)
    assert got.tee == "snp" and got.evidence[:0x2A0] == snp_report(REPORT_DATA)[:0x2A0]
    assert got.aux_blob == SNP_CERTS
    assert fake.calls == [(SNP_GET_EXT_REPORT, 0x4000, 1)]


def test_sev_guest_too_many_certificates_falls_back_to_the_report(tmp_path: Path) -> None:
    fake = FakeSevGuest(certs=SNP_CERTS + bytes(0x4000))
    got = SevGuestProvider(_device(tmp_path), ioctl=fake).get(REPORT_DATA)
    assert got.evidence[:0x2A0] == snp_report(REPORT_DATA)[:0x2A0] and got.aux_blob is None
    assert [call[0] for call in fake.calls] == [SNP_GET_EXT_REPORT, SNP_GET_REPORT]


def test_sev_guest_without_certificates(tmp_path: Path) -> None:
    fake = FakeSevGuest(certs=b"")
    got = SevGuestProvider(_device(tmp_path), ioctl=fake).get(REPORT_DATA)
    assert got.aux_blob is None
    plain = FakeSevGuest()
    alone = SevGuestProvider(_device(tmp_path), certificates=False, ioctl=plain).get(REPORT_DATA)
    assert alone.aux_blob is None
    assert [call[0] for call in plain.calls] == [SNP_GET_REPORT]


def test_sev_guest_firmware_status_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="status 0x16"):
        SevGuestProvider(_device(tmp_path), ioctl=FakeSevGuest(status=0x16)).get(REPORT_DATA)


def test_sev_guest_driver_error_names_the_codes(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="firmware error 0x16, VMM error 0x0"):
        SevGuestProvider(_device(tmp_path), ioctl=FakeSevGuest(fail_errno=errno.EIO)).get(REPORT_DATA)


def test_sev_guest_report_for_another_report_data_is_refused(tmp_path: Path) -> None:
    fake = FakeSevGuest(report_for=lambda data: snp_report(bytes(64)))
    with pytest.raises(VerificationError) as refused:
        SevGuestProvider(_device(tmp_path), ioctl=fake).get(REPORT_DATA)
    assert refused.value.code == "report_data_mismatch"


def test_sev_guest_missing_device(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="sev-guest"):
        SevGuestProvider(tmp_path / "sev-guest", ioctl=FakeSevGuest()).get(REPORT_DATA)


# -- /dev/tdx_guest, the CCEL, the choice ---------------------------------------------------------


def test_tdx_guest_device_yields_a_td_report_not_a_quote(tmp_path: Path) -> None:
    (tmp_path / "tdx_guest").write_bytes(b"")
    with pytest.raises(InputError, match=r"TD report \(TDREPORT\), not a quote"):
        TdxGuestDeviceProvider(tmp_path / "tdx_guest").get(REPORT_DATA)


def test_read_ccel(tmp_path: Path) -> None:
    assert read_ccel(sysfs_tree(tmp_path / "a", ccel=SAMPLE_CCEL)) == SAMPLE_CCEL
    assert read_ccel(tmp_path / "none") is None
    table_only = tmp_path / "old" / "firmware" / "acpi" / "tables"
    table_only.mkdir(parents=True)
    (table_only / "CCEL").write_bytes(b"CCEL")
    with pytest.raises(InputError, match=r"Linux 6\.4"):
        read_ccel(tmp_path / "old")
    with pytest.raises(ParseError):
        read_ccel(sysfs_tree(tmp_path / "bad", ccel=b"\x00\x01 not an event log"))


def test_default_provider_order(tmp_path: Path) -> None:
    fake = FakeKernel(tmp_path / "config")
    chosen = default_provider(configfs_root=tmp_path / "config", dev_root=tmp_path / "dev", ops=fake)
    assert isinstance(chosen, ConfigfsTsmProvider)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "tdx_guest").write_bytes(b"")
    chosen = default_provider(configfs_root=tmp_path / "none", dev_root=tmp_path / "dev")
    assert isinstance(chosen, TdxGuestDeviceProvider)
    (tmp_path / "dev" / "sev-guest").write_bytes(b"")
    assert isinstance(default_provider(configfs_root=tmp_path / "none", dev_root=tmp_path / "dev"),
                      SevGuestProvider)  # fmt: skip
    with pytest.raises(InputError, match="--evidence-provider example"):
        default_provider(configfs_root=tmp_path / "none", dev_root=tmp_path / "none")


def test_guest_evidence_is_frozen() -> None:
    got = GuestEvidence("tdx", b"q", None, None, "x", REPORT_DATA)
    with pytest.raises(AttributeError):
        got.evidence = b"other"  # type: ignore[misc]


def test_production_layers_never_import_the_test_pki() -> None:
    """DESIGN: the example provider is wired in by the CLI; verifier/ outside testing/ never
    imports ``verifier.testing``."""
    import ast

    root = Path(__file__).resolve().parents[2] / "verifier"
    offenders = []
    for path in root.rglob("*.py"):
        if "testing" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            offenders += [f"{path.relative_to(root)}: {n}" for n in names if "verifier.testing" in n]
    assert offenders == []


def test_configfs_without_a_tsm_provider_says_so(tmp_path: Path) -> None:
    """Linux with tsm.ko but no tdx_guest/sev_guest refuses the report entry (mkdir: ENXIO;
    seen on Debian's 6.12 by tests/vm/test_vm_configfs.py)."""
    import errno

    provider, fake = _tdx(tmp_path)

    def refuse(path: Path) -> None:
        raise OSError(errno.ENXIO, "No such device or address", str(path))

    fake.mkdir = refuse  # type: ignore[method-assign]
    with pytest.raises(InputError, match=r"no TSM provider is registered .*is this a confidential VM"):
        provider.get(REPORT_DATA)
