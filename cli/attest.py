"""``ccverify attest --relying-party URL EVIDENCE...``: send evidence to a relying party, as a guest
would, and show the answer (operators trying a recorded quote; the README's demo).

EVIDENCE files are recognised by content: a TDX quote or an SNP report, a CCEL/TCG2 event log,
an SNP certificate table (or a PEM with the VCEK and its chain).

- ``--challenge-only --session FILE``: ask for a challenge, make an HPKE key pair, write both to
  FILE (mode 0600) and print the REPORT_DATA a quote must carry (to mint one for it).
- ``EVIDENCE... --session FILE``: attest with that challenge and key.
- ``EVIDENCE...`` alone: a fresh challenge and key. A recorded quote was bound to another
  challenge, so the service refuses it (``report_data_mismatch``) after verifying it.

The result token is checked against the service's JWKS and the challenge; an affirming answer's
release is opened, and the command prints what it holds: the secrets' names and sizes (their
bytes only with ``--release-out DIR``, one file each, mode 0600).
Exit 0 affirming, 1 not affirming or refused, 2 bad input, 3 service unreachable.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ccverify.cli._common import EXIT_FAILED, EXIT_OK, fail, guarded, read_input, stdout
from ccverify.verifier.errors import InputError, exit_code


def attest(
    evidence: Annotated[
        list[Path] | None,
        typer.Argument(help="Evidence files: quote or report, event log, SNP certificates."),
    ] = None,
    relying_party: Annotated[str, typer.Option(help="The service's URL, e.g. https://127.0.0.1:8443.")] = "",
    ca: Annotated[
        Path | None,
        typer.Option(help="CA bundle (PEM) for the service's TLS certificate (the one --init wrote)."),
    ] = None,
    session: Annotated[
        Path | None, typer.Option(help="Challenge and HPKE key file (written by --challenge-only).")
    ] = None,
    challenge_only: Annotated[
        bool,
        typer.Option("--challenge-only", help="Only ask for a challenge and write --session; print the REPORT_DATA to mint."),
    ] = False,
    tee: Annotated[
        str, typer.Option(help="tdx or snp (for --challenge-only; otherwise read from the evidence).")
    ] = "tdx",
    hpke_suite: Annotated[str, typer.Option(help="mlkem768-x25519 (default) or p384.")] = "mlkem768-x25519",
    release_out: Annotated[
        Path | None, typer.Option(help="Write the released secrets (and device policy) into this folder.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the envelope (schema cli/schemas/attest.schema.json).")
    ] = False,
) -> None:
    """Attest to a relying party: challenge, evidence, EAR JWT, sealed release."""
    if not relying_party:
        fail(InputError("--relying-party URL is required"))
    verify: bool | str = str(ca) if ca is not None else True

    def run() -> tuple[dict[str, Any], int]:
        from ccverify.verifier.release import binding, sealing
        from ccverify.verifier.service.client import RelyingPartyClient

        client = RelyingPartyClient(relying_party, verify=verify)
        if challenge_only:
            if session is None:
                raise InputError("--challenge-only needs --session FILE to keep the challenge and key in")
            key = sealing.generate_key(hpke_suite)
            challenge = client.challenge(tee)
            _write_session(session, relying_party, challenge.tee, challenge.nonce, key)
            rd = binding.report_data(challenge.nonce, key.public_bytes)
            return {"session": str(session), "tee": challenge.tee, "expires_at": challenge.expires_at,
                    "report_data": rd.hex()}, EXIT_OK  # fmt: skip
        files = _classify(evidence or [])
        if session is not None:
            nonce, key, kind = _read_session(session)
            if kind != files["tee"]:
                raise InputError(f"--session is a {kind} challenge, the evidence is {files['tee']}")
        else:
            key = sealing.generate_key(hpke_suite)
            nonce = client.challenge(files["tee"]).nonce
        answer = client.attest(nonce, files["evidence"], key, tee=files["tee"], event_log=files.get("event_log"),
                               snp_certs=files.get("snp_certs"))  # fmt: skip
        claims = answer.claims(client.jwks())
        result: dict[str, Any] = {
            "affirming": answer.affirming,
            "ear_status": claims.get("ear_status"),
            "claims": claims,
            "release": None,
        }
        if answer.affirming:
            payload = answer.open(key)
            result["release"] = sealing.describe(payload)
            if release_out is not None:
                _write_release(release_out, payload)
        return result, EXIT_OK if answer.affirming else EXIT_FAILED

    if json_out:
        from ccverify.cli.envelope import emit_envelope

        try:
            result, code = run()
        except Exception as error:
            code = exit_code(error)
            emit_envelope("attest", error=error, exit_code=code)
            raise SystemExit(code) from None
        emit_envelope("attest", result=result, exit_code=code)
        raise SystemExit(code)
    result, code = guarded(run)
    if challenge_only:
        stdout.print(
            f"challenge for {result['tee']} (expires {result['expires_at']}) kept in {result['session']}",
            highlight=False,
        )
        stdout.print(f"REPORT_DATA {result['report_data']}", highlight=False)
    else:
        _print_result(result)
    raise SystemExit(code)


def _print_result(result: dict[str, Any]) -> None:
    claims = result["claims"]
    stdout.print(
        f"attestation result: {result['ear_status']} (affirming: {str(result['affirming']).lower()})",
        highlight=False,
    )
    for name, sub in claims.get("submods", {}).items():
        stdout.print(f"  {name}: {json.dumps(sub.get('ear_trustworthiness_vector'))}", highlight=False)
        for reason in sub.get("ccverify_reasons", []):
            if reason.get("code") != "ok":
                stdout.print(
                    f"    {reason.get('claim')}: {reason.get('code')}: {reason.get('detail')}",
                    highlight=False,
                )
    release = result["release"]
    if release is not None:
        policy = "none" if release["device_policy"] is None else f"{release['device_policy']} bytes"
        stdout.print(f"released: device policy: {policy}; secrets: "
                     + (", ".join(f"{n} ({s} bytes)" for n, s in release["secrets"].items()) or "none"), highlight=False)  # fmt: skip


def _classify(paths: list[Path]) -> dict[str, Any]:
    from ccverify.verifier.evidence.detect import Kind, detect

    found: dict[str, Any] = {}

    def put(key: str, value: Any, path: Path) -> None:
        if key in found:
            raise InputError(f"{path}: a second {key.replace('_', ' ')} among the evidence files")
        found[key] = value

    for path in paths:
        data = read_input(path, "evidence")
        kind = detect(data)
        if kind is Kind.TDX_QUOTE:
            put("evidence", data, path)
            put("tee", "tdx", path)
        elif kind is Kind.SNP_REPORT:
            put("evidence", data, path)
            put("tee", "snp", path)
        elif kind is Kind.EVENT_LOG:
            put("event_log", data, path)
        elif kind is Kind.SNP_CERT_TABLE or data.lstrip().startswith(b"-----BEGIN CERTIFICATE"):
            put("snp_certs", data, path)
        else:
            raise InputError(
                f"{path}: not a quote, report, event log or SNP certificates (looks like {kind.value})"
            )
    if "evidence" not in found:
        raise InputError("no TDX quote or SNP report among the evidence files")
    return found


def _write_session(path: Path, url: str, tee: str, nonce: bytes, key: Any) -> None:
    document = {
        "relying_party": url, "tee": tee, "nonce": base64.b64encode(nonce).decode(), "hpke_suite": key.suite,
        "hpke_private_key": base64.b64encode(key.private_bytes).decode(),
        "hpke_public_key": base64.b64encode(key.public_bytes).decode(),
    }  # fmt: skip
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out, indent=1)


def _read_session(path: Path) -> tuple[bytes, Any, str]:
    from ccverify.verifier.jsonable import JSON_ERRORS
    from ccverify.verifier.release.sealing import ReleaseKey

    try:
        document = json.loads(path.read_bytes())
        nonce = base64.b64decode(document["nonce"], validate=True)
        key = ReleaseKey.from_private_bytes(
            document["hpke_suite"], base64.b64decode(document["hpke_private_key"], validate=True)
        )
        tee = str(document["tee"])
    except OSError as error:
        raise InputError(f"--session {path}: {error.strerror or error}") from None
    except (*JSON_ERRORS, KeyError, TypeError, ValueError):
        raise InputError(f"--session {path}: not a session file written by --challenge-only") from None
    return nonce, key, tee


def _write_release(directory: Path, payload: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    items = dict(payload.secrets)
    if payload.device_policy is not None:
        items["device-policy.cose"] = payload.device_policy
    for name, value in items.items():
        if not name or name.startswith(".") or "/" in name or "\\" in name:
            raise InputError(f"released secret name {name!r} is not a plain file name")
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(value)
