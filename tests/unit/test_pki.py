"""The test PKI (verifier/testing): signatures, names, extensions, CRLs and signed collateral,
each compared with the shape of the real Intel/AMD artefacts in tests/fixtures."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID
from pyasn1.codec.der import decoder
from pyasn1.type import char, univ

from ccverify.verifier.errors import InputError
from ccverify.verifier.evidence.snp_report import Product, TcbParts
from ccverify.verifier.testing.pki import (
    AMD_EXTENSION_OIDS,
    DEFAULT_TEE_TCB_SVN,
    EXAMPLE_ORGANIZATION,
    REFERENCE_TIME,
    AmdTestPki,
    IntelTestPki,
    SignedJson,
    Validity,
    ecdsa_sign_raw,
    module_tcb_level,
    tcb_level,
)
from ccverify.verifier.testing.sgx_ext import (
    SGX_EXTENSION_OID,
    SgxConfiguration,
    SgxExtension,
    encode_sgx_items,
    sgx_extension_items,
)
from tests.conftest import fixture, fixture_bytes

SGX = SGX_EXTENSION_OID


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def _pem_certs(data: bytes) -> list[x509.Certificate]:
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", data, re.S)
    return [x509.load_pem_x509_certificate(block) for block in blocks]


def _real_pck_chain() -> list[x509.Certificate]:
    return _pem_certs(fixture_bytes("tdx/dcap-qvl/tdx_quote"))


def _real_collateral() -> dict[str, str]:
    loaded: dict[str, str] = json.loads(fixture("tdx/dcap-qvl/tdx_quote_collateral.json").read_text())
    return loaded


def _load_der(path: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(fixture_bytes(path))


def _cn(name: x509.Name) -> str:
    value = name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(value, str)
    return value


def _org(name: x509.Name) -> str:
    value = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert isinstance(value, str)
    return value


def _ext_shape(cert: x509.Certificate) -> list[tuple[str, bool]]:
    return [(ext.oid.dotted_string, ext.critical) for ext in cert.extensions]


def _raw_ext(cert: x509.Certificate, oid: str) -> bytes:
    value = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
    assert isinstance(value, x509.UnrecognizedExtension)
    return value.value


def _verify_ec(issuer: x509.Certificate, cert: x509.Certificate) -> None:
    key = issuer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))


def _verify_pss(issuer: x509.Certificate, cert: x509.Certificate) -> None:
    key = issuer.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    params = cert.signature_algorithm_parameters
    assert isinstance(params, padding.PSS)
    assert cert.signature_hash_algorithm is not None
    key.verify(cert.signature, cert.tbs_certificate_bytes, params, cert.signature_hash_algorithm)


def _signature_algorithm_der(cert_der: bytes) -> bytes:
    """The outer signatureAlgorithm AlgorithmIdentifier TLV of a DER certificate."""

    def tlv(data: bytes, pos: int) -> tuple[int, int]:
        first = data[pos + 1]
        if first < 0x80:
            return pos + 2, pos + 2 + first
        size = first & 0x7F
        start = pos + 2 + size
        return start, start + int.from_bytes(data[pos + 2 : start], "big")

    outer_start, _ = tlv(cert_der, 0)
    _, tbs_end = tlv(cert_der, outer_start)
    _, alg_end = tlv(cert_der, tbs_end)
    return cert_der[tbs_end:alg_end]


def _raw_sig_verify(cert: x509.Certificate, signature_hex: str, data: bytes) -> None:
    sig = bytes.fromhex(signature_hex)
    assert len(sig) == 64
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(der, data, ec.ECDSA(hashes.SHA256()))


def _decode(der: bytes) -> Any:
    value, rest = decoder.decode(der)
    assert rest == b""
    return value


def _pairs(seq: Any) -> list[tuple[str, Any]]:
    return [(str(item[0]), item[1]) for item in seq]


# ------------------------------------------------------------------------------------------------
# Intel
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def intel() -> IntelTestPki:
    return IntelTestPki()


@pytest.fixture(scope="module")
def intel_processor() -> IntelTestPki:
    return IntelTestPki(ca="processor", seed=b"processor")


def test_intel_chain_signatures_verify(intel: IntelTestPki) -> None:
    _verify_ec(intel.root_cert, intel.root_cert)
    _verify_ec(intel.root_cert, intel.ca_cert)
    _verify_ec(intel.ca_cert, intel.pck_cert)
    _verify_ec(intel.root_cert, intel.tcb_signing_cert)
    intel.ca_cert.verify_directly_issued_by(intel.root_cert)
    intel.pck_cert.verify_directly_issued_by(intel.ca_cert)
    intel.tcb_signing_cert.verify_directly_issued_by(intel.root_cert)


def test_intel_wrong_issuer_does_not_verify(intel: IntelTestPki) -> None:
    other = IntelTestPki(seed=b"another root")
    assert other.root_cert.subject == intel.root_cert.subject
    with pytest.raises(InvalidSignature):
        _verify_ec(other.root_cert, intel.ca_cert)


def test_intel_names(intel: IntelTestPki, intel_processor: IntelTestPki) -> None:
    assert _cn(intel.root_cert.subject) == "ccverify EXAMPLE Intel SGX Root CA"
    assert _cn(intel.ca_cert.subject) == "Intel SGX PCK Platform CA"
    assert _cn(intel.pck_cert.subject) == "Intel SGX PCK Certificate"
    assert _cn(intel.tcb_signing_cert.subject) == "Intel SGX TCB Signing"
    assert _cn(intel_processor.ca_cert.subject) == "Intel SGX PCK Processor CA"
    assert intel.root_cert.issuer == intel.root_cert.subject
    assert intel.ca_cert.issuer == intel.root_cert.subject
    assert intel.pck_cert.issuer == intel.ca_cert.subject
    assert intel.tcb_signing_cert.issuer == intel.root_cert.subject
    for cert in (intel.root_cert, intel.ca_cert, intel.pck_cert, intel.tcb_signing_cert):
        assert _org(cert.subject) == EXAMPLE_ORGANIZATION
        # same attribute order as Intel's names: CN, O, L, ST, C
        assert [a.oid for a in cert.subject] == [a.oid for a in _real_pck_chain()[0].subject]


def test_intel_algorithms_and_keys(intel: IntelTestPki) -> None:
    for cert in (intel.root_cert, intel.ca_cert, intel.pck_cert, intel.tcb_signing_cert):
        assert cert.version is x509.Version.v3
        assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == "secp256r1"
    assert intel.pck_key.public_key() == intel.pck_cert.public_key()
    assert intel.tcb_signing_key.public_key() == intel.tcb_signing_cert.public_key()


def test_intel_extension_sets_match_real_certificates(intel: IntelTestPki) -> None:
    real_leaf, real_ca, real_root = _real_pck_chain()
    real_tcb_signer = _pem_certs(_real_collateral()["tcb_info_issuer_chain"].encode())[0]
    assert _ext_shape(intel.pck_cert) == _ext_shape(real_leaf)
    assert len(intel.pck_cert.extensions) == 6
    assert _ext_shape(intel.ca_cert) == _ext_shape(real_ca)
    assert _ext_shape(intel.root_cert) == _ext_shape(real_root)
    assert _ext_shape(intel.tcb_signing_cert) == _ext_shape(real_tcb_signer)
    for ours, real in ((intel.pck_cert, real_leaf), (intel.ca_cert, real_ca), (intel.root_cert, real_root)):
        ours_ku = ours.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ours_ku == real.extensions.get_extension_for_class(x509.KeyUsage).value
        ours_bc = ours.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert ours_bc == real.extensions.get_extension_for_class(x509.BasicConstraints).value
    aki = intel.pck_cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = intel.ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest


def test_intel_crl_distribution_points(intel: IntelTestPki, intel_processor: IntelTestPki) -> None:
    def url(cert: x509.Certificate) -> str:
        dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        full_name = dps[0].full_name
        assert full_name is not None
        return str(full_name[0].value)

    assert url(intel.pck_cert) == url(_real_pck_chain()[0])
    assert url(intel.pck_cert).endswith("pckcrl?ca=platform&encoding=der")
    assert url(intel_processor.pck_cert).endswith("pckcrl?ca=processor&encoding=der")
    assert url(intel.ca_cert) == "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"


def test_sgx_extension_encoder_reproduces_real_extension_bytes() -> None:
    real = _raw_ext(_real_pck_chain()[0], SGX)
    ours = SgxExtension(
        ppid=bytes.fromhex("811dca2a26b952e85bb6448b097ba4fd"),
        tcb_components=(3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0),
        pcesvn=11,
        pce_id=bytes(2),
        fmspc=bytes.fromhex("b0c06f000000"),
        sgx_type=1,
        platform_instance_id=bytes.fromhex("07828474603e7019dc930775ffe8cdd2"),
        configuration=SgxConfiguration(),
    )
    assert ours.to_der() == real


def test_sgx_extension_decodes_to_every_parameter() -> None:
    comps = (1, 2, 3, 4, 255, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 300)
    pki = IntelTestPki(
        seed=b"params",
        fmspc=bytes.fromhex("00906ed50000"),
        pce_id=b"\x00\x01",
        tcb_components=comps,
        pcesvn=13,
        cpusvn=bytes(range(16)),
        ppid=b"P" * 16,
        sgx_type=2,
        platform_instance_id=b"I" * 16,
        configuration=SgxConfiguration(dynamic_platform=False, cached_keys=True, smt_enabled=False),
    )
    top = _pairs(_decode(_raw_ext(pki.pck_cert, SGX)))
    assert [oid for oid, _ in top] == [f"{SGX}.{i}" for i in range(1, 8)]
    values = dict(top)
    assert values[f"{SGX}.1"].tagSet == univ.OctetString.tagSet
    assert bytes(values[f"{SGX}.1"]) == b"P" * 16
    tcb = _pairs(values[f"{SGX}.2"])
    assert [oid for oid, _ in tcb] == [f"{SGX}.2.{i}" for i in range(1, 19)]
    for (_, value), expected in zip(tcb[:16], comps, strict=True):
        assert value.tagSet == univ.Integer.tagSet
        assert int(value) == expected
    assert tcb[16][1].tagSet == univ.Integer.tagSet
    assert int(tcb[16][1]) == 13
    assert tcb[17][1].tagSet == univ.OctetString.tagSet
    assert bytes(tcb[17][1]) == bytes(range(16))
    assert bytes(values[f"{SGX}.3"]) == b"\x00\x01"
    assert bytes(values[f"{SGX}.4"]) == bytes.fromhex("00906ed50000")
    assert values[f"{SGX}.5"].tagSet == univ.Enumerated.tagSet
    assert int(values[f"{SGX}.5"]) == 2
    assert bytes(values[f"{SGX}.6"]) == b"I" * 16
    config = _pairs(values[f"{SGX}.7"])
    assert [oid for oid, _ in config] == [f"{SGX}.7.{i}" for i in (1, 2, 3)]
    assert [bool(v) for _, v in config] == [False, True, False]
    assert all(v.tagSet == univ.Boolean.tagSet for _, v in config)


def test_sgx_extension_defaults_follow_the_ca_type(
    intel: IntelTestPki, intel_processor: IntelTestPki
) -> None:
    platform = dict(_pairs(_decode(_raw_ext(intel.pck_cert, SGX))))
    assert int(platform[f"{SGX}.5"]) == 1
    assert bytes(platform[f"{SGX}.4"]) == bytes.fromhex("b0c06f000000")
    tcb = _pairs(platform[f"{SGX}.2"])
    assert [int(v) for _, v in tcb[:16]] == [3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]
    assert int(tcb[16][1]) == 11
    assert bytes(tcb[17][1]) == bytes([3, 3, 2, 2, 4, 1, 0, 5] + [0] * 8)  # CPUSVN = the components
    processor = dict(_pairs(_decode(_raw_ext(intel_processor.pck_cert, SGX))))
    assert sorted(processor) == [f"{SGX}.{i}" for i in range(1, 6)]
    assert int(processor[f"{SGX}.5"]) == 0


def test_sgx_extension_overrides_for_negative_tests() -> None:
    ext = SgxExtension()
    items = sgx_extension_items(ext)
    truncated = encode_sgx_items(items[:3])
    pki = IntelTestPki(seed=b"odd", sgx_extension_der=truncated)
    assert _raw_ext(pki.pck_cert, SGX) == truncated
    extra = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00")
    seven = IntelTestPki(seed=b"odd", pck_extra_extensions=[(extra, False)])
    assert len(seven.pck_cert.extensions) == 7


def test_intel_default_validity_covers_reference_time(intel: IntelTestPki) -> None:
    for cert in (intel.root_cert, intel.ca_cert, intel.pck_cert, intel.tcb_signing_cert):
        assert cert.not_valid_before_utc <= REFERENCE_TIME <= cert.not_valid_after_utc
    expired = IntelTestPki(
        seed=b"expired",
        pck_validity=Validity(datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)),
    )
    assert expired.pck_cert.not_valid_after_utc == datetime(2021, 1, 1, tzinfo=UTC)


def test_intel_pki_is_deterministic() -> None:
    a, b = IntelTestPki(seed=b"same"), IntelTestPki(seed=b"same")
    assert a.root_key.private_numbers() == b.root_key.private_numbers()
    assert a.pck_key.private_numbers() == b.pck_key.private_numbers()
    assert a.pck_cert.serial_number == b.pck_cert.serial_number
    assert a.root_der() == b.root_der()  # RFC 6979 signatures (OpenSSL >= 3.2)
    c = IntelTestPki(seed=b"different")
    assert c.root_key.private_numbers() != a.root_key.private_numbers()


def test_intel_chain_pem_accessors(intel: IntelTestPki) -> None:
    chain = intel.pck_chain_pem()
    assert [c.subject for c in _pem_certs(chain)] == [
        intel.pck_cert.subject,
        intel.ca_cert.subject,
        intel.root_cert.subject,
    ]
    assert intel.pck_chain_pem(trailing_nul=True) == chain + b"\x00"
    assert intel.root_pem() == intel.root_pem()
    assert x509.load_der_x509_certificate(intel.pck_der()) == intel.pck_cert
    assert _pem_certs(intel.tcb_issuer_chain_pem().encode()) == [intel.tcb_signing_cert, intel.root_cert]
    assert _pem_certs(intel.pck_crl_issuer_chain_pem().encode()) == [intel.ca_cert, intel.root_cert]


def test_intel_qe_report_signature(intel: IntelTestPki) -> None:
    report = bytes(range(256)) + bytes(128)
    _raw_sig_verify(intel.pck_cert, intel.sign_qe_report(report).hex(), report)
    assert len(ecdsa_sign_raw(intel.pck_key, b"x")) == 64


def test_intel_crls(intel: IntelTestPki) -> None:
    real = _real_collateral()
    real_pck_crl = x509.load_der_x509_crl(bytes.fromhex(real["pck_crl"]))
    this_update = datetime(2025, 6, 1, tzinfo=UTC)
    next_update = datetime(2025, 7, 1, tzinfo=UTC)
    pck_crl = x509.load_der_x509_crl(
        intel.pck_crl(
            revoked_serials=[intel.pck_cert.serial_number, 7],
            this_update=this_update,
            next_update=next_update,
        )
    )
    ca_key = intel.ca_cert.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert pck_crl.is_signature_valid(ca_key)
    assert pck_crl.issuer == intel.pck_cert.issuer
    assert pck_crl.last_update_utc == this_update
    assert pck_crl.next_update_utc == next_update
    assert pck_crl.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert sorted(r.serial_number for r in pck_crl) == sorted([intel.pck_cert.serial_number, 7])
    revoked = pck_crl.get_revoked_certificate_by_serial_number(7)
    assert revoked is not None
    assert (
        revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.key_compromise
    )
    assert [e.oid for e in pck_crl.extensions] == [e.oid for e in real_pck_crl.extensions]
    assert [e.oid for e in revoked.extensions] == [e.oid for e in next(iter(real_pck_crl)).extensions]

    root_crl = x509.load_der_x509_crl(intel.root_crl(revoked_serials=[intel.ca_cert.serial_number]))
    root_key = intel.root_cert.public_key()
    assert isinstance(root_key, ec.EllipticCurvePublicKey)
    assert root_crl.is_signature_valid(root_key)
    assert root_crl.issuer == intel.root_cert.subject
    assert [r.serial_number for r in root_crl] == [intel.ca_cert.serial_number]
    real_root_crl = x509.load_der_x509_crl(bytes.fromhex(real["root_ca_crl"]))
    assert [e.oid for e in root_crl.extensions] == [e.oid for e in real_root_crl.extensions]
    empty = x509.load_der_x509_crl(intel.root_crl())
    assert len(empty) == 0
    assert empty.last_update_utc <= REFERENCE_TIME <= (empty.next_update_utc or REFERENCE_TIME)

    forged = x509.load_der_x509_crl(intel.pck_crl(signer_key=intel.root_key))
    assert not forged.is_signature_valid(ca_key)


def test_tcb_info_signature_and_pcs_body(intel: IntelTestPki) -> None:
    tcb = intel.tcb_info()
    _raw_sig_verify(intel.tcb_signing_cert, tcb.signature, tcb.raw.encode())
    assert tcb.signature == tcb.signature.lower()
    body = tcb.body
    assert body == b'{"tcbInfo":' + tcb.raw.encode() + b',"signature":"' + tcb.signature.encode() + b'"}'
    assert tcb.raw.encode() in body
    parsed = json.loads(body)
    assert list(parsed) == ["tcbInfo", "signature"]
    assert parsed["tcbInfo"] == json.loads(tcb.raw) == tcb.value
    # compact JSON, as Intel serves it
    assert ": " not in tcb.raw and ", " not in tcb.raw
    forged = intel.tcb_info(signer_key=intel.root_key)
    with pytest.raises(InvalidSignature):
        _raw_sig_verify(intel.tcb_signing_cert, forged.signature, forged.raw.encode())


def test_tcb_info_shape_matches_real(intel: IntelTestPki) -> None:
    real = json.loads(_real_collateral()["tcb_info"])
    ours = intel.tcb_info().value
    assert list(ours) == list(real)
    assert list(ours["tdxModule"]) == list(real["tdxModule"])
    assert list(ours["tdxModuleIdentities"][0]) == list(real["tdxModuleIdentities"][0])
    assert list(ours["tcbLevels"][0]) == list(real["tcbLevels"][0])
    assert list(ours["tcbLevels"][0]["tcb"]) == list(real["tcbLevels"][0]["tcb"])
    assert list(ours["tcbLevels"][1]) == list(real["tcbLevels"][1])  # with advisoryIDs
    for level in ours["tcbLevels"]:
        assert len(level["tcb"]["sgxtcbcomponents"]) == 16
        assert len(level["tcb"]["tdxtcbcomponents"]) == 16
    # the defaults are the real FMSPC B0C06F000000 thresholds, and fmspc/pceId come from the PCK
    assert ours["tcbLevels"][0] == real["tcbLevels"][0]
    assert ours["tdxModule"] == real["tdxModule"]
    assert ours["tdxModuleIdentities"] == real["tdxModuleIdentities"]
    assert ours["fmspc"] == "B0C06F000000"
    assert ours["pceId"] == "0000"
    assert ours["id"] == "TDX"
    assert ours["version"] == 3
    assert ours["issueDate"] == "2024-12-02T00:00:00Z"
    assert ours["nextUpdate"] == "2025-01-31T00:00:00Z"
    assert [m["id"] for m in ours["tdxModuleIdentities"]] == ["TDX_03", "TDX_01"]
    assert DEFAULT_TEE_TCB_SVN[1] == 1


def test_tcb_info_parameters(intel: IntelTestPki) -> None:
    levels = [
        tcb_level([1] * 16, 2, [3] * 16, tcb_status="SWHardeningNeeded", advisory_ids=["INTEL-SA-1"]),
        tcb_level([0] * 16, 0, [0] * 16, tcb_date=datetime(2020, 1, 1, tzinfo=UTC), tcb_status="OutOfDate"),
    ]
    tcb = intel.tcb_info(
        fmspc="00a06f000000",
        issue_date=datetime(2026, 1, 1, tzinfo=UTC),
        next_update="2026-02-01T00:00:00Z",
        tcb_evaluation_data_number=19,
        tdx_module_identities=[],
        tcb_levels=levels,
    )
    value = tcb.value
    assert value["fmspc"] == "00A06F000000"
    assert value["issueDate"] == "2026-01-01T00:00:00Z"
    assert value["nextUpdate"] == "2026-02-01T00:00:00Z"
    assert value["tcbEvaluationDataNumber"] == 19
    assert value["tdxModuleIdentities"] == []
    assert value["tcbLevels"][0]["tcbStatus"] == "SWHardeningNeeded"
    assert value["tcbLevels"][0]["advisoryIDs"] == ["INTEL-SA-1"]
    assert value["tcbLevels"][1]["tcbDate"] == "2020-01-01T00:00:00Z"
    assert "advisoryIDs" not in value["tcbLevels"][1]
    assert [c["svn"] for c in value["tcbLevels"][0]["tcb"]["tdxtcbcomponents"]] == [3] * 16
    _raw_sig_verify(intel.tcb_signing_cert, tcb.signature, tcb.raw.encode())


def test_qe_identity_defaults_are_the_real_td_qe(intel: IntelTestPki) -> None:
    real = json.loads(_real_collateral()["qe_identity"])
    qe = intel.qe_identity()
    _raw_sig_verify(intel.tcb_signing_cert, qe.signature, qe.raw.encode())
    ours = qe.value
    assert list(ours) == list(real)
    for key in (
        "id",
        "version",
        "miscselect",
        "miscselectMask",
        "attributes",
        "attributesMask",
        "mrsigner",
        "isvprodid",
        "tcbLevels",
        "tcbEvaluationDataNumber",
    ):
        assert ours[key] == real[key], key
    assert qe.body.startswith(b'{"enclaveIdentity":' + qe.raw.encode() + b',"signature":"')
    custom = intel.qe_identity(tcb_levels=[module_tcb_level(8), module_tcb_level(4, tcb_status="OutOfDate")])
    assert [level["tcb"]["isvsvn"] for level in custom.value["tcbLevels"]] == [8, 4]


def test_quote_collateral_v3_shape(intel: IntelTestPki) -> None:
    real = _real_collateral()
    ours = intel.quote_collateral_v3()
    assert list(ours) == list(real)
    assert len(ours) == 9
    for key in ("pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain"):
        assert len(_pem_certs(ours[key].encode())) == len(_pem_certs(real[key].encode())) == 2
        assert ours[key].endswith("-----END CERTIFICATE-----\n")
    assert _pem_certs(ours["pck_crl_issuer_chain"].encode()) == [intel.ca_cert, intel.root_cert]
    assert _pem_certs(ours["tcb_info_issuer_chain"].encode()) == [intel.tcb_signing_cert, intel.root_cert]
    for key in ("root_ca_crl", "pck_crl"):
        assert ours[key] == ours[key].lower()
        x509.load_der_x509_crl(bytes.fromhex(ours[key]))
    for key in ("tcb_info_signature", "qe_identity_signature"):
        assert re.fullmatch("[0-9a-f]{128}", ours[key])
    _raw_sig_verify(intel.tcb_signing_cert, ours["tcb_info_signature"], ours["tcb_info"].encode())
    _raw_sig_verify(intel.tcb_signing_cert, ours["qe_identity_signature"], ours["qe_identity"].encode())
    json.dumps(ours)  # a JSON document like dcap-qvl's
    tcb = intel.tcb_info(tcb_evaluation_data_number=99)
    assert intel.quote_collateral_v3(tcb_info=tcb)["tcb_info"] == tcb.raw


def test_signed_json_is_a_value_object(intel: IntelTestPki) -> None:
    signed = intel.sign_json("tcbInfo", '{"b":1,"a":2}')
    assert isinstance(signed, SignedJson)
    assert signed.body == b'{"tcbInfo":{"b":1,"a":2},"signature":"' + signed.signature.encode() + b'"}'


# ------------------------------------------------------------------------------------------------
# AMD
# ------------------------------------------------------------------------------------------------

# RSA-4096 for Milan (as AMD); 2048 elsewhere keeps a cold run (no key cache yet) fast.
_KEY_SIZES = {Product.MILAN: 4096, Product.GENOA: 2048, Product.TURIN: 2048}
_REAL_VCEK = {
    Product.MILAN: "snp/project-oak/milan_oc_release_vcek.der",
    Product.GENOA: "snp/project-oak/genoa_oc_vcek.der",
    Product.TURIN: "snp/project-oak/turin_oc_vcek.der",
}


@pytest.fixture(scope="module", params=list(Product), ids=lambda p: p.value)
def amd(request: pytest.FixtureRequest) -> AmdTestPki:
    product: Product = request.param
    return AmdTestPki(product, rsa_key_size=_KEY_SIZES[product])


def _real_amd(product: Product, role: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(fixture_bytes(f"snp/amd-roots/{product.value.lower()}_{role}.pem"))


def test_amd_chain_signatures_verify(amd: AmdTestPki) -> None:
    _verify_pss(amd.ark_cert, amd.ark_cert)
    _verify_pss(amd.ark_cert, amd.ask_cert)
    _verify_pss(amd.ark_cert, amd.asvk_cert)
    _verify_pss(amd.ask_cert, amd.vcek_cert)
    _verify_pss(amd.asvk_cert, amd.vlek_cert)
    with pytest.raises(InvalidSignature):
        _verify_pss(amd.ask_cert, amd.vlek_cert)
    assert amd.vcek_cert.issuer == amd.ask_cert.subject
    assert amd.vlek_cert.issuer == amd.asvk_cert.subject
    assert amd.ask_cert.issuer == amd.asvk_cert.issuer == amd.ark_cert.subject


def test_amd_pss_parameters_are_encoded_like_amds(amd: AmdTestPki) -> None:
    for cert in (amd.ark_cert, amd.ask_cert, amd.asvk_cert, amd.vcek_cert, amd.vlek_cert):
        assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS
        params = cert.signature_algorithm_parameters
        assert isinstance(params, padding.PSS)
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)
    real_ark = _real_amd(amd.product, "ark")
    real_vcek = _load_der(_REAL_VCEK[amd.product])
    ark_alg = _signature_algorithm_der(real_ark.public_bytes(Encoding.DER))
    vcek_alg = _signature_algorithm_der(real_vcek.public_bytes(Encoding.DER))
    assert ark_alg != vcek_alg  # the ARK writes trailerField explicitly, the ASK does not
    for cert in (amd.ark_cert, amd.ask_cert, amd.asvk_cert):
        assert _signature_algorithm_der(cert.public_bytes(Encoding.DER)) == ark_alg
    for cert in (amd.vcek_cert, amd.vlek_cert):
        assert _signature_algorithm_der(cert.public_bytes(Encoding.DER)) == vcek_alg


def test_amd_names(amd: AmdTestPki) -> None:
    p = amd.product.value
    assert _cn(amd.ark_cert.subject) == f"ARK-{p}"
    assert _cn(amd.ask_cert.subject) == f"SEV-{p}"
    assert _cn(amd.asvk_cert.subject) == f"SEV-VLEK-{p}"
    assert _cn(amd.vcek_cert.subject) == "SEV-VCEK"
    assert _cn(amd.vlek_cert.subject) == "SEV-VLEK"
    real_vcek = _load_der(_REAL_VCEK[amd.product])
    for cert in (amd.ark_cert, amd.ask_cert, amd.asvk_cert, amd.vcek_cert, amd.vlek_cert):
        assert _org(cert.subject) == EXAMPLE_ORGANIZATION
        assert [a.oid for a in cert.subject] == [a.oid for a in real_vcek.subject]
    ou = amd.ark_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
    assert "EXAMPLE" in str(ou)


def test_amd_ca_certificates_match_real_shapes(amd: AmdTestPki) -> None:
    for ours, role in ((amd.ark_cert, "ark"), (amd.ask_cert, "ask"), (amd.asvk_cert, "asvk")):
        real = _real_amd(amd.product, role)
        assert _ext_shape(ours) == _ext_shape(real), role
        for cls in (x509.KeyUsage, x509.BasicConstraints, x509.CRLDistributionPoints):
            assert (
                ours.extensions.get_extension_for_class(cls).value
                == real.extensions.get_extension_for_class(cls).value
            ), (role, cls)
        assert ours.serial_number == real.serial_number
        key = ours.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        assert key.key_size == _KEY_SIZES[amd.product]


def test_amd_ark_is_rsa_4096_by_default() -> None:
    milan = AmdTestPki("milan")
    key = milan.ark_cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 4096
    again = AmdTestPki(Product.MILAN)
    assert again.ark_key is milan.ark_key  # cached per (seed, product, role, size)


def test_amd_vcek_extensions_are_typed_like_the_real_vcek(amd: AmdTestPki) -> None:
    real = _load_der(_REAL_VCEK[amd.product])
    assert _ext_shape(amd.vcek_cert) == _ext_shape(real)
    hwid_oid = AMD_EXTENSION_OIDS["hwid"]
    for ext in real.extensions:
        oid = ext.oid.dotted_string
        real_value = _raw_ext(real, oid)
        ours = _raw_ext(amd.vcek_cert, oid)
        if oid == hwid_oid:
            assert len(ours) == len(real_value) == (8 if amd.product is Product.TURIN else 64)
            continue
        assert ours[0] == real_value[0], oid  # same ASN.1 type (INTEGER / IA5String)
        assert type(_decode(ours)) is type(_decode(real_value))
    values = {
        ext.oid.dotted_string: _raw_ext(amd.vcek_cert, ext.oid.dotted_string)
        for ext in amd.vcek_cert.extensions
    }
    oids = AMD_EXTENSION_OIDS
    turin = amd.product is Product.TURIN
    assert int(_decode(values[oids["struct_version"]])) == (1 if turin else 0)
    name = _decode(values[oids["product_name"]])
    assert isinstance(name, char.IA5String)
    assert str(name) == {"Milan": "Milan-B0", "Genoa": "Genoa", "Turin": "Turin"}[amd.product.value]
    tcb = amd.tcb
    assert int(_decode(values[oids["bl_spl"]])) == tcb.bl_spl
    assert int(_decode(values[oids["tee_spl"]])) == tcb.tee_spl
    assert int(_decode(values[oids["snp_spl"]])) == tcb.snp_spl
    assert int(_decode(values[oids["ucode_spl"]])) == tcb.ucode_spl
    if turin:
        assert int(_decode(values[oids["fmc_spl"]])) == tcb.fmc_spl
        assert oids["spl_4"] not in values
        assert amd.chip_id == amd.hwid + bytes(56)
    else:
        assert oids["fmc_spl"] not in values
        assert amd.chip_id == amd.hwid
    assert values[hwid_oid] == amd.hwid
    assert oids["csp_id"] not in values
    assert amd.vcek_cert.serial_number == 0
    key = amd.vcek_cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp384r1"
    assert key == amd.vcek_key.public_key()


def test_amd_vlek_extensions_are_typed_like_the_real_vlek(amd: AmdTestPki) -> None:
    real = _load_der("snp/trustee/test-vlek.der")  # Milan, AWS
    csp = AMD_EXTENSION_OIDS["csp_id"]
    shape = _ext_shape(amd.vlek_cert)
    assert shape[-1] == (csp, False)
    assert AMD_EXTENSION_OIDS["hwid"] not in [oid for oid, _ in shape]
    if amd.product is Product.MILAN:
        assert shape == _ext_shape(real)
        for ext in real.extensions:
            oid = ext.oid.dotted_string
            assert _raw_ext(amd.vlek_cert, oid)[0] == _raw_ext(real, oid)[0], oid
    assert str(_decode(_raw_ext(amd.vlek_cert, csp))) == "CN=csp.example"
    assert str(_decode(_raw_ext(amd.vlek_cert, AMD_EXTENSION_OIDS["product_name"]))) == amd.product.value


def test_amd_parameters_and_odd_leaves() -> None:
    turin = AmdTestPki(
        "turin",
        rsa_key_size=2048,
        tcb=TcbParts(bl_spl=3, tee_spl=4, snp_spl=5, ucode_spl=217, fmc_spl=6),
        chip_id=bytes(range(64)),
        csp_id="CN=other",
        hwid_octet_string=True,
    )
    assert turin.hwid == bytes(range(8))
    assert turin.chip_id == bytes(range(8)) + bytes(56)
    hwid = _raw_ext(turin.vcek_cert, AMD_EXTENSION_OIDS["hwid"])
    assert hwid == b"\x04\x08" + bytes(range(8))  # the DER-wrapped variant some certs use
    assert _raw_ext(turin.vcek_cert, AMD_EXTENSION_OIDS["ucode_spl"]) == bytes.fromhex("020200d9")
    assert int(_decode(_raw_ext(turin.vcek_cert, AMD_EXTENSION_OIDS["fmc_spl"]))) == 6
    items = [item for item in turin.vek_extensions("vcek") if item[0] != AMD_EXTENSION_OIDS["snp_spl"]]
    odd = turin.issue_vek("vcek", extensions=items, serial=5)
    assert AMD_EXTENSION_OIDS["snp_spl"] not in [oid for oid, _ in _ext_shape(odd)]
    assert odd.serial_number == 5
    _verify_pss(turin.ask_cert, odd)
    wrong = turin.issue_vek("vlek", signer="ask")
    _verify_pss(turin.ask_cert, wrong)
    assert wrong.issuer == turin.ask_cert.subject
    with pytest.raises(InputError):
        AmdTestPki("turin", rsa_key_size=2048, tcb=TcbParts(bl_spl=1, tee_spl=0, snp_spl=1, ucode_spl=1))


def test_amd_explicit_ca_keys() -> None:
    donor = AmdTestPki("genoa", rsa_key_size=2048, seed=b"donor")
    pki = AmdTestPki(
        "genoa", rsa_key_size=2048, ark_key=donor.ark_key, ask_key=donor.ask_key, asvk_key=donor.asvk_key
    )
    assert pki.ark_cert.public_key() == donor.ark_key.public_key()
    assert pki.ask_cert.public_key() == donor.ask_key.public_key()
    assert pki.asvk_cert.public_key() == donor.asvk_key.public_key()
    _verify_pss(pki.ark_cert, pki.ask_cert)


def test_amd_report_signing_key(amd: AmdTestPki) -> None:
    data = bytes(0x2A0)
    r, s = amd.sign_report(data)
    key = amd.vcek_cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA384()))
    r, s = amd.sign_report(data, "vlek")
    vlek = amd.vlek_cert.public_key()
    assert isinstance(vlek, ec.EllipticCurvePublicKey)
    vlek.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA384()))


def test_amd_cert_chain_pem_in_kds_order(amd: AmdTestPki) -> None:
    assert _pem_certs(amd.cert_chain_pem("vcek")) == [amd.ask_cert, amd.ark_cert]
    assert _pem_certs(amd.cert_chain_pem("vlek")) == [amd.asvk_cert, amd.ark_cert]
    real_order = _pem_certs(
        fixture_bytes(
            f"snp/go-sev-guest/ask_ark_{amd.product.value.lower()}"
            f"{'_vcek' if amd.product is Product.TURIN else ''}.pem"
        )
    )
    assert [_cn(c.subject).split("-")[0] for c in real_order] == ["SEV", "ARK"]
    assert x509.load_der_x509_certificate(amd.vcek_der()) == amd.vcek_cert
    assert x509.load_der_x509_certificate(amd.vlek_der()) == amd.vlek_cert
    assert x509.load_pem_x509_certificate(amd.ark_pem()) == amd.ark_cert
    assert x509.load_der_x509_certificate(amd.ask_der()) == amd.ask_cert
    assert x509.load_der_x509_certificate(amd.asvk_der()) == amd.asvk_cert


def test_amd_crl(amd: AmdTestPki) -> None:
    crl = x509.load_der_x509_crl(amd.crl(revoked_serials=[amd.ask_cert.serial_number, 99]))
    ark_key = amd.ark_cert.public_key()
    assert isinstance(ark_key, rsa.RSAPublicKey)
    assert crl.is_signature_valid(ark_key)
    assert crl.issuer == amd.ark_cert.subject
    assert crl.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS
    assert sorted(r.serial_number for r in crl) == sorted([amd.ask_cert.serial_number, 99])
    assert crl.last_update_utc <= REFERENCE_TIME <= (crl.next_update_utc or REFERENCE_TIME)
    params = crl.signature_algorithm_parameters
    assert isinstance(params, padding.PSS)
    forged = x509.load_der_x509_crl(amd.crl(signer_key=amd.ask_key))
    assert not forged.is_signature_valid(ark_key)


def test_amd_default_validity(amd: AmdTestPki) -> None:
    for cert in (amd.ark_cert, amd.ask_cert, amd.asvk_cert, amd.vcek_cert, amd.vlek_cert):
        assert cert.not_valid_before_utc <= REFERENCE_TIME <= cert.not_valid_after_utc
    crl_dp = amd.ask_cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert isinstance(crl_dp, x509.CRLDistributionPoints)
