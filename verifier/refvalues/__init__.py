"""Signed reference values: a CoRIM profile for TDX and SEV-SNP boot configurations.

```python
from ccverify.verifier.refvalues import load_reference_values, sign_reference_values
rv = load_reference_values(Path("rv.cbor"), [Path("signer.pub.pem")], at=now)   # ReferenceValues
rv.accepts("mrtd", quote.body.mr_td)
```

- ``load_reference_values`` verifies a COSE_Sign1 CoRIM against trust anchors (PEM/DER public
  keys or X.509 certificates) at time ``at``, checks the validity windows and the profile,
  optionally the sequence number against a ``SequenceStore``, and returns the model.
- ``sign_reference_values`` encodes and signs (ES256, ES384 or EdDSA, from the key type).
- ``encode``/``decode`` are the unsigned CoRIM codec (no signature involved).
- ``example_reference_values()`` is a fixed TDX example for documentation and tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ccverify.verifier.errors import Code, VerificationError
from ccverify.verifier.inputs import Source, read_source, refuse
from ccverify.verifier.refvalues import cose
from ccverify.verifier.timeutil import resolve_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ccverify.verifier.refvalues import corim as _corim
    from ccverify.verifier.refvalues.model import (
        SHA256,
        SHA384,
        SHA512,
        Digest,
        Digests,
        Environment,
        MinSvns,
        RawValue,
        ReferenceValue,
        ReferenceValues,
        Signer,
    )
    from ccverify.verifier.refvalues.profile import (
        PROFILE_ID,
        FileSequenceStore,
        MemorySequenceStore,
        SequenceStore,
        check_sequence,
        from_corim,  # noqa: F401 (importable before, not in __all__)
        from_measurements,
    )

# Names load on first use: the device gate (stage 1 of the initramfs hook) needs only cose and
# load_trust_anchors here, not the CoRIM codec and profile (a third of its library imports).
_LAZY = {
    **dict.fromkeys(
        ("SHA256", "SHA384", "SHA512", "Digest", "Digests", "Environment", "MinSvns", "RawValue",
         "ReferenceValue", "ReferenceValues", "Signer"),
        "ccverify.verifier.refvalues.model",
    ),
    **dict.fromkeys(
        ("PROFILE_ID", "FileSequenceStore", "MemorySequenceStore", "SequenceStore", "check_sequence",
         "from_corim", "from_measurements"),
        "ccverify.verifier.refvalues.profile",
    ),
}  # fmt: skip

_KEY_TYPES = (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)
TrustAnchorSource = Source | cose.PublicKey | cose.TrustAnchor
TrustAnchors = TrustAnchorSource | Sequence[TrustAnchorSource]

__all__ = [
    "PROFILE_ID",
    "SHA256",
    "SHA384",
    "SHA512",
    "Digest",
    "Digests",
    "Environment",
    "FileSequenceStore",
    "MemorySequenceStore",
    "MinSvns",
    "RawValue",
    "ReferenceValue",
    "ReferenceValues",
    "SequenceStore",
    "Signer",
    "VerifiedCorim",
    "check_sequence",
    "decode",
    "encode",
    "example_reference_values",
    "from_measurements",
    "load_reference_values",
    "load_trust_anchors",
    "sign_reference_values",
    "verify_corim",
]


def encode(rv: ReferenceValues) -> bytes:
    """The unsigned CoRIM (``#6.501``) bytes of ``rv``."""
    from ccverify.verifier.refvalues.profile import encode as _encode

    return _encode(rv)


def decode(data: bytes) -> ReferenceValues:
    """Reference values from unsigned CoRIM bytes. Nothing is verified: use ``load_reference_values``."""
    from ccverify.verifier.refvalues.profile import decode as _decode

    return _decode(data)


def load_trust_anchors(sources: TrustAnchors) -> list[cose.TrustAnchor]:
    """Trust anchors from one source or a list of them: PEM/DER keys or certificates as bytes or
    files (``os.PathLike``), or key objects. A ``str`` (a PEM text or a file name?) is refused."""
    if isinstance(sources, str):
        raise refuse(sources, "trust anchor", "load_trust_anchors")
    if isinstance(sources, (bytes, bytearray, memoryview, os.PathLike, cose.TrustAnchor, *_KEY_TYPES)):
        return [cose.load_trust_anchor(sources)]
    return [cose.load_trust_anchor(s) for s in sources]


def _read(data_or_path: object) -> bytes:
    return read_source(data_or_path, "reference_values", "reference values", "load_reference_values")[0]


@dataclass(frozen=True)
class VerifiedCorim:
    """A CoRIM whose COSE_Sign1 signature and validity windows were checked (any profile)."""

    corim: _corim.Corim
    header: cose.ProtectedHeader
    anchor: cose.TrustAnchor


def verify_corim(
    data: bytes, trust_anchors: TrustAnchors, *, at: datetime | str | None = None
) -> VerifiedCorim:
    """Check a signed CoRIM of any profile; the profile itself is not checked.

    Checks: signature, key, algorithm, content type, both validity windows (corim-meta or CWT
    claims, and rim-validity).
    """
    from ccverify.verifier.refvalues import corim as _corim

    moment = resolve_time(at)
    if not cose.is_sign1(data):
        raise VerificationError(
            Code.REFVALUES_UNSIGNED,
            "the reference values are not signed (expected a COSE_Sign1 CoRIM, tag 18)",
        )
    envelope = cose.parse_sign1(data)
    verified = cose.verify(envelope, load_trust_anchors(trust_anchors), at=moment)
    corim = _corim.decode_payload(envelope.payload)
    if corim.validity is not None:
        cose.check_window(
            corim.validity.not_before, corim.validity.not_after, moment, "reference values (rim-validity)"
        )
    return VerifiedCorim(corim, envelope.header, verified.anchor)


def load_reference_values(
    data_or_path: Source,
    trust_anchors: TrustAnchors,
    *,
    at: datetime | str | None = None,
    require_signed: bool = True,
    sequence_store: SequenceStore | None = None,
) -> ReferenceValues:
    """Verify and decode signed reference values (see the module docstring for the checks).

    ``data_or_path`` is the CoRIM's bytes or its file (``os.PathLike``); ``trust_anchors`` one
    anchor or a list (``load_trust_anchors``). A ``str`` is refused for either (``InputError``),
    and so is a value of another type, before anything is read.

    ``require_signed=False`` also accepts an unsigned CoRIM (tag 501); its rim-validity is still
    checked. ``sequence_store`` enables rollback protection (``refvalues_rollback``); only a
    signed set is recorded in it (an unsigned one with a high sequence number must not lock
    out the signed sets that follow).
    """
    from ccverify.verifier.refvalues.model import Signer
    from ccverify.verifier.refvalues.profile import check_sequence, from_corim
    from ccverify.verifier.refvalues.profile import decode as _decode

    anchors = load_trust_anchors(trust_anchors)  # their types checked, and read, up front
    data = _read(data_or_path)
    moment = resolve_time(at)
    signed = cose.is_sign1(data) or require_signed
    if signed:
        verified = verify_corim(data, anchors, at=moment)
        header = verified.header
        signer = None if header.signer is None else Signer(header.signer.name, header.signer.uri)
        rv = from_corim(verified.corim, signer=signer)
    else:
        rv = _decode(data)
        cose.check_window(rv.not_before, rv.not_after, moment, "reference values (rim-validity)")
    if sequence_store is not None:
        check_sequence(sequence_store, rv, record=signed)
    return rv


def sign_reference_values(
    rv: ReferenceValues,
    key: cose.PrivateKey | Source,
    *,
    alg: int | None = None,
) -> bytes:
    """A COSE_Sign1 CoRIM: the payload is ``encode(rv)``; corim-meta carries signer and validity."""
    from ccverify.verifier.refvalues.model import Signer
    from ccverify.verifier.refvalues.profile import encode as _encode

    private = cose.load_private_key(key)
    signer = rv.signer or Signer("ccverify reference values")
    return cose.sign(
        _encode(rv),
        private,
        signer=cose.Signer(signer.name, signer.uri),
        alg=alg,
        not_before=rv.not_before,
        not_after=rv.not_after,
    )


def example_reference_values() -> ReferenceValues:
    """A fixed TDX example (made-up digests) for documentation and tests; sign it with a test key."""
    from ccverify.verifier.refvalues.model import (
        SHA384,
        Digest,
        Digests,
        Environment,
        MinSvns,
        RawValue,
        ReferenceValue,
        ReferenceValues,
        Signer,
    )
    from ccverify.verifier.refvalues.profile import PROFILE_ID

    env = Environment.platform("tdx")
    values = [
        ReferenceValue("mrtd", env, (Digests((Digest(SHA384, bytes.fromhex("11" * 48)),)),)),
        ReferenceValue(
            "rtmr1",
            env,
            (
                Digests((Digest(SHA384, bytes.fromhex("22" * 48)),)),
                Digests((Digest(SHA384, bytes.fromhex("23" * 48)),)),  # rollout: new kernel
            ),
        ),
        ReferenceValue("rtmr2", env, (Digests((Digest(SHA384, bytes.fromhex("33" * 48)),)),)),
        ReferenceValue("xfam", env, (RawValue(bytes.fromhex("e718060000000000")),)),
        ReferenceValue(
            "td_attributes",
            env,
            (RawValue(bytes.fromhex("0000001000000000"), bytes.fromhex("0100000000000000")),),
        ),
        ReferenceValue("tee_tcb_svn", env, (MinSvns((7, 1, 3) + (0,) * 13),)),
        ReferenceValue(
            "kernel.authenticode",
            Environment("Intel", "TDX", "kernel"),
            (Digests((Digest(SHA384, bytes.fromhex("44" * 48)),)),),
        ),
    ]
    return ReferenceValues(
        profile=PROFILE_ID,
        id="urn:example:ccverify:tdx-guest",
        platform="tdx",
        values=tuple(values),
        not_before=datetime(2026, 1, 1, tzinfo=UTC),
        not_after=datetime(2027, 1, 1, tzinfo=UTC),
        sequence=1,
        signer=Signer("ccverify example signer - NOT TRUSTED", "https://ccverify.dev/example"),
    )


if not TYPE_CHECKING:  # type checkers see the imports above: a misspelt name is an error

    def __getattr__(name: str) -> object:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
