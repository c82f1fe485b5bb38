"""The policy file (#11 §3): one schema (``verifier/schemas/policy.schema.json``), one reader
(``verifier/policy.py``) for both platforms; shapes that would drop a check are refused.

Every example below is checked twice: by the reader and by the JSON Schema, which must agree."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from ccverify.cli.app import app
from ccverify.verifier.errors import InputError
from ccverify.verifier.policy import read_policy_document
from ccverify.verifier.snp.validate import SnpPolicy
from ccverify.verifier.tdx.validate import TdxPolicy
from tests.cli_json import envelope, envelope_result
from tests.conftest import REPO
from tests.sample_args import SNP, TDX

SCHEMA = json.loads((REPO / "verifier" / "schemas" / "policy.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
H48 = "ab" * 48
TDX_LISTS = [
    "mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrseam", "mrsignerseam", "mrconfigid", "mrowner",
    "mrownerconfig", "mrservicetd", "report_data",
]  # fmt: skip
SNP_LISTS = [
    "measurement", "host_data", "report_data", "family_id", "image_id", "id_key_digest", "author_key_digest",
]  # fmt: skip

ACCEPTED: list[Any] = [
    {"tdx": {}},
    {"snp": {}},
    {"tdx": {"mrtd": H48}},
    {"tdx": {"mrtd": [H48, "0x" + H48], "rtmr0": H48, "report_data": "00" * 64}},
    {"tdx": {"accepted_tcb_statuses": ["UpToDate", "SWHardeningNeeded"], "require_sept_ve_disable": True}},
    {"tdx": {"accepted_tcb_statuses": "OutOfDate", "allow_unchecked_revocation": True, "allow_debug": False}},
    {"tdx": {"xfam": "e702060000000000", "xfam_mask": "ff" * 8, "td_attributes": "0000001000000000"}},
    {"tdx": {"min_tee_tcb_svn": "06010300000000000000000000000000", "min_tcb_date": "2024-03-13T00:00:00Z"}},
    {"tdx": {"min_tcb_date": "2024-03-13", "min_tcb_evaluation_data_number": 17}},
    {"tdx": {"accepted_advisory_ids": [], "rejected_advisory_ids": ["INTEL-SA-00837"]}},
    {"tdx": {"accepted_advisory_ids": "INTEL-SA-00837"}},
    {"snp": {"measurement": H48, "host_data": ["00", "0x01"], "report_data": ""}},
    {"snp": {"report_id": "00" * 32, "chip_id": "0x" + "11" * 64}},
    {"snp": {"vmpl": 0, "maximum_vmpl": "3", "minimum_guest_svn": "0x10", "minimum_build": 3}},
    {"snp": {"minimum_tcb": {"bl_spl": 3, "snp_spl": "8"}, "minimum_launch_tcb": {"fmc_spl": 0}}},
    {"snp": {"minimum_abi": "1.51", "minimum_version": [1, 55], "allow_smt": False, "allow_cxl": True}},
    {"snp": {"platform_info_required": ["TSME_EN"], "platform_info_forbidden": "smt_en"}},
    {"snp": {"signing_key": "VCEK", "products": ["Milan-B0", "genoa"]}},
    {"snp": {"require_id_block": True, "id_key_digest": [H48]}},
    {"snp": {"require_author_key": False, "permit_provisional_firmware": True}},
    {"tdx": {"mrtd": H48}, "snp": {"measurement": H48}},
]

REFUSED: list[tuple[Any, str]] = [
    # the shapes: empty or null allow-lists, on both platforms
    *[({"tdx": {key: []}}, key) for key in TDX_LISTS],
    *[({"tdx": {key: None}}, key) for key in TDX_LISTS],
    *[({"snp": {key: []}}, key) for key in SNP_LISTS],
    *[({"snp": {key: None}}, key) for key in SNP_LISTS],
    ({"tdx": {"accepted_tcb_statuses": []}}, "accepted_tcb_statuses"),
    ({"tdx": {"rejected_advisory_ids": []}}, "rejected_advisory_ids"),
    ({"snp": {"products": []}}, "products"),
    ({"snp": {"platform_info_required": []}}, "platform_info_required"),
    ({"snp": {"minimum_tcb": {}}}, "minimum_tcb"),
    ({"tdx": {"min_tcb_date": None}}, "min_tcb_date"),
    ({"snp": {"vmpl": None}}, "vmpl"),
    # unknown keys, at every level
    ({"snp": {}, "TDX": {"mrtd": H48}}, "TDX"),
    ({"TDX": {"mrtd": H48}}, "TDX"),
    ({"mrtd": H48}, "mrtd"),
    ({"tdx": {"MRTD": H48}}, "MRTD"),
    ({"snp": {"measurment": H48}}, "measurment"),
    ({"snp": {"minimum_tcb": {"microcode": 1}}}, "microcode"),
    # the sections and the document
    ({}, "no 'tdx' or 'snp'"),
    ([], "expected a JSON object"),
    ({"tdx": None}, "'tdx' must be a JSON object"),
    ({"snp": []}, "'snp' must be a JSON object"),
    # values
    ({"tdx": {"mrtd": "ab" * 47}}, "mrtd"),
    ({"tdx": {"mrtd": "ab cd" + "ab" * 46}}, "mrtd"),
    ({"tdx": {"mrtd": 5}}, "mrtd"),
    ({"tdx": {"accepted_tcb_statuses": ["Fine"]}}, "accepted_tcb_statuses"),
    ({"tdx": {"allow_debug": "yes"}}, "allow_debug"),
    ({"tdx": {"xfam_mask": "ff" * 8}}, "xfam_mask"),
    ({"tdx": {"min_tcb_date": "yesterday"}}, "min_tcb_date"),
    ({"tdx": {"min_tcb_date": "20240313"}}, "min_tcb_date"),
    ({"tdx": {"min_tcb_evaluation_data_number": -1}}, "min_tcb_evaluation_data_number"),
    ({"tdx": {"min_tcb_evaluation_data_number": "17"}}, "min_tcb_evaluation_data_number"),
    ({"tdx": {"rejected_advisory_ids": [1]}}, "rejected_advisory_ids"),
    ({"snp": {"measurement": "00" * 49}}, "measurement"),
    ({"snp": {"report_id": "00"}}, "report_id"),
    ({"snp": {"vmpl": 4}}, "vmpl"),
    ({"snp": {"vmpl": " 1"}}, "vmpl"),
    ({"snp": {"minimum_build": "1_000"}}, "minimum_build"),
    ({"snp": {"minimum_tcb": {"ucode_spl": 256}}}, "ucode_spl"),
    ({"snp": {"minimum_version": "one"}}, "minimum_version"),
    ({"snp": {"platform_info_required": ["NOPE"]}}, "platform_info_required"),
    ({"snp": {"platform_info_required": ["Smt_En"]}}, "platform_info_required"),
    ({"snp": {"signing_key": "vcek2"}}, "signing_key"),
    ({"snp": {"products": ["Naples"]}}, "products"),
    ({"snp": {"require_id_block": True}}, "id_key_digest"),
    ({"snp": {"require_author_key": True, "id_key_digest": H48}}, "author_key_digest"),
    ({"snp": {"allow_debug": 0}}, "allow_debug"),
]


@pytest.mark.parametrize("document", ACCEPTED, ids=[json.dumps(d)[:60] for d in ACCEPTED])
def test_accepted_by_the_reader_and_the_schema(document: Any) -> None:
    read_policy_document(document)
    VALIDATOR.validate(document)


@pytest.mark.parametrize(("document", "named"), REFUSED, ids=[json.dumps(d)[:60] for d, _ in REFUSED])
def test_refused_by_the_reader_and_the_schema(document: Any, named: str) -> None:
    with pytest.raises(InputError) as refused:
        read_policy_document(document)
    assert named in str(refused.value)
    assert not VALIDATOR.is_valid(document), "the schema accepts what the reader refuses"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InputError) as refused:
        read_policy_document({"tdx": {"mrtd": [], "rtmr1": None}, "snp": {"measurement": []}, "TDX": {}})
    text = str(refused.value)
    for part in ("TDX", "mrtd", "rtmr1", "measurement"):
        assert part in text


def test_the_schema_names_every_policy_field_and_nothing_else() -> None:
    defs = SCHEMA["$defs"]
    assert set(defs["tdx"]["properties"]) == {f.name for f in fields(TdxPolicy)}
    assert set(defs["snp"]["properties"]) == {f.name for f in fields(SnpPolicy)}
    assert SCHEMA["additionalProperties"] is False
    assert defs["tdx"]["additionalProperties"] is False and defs["snp"]["additionalProperties"] is False


def test_the_readme_shows_the_schemas_keys() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Policy file", 1)[1].split("\n### ", 1)[0]
    assert "verifier/schemas/policy.schema.json" in section
    for platform in ("tdx", "snp"):
        for key in SCHEMA["$defs"][platform]["properties"]:
            assert re.search(rf"\b{key}\b", section), f"README's Policy file section lacks {platform}.{key}"


def test_a_whole_document_given_to_a_platform_reader_is_read_whole() -> None:
    assert TdxPolicy.from_json({"tdx": {"mrtd": H48}, "snp": {}}) == TdxPolicy(mrtd=bytes.fromhex(H48))
    with pytest.raises(InputError, match="measurement"):
        TdxPolicy.from_json({"tdx": {"mrtd": H48}, "snp": {"measurement": []}})


# -- through the command line, both platforms ------------------------------------------------------


def run_with(tmp_path: Path, args: list[str], policy: Any) -> Any:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    return CliRunner().invoke(app, [*args, "--policy", str(path)])


@pytest.mark.parametrize("args", [TDX, SNP], ids=["tdx-quote", "snp-report"])
@pytest.mark.parametrize(
    ("policy", "named"),
    [
        ({"tdx": {"mrtd": []}}, "mrtd"),
        ({"tdx": {"mrtd": None}}, "mrtd"),
        ({"tdx": {"rtmr2": []}}, "rtmr2"),
        ({"tdx": {"report_data": None}}, "report_data"),
        ({"snp": {"measurement": []}}, "measurement"),
        ({"snp": {"measurement": None}}, "measurement"),
        ({"snp": {}, "TDX": {"mrtd": H48}}, "TDX"),
        ({"TDX": {}}, "TDX"),
    ],
)
def test_the_command_refuses_the_policy_on_either_platform(
    tmp_path: Path, args: list[str], policy: Any, named: str
) -> None:
    """Whatever the evidence, the whole file is read: exit 2, naming the key."""
    result = run_with(tmp_path, args, policy)
    assert result.exit_code == 2, result.output
    assert named in result.output and "--policy" in result.output
    assert "Traceback" not in result.output


def test_a_refusal_lists_every_violation_in_json(tmp_path: Path) -> None:
    policy = {"tdx": {"mrtd": "00" * 48, "rtmr0": "00" * 48}}
    result = run_with(tmp_path, [*TDX, "--json"], policy)
    assert result.exit_code == 1
    shown = envelope(result.stdout, "verify")["result"]
    assert shown["policy_error"]["code"] == "mrtd_mismatch"
    assert [v["code"] for v in shown["policy_error"]["violations"]] == ["mrtd_mismatch", "rtmr0_mismatch"]
    table = run_with(tmp_path, TDX, policy)
    assert table.exit_code == 1
    assert "rtmr0_mismatch" in table.stderr and "(2 policy violations)" in table.stderr


@pytest.mark.parametrize("args", [TDX, SNP], ids=["tdx-quote", "snp-report"])
def test_a_good_policy_file_is_applied(tmp_path: Path, args: list[str]) -> None:
    policy = {"tdx": {"accepted_tcb_statuses": ["UpToDate", "SWHardeningNeeded"]}, "snp": {"allow_smt": True}}
    accepted = run_with(tmp_path, [*args, "--json"], policy)
    assert accepted.exit_code == 0, accepted.output
    assert envelope_result(accepted.stdout, "verify")["verdict"]["policy"] == "custom"
