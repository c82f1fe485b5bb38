"""TCB info / QE identity models, raw-JSON extraction, CRL forms and the collateral loader."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ccverify.verifier.collateral.bundle import CollateralBundle
from ccverify.verifier.collateral.cache import CacheEntry, CollateralCache
from ccverify.verifier.collateral.pcs import (
    ROOT_CA_CRL_URL,
    entry_from_body,
    pck_crl_url,
    qe_identity_url,
    tcb_info_url,
)
from ccverify.verifier.collateral.tdx_loader import load_collateral
from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.tdx.collateral import (
    TcbStatus,
    TdxCollateral,
    classify_url,
    crl_bytes,
    parse_qe_identity,
    parse_tcb_info,
    peek_json,
    raw_json_member,
    signed_from_body,
)
from ccverify.verifier.tdx.tcb import check_qe_identity
from ccverify.verifier.tdx.verify import verify_tdx
from ccverify.verifier.testing.pki import DEFAULT_TEE_TCB_SVN, REFERENCE_TIME, IntelTestPki
from ccverify.verifier.testing.tdx_builder import build_tdx_quote
from tests.conftest import fixture, fixture_bytes

AT = datetime(2025, 7, 19, 10, 0, 34, tzinfo=UTC)


def v3() -> dict[str, str]:
    doc: dict[str, str] = json.loads(fixture("tdx/dcap-qvl/tdx_quote_collateral.json").read_text())
    return doc


# -- raw JSON ------------------------------------------------------------------------------------


def test_raw_member_keeps_exact_bytes() -> None:
    body = b'{ "signature" : "ab",\n  "tcbInfo" :  {"b": 1,  "a" : [1, 2]} }'
    assert raw_json_member(body, "tcbInfo") == b'{"b": 1,  "a" : [1, 2]}'
    assert raw_json_member(body, "signature") == b'"ab"'


def test_raw_member_with_escapes_and_unicode() -> None:
    body = '{"x\\"y": "}{", "tcbInfo": {"n": "\u00e9\\u00e9"}}'.encode()
    assert raw_json_member(body, "tcbInfo") == '{"n": "\u00e9\\u00e9"}'.encode()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"tcbInfo": {}',
        b'{"tcbInfo": {}} x',
        b'{"other": 1}',
        b'{"tcbInfo": 1, "tcbInfo": 2}',
        b"\xff",
    ],
)
def test_raw_member_refuses(body: bytes) -> None:
    with pytest.raises(InputError):
        raw_json_member(body, "tcbInfo")


def test_real_pcs_body_raw_member_is_the_signed_text() -> None:
    body = fixture_bytes("tdx/go-tdx-guest/sample_tcbInfo_response")
    raw = raw_json_member(body, "tcbInfo")
    assert raw.startswith(b'{"id":"TDX","version":3,')
    assert raw in body


# -- models --------------------------------------------------------------------------------------


def test_tcb_info_model_real() -> None:
    info = parse_tcb_info(v3()["tcb_info"].encode())
    assert info.fmspc == bytes.fromhex("b0c06f000000")
    assert info.tcb_evaluation_data_number == 17
    assert info.issue_date == datetime(2025, 6, 19, 10, 16, 3, tzinfo=UTC)
    assert [m.id for m in info.tdx_module_identities] == ["TDX_03", "TDX_01"]
    assert info.tdx_module is not None
    assert info.tdx_module.attributes_mask == b"\xff" * 8
    assert info.tcb_levels[0].tcb_status is TcbStatus.UpToDate
    assert info.tcb_levels[0].pcesvn == 11
    assert info.tcb_levels[0].tdx_components[:3] == (5, 0, 2)
    assert info.tcb_levels[-1].advisory_ids[0] == "INTEL-SA-00106"
    assert info.module_identity("tdx_01") is not None


def test_qe_identity_model_real() -> None:
    qe = parse_qe_identity(v3()["qe_identity"].encode())
    assert qe.mrsigner.hex() == "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5"
    assert qe.isvprodid == 2
    assert qe.miscselect_mask == 0xFFFFFFFF
    assert qe.attributes_mask == bytes.fromhex("fbffffffffffffff0000000000000000")
    assert qe.tcb_levels[0].isvsvn == 4


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"id":"TDX","version":3}',
        b'{"id":"TDX","version":"3"}',
    ],
)
def test_tcb_info_invalid(raw: bytes) -> None:
    with pytest.raises(VerificationError) as info:
        parse_tcb_info(raw)
    assert info.value.code == "tcb_info_invalid"


def test_tcb_info_unknown_status() -> None:
    doc = json.loads(v3()["tcb_info"])
    doc["tcbLevels"][0]["tcbStatus"] = "Splendid"
    with pytest.raises(VerificationError) as info:
        parse_tcb_info(json.dumps(doc).encode())
    assert info.value.code == "tcb_info_invalid"


def test_qe_identity_wrong_version() -> None:
    doc = json.loads(v3()["qe_identity"])
    doc["version"] = 1
    with pytest.raises(VerificationError) as info:
        parse_qe_identity(json.dumps(doc).encode())
    assert info.value.code == "qe_identity_invalid"


# -- collateral containers -------------------------------------------------------------------------


def test_quote_collateral_v3_shapes() -> None:
    coll = TdxCollateral.from_quote_collateral_v3(v3())
    assert coll.tcb_infos[0].raw == v3()["tcb_info"].encode()
    assert len(coll.tcb_infos[0].signature) == 64
    assert coll.pck_crls[0].der[:1] == b"\x30"
    assert coll.allow_missing_crl is False


@pytest.mark.parametrize("key", ["tcb_info", "tcb_info_signature", "qe_identity_issuer_chain"])
def test_quote_collateral_v3_missing_key(key: str) -> None:
    doc = v3()
    del doc[key]
    with pytest.raises(InputError, match=key):
        TdxCollateral.from_quote_collateral_v3(doc)


def test_quote_collateral_v3_bad_signature_hex() -> None:
    doc = v3()
    doc["tcb_info_signature"] = "abcd"
    with pytest.raises(InputError, match="64 bytes"):
        TdxCollateral.from_quote_collateral_v3(doc)


def test_crl_forms_agree() -> None:
    der = bytes.fromhex(v3()["pck_crl"])
    import base64

    pem = b"-----BEGIN X509 CRL-----\n" + base64.encodebytes(der) + b"-----END X509 CRL-----\n"
    assert crl_bytes(der, "x") == der
    assert crl_bytes(der.hex(), "x") == der
    assert crl_bytes(pem, "x") == der


def test_classify_urls() -> None:
    assert classify_url(tcb_info_url("b0c06f000000")) == "tcb_info"
    assert classify_url(qe_identity_url()) == "qe_identity"
    assert classify_url(pck_crl_url("processor")) == "pck_crl"
    assert classify_url(ROOT_CA_CRL_URL) == "root_ca_crl"
    assert classify_url("https://kdsintf.amd.com/vcek/v1/Milan/cert_chain") == "other"


# -- loader --------------------------------------------------------------------------------------


def pcs_entries() -> list[CacheEntry]:
    doc = v3()
    return [
        entry_from_body(
            tcb_info_url("b0c06f000000"),
            f'{{"tcbInfo":{doc["tcb_info"]},"signature":"{doc["tcb_info_signature"]}"}}'.encode(),
            {"TCB-Info-Issuer-Chain": doc["tcb_info_issuer_chain"]},
        ),
        entry_from_body(
            qe_identity_url(),
            f'{{"enclaveIdentity":{doc["qe_identity"]},"signature":"{doc["qe_identity_signature"]}"}}'.encode(),
            {"SGX-Enclave-Identity-Issuer-Chain": doc["qe_identity_issuer_chain"]},
        ),
        entry_from_body(
            pck_crl_url("platform"),
            bytes.fromhex(doc["pck_crl"]),
            {"SGX-PCK-CRL-Issuer-Chain": doc["pck_crl_issuer_chain"]},
        ),
        entry_from_body(ROOT_CA_CRL_URL, bytes.fromhex(doc["root_ca_crl"])),
    ]


def test_load_quote_collateral_v3_file() -> None:
    coll = load_collateral(fixture("tdx/dcap-qvl/tdx_quote_collateral.json"))
    verdict = verify_tdx(fixture_bytes("tdx/dcap-qvl/tdx_quote"), coll, at=AT)
    assert verdict.status is TcbStatus.UpToDate
    assert "QuoteCollateralV3" in verdict.collateral.origin


def test_load_cache_directory(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    for entry in pcs_entries():
        cache.put(entry)
    coll = load_collateral(tmp_path)
    assert coll.pool is True
    verdict = verify_tdx(fixture_bytes("tdx/dcap-qvl/tdx_quote"), coll, at=AT)
    assert verdict.status is TcbStatus.UpToDate


def test_load_bundle(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    CollateralBundle.write(path, pcs_entries())
    verdict = verify_tdx(fixture_bytes("tdx/dcap-qvl/tdx_quote"), load_collateral(path), at=AT)
    assert verdict.status is TcbStatus.UpToDate


def test_pool_without_the_fmspc_is_collateral_error(tmp_path: Path) -> None:
    from ccverify.verifier.errors import CollateralError

    path = tmp_path / "bundle.json"
    CollateralBundle.write(path, pcs_entries())
    with pytest.raises(CollateralError) as info:
        verify_tdx(fixture_bytes("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat"), load_collateral(path), at=AT)
    assert info.value.missing == tcb_info_url("50806f000000")


@pytest.mark.parametrize("content", [b"", b"{}", b"[1]", b'{"format": "x"}', b"\x00\x01"])
def test_load_garbage_names_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "odd-collateral"
    path.write_bytes(content)
    with pytest.raises(InputError, match="odd-collateral"):
        load_collateral(path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_collateral(tmp_path / "nothing.json")


# -- QE identity MISCSELECT byte order -----------------------------------------------------------


def test_qe_identity_miscselect_is_the_reports_little_endian_bytes() -> None:
    doc = json.loads(v3()["qe_identity"])
    doc["miscselect"], doc["miscselectMask"] = "01000000", "FFFFFF00"
    qe = parse_qe_identity(json.dumps(doc).encode())
    assert qe.miscselect == 0x00000001
    assert qe.miscselect_mask == 0x00FFFFFF


def test_intel_synthetic_sample_miscselect_matches_its_qe_report() -> None:
    # Intel's QVL sample data: QE identity "13373B09", the quote's QE report bytes 13 37 3b 09
    quote = TdxQuote.from_bytes(fixture_bytes("tdx/intel-qvl-synthetic/quote.dat"))
    raw = raw_json_member(fixture_bytes("tdx/intel-qvl-synthetic/qeIdentity.json"), "enclaveIdentity")
    qe = parse_qe_identity(raw)
    report = quote.qe_report
    assert quote.qe_report_bytes[16:20] == bytes.fromhex("13373b09")
    assert qe.miscselect == report.misc_select == 0x093B3713
    with pytest.raises(VerificationError) as info:
        check_qe_identity(
            qe,
            misc_select=report.misc_select,
            attributes=report.attributes,
            mr_signer=report.mr_signer,
            isv_prod_id=report.isv_prod_id,
        )
    # MISCSELECT and ATTRIBUTES match; the synthetic sample's MRSIGNER does not
    assert info.value.code == "qe_mrsigner_mismatch"


# -- malformed JSON: deep nesting and oversized integers are malformed JSON like any other --------

DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE_INT = b'{"id":"TDX","version":' + b"1" * 5000 + b"}"


@pytest.mark.parametrize("raw", [DEEP, HUGE_INT, b'{"id":' + DEEP + b"}"])
def test_tcb_info_and_qe_identity_malformed_json(raw: bytes) -> None:
    with pytest.raises(VerificationError) as info:
        parse_tcb_info(raw)
    assert info.value.code == "tcb_info_invalid"
    with pytest.raises(VerificationError) as info:
        parse_qe_identity(raw)
    assert info.value.code == "qe_identity_invalid"


@pytest.mark.parametrize("raw", [DEEP, HUGE_INT])
def test_peek_of_malformed_json_has_no_members(raw: bytes) -> None:
    assert peek_json(raw) == {}


@pytest.mark.parametrize(
    "body",
    [
        b'{"tcbInfo":' + DEEP + b',"signature":"00"}',
        b'{"x":' + DEEP + b',"tcbInfo":{},"signature":"00"}',
        b'{"tcbInfo":{"n":' + b"1" * 5000 + b'},"signature":"00"}',
    ],
)
def test_raw_member_and_pcs_body_malformed_json(body: bytes) -> None:
    with pytest.raises(InputError) as info:
        raw_json_member(body, "tcbInfo")
    assert "not valid JSON" in str(info.value)
    with pytest.raises(InputError):
        TdxCollateral.from_pcs(
            tcb_info=body, tcb_info_issuer_chain="", qe_identity=body, qe_identity_issuer_chain=""
        )


def test_pcs_body_signature_member_malformed_json() -> None:
    # the raw member is fine; the whole body (read for "signature") is nested too deeply
    body = b'{"tcbInfo":{},"signature":"00","x":' + DEEP + b"}"
    with pytest.raises(InputError):
        raw_json_member(body, "tcbInfo")
    with pytest.raises(InputError):
        signed_from_body(body, "tcbInfo", "", "PCS")


@pytest.mark.parametrize("doc", [DEEP, DEEP.decode(), b'{"tcb_info":' + b"1" * 5000 + b"}"])
def test_quote_collateral_v3_malformed_json(doc: bytes | str) -> None:
    with pytest.raises(InputError) as info:
        TdxCollateral.from_quote_collateral_v3(doc)
    assert str(info.value) == "QuoteCollateralV3: not valid JSON"


def test_deeply_nested_tcb_info_in_quote_collateral_v3_fails_its_signature() -> None:
    doc = v3()
    doc["tcb_info"] = DEEP.decode()
    with pytest.raises(VerificationError) as info:
        verify_tdx(
            fixture_bytes("tdx/dcap-qvl/tdx_quote"), TdxCollateral.from_quote_collateral_v3(doc), at=AT
        )
    assert info.value.code == "tcb_info_signature_invalid"


def test_deeply_nested_signed_tcb_info_is_tcb_info_invalid() -> None:
    pki = IntelTestPki()
    deep = pki.sign_json("tcbInfo", DEEP.decode())
    quote = build_tdx_quote(
        pck_key=pki.pck_key,
        pck_chain_pem=pki.pck_chain_pem(),
        body_fields={"tee_tcb_svn": DEFAULT_TEE_TCB_SVN},
    )
    collateral = TdxCollateral.from_quote_collateral_v3(pki.quote_collateral_v3(tcb_info=deep))
    with pytest.raises(VerificationError) as info:
        verify_tdx(quote, collateral, at=REFERENCE_TIME, trust_root=pki.root_pem())
    assert info.value.code == "tcb_info_invalid"


@pytest.mark.parametrize("content", [DEEP, b'{"format":' + b"1" * 5000 + b"}"])
def test_load_malformed_json_names_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_collateral(path)
    assert str(path) in str(info.value)
    assert "not JSON" in str(info.value)
