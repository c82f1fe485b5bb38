"""``ccverify reference create|show|verify``: signed reference values (CoRIM in COSE_Sign1).

Exit codes: 0 ok, 1 the reference values do not verify (signature, key, validity, profile),
2 bad input (unreadable files, malformed CBOR, bad options). One line on error.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ccverify.cli._common import about, emit_json, flatten, guarded, read_file, stdout, table, when
from ccverify.verifier.errors import InputError
from ccverify.verifier.jsonable import JSON_ERRORS, to_jsonable
from ccverify.verifier.timeutil import parse_time, resolve_time

if TYPE_CHECKING:
    # the library loads only when a command runs: `ccverify measure` should not pay for COSE
    from ccverify.verifier.refvalues import (
        ReferenceValues,
        VerifiedCorim,
    )
    from ccverify.verifier.refvalues.model import Expected

app = typer.Typer(
    name="reference",
    help="Create, show and verify signed reference values (CoRIM, COSE_Sign1).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_LIFETIME = timedelta(days=365)


def _load_json(path: Path) -> Any:
    """A measurement JSON: bare, or the ``result`` of ``measure --json``'s envelope."""
    try:
        document = json.loads(read_file(path, "--from", "measurements"))
    except JSON_ERRORS as error:
        detail = "nested too deeply" if isinstance(error, RecursionError) else error
        raise InputError(f"measurements {path}: not JSON ({detail})") from None
    if isinstance(document, dict) and "ccverify" in document and "result" in document:
        if document.get("ok") is not True or not isinstance(document["result"], dict):
            raise InputError(f"measurements {path}: the output of a measure command that failed")
        return document["result"]
    return document


def _rows(rv: ReferenceValues) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("profile", rv.profile),
        ("id", rv.id),
        ("platform", rv.platform),
        ("sequence", rv.sequence),
        ("not_before", rv.not_before),
        ("not_after", rv.not_after),
        ("signer", None if rv.signer is None else rv.signer.name),
    ]
    for value in rv.values:
        shown = [_expected_text(alt) for alt in value.alternatives]
        label = value.name if len(shown) == 1 else f"{value.name} ({len(shown)} alternatives)"
        rows.append((label, " | ".join(shown)))
    return rows


def _expected_text(expected: Expected) -> str:
    from ccverify.verifier.refvalues.model import Digests, RawValue

    if isinstance(expected, Digests):
        return ", ".join(f"{to_jsonable(d)['alg']}:{d.value.hex()}" for d in expected.digests)
    if isinstance(expected, RawValue):
        return expected.value.hex() + ("" if expected.mask is None else f" mask {expected.mask.hex()}")
    return "min " + ".".join(str(m) for m in expected.minimums)


@app.command("create")
def create(
    from_: Annotated[
        list[Path],
        typer.Option(
            "--from",
            metavar="FILE",
            help="Measurement JSON (ccverify measure --json); repeat to accept alternatives (rollouts).",
        ),
    ],
    key: Annotated[Path, typer.Option(metavar="FILE", help="Signing key, PEM (P-256, P-384 or Ed25519).")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="Where to write the signed CoRIM.")],
    not_before: Annotated[
        str | None, typer.Option(metavar="TIME", help="Start of validity, RFC 3339 (default: now).")
    ] = None,
    not_after: Annotated[
        str | None, typer.Option(metavar="TIME", help="End of validity, RFC 3339 (default: not-before + 365 days).")
    ] = None,
    sequence: Annotated[
        int,
        typer.Option(
            min=0, metavar="N", help="Sequence number; verifiers refuse a lower one than they accepted (rollback)."
        ),
    ] = 0,
    id_: Annotated[
        str | None,
        typer.Option("--id", metavar="ID", help="Reference-value set id (default: ccverify-<platform>-reference-values)."),
    ] = None,
    signer: Annotated[
        str, typer.Option(metavar="NAME", help="Signer name recorded in the CoRIM.")
    ] = "ccverify reference values",
    signer_uri: Annotated[str | None, typer.Option(metavar="URI", help="Signer URI recorded in the CoRIM.")] = None,
    alg: Annotated[str | None, typer.Option(metavar="ALG", help="ES256, ES384 or EdDSA (default: from the key).")] = None,
) -> None:
    """Sign measurements as reference values."""

    def run() -> tuple[ReferenceValues, int]:
        from ccverify.verifier.refvalues import Signer, from_measurements, sign_reference_values
        from ccverify.verifier.refvalues.cose import ALGORITHMS, load_private_key

        docs = [_load_json(path) for path in from_]
        start = parse_time(not_before, "--not-before") if not_before is not None else resolve_time(None)
        end = parse_time(not_after, "--not-after") if not_after is not None else start + DEFAULT_LIFETIME
        if end <= start:
            raise InputError("--not-after must be later than --not-before")
        chosen = None
        if alg is not None:
            chosen = {name.lower(): number for number, name in ALGORITHMS.items()}.get(alg.lower())
            if chosen is None:
                raise InputError(f"--alg {alg!r}: use ES256, ES384 or EdDSA")
        platform = docs[0].get("platform") if docs and isinstance(docs[0], dict) else None
        rv = from_measurements(
            docs,
            id=id_ or f"ccverify-{platform}-reference-values",
            sequence=sequence,
            not_before=start,
            not_after=end,
            signer=Signer(signer, signer_uri),
        )
        with about("--key", key):
            signing_key = load_private_key(key)
            signed = sign_reference_values(rv, signing_key, alg=chosen)
        try:
            output.write_bytes(signed)
        except OSError as error:
            raise InputError(f"--output {output}: {error.strerror or error}") from None
        return rv, len(signed)

    rv, size = guarded(run)
    stdout.print(
        f"wrote {output} ({size} bytes): {len(rv.values)} {rv.platform} reference values, "
        f"sequence {rv.sequence}, valid {when(rv.not_before)} .. {when(rv.not_after)}",
        highlight=False,
    )


def _describe(data: bytes) -> dict[str, Any]:
    from ccverify.verifier.refvalues import Signer
    from ccverify.verifier.refvalues.corim import decode_payload, describe_corim
    from ccverify.verifier.refvalues.cose import is_sign1, parse_sign1
    from ccverify.verifier.refvalues.profile import decode, from_corim

    described = describe_corim(data)
    out: dict[str, Any] = {"corim": described}
    try:
        if is_sign1(data):
            envelope = parse_sign1(data)
            header = envelope.header
            signer = None if header.signer is None else Signer(header.signer.name, header.signer.uri)
            out["reference_values"] = from_corim(decode_payload(envelope.payload), signer=signer)
        else:
            out["reference_values"] = decode(data)
    except Exception as error:  # not our profile: the generic view is all there is
        out["reference_values"] = None
        out["profile_error"] = str(error)
    return out


@app.command("show")
def show(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Signed or unsigned CoRIM.")],
    json_out: Annotated[bool, typer.Option("--json", help="Every field as JSON.")] = False,
) -> None:
    """Show reference values (nothing is verified: use `verify`)."""
    described = guarded(
        lambda: _describe(read_file(file, "reference values", "reference_values")), "reference show" if json_out else None
    )
    if json_out:
        emit_json(described, "reference show")
        return
    rv = described.get("reference_values")
    from ccverify.verifier.refvalues import ReferenceValues

    if isinstance(rv, ReferenceValues):
        signed = bool(isinstance(described["corim"], dict) and described["corim"].get("signed"))
        title = f"{file} ({'signed, NOT verified' if signed else 'unsigned'})"
        stdout.print(table(title, _rows(rv)))
    else:
        stdout.print(table(f"{file} (CoRIM, not the ccverify profile)", flatten(described["corim"])))


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Signed CoRIM (COSE_Sign1).")],
    trust_anchor: Annotated[
        list[Path],
        typer.Option(metavar="FILE", help="Public key or X.509 certificate (PEM or DER) trusted to sign; repeatable."),
    ],
    at: Annotated[str | None, typer.Option(metavar="TIME", help="Verification time, RFC 3339 (default: now).")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the verified reference values as JSON.")
    ] = False,
    sequence_store: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="JSON file with the last accepted sequence per id; refuses rollbacks and records. "
            "Its directory must exist (else --init).",
        ),
    ] = None,
    init: Annotated[
        bool, typer.Option("--init", help="Create the --sequence-store's directory if it does not exist.")
    ] = False,
    any_profile: Annotated[
        bool,
        typer.Option(
            "--any-profile",
            help="Check only the signature and validity (a CoRIM of another profile, e.g. Veraison's).",
        ),
    ] = False,
) -> None:
    """Verify the signature, validity and profile of signed reference values; exit 1 if they fail."""

    def run() -> ReferenceValues | VerifiedCorim:
        from ccverify.cli._common import sequence_store as _sequence_store
        from ccverify.verifier.refvalues import (
            load_reference_values,
            load_trust_anchors,
            verify_corim,
        )

        anchors = []
        for path in trust_anchor:
            with about("--trust-anchor", path):
                anchors.extend(load_trust_anchors([path]))
        moment = parse_time(at, "--at") if at is not None else None
        data = read_file(file, "reference values", "reference_values")
        _require_corim(data, file)
        if any_profile:
            if sequence_store is not None:
                raise InputError("--sequence-store: not used with --any-profile (no sequence is read)")
            return verify_corim(data, anchors, at=moment)
        if init and sequence_store is None:
            raise InputError("--init: applies only with --sequence-store")
        store = _sequence_store(sequence_store, init) if sequence_store is not None else None
        return load_reference_values(data, anchors, at=moment, require_signed=True, sequence_store=store)

    rv = guarded(run, "reference verify" if json_out else None)
    from ccverify.verifier.refvalues import VerifiedCorim

    if isinstance(rv, VerifiedCorim):
        if json_out:
            emit_json(
                {"verified": True, "protected": rv.header.describe(), "corim": rv.corim}, "reference verify"
            )
            return
        stdout.print(
            f"OK: {file} verifies (signature and validity only; profile {rv.corim.profile})", highlight=False
        )
        stdout.print(table("CoRIM", flatten(rv.corim)))
        return
    if json_out:
        emit_json({"verified": True, "reference_values": rv}, "reference verify")
        return
    stdout.print(f"OK: {file} verifies", highlight=False)
    stdout.print(table("reference values", _rows(rv)))


def _require_corim(data: bytes, file: Path) -> None:
    """Bytes that are no CoRIM at all are bad input (exit 2), as ``reference show`` says; an
    unsigned CoRIM is a CoRIM that fails verification (``refvalues_unsigned``, exit 1)."""
    from ccverify.verifier.evidence.detect import Kind, detect

    if detect(data) is not Kind.CORIM:
        raise InputError(
            f"{file}: not a CoRIM (expected a signed CoRIM, COSE_Sign1 tag 18, or an unsigned one, tag 501)"
        )
