"""``ccverify guest evidence [--nonce HEX] -o DIR``: write the guest's own evidence, for operators.

The command function is ``evidence``; it belongs to the ``guest`` group (``cli/guest.py``,
registered as ``app.command("evidence")(guest_evidence.evidence)``). ``make_provider``
(``cli/guest_providers.py``, without typer) turns the
``--evidence-provider`` choice into a provider, for ``guest authorize`` too:

* ``auto`` (default): configfs-tsm when present, else ``/dev/sev-guest``; ``/dev/tdx_guest``
  alone is refused (it yields a TD report, not a quote);
* ``configfs``, ``sev-guest``: that interface only;
* ``example``: no TEE needed. Quotes minted by the project's example PKI for the requested
  REPORT_DATA (as ``ccverify example tdx-quote``), the shipped sample's event log in place of
  the CCEL, and collateral valid from now for 30 days. It says loudly that it is not hardware
  (stderr, ``hardware: false``, the provider's name), and a verifier accepts it only where
  ``EXAMPLE-ROOT-NOT-TRUSTED-intel.pem`` is named explicitly. It lives here, in the CLI,
  because production layers never import ``verifier.testing``.

REPORT_DATA: ``--nonce`` is 1-64 bytes of hex, written as given when 64 bytes, zero-padded on
the right when shorter; without it, 64 random bytes. The files written (a folder that is not
empty is refused unless ``--force``): ``tdx-quote.dat`` or ``snp-report.bin``, ``snp-cert-table.bin``
(SNP certificates, when the host gave them), ``tdx-event-log.bin`` (the CCEL),
``rtmr3-events.bin`` (ccverify's own log of run-time RTMR3 extends, when ``--run-dir`` has one),
``tdx-collateral.json`` (example only) and ``evidence.json`` (what ``--json`` prints as
``result``; schema ``cli/schemas/guest-evidence.schema.json``).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ccverify.cli._common import emit_json, guarded, stdout
from ccverify.cli._hex import parse_hex

# the providers live without typer (the console entry's guest fast path runs them); here for
# this command and for what imported them from here
from ccverify.cli.guest_providers import (
    EVIDENCE_PROVIDERS,
    NOT_HARDWARE,
    ExampleEvidenceProvider,
    make_provider,
)

if TYPE_CHECKING:
    from ccverify.verifier.release.guest import GuestEvidence

__all__ = [
    "EVIDENCE_PROVIDERS", "NOT_HARDWARE", "ExampleEvidenceProvider", "evidence", "make_provider", "write_evidence",
]  # fmt: skip
COMMAND = "guest evidence"


def write_evidence(
    got: GuestEvidence, directory: Path, *, rtmr3_log: bytes | None, force: bool, at: datetime
) -> dict[str, Any]:
    """Write the files for ``got`` into ``directory``; the result object (also ``evidence.json``)."""
    import json

    from ccverify.verifier.errors import InputError
    from ccverify.verifier.jsonable import to_jsonable

    if directory.is_dir() and not force and any(directory.iterdir()):
        raise InputError(f"{directory} is not empty: choose an empty or new folder, or pass --force")
    directory.mkdir(parents=True, exist_ok=True)
    names = {
        "evidence": "tdx-quote.dat" if got.tee == "tdx" else "snp-report.bin",
        "aux_blob": "snp-cert-table.bin" if got.aux_blob else None,
        "event_log": "tdx-event-log.bin" if got.event_log else None,
        "rtmr3_log": "rtmr3-events.bin" if rtmr3_log else None,
        "collateral": "tdx-collateral.json" if got.collateral else None,
    }
    contents = {
        "evidence": got.evidence,
        "aux_blob": got.aux_blob,
        "event_log": got.event_log,
        "rtmr3_log": rtmr3_log,
        "collateral": got.collateral,
    }
    for key, name in names.items():
        content = contents[key]
        if name is not None and content is not None:
            (directory / name).write_bytes(content)
    result: dict[str, Any] = {
        "directory": str(directory),
        "tee": got.tee,
        "provider": got.provider_name,
        "hardware": got.hardware,
        "report_data": got.report_data,
        "acquired_at": at,
        "files": names,
        "warning": None if got.hardware else NOT_HARDWARE,
    }
    (directory / "evidence.json").write_text(json.dumps(to_jsonable(result), indent=2) + "\n")
    return result


def evidence(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write the evidence into.")],
    nonce: Annotated[
        str | None,
        typer.Option(
            "--nonce",
            help="REPORT_DATA as hex: 64 bytes as given, 1-63 bytes zero-padded (default: 64 random bytes).",
        ),
    ] = None,
    evidence_provider: Annotated[
        str,
        typer.Option(
            "--evidence-provider",
            help="auto (configfs-tsm, else /dev/sev-guest), configfs, sev-guest, or example "
            "(minted by the example PKI: NOT hardware).",
        ),
    ] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Write into a folder that is not empty.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON envelope (see README).")
    ] = False,
    run_dir: Annotated[
        Path, typer.Option("--run-dir", help="Where guest authorize keeps rtmr3-events.bin.")
    ] = Path("/run/ccverify"),
    configfs_root: Annotated[Path | None, typer.Option("--configfs-root", hidden=True)] = None,
    sysfs_root: Annotated[Path | None, typer.Option("--sysfs-root", hidden=True)] = None,
    dev_root: Annotated[Path | None, typer.Option("--dev-root", hidden=True)] = None,
) -> None:
    """Get this guest's own evidence (quote or report, certificates, event logs) and write it to a folder."""

    def work() -> dict[str, Any]:
        from datetime import UTC

        from ccverify.verifier.release.guest import BLOB_MAX, REPORT_DATA_SIZE, FileOps, report_data_from
        from ccverify.verifier.release.rtmr3 import LOG_NAME

        if evidence_provider not in EVIDENCE_PROVIDERS:
            from ccverify.verifier.errors import InputError

            raise InputError(
                f"--evidence-provider: one of {', '.join(EVIDENCE_PROVIDERS)}, got {evidence_provider!r}"
            )
        if output.is_dir() and not force and any(output.iterdir()):
            from ccverify.verifier.errors import InputError

            raise InputError(f"{output} is not empty: choose an empty or new folder, or pass --force")
        if nonce is None:
            report_data = secrets.token_bytes(REPORT_DATA_SIZE)
        else:
            report_data = report_data_from(parse_hex(nonce, "--nonce", max_size=REPORT_DATA_SIZE))
        now = datetime.now(UTC).replace(microsecond=0)
        provider = make_provider(
            evidence_provider, now=now, configfs_root=configfs_root, sysfs_root=sysfs_root, dev_root=dev_root
        )
        got = provider.get(report_data)
        log_path = run_dir / LOG_NAME
        rtmr3_log = FileOps().read(log_path, BLOB_MAX) if got.tee == "tdx" and log_path.is_file() else None
        return write_evidence(got, output, rtmr3_log=rtmr3_log, force=force, at=now)

    result = guarded(work, COMMAND if json_output else None)
    if json_output:
        emit_json(result, COMMAND)
        return
    stdout.print(f"{result['tee']} evidence from {result['provider']}", highlight=False)
    for name in result["files"].values():
        if name is not None:
            stdout.print(str(output / name), highlight=False)
    stdout.print(str(output / "evidence.json"), highlight=False)
