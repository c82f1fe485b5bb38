"""``ccverify show`` decodes certificates, CRLs and keys (issue #14) instead of printing PEM or DER as hex."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from typer.testing import CliRunner

from ccverify.cli.app import app
from ccverify.verifier.evidence.certtable import CertKind, CertTable
from ccverify.verifier.snp.certs import der
from tests.cli_json import envelope_result
from tests.conftest import fixture, fixture_bytes

SAMPLE = Path(__file__).resolve().parents[2] / "reference-values" / "examples"


def show_json(path: Path) -> dict[str, object]:
    result = CliRunner().invoke(app, ["show", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return envelope_result(result.output, "show")


def test_a_pem_chain_is_every_certificate_decoded() -> None:
    document = show_json(fixture("snp/go-sev-guest/ask_ark_milan.pem"))
    items = document["x509"]["items"]  # type: ignore[index]
    assert [item["subject"].split(",")[0] for item in items] == ["CN=SEV-Milan", "CN=ARK-Milan"]
    assert all(item["ca"] is True for item in items)
    assert items[1]["key"].startswith("RSA 4096")
    ask = x509.load_pem_x509_certificates(fixture_bytes("snp/go-sev-guest/ask_ark_milan.pem"))[0]
    usage = ask.extensions.get_extension_for_class(x509.KeyUsage).value
    assert items[0]["key_usage"] == [n for n in ("key_cert_sign", "crl_sign") if getattr(usage, n)]
    assert "key_cert_sign" in items[0]["key_usage"]


def test_a_der_vcek_shows_amd_tcb_extensions_by_name() -> None:
    document = show_json(fixture("snp/project-oak/genoa_oc_vcek.der"))
    (vcek,) = document["x509"]["items"]  # type: ignore[index]
    cert = x509.load_der_x509_certificate(fixture_bytes("snp/project-oak/genoa_oc_vcek.der"))
    assert vcek["subject"] == cert.subject.rfc4514_string()
    assert vcek["key"].startswith("EC P-384")
    assert vcek["amd"]["product_name"] == "Genoa"
    assert vcek["amd"]["snp_spl"] == 25 and vcek["amd"]["ucode_spl"] == 84 and vcek["amd"]["bl_spl"] == 10


def test_a_crl_shows_its_window_and_entries() -> None:
    document = show_json(fixture("tdx/go-tdx-guest/rootcrl.der"))
    (crl,) = document["x509"]["items"]  # type: ignore[index]
    assert crl["kind"] == "crl"
    assert crl["this_update"] == "2023-04-03T10:22:51Z" or crl["this_update"].startswith("2023-04-03")
    assert crl["revoked"] == []


def test_a_public_key_shows_its_type_and_fingerprint() -> None:
    document = show_json(SAMPLE / "EXAMPLE-refvalues-signer.pub.pem")
    (key,) = document["x509"]["items"]  # type: ignore[index]
    assert key["kind"] == "public_key" and key["key"].startswith("EC P-")


def test_a_quote_shows_its_pck_chain_decoded_with_sgx_extension() -> None:
    document = show_json(SAMPLE / "tdx-quote.dat")
    chain = document["tdx-quote"]["pck_chain"]  # type: ignore[index]
    assert [c["subject"].rsplit("CN=", 1)[1] for c in chain][:2] == [
        "Intel SGX PCK Certificate",
        "Intel SGX PCK Platform CA",
    ]
    assert len(chain[0]["sgx"]["fmspc"]) == 12 and chain[0]["ca"] is False


def test_a_certificate_table_decodes_each_entry(tmp_path: Path) -> None:
    chain = x509.load_pem_x509_certificates(fixture_bytes("snp/go-sev-guest/ask_ark_milan.pem"))
    table = CertTable.build([(CertKind.ASK, der(chain[0])), (CertKind.ARK, der(chain[1]))]).to_bytes()
    path = tmp_path / "auxblob.bin"
    path.write_bytes(table)
    document = show_json(path)
    entries = document["snp-cert-table"]["entries"]  # type: ignore[index]
    assert [e["kind"] for e in entries] == ["ASK", "ARK"]
    assert entries[0]["decoded"]["subject"].startswith("CN=SEV-Milan")


def test_garbage_that_looks_like_der_is_still_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "junk.der"
    path.write_bytes(b"\x30\x82\x01\x00" + bytes(300))
    result = CliRunner().invoke(app, ["show", str(path)])
    assert result.exit_code == 2
    assert "not a recognised format" in result.output
