"""The version constant is pyproject's, and what --version and the EAR's verifier-id report."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ccverify.cli.app import version
from ccverify.verifier.result import VERIFIER_ID
from ccverify.verifier.version import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_version_constant_is_pyprojects() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]


def test_version_is_reported() -> None:
    assert version() == __version__
    assert VERIFIER_ID["build"] == f"ccverify {__version__}"
