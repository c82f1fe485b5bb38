"""The SGX extension of real PCK certificates (values from the fixtures) and malformed ones."""

from __future__ import annotations

import pytest
from cryptography import x509
from pyasn1.codec.der import encoder
from pyasn1.type import univ

from ccverify.verifier.errors import VerificationError
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.tdx.collateral import TdxCollateral
from ccverify.verifier.tdx.pck import PckExtensions, SgxType, parse_sgx_extension_value, pck_extensions
from ccverify.verifier.tdx.verify import verify_tdx
from ccverify.verifier.testing.pki import REFERENCE_TIME, IntelTestPki
from ccverify.verifier.testing.sgx_ext import SgxExtension
from ccverify.verifier.testing.tdx_builder import build_tdx_quote
from tests.conftest import fixture_bytes


def leaf(relative: str) -> x509.Certificate:
    return TdxQuote.from_bytes(fixture_bytes(relative)).pck_chain_certificates()[0]


def ext_of(relative: str) -> PckExtensions:
    return pck_extensions(leaf(relative))


def test_dcap_qvl_quote_extension() -> None:
    ext = ext_of("tdx/dcap-qvl/tdx_quote")
    assert ext.fmspc == bytes.fromhex("b0c06f000000")
    assert ext.pce_id == bytes(2)
    assert ext.tcb.sgx_components == (3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0)
    assert ext.tcb.pcesvn == 11
    assert ext.tcb.cpusvn == bytes([3, 3, 2, 2, 4, 1, 0, 5]) + bytes(8)
    assert ext.sgx_type is SgxType.SCALABLE
    assert ext.ppid == bytes.fromhex("811dca2a26b952e85bb6448b097ba4fd")
    assert ext.platform_instance_id is not None
    assert ext.configuration is not None
    assert ext.configuration.dynamic_platform is True
    assert ext.configuration.smt_enabled is True


def test_spr_quote_extension() -> None:
    ext = ext_of("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat")
    assert ext.fmspc == bytes.fromhex("50806f000000")
    assert ext.tcb.pcesvn == 11
    assert ext.tcb.sgx_components[:8] == (3, 3, 2, 2, 2, 1, 0, 2)
    assert ext.configuration is not None
    assert ext.configuration.cached_keys is False


def test_component_above_127() -> None:
    ext = ext_of("tdx/dcap-qvl/near_gas_test_quote_hex.txt")
    assert ext.fmspc == bytes.fromhex("20a06f000000")
    assert ext.tcb.sgx_components[5] == 255


def test_scalable_with_integrity() -> None:
    ext = ext_of("tdx/trustee/tdx_quote_6.dat")
    assert ext.sgx_type is SgxType.SCALABLE_WITH_INTEGRITY
    assert ext.fmspc == bytes.fromhex("00a06d080000")


def test_processor_ca_leaf_has_no_platform_fields() -> None:
    cert = x509.load_pem_x509_certificate(fixture_bytes("tdx/intel-qvl-synthetic/pckCert.pem"))
    ext = pck_extensions(cert)
    assert ext.sgx_type is SgxType.STANDARD
    assert ext.platform_instance_id is None
    assert ext.configuration is None
    assert ext.pce_id == bytes.fromhex("8a67")
    assert ext.fmspc == bytes.fromhex("ed742af8adf5")


def test_test_pki_roundtrip() -> None:
    pki = IntelTestPki(tcb_components=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 200), pcesvn=13)
    ext = pck_extensions(pki.pck_cert)
    assert ext.tcb.sgx_components == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 200)
    assert ext.tcb.pcesvn == 13
    assert ext.fmspc == pki.fmspc


def test_certificate_without_extension() -> None:
    root = IntelTestPki().root_cert
    with pytest.raises(VerificationError) as info:
        pck_extensions(root)
    assert info.value.code == "pck_extension_invalid"


def _seq(*items: object) -> univ.Sequence:
    seq = univ.Sequence()
    for i, item in enumerate(items):
        seq.setComponentByPosition(i, item)
    return seq


def _pair(oid: str, value: object) -> univ.Sequence:
    return _seq(univ.ObjectIdentifier(oid), value)


P = "1.2.840.113741.1.13.1"


def _tcb(count: int = 16, cpusvn: bytes = bytes(16)) -> univ.Sequence:
    entries = [_pair(f"{P}.2.{i}", univ.Integer(i)) for i in range(1, count + 1)]
    entries += [_pair(f"{P}.2.17", univ.Integer(9)), _pair(f"{P}.2.18", univ.OctetString(cpusvn))]
    return _seq(*entries)


def _ext(*, tcb: univ.Sequence | None = None, fmspc: bytes = bytes(6), drop: str | None = None) -> bytes:
    entries = {
        "1": _pair(f"{P}.1", univ.OctetString(bytes(16))),
        "2": _pair(f"{P}.2", tcb if tcb is not None else _tcb()),
        "3": _pair(f"{P}.3", univ.OctetString(bytes(2))),
        "4": _pair(f"{P}.4", univ.OctetString(fmspc)),
        "5": _pair(f"{P}.5", univ.Enumerated(1)),
    }
    if drop:
        del entries[drop]
    encoded: bytes = encoder.encode(_seq(*entries.values()))
    return encoded


def test_hand_built_extension_parses() -> None:
    ext = parse_sgx_extension_value(_ext())
    assert ext.tcb.sgx_components == tuple(range(1, 17))
    assert ext.tcb.pcesvn == 9


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30\x00",
        b"\x04\x02ab",
        _ext(drop="4"),
        _ext(drop="2"),
        _ext(fmspc=bytes(5)),
        _ext(tcb=_tcb(count=15)),
        _ext(tcb=_tcb(cpusvn=bytes(15))),
        _ext() + b"\x00",
    ],
)
def test_malformed_extension(der: bytes) -> None:
    with pytest.raises(VerificationError) as info:
        parse_sgx_extension_value(der)
    assert info.value.code == "pck_extension_invalid"


def _real_extension() -> bytes:
    ext = leaf("tdx/dcap-qvl/tdx_quote").extensions.get_extension_for_oid(x509.ObjectIdentifier(P))
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    return ext.value.value


def _byte_set(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes([value]) + data[at + 1 :]


@pytest.mark.parametrize(
    "der",
    [
        bytes.fromhex("30023000"),  # SEQUENCE { SEQUENCE {} }: AttributeError inside pyasn1
        bytes.fromhex("3004300230" + "00"),
        b"\x30\x80" * 5000 + b"\x00\x00" * 5000,  # indefinite lengths, deep
    ],
)
def test_extension_the_decoder_crashes_on_is_pck_extension_invalid(der: bytes) -> None:
    with pytest.raises(VerificationError) as info:
        parse_sgx_extension_value(der)
    assert info.value.code == "pck_extension_invalid"


def test_mutated_real_extension_the_decoder_crashes_on() -> None:
    # the reviewer's fuzzer: one byte of the real extension zeroed makes pyasn1 raise
    # AttributeError ('NoneType' object has no attribute 'tagSet')
    real = _real_extension()
    assert real[436] == 0x0F
    with pytest.raises(VerificationError) as info:
        parse_sgx_extension_value(_byte_set(real, 436, 0))
    assert info.value.code == "pck_extension_invalid"


def test_verify_with_a_crashing_extension_is_pck_extension_invalid() -> None:
    pki = IntelTestPki(sgx_extension_der=bytes.fromhex("30023000"))
    quote = build_tdx_quote(pck_key=pki.pck_key, pck_chain_pem=pki.pck_chain_pem())
    collateral = TdxCollateral.from_quote_collateral_v3(pki.quote_collateral_v3())
    with pytest.raises(VerificationError) as info:
        verify_tdx(quote, collateral, at=REFERENCE_TIME, trust_root=pki.root_pem())
    assert info.value.code == "pck_extension_invalid"


def test_builder_extension_matches() -> None:
    sgx = SgxExtension(tcb_components=(5,) * 16, pcesvn=3, fmspc=bytes.fromhex("00906ed50000"))
    ext = parse_sgx_extension_value(sgx.to_der())
    assert ext.tcb.sgx_components == (5,) * 16
    assert ext.fmspc == bytes.fromhex("00906ed50000")
