"""TDX quote parser: every real quote parses, round-trips byte for byte and shows the published values.

Expected values are full hex read from the quote files and cross-checked against what
``tests/fixtures/tdx/SOURCES.md`` and trustee's ``parse_tdx_claims_expected.json`` publish;
where SOURCES.md abbreviates a hash, ``PUBLISHED`` keeps its prefix/suffix and both are asserted.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ccverify.verifier.errors import ParseError
from ccverify.verifier.evidence.tdx_quote import (
    CertificationData,
    EnclaveReport,
    QeReportCertificationData,
    QuoteHeader,
    QuoteSignatureData,
    TdAttributes,
    TdReport,
    TdxQuote,
    Xfam,
    _parse_well_formed,
)
from ccverify.verifier.jsonable import to_jsonable
from tests.conftest import fixture


def quote_bytes(relative: str) -> bytes:
    """Fixture bytes; hex files may start with ``0x`` (dcap-qvl's tdx-quote.hex does)."""
    data = fixture(relative).read_bytes()
    if not relative.endswith((".hex", "_hex.txt")):
        return data
    text = b"".join(data.split()).decode()
    return bytes.fromhex(text.removeprefix("0x"))


@dataclasses.dataclass(frozen=True)
class Expected:
    version: int
    body_type: int
    size: int
    trailing: int
    tee_tcb_svn: str
    mr_seam: str
    td_attributes: str
    td_flags: str  # member names, lowest bit first
    xfam: str
    xfam_flags: str
    mr_td: str
    mr_config_id: str
    rtmrs: tuple[str, str, str, str]
    report_data: str
    qe_isvsvn: int
    qe_auth_size: int
    tee_tcb_svn2: str | None = None
    mr_service_td: str | None = None


ZERO48 = "00" * 48
AVX512 = "AVX512_OPMASK AVX512_ZMM_HI256 AVX512_HI16_ZMM"
AMX = "AMX_TILECFG AMX_TILEDATA"

# fmt: off
REAL = {
    # full values read from the files; SOURCES.md abbreviations are checked in PUBLISHED below
    "go-tdx-guest/tdx_prod_quote_SPR_E4.dat": Expected(
        version=4, body_type=2, size=4974, trailing=39,
        tee_tcb_svn="03000400000000000000000000000000",
        mr_seam="2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c656",
        td_attributes="0000004000000000", td_flags="PKS",
        xfam="e71a060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} PKRU CET_U CET_S {AMX}",
        mr_td="6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb",
        mr_config_id=ZERO48,
        rtmrs=(
            "2927da70461cd63266f43230cc1849c03ef25ebe490062a801d8fcc80af42976823adf08f833c1e50b51779c6593f32a",
            "2c700b8ba9b85783f8be9fb9443647bdc0bb3c50747f06297cc6538c25a5f589c4b56d035c59107c6bc5800db2cacb61",
            "8652f0caaba7e215ea442dc36a4499d8fec3362f3a0b2ca151cbe4b3e6466fe59c7368b3c2287fc7c3bf5c924eb4424e",
            ZERO48,
        ),
        report_data="6c62dec1b8191749a31dab490be532a35944dea47caef1f980863993d9899545eb7406a38d1eed313b987a467dacead6f0c87a6d766c66f6f29f8acb281f1113",
        qe_isvsvn=4, qe_auth_size=32,
    ),
    "go-tdx-guest/quote_v5_sample.dat": Expected(
        version=5, body_type=3, size=5006, trailing=0,
        tee_tcb_svn="0b010400000000000000000000000000",
        mr_seam="7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4df648657ba6d1189589feab1d5a3c9a9d",
        td_attributes="0000001000000000", td_flags="SEPT_VE_DISABLE",
        xfam="e702060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} PKRU {AMX}",
        mr_td="7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f750c3bc8f876",
        mr_config_id=ZERO48,
        rtmrs=(
            "5c8daf76063a71ac8fcef4067564661fc682ed7944c7a5d21dbbced02f61ceff4ba0678c6aef3bdae8cbc614cec24619",
            "463acaace1b6e97c76e92e41fe312aa66f3fd4dad60ec7acf169859db0343e3d1e591646795cdc80fbc0ca5f7041d253",
            "6369b9c9a3b791ebcbdc5a0bb9536cfb57f50df2b393b33c8b29616d3568baa61f4b59dc6092e31ea8764bcbdfc69f20",
            ZERO48,
        ),
        report_data="945eaacf5abc1f719d8666a942fda03d1edcb4490277396093dc5a5289ab9f1e094aed63060cd4a4933a4dd537ed1255c9c79ecb3ed82cd1b486233e31c25c3a",
        qe_isvsvn=7, qe_auth_size=32,
        tee_tcb_svn2="0d010400000000000000000000000000",
        mr_service_td=ZERO48,
    ),
    "go-tdx-guest/ccel/cos-113-tdx-quote.dat": Expected(
        version=4, body_type=2, size=8000, trailing=3065,
        tee_tcb_svn="04010700000000000000000000000000",
        mr_seam="ffc97a88587660fb04e1f7c851300c96ae0b5a463ac46d035d16c2d9f36d0ed1d23775bcbd27deb219e3a3cc28023895",
        td_attributes="0000001000000000", td_flags="SEPT_VE_DISABLE",
        xfam="e700060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} {AMX}",
        mr_td="dae67181d3d65e073ad8f95b7907d5e927bfe9761c9ff3e9b89734a45d8954dba41394c7717cb2735396c1d04231f94a",
        mr_config_id=ZERO48,
        rtmrs=(
            "3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd17f6",
            "f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a7944aa62c41a86e8a878c2b122c1",
            "4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe7c1",
            ZERO48,
        ),
        report_data="00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        qe_isvsvn=6, qe_auth_size=32,
    ),
    "dcap-qvl/tdx_quote": Expected(
        version=4, body_type=2, size=5006, trailing=70,
        tee_tcb_svn="06010300000000000000000000000000",
        mr_seam="5b38e33a6487958b72c3c12a938eaa5e3fd4510c51aeeab58c7d5ecee41d7c436489d6c8e4f92f160b7cad34207b00c1",
        td_attributes="0000001000000000", td_flags="SEPT_VE_DISABLE",
        xfam="e702060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} PKRU {AMX}",
        mr_td="91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7",
        mr_config_id=ZERO48,
        rtmrs=(
            "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0",
            "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378",
            "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132",
            ZERO48,
        ),
        report_data="9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20",
        qe_isvsvn=6, qe_auth_size=32,
    ),
    "dcap-qvl/tdx_quote_outdated": Expected(
        version=5, body_type=3, size=5006, trailing=0,
        tee_tcb_svn="07010300000000000000000000000000",
        mr_seam="49b66faa451d19ebbdbe89371b8daf2b65aa3984ec90110343e9e2eec116af08850fa20e3b1aa9a874d77a65380ee7e6",
        td_attributes="0000001000000000", td_flags="SEPT_VE_DISABLE",
        xfam="e718060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} CET_U CET_S {AMX}",
        mr_td="273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1ae451d382d5a9b1b4c0ed0e5ae9a3dbd",
        mr_config_id=ZERO48,
        rtmrs=(
            ZERO48,
            ZERO48,
            ZERO48,
            ZERO48,
        ),
        report_data="d2142b643598eb5fae2bc8529dd79a558b29f868ccbb6531cb28dab9dce477280000000000000000000000000000000000000000000000000000000000000000",
        qe_isvsvn=7, qe_auth_size=32,
        tee_tcb_svn2="0d010300000000000000000000000000",
        mr_service_td=ZERO48,
    ),
    "dcap-qvl/near_gas_test_quote_hex.txt": Expected(
        version=4, body_type=2, size=5006, trailing=70,
        tee_tcb_svn="06010400000000000000000000000000",
        mr_seam="5b38e33a6487958b72c3c12a938eaa5e3fd4510c51aeeab58c7d5ecee41d7c436489d6c8e4f92f160b7cad34207b00c1",
        td_attributes="0000001000000000", td_flags="SEPT_VE_DISABLE",
        xfam="0702000000000000",
        xfam_flags="X87 SSE AVX PKRU",
        mr_td="f06dfda6dce1cf904d4e2bab1dc370634cf95cefa2ceb2de2eee127c9382698090d7a4a13e14c536ec6c9c3c8fa87077",
        mr_config_id="0112a20aed7d6c68601e9f6e108a93b4199ae7231684307ffc4833c9cd08d45de7000000000000000000000000000000",
        rtmrs=(
            "68102e7b524af310f7b7d426ce75481e36c40f5d513a9009c046e9d37e31551f0134d954b496a3357fd61d03f07ffe96",
            "19d16ecd33220ee15965b4fb28a0661e85ec4cad0a20d920bf4028f58ad014b262af3c9b0530f283e7d032e7bdca6308",
            "05ac95f479e23db627217ce58b2587483c9ee4f374a7d8ebee3b812b8cfd8fd8fca04696369c33bd5279590d83e713c0",
            "287a9242edd8c8429913ec66f44af611b820cf9b574f303a6caeddeb4c9826311aef6e518aaf4a17f55a81154592b7b3",
        ),
        report_data="0001d579ba6e734a1046feb6112f852df5f4f1e44a4e7ce1755ce3b07bd6aaab04e89ca01fdf4956d2f609c2709731cb813a0000000000000000000000000000",
        qe_isvsvn=6, qe_auth_size=32,
    ),
    "dcap-qvl/tdx-quote.hex": Expected(
        version=4, body_type=2, size=5006, trailing=70,
        tee_tcb_svn="05010200000000000000000000000000",
        mr_seam="1cc6a17ab799e9a693fac7536be61c12ee1e0fabada82d0c999e08ccee2aa86de77b0870f558c570e7ffe55d6d47fa04",
        td_attributes="0000001000000000", td_flags="SEPT_VE_DISABLE",
        xfam="e702060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} PKRU {AMX}",
        mr_td="7ba9e262ce6979087e34632603f354dd8f8a870f5947d116af8114db6c9d0d74c48bec4280e5b4f4a37025a10905bb29",
        mr_config_id=ZERO48,
        rtmrs=(
            "4574c098915caf3e82057817dbd135c1ed0ee1b39ac300c921479e2f5ebf5726a13ee0c8745ac891b6aee7c4f9664610",
            ZERO48,
            ZERO48,
            "547fcba4630bfb981169a8a1903b79c244933413409dd0387acbd8e3b985bcc9164cf52735cd31f60bf2c5d1220c113f",
        ),
        report_data="7148f47ef58b475fce69b386e2d6b4c964a9533cc328ea8e544db66612a5174698d006951cefa8fd4450e884300638e567e22f9a012ef5754aa6a9d9564fcd8a",
        qe_isvsvn=6, qe_auth_size=32,
    ),
    "dcap-qvl/quote-from-tappd.hex": Expected(
        version=4, body_type=2, size=5006, trailing=70,
        tee_tcb_svn="05010200000000000000000000000000",
        mr_seam="1cc6a17ab799e9a693fac7536be61c12ee1e0fabada82d0c999e08ccee2aa86de77b0870f558c570e7ffe55d6d47fa04",
        td_attributes="0000001000000000", td_flags="SEPT_VE_DISABLE",
        xfam="e702060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} PKRU {AMX}",
        mr_td="c68518a0ebb42136c12b2275164f8c72f25fa9a34392228687ed6e9caeb9c0f1dbd895e9cf475121c029dc47e70e91fd",
        mr_config_id=ZERO48,
        rtmrs=(
            "274c2344116db7c663470693b5ba62b8621eac28cb41d2f816ddf188f9f423f900a1c44d32386fd3c993dc814e62af9d",
            "918fbd97108e05450afa6aca140c6363ab913578b66cc312e3e8542ce5ade455a30c8d9e4d53a5e43d81955f76140279",
            ZERO48,
            "a2d25bc888a93009af5b70eadb410e9071d18387e4db39aae20fe767f5c4279d95e6519c5d797938a90694599c5bea7a",
        ),
        report_data="7668c6b4eafb62301c72714ecc7d90ce9a0e04b52dc117720df2047b0a59f1dbd937243eef1410a3cdc524aad66d4554b4f18b54da2fc0608dac40d6dea5f1d4",
        qe_isvsvn=6, qe_auth_size=32,
    ),
    "trustee/tdx_quote_4.dat": Expected(
        version=4, body_type=2, size=4936, trailing=0,
        tee_tcb_svn="03000500000000000000000000000000",
        mr_seam="2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c656",
        td_attributes="0100001000000000", td_flags="DEBUG SEPT_VE_DISABLE",
        xfam="e742060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} PKRU UINTR {AMX}",
        mr_td="705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031",
        mr_config_id=ZERO48,
        rtmrs=(
            "e940da7c2712d2790e2961e00484f4fa8e6f9eed71361655ae22699476b14f9e63867eb41edd4b480fef0c59f496b288",
            "559cfcf42716ed6c40a48a73d5acb7da255435012f0a9f00fbe8c1c57612ede486a5684c4c9ff3ddf52315fcdca3a596",
            ZERO48,
            ZERO48,
        ),
        report_data="7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429",
        qe_isvsvn=4, qe_auth_size=32,
    ),
    "trustee/tdx_quote_5.dat": Expected(
        version=5, body_type=3, size=5006, trailing=0,
        tee_tcb_svn="05010200000000000000000000000000",
        mr_seam="1cc6a17ab799e9a693fac7536be61c12ee1e0fabada82d0c999e08ccee2aa86de77b0870f558c570e7ffe55d6d47fa04",
        td_attributes="0000001000000000", td_flags="SEPT_VE_DISABLE",
        xfam="e742060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} PKRU UINTR {AMX}",
        mr_td="dfba221b48a22af8511542ee796603f37382800840dcd978703909bf8e64d4c8a1e9de86e7c9638bfcba422f3886400a",
        mr_config_id=ZERO48,
        rtmrs=(
            "9b529f3689e2e8ebb899e9abbbc3dab394d6545e8cdb28a2abb9cc2f377b83a65c01ba56b824cd3ee885df20051f5128",
            "ca5a979317ffe8a527a3b7aadab03976d7cb6eef1041fb9bd9d69e6fafa7252cdc10e4c2a55e7ecbd2ddb5cacc867430",
            ZERO48,
            ZERO48,
        ),
        report_data="6d6ab13b046cff606ac0074be13981b07b6325dba10b5facc96febf551c0c3be2b75f92fe1f88f4bb996969ad0174b4b7a70261b7b85c844f4b33a4674fd049f",
        qe_isvsvn=6, qe_auth_size=32,
        tee_tcb_svn2="05010200000000000000000000000000",
        mr_service_td="383c87d3bbb047b2d171eaca95312ede99f258088dc788f6ae2ccf8b6dd848fe8d47629e08b3f6cbd4a00dd47a5a033d",
    ),
    "trustee/tdx_quote_6.dat": Expected(
        version=4, body_type=2, size=5006, trailing=70,
        tee_tcb_svn="05030200000000000000000000000000",
        mr_seam="476a2997c62bccc78370913d0a80b956e3721b24272bc66c4d6307ced4be2865c40e26afac75f12df3425b03eb59ea7c",
        td_attributes="0000001000000000", td_flags="SEPT_VE_DISABLE",
        xfam="e702060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} PKRU {AMX}",
        mr_td="21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88",
        mr_config_id="889abf4718f037e38d74464c11e7c91a6e9890b5546409e1e7df9de7a51ca93152bf847bd2440328e90adb18b150ed67",
        rtmrs=(
            "395aefe7bac15b24c40f1cd7ba6f8fa48732be5c56c61485ed3cd9c8b16cce8ece64c331b99ce36d96605135c753aaa2",
            "fc4b0f849d8d76fdf1da563a8c29d0d456b484a65e01797baf52ea1d8c002040527a1f0278925077219656dba039429f",
            "193edd321148e81fd4d6ce00ac8331e737febdb428f18ae66f697c1d2a7f2cd97c535c8df9f045f62b16a41facad84a1",
            ZERO48,
        ),
        report_data="26cae1c77185617fb6a03fc29bf1f924596e52352b9b7594940b576ae126cd4a570cc3202a900c5d19a6eb0a95b32cfd00000000000000000000000000000000",
        qe_isvsvn=7, qe_auth_size=32,
    ),
    "trustee/az-tdx-vtpm/td-quote.bin": Expected(
        version=4, body_type=2, size=5006, trailing=70,
        tee_tcb_svn="02010600000000000000000000000000",
        mr_seam="360304d34a16aace0a18e09ad2d07d2b9fd3c174378e5bf108388079827f89ff62acc5f8c473dd40706324834e202946",
        td_attributes="0000000000000000", td_flags="",
        xfam="e718060000000000",
        xfam_flags=f"X87 SSE AVX {AVX512} CET_U CET_S {AMX}",
        mr_td="024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b",
        mr_config_id=ZERO48,
        rtmrs=(
            ZERO48,
            ZERO48,
            ZERO48,
            ZERO48,
        ),
        report_data="9734504f161d104c74e3165c15f779b06a9bb40dfa71937817d7eee68e5938390000000000000000000000000000000000000000000000000000000000000000",
        qe_isvsvn=5, qe_auth_size=32,
    ),
    # SYNTHETIC: Intel QVL sample data, not Intel-signed (random SVNs, empty QE auth data, DER chain)
    "intel-qvl-synthetic/quote.dat": Expected(
        version=4, body_type=2, size=3696, trailing=0,
        tee_tcb_svn="52c1a38cf7edf30a524b4ebb049f59c7",
        mr_seam=ZERO48,
        td_attributes="0000000000000000", td_flags="",
        xfam="0000000000000000",
        xfam_flags="",
        mr_td=ZERO48,
        mr_config_id=ZERO48,
        rtmrs=(
            ZERO48,
            ZERO48,
            ZERO48,
            ZERO48,
        ),
        report_data="00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        qe_isvsvn=12677, qe_auth_size=0,
    ),
}
# fmt: on

# Abbreviated values as SOURCES.md prints them: (fixture, field) -> (prefix, suffix).
PUBLISHED = {
    ("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", "mr_td"): ("6363b804", "5cbb"),
    ("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", "rtmr0"): ("2927da70", "f32a"),
    ("go-tdx-guest/quote_v5_sample.dat", "mr_td"): ("7348651a", "f876"),
    ("go-tdx-guest/ccel/cos-113-tdx-quote.dat", "mr_td"): ("dae67181", "f94a"),
    ("dcap-qvl/tdx_quote", "mr_td"): ("91eb2b44", "18b7"),
    ("dcap-qvl/tdx_quote", "rtmr0"): ("44c0197b", "c9c0"),
    ("dcap-qvl/tdx_quote", "rtmr1"): ("0084452c", "9378"),
    ("dcap-qvl/tdx_quote", "rtmr2"): ("d833feef", "3132"),
    ("dcap-qvl/tdx_quote_outdated", "mr_td"): ("273828c4", "3dbd"),
    ("dcap-qvl/near_gas_test_quote_hex.txt", "rtmr0"): ("68102e7b", "fe96"),
    ("trustee/tdx_quote_4.dat", "mr_td"): ("705ee938", "f031"),
    ("trustee/tdx_quote_4.dat", "rtmr0"): ("e940da7c", "b288"),
    ("trustee/tdx_quote_4.dat", "rtmr1"): ("559cfcf4", "a596"),
    ("trustee/tdx_quote_5.dat", "mr_service_td"): ("383c87d3", "033d"),
}

# TEE_TCB_SVN (and TEE_TCB_SVN2) prefixes and QE ISVSVN as SOURCES.md prints them.
PUBLISHED_SVNS = {
    "go-tdx-guest/tdx_prod_quote_SPR_E4.dat": ("03000400", None, 4),
    "go-tdx-guest/quote_v5_sample.dat": ("0b010400", "0d010400", 7),
    "dcap-qvl/tdx_quote": ("06010300", None, 6),
    "dcap-qvl/tdx_quote_outdated": ("07010300", "0d010300", 7),
    "dcap-qvl/near_gas_test_quote_hex.txt": (None, None, 6),
    "trustee/tdx_quote_4.dat": ("03000500", None, None),
    "trustee/tdx_quote_6.dat": ("05030200", None, 7),
    "trustee/az-tdx-vtpm/td-quote.bin": ("02010600", None, None),
}

INTEL_QE_VENDOR_ID = "939a7233f79c4ca9940a0db3957f0607"
TD_QE_MRSIGNER = "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5"
SGX_ROOT_CN = "Intel SGX Root CA"


def parse(relative: str) -> TdxQuote:
    return TdxQuote.from_bytes(quote_bytes("tdx/" + relative))


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_quote_round_trips_byte_for_byte(name: str) -> None:
    raw = quote_bytes("tdx/" + name)
    assert TdxQuote.from_bytes(raw).to_bytes() == raw


@pytest.mark.parametrize("name", sorted(REAL))
def test_the_signed_regions_sliced_from_the_input_are_the_rebuilt_ones(name: str) -> None:
    raw = quote_bytes("tdx/" + name)
    quote = TdxQuote.from_bytes(raw)
    assert quote.signed_regions(raw) == quote.signed_regions() == (quote.qe_report_bytes, quote.signed_data)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_quotes_take_the_one_shot_path_and_it_equals_the_field_walk(name: str) -> None:
    raw = quote_bytes("tdx/" + name)
    fast = _parse_well_formed(raw)
    assert fast is not None
    assert fast == TdxQuote._walk(raw)
    assert fast.to_bytes() == raw


def test_the_one_shot_path_leaves_every_error_to_the_field_walk() -> None:
    raw = quote_bytes("tdx/dcap-qvl/tdx_quote")
    for cut in (0, 47, 53, 631, 1200, 1300, len(raw) - 4000):
        assert _parse_well_formed(raw[:cut]) is None
    bad_tee = raw[:4] + b"\x00" + raw[5:]
    assert _parse_well_formed(bad_tee) is None
    with pytest.raises(ParseError) as error:
        TdxQuote.from_bytes(bad_tee)
    assert (error.value.field, error.value.offset) == ("header.tee_type", 4)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_quote_header(name: str) -> None:
    quote = parse(name)
    assert quote.header.version == REAL[name].version
    assert quote.header.attestation_key_type == 2
    assert quote.header.tee_type == 0x81
    assert quote.header.reserved == bytes(4)
    assert quote.header.qe_vendor_id.hex() == INTEL_QE_VENDOR_ID
    assert quote.body_type == REAL[name].body_type


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_quote_body_values(name: str) -> None:
    body, want = parse(name).body, REAL[name]
    assert body.tee_tcb_svn.hex() == want.tee_tcb_svn
    assert body.mr_seam.hex() == want.mr_seam
    assert body.mr_signer_seam == bytes(48)
    assert body.seam_attributes == bytes(8)
    assert body.td_attributes.hex() == want.td_attributes
    assert body.xfam.hex() == want.xfam
    assert body.mr_td.hex() == want.mr_td
    assert body.mr_config_id.hex() == want.mr_config_id
    assert body.mr_owner == bytes(48)
    assert body.mr_owner_config == bytes(48)
    assert tuple(r.hex() for r in body.rtmrs) == want.rtmrs
    assert body.report_data.hex() == want.report_data


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_quote_tdx15_fields(name: str) -> None:
    body, want = parse(name).body, REAL[name]
    assert body.is_tdx15 == (want.body_type == 3)
    assert (body.tee_tcb_svn2.hex() if body.tee_tcb_svn2 is not None else None) == want.tee_tcb_svn2
    assert (body.mr_service_td.hex() if body.mr_service_td is not None else None) == want.mr_service_td
    assert body.size == (648 if want.body_type == 3 else 584)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_quote_flags(name: str) -> None:
    body, want = parse(name).body, REAL[name]
    assert [m.name for m in body.td_attributes_flags] == want.td_flags.split()
    assert [m.name for m in body.xfam_flags] == want.xfam_flags.split()
    assert body.debug == ("DEBUG" in want.td_flags.split())
    assert body.sept_ve_disable == ("SEPT_VE_DISABLE" in want.td_flags.split())
    assert body.td_attributes_value == int.from_bytes(bytes.fromhex(want.td_attributes), "little")
    assert body.xfam_value == int.from_bytes(bytes.fromhex(want.xfam), "little")


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_quote_sizes_and_trailing(name: str) -> None:
    raw, quote, want = quote_bytes("tdx/" + name), parse(name), REAL[name]
    assert len(raw) == want.size
    assert quote.trailing_size == want.trailing
    assert quote.trailing == raw[len(raw) - want.trailing :]
    assert len(quote.qe_auth_data) == want.qe_auth_size
    assert quote.qe_report.isv_svn == want.qe_isvsvn


@pytest.mark.parametrize(("name", "what"), sorted(PUBLISHED))
def test_published_abbreviations_match_full_values(name: str, what: str) -> None:
    prefix, suffix = PUBLISHED[(name, what)]
    body = parse(name).body
    value = {"mr_td": body.mr_td, "mr_service_td": body.mr_service_td or b""}.get(what)
    if value is None:
        value = body.rtmrs[int(what[-1])]
    # SOURCES.md prints prefix…suffix; REAL holds the full value read from the file
    assert value.hex().startswith(prefix)
    assert value.hex().endswith(suffix)
    full = {"mr_td": REAL[name].mr_td, "mr_service_td": REAL[name].mr_service_td}.get(what)
    assert value.hex() == (full if full is not None else REAL[name].rtmrs[int(what[-1])])


@pytest.mark.parametrize("name", sorted(PUBLISHED_SVNS))
def test_published_svns(name: str) -> None:
    svn, svn2, qe_isvsvn = PUBLISHED_SVNS[name]
    quote = parse(name)
    if svn is not None:
        assert quote.body.tee_tcb_svn.hex() == svn + "00" * 12
    if svn2 is not None:
        assert quote.body.tee_tcb_svn2 is not None
        assert quote.body.tee_tcb_svn2.hex() == svn2 + "00" * 12
    if qe_isvsvn is not None:
        assert quote.qe_report.isv_svn == qe_isvsvn


def test_published_trailing_counts() -> None:
    assert parse("go-tdx-guest/tdx_prod_quote_SPR_E4.dat").trailing_size == 39
    assert parse("dcap-qvl/tdx_quote").trailing_size == 70
    assert parse("go-tdx-guest/ccel/cos-113-tdx-quote.dat").trailing_size == 3065


def test_spr_trailing_bytes_are_a_test_marker_not_padding() -> None:
    # go-tdx-guest appended this text to its sample: trailing bytes are not always zeros
    quote = parse("go-tdx-guest/tdx_prod_quote_SPR_E4.dat")
    assert quote.trailing == b"\nextra bytes(only for testing purpose)\n"


def test_cos_trailing_bytes_are_zero_padding() -> None:
    assert parse("go-tdx-guest/ccel/cos-113-tdx-quote.dat").trailing == bytes(3065)


def test_trustee_golden_claims_for_tdx_quote_4() -> None:
    golden = json.loads(fixture("tdx/trustee/parse_tdx_claims_expected.json").read_text())
    quote = parse("trustee/tdx_quote_4.dat")
    header, body = golden["quote"]["header"], golden["quote"]["body"]
    assert quote.header.version.to_bytes(2, "little").hex() == header["version"]
    assert quote.header.attestation_key_type.to_bytes(2, "little").hex() == header["att_key_type"]
    assert quote.header.tee_type.to_bytes(4, "little").hex() == header["tee_type"]
    assert quote.header.reserved.hex() == header["reserved"]
    assert quote.header.qe_vendor_id.hex() == header["vendor_id"]
    assert quote.header.user_data.hex() == header["user_data"]
    ours = {
        "mr_config_id": quote.body.mr_config_id,
        "mr_owner": quote.body.mr_owner,
        "mr_owner_config": quote.body.mr_owner_config,
        "mr_seam": quote.body.mr_seam,
        "mr_td": quote.body.mr_td,
        "mrsigner_seam": quote.body.mr_signer_seam,
        "report_data": quote.body.report_data,
        "rtmr_0": quote.body.rtmrs[0],
        "rtmr_1": quote.body.rtmrs[1],
        "rtmr_2": quote.body.rtmrs[2],
        "rtmr_3": quote.body.rtmrs[3],
        "seam_attributes": quote.body.seam_attributes,
        "tcb_svn": quote.body.tee_tcb_svn,
        "td_attributes": quote.body.td_attributes,
        "xfam": quote.body.xfam,
    }
    assert {k: v.hex() for k, v in ours.items()} == body
    assert quote.body.report_data.hex() == golden["report_data"]


def test_trustee_golden_td_attribute_flags_for_tdx_quote_4() -> None:
    golden = json.loads(fixture("tdx/trustee/parse_tdx_claims_expected.json").read_text())["td_attributes"]
    flags = parse("trustee/tdx_quote_4.dat").body.td_attributes_flags
    assert bool(flags & TdAttributes.DEBUG) == golden["debug"]
    assert bool(flags & TdAttributes.KL) == golden["key_locker"]
    assert bool(flags & TdAttributes.PERFMON) == golden["perfmon"]
    assert bool(flags & TdAttributes.PKS) == golden["protection_keys"]
    assert bool(flags & TdAttributes.SEPT_VE_DISABLE) == golden["septve_disable"]
    assert parse("trustee/tdx_quote_4.dat").body.debug is True


@pytest.mark.parametrize("name", sorted(n for n in REAL if not n.startswith("intel-qvl-synthetic")))
def test_qe_report_is_intel_td_qe(name: str) -> None:
    """Intel's synthetic sample is left out: its QE identity is made up."""
    quote = parse(name)
    assert quote.qe_report.mr_signer.hex() == TD_QE_MRSIGNER
    assert quote.qe_report.isv_prod_id == 2
    assert quote.qe_report.misc_select == 0
    assert quote.qe_report.attributes.hex()[:2] == "15"
    assert len(quote.qe_report_bytes) == 384


@pytest.mark.parametrize("name", sorted(REAL))
def test_signed_data_is_header_and_body(name: str) -> None:
    raw, quote = quote_bytes("tdx/" + name), parse(name)
    end = 632 if quote.header.version == 4 else 54 + quote.body.size
    assert quote.signed_data == raw[:end]


@pytest.mark.parametrize("name", sorted(REAL))
def test_qe_report_bytes_are_the_raw_384_bytes(name: str) -> None:
    raw, quote = quote_bytes("tdx/" + name), parse(name)
    start = len(quote.signed_data) + 4 + 134
    assert quote.qe_report_bytes == raw[start : start + 384]


def _verify_raw(public: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> None:
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public.verify(der, message, ec.ECDSA(hashes.SHA256()))


def _leaf(certs: list[x509.Certificate]) -> x509.Certificate:
    """The PCK leaf wherever it is (Intel's synthetic sample carries its chain root first)."""
    return next(c for c in certs if "CN=Intel SGX PCK Certificate" in c.subject.rfc4514_string())


@pytest.mark.parametrize("name", sorted(REAL))
def test_offsets_are_right_because_the_signatures_verify(name: str) -> None:
    quote = parse(name)
    att = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + quote.attestation_key)
    _verify_raw(att, quote.signature, quote.signed_data)
    leaf = _leaf(quote.pck_chain_certificates()).public_key()
    assert isinstance(leaf, ec.EllipticCurvePublicKey)
    _verify_raw(leaf, quote.qe_report_signature, quote.qe_report_bytes)


def test_a_changed_body_no_longer_matches_the_signature() -> None:
    quote = parse("dcap-qvl/tdx_quote")
    changed = dataclasses.replace(quote, body=dataclasses.replace(quote.body, mr_td=bytes(48)))
    att = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + quote.attestation_key)
    with pytest.raises(InvalidSignature):
        _verify_raw(att, changed.signature, changed.signed_data)


@pytest.mark.parametrize("name", sorted(n for n in REAL if not n.startswith("intel-qvl")))
def test_pck_chain_has_leaf_intermediate_root(name: str) -> None:
    certs = parse(name).pck_chain_certificates()
    names = [c.subject.rfc4514_string() for c in certs]
    assert len(certs) == 3
    assert "CN=Intel SGX PCK Certificate" in names[0]
    assert "CN=Intel SGX PCK Platform CA" in names[1] or "CN=Intel SGX PCK Processor CA" in names[1]
    assert f"CN={SGX_ROOT_CN}" in names[2]


@pytest.mark.parametrize("name", sorted(n for n in REAL if not n.startswith("intel-qvl")))
def test_pck_chain_pem_has_no_trailing_nul_but_raw_data_keeps_it(name: str) -> None:
    quote = parse(name)
    raw = quote.pck_certification_data.data
    assert quote.pck_chain_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert quote.pck_chain_pem.endswith(b"-----END CERTIFICATE-----\n")
    assert raw == quote.pck_chain_pem + b"\x00" * (len(raw) - len(quote.pck_chain_pem))


def test_pem_chains_ending_in_nul_are_the_5006_byte_quotes() -> None:
    with_nul = [n for n in REAL if parse(n).pck_certification_data.data.endswith(b"\x00")]
    assert sorted(with_nul) == sorted(
        n for n in REAL if REAL[n].size == 5006 or n == "trustee/tdx_quote_4.dat"
    )


def test_synthetic_intel_sample_carries_a_der_chain_that_still_parses() -> None:
    quote = parse("intel-qvl-synthetic/quote.dat")
    assert quote.pck_certification_data.type == 5
    assert quote.pck_certification_data.data[:2] == b"\x30\x82"
    assert len(quote.qe_auth_data) == 0
    certs = quote.pck_chain_certificates()
    # carried root first, and with a Processor CA: returned as carried, ordering is the verifier's job
    assert [c.subject.rfc4514_string().split(",")[-1] for c in certs] == [
        "CN=Intel SGX Root CA",
        "CN=Intel SGX PCK Processor CA",
        "CN=Intel SGX PCK Certificate",
    ]


def test_json_form_has_flag_names_and_trailing_count() -> None:
    shown = to_jsonable(parse("trustee/tdx_quote_4.dat"))
    assert shown["body"]["td_attributes"] == "0100001000000000"
    assert shown["body"]["td_attributes_flags"] == ["DEBUG", "SEPT_VE_DISABLE"]
    assert shown["body"]["xfam_flags"][:3] == ["X87", "SSE", "AVX"]
    assert shown["trailing_size"] == 0
    assert "trailing" not in shown
    assert shown["header"]["version"] == 4
    assert shown["signature_data"]["qe_certification_data"]["qe_report"]["isv_svn"] == 4


def test_json_form_of_a_quote_with_padding_shows_only_the_count() -> None:
    shown = to_jsonable(parse("go-tdx-guest/ccel/cos-113-tdx-quote.dat"))
    assert shown["trailing_size"] == 3065
    assert "trailing" not in shown


def test_unnamed_attribute_bits_are_kept() -> None:
    body = dataclasses.replace(
        parse("dcap-qvl/tdx_quote").body, td_attributes=(1 << 40 | 1).to_bytes(8, "little")
    )
    assert body.td_attributes_value == 1 << 40 | 1
    assert int(body.td_attributes_flags) == 1 << 40 | 1
    assert to_jsonable(body.td_attributes_flags) == ["DEBUG", "bit40"]


@pytest.mark.parametrize(
    ("flag", "bit"),
    [
        (TdAttributes.DEBUG, 0),
        (TdAttributes.ICSSD, 16),
        (TdAttributes.LASS, 27),
        (TdAttributes.SEPT_VE_DISABLE, 28),
        (TdAttributes.MIGRATABLE, 29),
        (TdAttributes.PKS, 30),
        (TdAttributes.KL, 31),
        (TdAttributes.TPA, 62),
        (TdAttributes.PERFMON, 63),
        (Xfam.X87, 0),
        (Xfam.AVX, 2),
        (Xfam.AVX512_OPMASK, 5),
        (Xfam.PT, 8),
        (Xfam.PKRU, 9),
        (Xfam.CET_U, 11),
        (Xfam.CET_S, 12),
        (Xfam.UINTR, 14),
        (Xfam.LBR, 15),
        (Xfam.AMX_TILECFG, 17),
        (Xfam.AMX_TILEDATA, 18),
        (Xfam.APX, 19),
    ],
)
def test_flag_bit_numbers(flag: int, bit: int) -> None:
    assert int(flag) == 1 << bit


# ---- structures on their own -------------------------------------------------------------


def test_each_structure_round_trips_on_its_own() -> None:
    raw = quote_bytes("tdx/go-tdx-guest/quote_v5_sample.dat")
    quote = TdxQuote.from_bytes(raw)
    sig = quote.signature_data
    assert QuoteHeader.from_bytes(raw[:48]) == quote.header
    assert TdReport.from_bytes(raw[54 : 54 + 648]) == quote.body
    assert EnclaveReport.from_bytes(quote.qe_report_bytes) == quote.qe_report
    assert QuoteSignatureData.from_bytes(sig.to_bytes()) == sig
    assert (
        QeReportCertificationData.from_bytes(sig.qe_certification_data.to_bytes())
        == sig.qe_certification_data
    )
    assert (
        CertificationData.from_bytes(quote.pck_certification_data.to_bytes()) == quote.pck_certification_data
    )
    assert sig.to_bytes() == raw[54 + 648 + 4 :]


@pytest.mark.parametrize(("cls", "size"), [(QuoteHeader, 48), (TdReport, 584), (EnclaveReport, 384)])
def test_fixed_size_structures_refuse_other_sizes(
    cls: type[QuoteHeader | TdReport | EnclaveReport], size: int
) -> None:
    raw = quote_bytes("tdx/dcap-qvl/tdx_quote")
    with pytest.raises(ParseError) as info:
        cls.from_bytes(raw[: size - 1])
    assert info.value.structure == cls.__name__
    assert info.value.offset == 0


# ---- bad input ---------------------------------------------------------------------------
# Offsets in dcap-qvl/tdx_quote (v4): signature data size at 632, signature data from 636.
V4 = "dcap-qvl/tdx_quote"
SIG_SIZE_AT = 632
CERT_TYPE_AT = 636 + 128
CERT_SIZE_AT = 636 + 130
AUTH_SIZE_AT = 636 + 582
INNER_TYPE_AT = AUTH_SIZE_AT + 2 + 32
INNER_SIZE_AT = INNER_TYPE_AT + 2
CHAIN_AT = INNER_SIZE_AT + 4


def patched(name: str, offset: int, value: int, size: int) -> bytes:
    raw = bytearray(quote_bytes("tdx/" + name))
    raw[offset : offset + size] = value.to_bytes(size, "little")
    return bytes(raw)


def parse_error(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as info:
        TdxQuote.from_bytes(data)
    assert info.value.structure == "TdxQuote"
    return info.value


def test_offsets_used_below_are_right() -> None:
    raw = quote_bytes("tdx/" + V4)
    assert int.from_bytes(raw[CERT_TYPE_AT : CERT_TYPE_AT + 2], "little") == 6
    assert int.from_bytes(raw[INNER_TYPE_AT : INNER_TYPE_AT + 2], "little") == 5
    assert raw[CHAIN_AT : CHAIN_AT + 27] == b"-----BEGIN CERTIFICATE-----"
    assert parse(V4).pck_chain_offset == CHAIN_AT


def test_sgx_quote_is_not_a_tdx_quote() -> None:
    error = parse_error(quote_bytes("tdx/dcap-qvl/sgx_quote"))
    assert error.field == "header.tee_type"
    assert error.offset == 4
    assert "not a TDX quote" in str(error)
    assert "0x00000000 (SGX)" in str(error)


def test_wrong_tee_type() -> None:
    error = parse_error(patched(V4, 4, 0x82, 4))
    assert (error.field, error.offset) == ("header.tee_type", 4)


@pytest.mark.parametrize("version", [0, 3, 6, 0xFFFF])
def test_wrong_version(version: int) -> None:
    error = parse_error(patched(V4, 0, version, 2))
    assert (error.field, error.offset) == ("header.version", 0)
    assert f"unsupported quote version {version}" in str(error)


def test_attestation_key_type_3_is_refused() -> None:
    error = parse_error(patched(V4, 2, 3, 2))
    assert (error.field, error.offset) == ("header.attestation_key_type", 2)
    assert "P-384" in str(error)


V5 = "go-tdx-guest/quote_v5_sample.dat"


def test_v5_body_type_1_is_sgx() -> None:
    error = parse_error(patched(V5, 48, 1, 2))
    assert (error.field, error.offset) == ("body_type", 48)
    assert "SGX" in str(error)


def test_v5_unknown_body_type() -> None:
    error = parse_error(patched(V5, 48, 4, 2))
    assert (error.field, error.offset) == ("body_type", 48)


@pytest.mark.parametrize(("body_type", "size"), [(3, 584), (2, 648), (3, 0), (3, 0xFFFFFFFF)])
def test_v5_body_size_must_match_type(body_type: int, size: int) -> None:
    data = patched(V5, 48, body_type, 2)
    data = data[:50] + size.to_bytes(4, "little") + data[54:]
    error = parse_error(data)
    assert (error.field, error.offset) == ("body_size", 50)


@pytest.mark.parametrize("size", [4301 + 70, 10**6, 0xFFFFFFFF])
def test_signature_data_size_past_the_end(size: int) -> None:
    error = parse_error(patched(V4, SIG_SIZE_AT, size, 4))
    assert (error.field, error.offset) == ("signature_data_size", SIG_SIZE_AT)
    assert "truncated" in str(error)


def test_v5_signature_data_size_offset() -> None:
    error = parse_error(patched(V5, 54 + 648, 10**6, 4))
    assert (error.field, error.offset) == ("signature_data_size", 702)


def test_signature_data_size_smaller_than_its_content() -> None:
    error = parse_error(patched(V4, SIG_SIZE_AT, 4299, 4))
    assert (error.field, error.offset) == ("signature_data.certification_data_size", CERT_SIZE_AT)


def test_signature_data_size_too_small_for_the_fixed_part() -> None:
    error = parse_error(patched(V4, SIG_SIZE_AT, 100, 4))
    assert (error.field, error.offset) == ("signature_data.attestation_key", 636 + 64)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (0, "0 (unknown)"),
        (1, "1 (PPID_CLEARTEXT)"),
        (2, "2 (PPID_RSA2048_OAEP)"),
        (3, "3 (PPID_RSA3072_OAEP)"),
        (4, "4 (PCK_LEAF_CERT)"),
        (5, "5 (PCK_CERT_CHAIN)"),
        (7, "7 (PLATFORM_MANIFEST)"),
        (0xFFFF, "65535 (unknown)"),
    ],
)
def test_outer_certification_data_type_must_be_6(value: int, name: str) -> None:
    error = parse_error(patched(V4, CERT_TYPE_AT, value, 2))
    assert (error.field, error.offset) == ("signature_data.certification_data_type", CERT_TYPE_AT)
    assert f"certification data type {name} is not supported" in str(error)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (1, "PPID_CLEARTEXT"),
        (2, "PPID_RSA2048_OAEP"),
        (3, "PPID_RSA3072_OAEP"),
        (4, "PCK_LEAF_CERT"),
        (6, "QE_REPORT_CERT_DATA"),
        (7, "PLATFORM_MANIFEST"),
        (8, "unknown"),
    ],
)
def test_inner_certification_data_type_must_be_5(value: int, name: str) -> None:
    error = parse_error(patched(V4, INNER_TYPE_AT, value, 2))
    assert (error.field, error.offset) == ("signature_data.pck_certification_data.type", INNER_TYPE_AT)
    assert f"{value} ({name})" in str(error)


@pytest.mark.parametrize("delta", [-1, 1, 10**6])
def test_certification_data_size_must_equal_its_content(delta: int) -> None:
    error = parse_error(patched(V4, CERT_SIZE_AT, 4166 + delta, 4))
    assert (error.field, error.offset) == ("signature_data.certification_data_size", CERT_SIZE_AT)


def test_qe_auth_data_size_past_the_certification_data() -> None:
    error = parse_error(patched(V4, AUTH_SIZE_AT, 0xFFFF, 2))
    assert (error.field, error.offset) == ("signature_data.qe_auth_data_size", AUTH_SIZE_AT)


def test_qe_auth_data_size_that_fits_but_misaligns_the_rest() -> None:
    error = parse_error(patched(V4, AUTH_SIZE_AT, 33, 2))
    assert error.field.startswith("signature_data.pck_certification_data.")


@pytest.mark.parametrize("size", [3677, 3679, 0, 0xFFFFFFFF])
def test_inner_size_must_fill_the_certification_data(size: int) -> None:
    error = parse_error(patched(V4, INNER_SIZE_AT, size, 4))
    assert (error.field, error.offset) == ("signature_data.pck_certification_data.size", INNER_SIZE_AT)


def _with_chain(name: str, chain: bytes) -> TdxQuote:
    """The quote re-serialized around another chain, so that every size stays consistent."""
    quote = parse(name)
    qe = dataclasses.replace(
        quote.signature_data.qe_certification_data, pck_certification_data=CertificationData(5, chain)
    )
    changed = dataclasses.replace(
        quote, signature_data=dataclasses.replace(quote.signature_data, qe_certification_data=qe)
    )
    return TdxQuote.from_bytes(changed.to_bytes())


def _chain_error(quote: TdxQuote) -> ParseError:
    with pytest.raises(ParseError) as info:
        quote.pck_chain_certificates()
    assert info.value.field == "signature_data.pck_certification_data.data"
    return info.value


def test_a_pem_chain_that_does_not_parse() -> None:
    pem = parse(V4).pck_chain_pem
    broken = pem.replace(b"-----BEGIN CERTIFICATE-----\nMII", b"-----BEGIN CERTIFICATE-----\n!!!", 1)
    error = _chain_error(_with_chain(V4, broken))
    assert error.offset == CHAIN_AT
    assert "PEM certificate chain does not parse" in str(error)


def test_a_chain_that_is_neither_pem_nor_der() -> None:
    error = _chain_error(_with_chain(V4, b"hello, not a certificate"))
    assert error.offset == CHAIN_AT
    assert "neither a PEM chain nor a DER certificate" in str(error)


def test_an_empty_chain() -> None:
    assert "empty" in str(_chain_error(_with_chain(V4, b"")))


def test_a_der_chain_cut_short() -> None:
    der = parse("intel-qvl-synthetic/quote.dat").pck_certification_data.data
    error = _chain_error(_with_chain(V4, der[:-10]))
    assert "runs past the chain" in str(error)


def test_a_der_certificate_with_garbage_inside() -> None:
    error = _chain_error(_with_chain(V4, b"\x30\x03\x02\x01\x00"))
    assert error.offset == CHAIN_AT
    assert "DER certificate does not parse" in str(error)


def test_the_chain_offset_of_a_v5_quote() -> None:
    quote = parse(V5)
    assert quote.pck_chain_offset == 54 + 648 + 4 + 134 + 384 + 64 + 2 + 32 + 6
    raw = quote_bytes("tdx/" + V5)
    assert raw[quote.pck_chain_offset :].startswith(b"-----BEGIN CERTIFICATE-----")


def test_empty_input() -> None:
    error = parse_error(b"")
    assert (error.field, error.offset) == ("header.version", 0)


def test_a_der_chain_with_nul_padding_still_parses() -> None:
    der = parse("intel-qvl-synthetic/quote.dat").pck_certification_data.data
    assert len(_with_chain(V4, der + b"\x00\x00").pck_chain_certificates()) == 3


def test_a_der_certificate_with_an_extension_twice() -> None:
    """cryptography refuses it with DuplicateExtension, not a ValueError: still a ParseError here."""
    der = parse("intel-qvl-synthetic/quote.dat").pck_certification_data.data
    ski, basic_constraints = b"\x06\x03\x55\x1d\x0e", b"\x06\x03\x55\x1d\x13"
    error = _chain_error(_with_chain(V4, der.replace(ski, basic_constraints, 1)))
    assert error.offset == CHAIN_AT
    assert "Duplicate 2.5.29.19 extension" in str(error)
