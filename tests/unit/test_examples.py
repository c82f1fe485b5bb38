"""The README's Library examples (``tests/examples/*.py``) run on the shipped sample, use only
the public API (``ccverify.verifier`` and ``ccverify.measurements`` themselves, no module below
them), and are named in the README; ``.ci/typecheck`` holds them to ``mypy --strict``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, fixture

EXAMPLES = REPO / "tests" / "examples"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.py"))
MEASURE_ARGS = [
    str(fixture("ovmf/ovmf_AmdSev_suffix.bin")),
    str(fixture("measure/debian-ovmf/OVMF.fd.trixie-2025.02-8+deb13u1")),
]
#: what each prints, in part
EXPECTED = {
    "verify_tdx": ["status UpToDate, policy default, production root False", "fmspc b0c06f000000"],
    "verify_snp": ["product MILAN, key VCEK, policy default"],
    "appraise": ["hardware: ok: evidence verified and accepted by the policy", "EAR status: affirming"],
    "measure": ["snp measurement ", "tdx mrtd ", "format ccverify-measurements/1"],
    "handle_errors": [
        "as is: verified",
        "forged: bad signature (quote_signature_invalid)",
        "much later: expired (certificate_expired)",
        "no collateral: collateral unavailable (https://api.trustedservices.intel.com/",
        "not a quote: bad input (TdxQuote.header.tee_type",
        "policy: [('mrtd_mismatch'",
    ],
}


def test_every_example_is_expected_and_named_in_the_readme() -> None:
    assert set(NAMES) == set(EXPECTED)
    readme = (REPO / "README.md").read_text()
    for name in NAMES:
        assert f"tests/examples/{name}.py" in readme


@pytest.mark.parametrize("name", NAMES)
def test_the_example_runs_on_the_shipped_sample(name: str, tmp_path: Path) -> None:
    args = MEASURE_ARGS if name == "measure" else []
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # nothing relative to the repository's root
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for line in EXPECTED[name]:
        assert line in done.stdout, done.stdout


@pytest.mark.parametrize("name", NAMES)
def test_the_example_uses_only_the_public_api(name: str) -> None:
    tree = ast.parse((EXAMPLES / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ccverify"):
            assert node.module == "ccverify", ast.unparse(node)
            assert {alias.name for alias in node.names} <= {"verifier", "measurements"}, ast.unparse(node)
        elif isinstance(node, ast.Import):
            assert not any(alias.name.startswith("ccverify") for alias in node.names), ast.unparse(node)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("verifier", "measurements")
        ):
            assert not node.attr.startswith("_"), ast.unparse(node)
