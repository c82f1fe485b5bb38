"""The README's relying-party demo, run as written (on a free port instead of 8443)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.service.conftest import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def demo_script() -> str:
    section = README.read_text().split("## Relying-party service", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_demo_releases_the_secret(tmp_path: Path) -> None:
    port = str(free_port())
    script = (
        demo_script()
        .replace("8443", port)
        .replace("ccverify serve --init rp", f"ccverify serve --init rp --port {port}")
    )
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr + (tmp_path / "rp" / "log").read_text()
    assert "attestation result: affirming" in done.stdout
    assert "released: device policy: none; secrets: disk-key (15 bytes)" in done.stdout
    assert "luks passphrase" not in done.stdout + (tmp_path / "rp" / "log").read_text()
