"""schemathesis (bounded) against the service's own OpenAPI document, served by real uvicorn:
whatever it generates (malformed JSON, base64, types, sizes, names), never a 5xx."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ccverify.verifier.service.client import RelyingPartyClient
from tests.service.conftest import make_config, provision, start

MAX_EXAMPLES = os.environ.get("CCVERIFY_SCHEMATHESIS_EXAMPLES", "25")


def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    config, token = make_config(tmp_path / "rp")
    running = start(config)
    try:
        provision(RelyingPartyClient(running.url, admin_token=token))
        executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
        run = subprocess.run(
            [
                executable,
                "run",
                running.url + "/openapi.json",
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples",
                MAX_EXAMPLES,
                "--seed",
                "20261206",
                "--header",
                f"Authorization: Bearer {token}",
            ],
            capture_output=True,
            cwd=tmp_path,  # its cache (.schemathesis/) goes there, not into the checkout
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert "Traceback" not in running.log.read_text()
    finally:
        running.stop()
