"""The example evidence provider's pre-minted material: EXAMPLE, NOT TRUSTED, NOT HARDWARE.

``guest authorize`` with ``evidence_provider = "example"`` (tests, demos, the boot benchmark)
used to mint the example PKI's collateral (certificates, CRLs, TCB info, QE identity) at every
boot: ``verifier.testing.pki`` and pyasn1 were a fifth of local-mode authorize's start-up. The
initramfs hook's payload builder (``cli/hook_payload.py``, run at every initramfs build)
therefore writes ``FILE_NAME`` with ``premint``: a template quote (the sample's measurements,
zero REPORT_DATA, signed by the example PCK chain), where its REPORT_DATA and signature sit,
the example attestation key (derived from the public seed in ``verifier/testing/sample.py``,
which anyone can derive: it proves nothing), the sample's event log and QuoteCollateralV3
valid from the build for 30 days (``MINTED_COLLATERAL_LIFETIME``). The initramfs launcher
sets ``PREMINTED`` to that file; at boot ``from_preminted`` only writes the requested
REPORT_DATA into the template and signs the quote body with the attestation key (deterministic
ECDSA, so the quote equals ``mint_tdx_quote``'s byte for byte: a test holds that).

Where there is no such file (outside the initramfs: ``guest evidence --evidence-provider
example`` on a host), where it does not cover the time of the run (an initramfs older than 30
days, or a clock before its build) or does not hold together, the provider mints at run time
as before. Nothing here changes what verifies: the verifier checks the quote, the chain, the
collateral's dates and signatures as for any evidence, and the example root is trusted only
where ``--trust-root`` names it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # (not typing's: the launcher imports this module for every verb)
if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path
    from typing import Any

#: the file's name in the initramfs (``SITE`` of ``cli/hook_payload.py``)
FILE_NAME = "EXAMPLE-NOT-TRUSTED-tdx-evidence.json"
#: what the file says it is (a file of another format is not used)
FORMAT = "ccverify example TDX evidence template 2"
WARNING = (
    "EXAMPLE, NOT TRUSTED, NOT HARDWARE: made by ccverify's example PKI from a public seed for "
    "`guest authorize --evidence-provider example` (tests, demos); it proves nothing about any "
    "machine and verifies only where EXAMPLE-ROOT-NOT-TRUSTED-intel.pem is named explicitly"
)
#: set by the initramfs launcher to the pre-minted file (None: mint at run time)
PREMINTED: str | None = None


def premint(now: datetime) -> dict[str, Any]:
    """The pre-minted material (a JSON object), collateral valid from ``now`` for 30 days."""
    from datetime import UTC

    from cryptography.hazmat.primitives.asymmetric import ec

    from ccverify.verifier.evidence.tdx_quote import TdxQuote
    from ccverify.verifier.testing.pki import derive_ec_key
    from ccverify.verifier.testing.sample import (
        MINTED_COLLATERAL_LIFETIME,
        REPORT_DATA_SIZE,
        SEED,
        mint_tdx_quote,
        sample_tdx_event_log,
    )

    start = now.astimezone(UTC).replace(microsecond=0)
    marker = bytes(range(1, REPORT_DATA_SIZE + 1))  # found once in the quote: where REPORT_DATA is
    quote, collateral = mint_tdx_quote(marker, now=start)
    parsed = TdxQuote.from_bytes(quote)
    signed = parsed.signed_data
    signature = parsed.signature_data.signature
    offset = quote.find(marker)
    sig_offset = quote.find(signature, len(signed))
    if quote.count(marker) != 1 or not 0 <= offset <= len(signed) - REPORT_DATA_SIZE or sig_offset < 0:
        raise RuntimeError("the example quote's REPORT_DATA or signature could not be located")
    if quote[: len(signed)] != signed or parsed.body.report_data != marker:
        raise RuntimeError("the example quote's signed bytes are not where expected")
    template = bytearray(quote)
    template[offset : offset + REPORT_DATA_SIZE] = bytes(REPORT_DATA_SIZE)
    key = derive_ec_key(SEED, "intel/attestation-key", ec.SECP256R1())
    # the private scalar, not a PEM: ``ec.derive_private_key`` makes the key back without
    # importing ``serialization`` (and its SSH key support) at boot
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return {
        "WARNING": WARNING,
        "format": FORMAT,
        "valid_from": start.isoformat(),
        "valid_until": (start + MINTED_COLLATERAL_LIFETIME).isoformat(),
        "quote_template": bytes(template).hex(),
        "report_data_offset": offset,
        "signed_length": len(signed),
        "signature_offset": sig_offset,
        "attestation_key_scalar": scalar.hex(),
        "collateral": collateral.decode(),
        "event_log": sample_tdx_event_log().hex(),
    }


def write(path: Path, now: datetime) -> None:
    """Write ``premint(now)`` to ``path`` (the payload builder, at each initramfs build)."""
    import json

    path.write_text(json.dumps(premint(now), indent=1) + "\n")


def from_preminted(report_data: bytes, now: datetime) -> tuple[bytes, bytes, bytes] | None:
    """``(quote, collateral, event log)`` for ``report_data`` (64 bytes) from ``PREMINTED``;
    None when there is no such file, it does not cover ``now`` or does not hold together
    (the caller mints at run time then)."""
    if PREMINTED is None or now.tzinfo is None:
        return None
    import json
    from datetime import datetime

    try:
        with open(PREMINTED, "rb") as file:
            data = json.loads(file.read())
        if data.get("format") != FORMAT:
            return None
        if (
            not datetime.fromisoformat(data["valid_from"])
            <= now
            < datetime.fromisoformat(data["valid_until"])
        ):
            return None
        quote = bytearray.fromhex(data["quote_template"])
        offset, signed_length, sig_offset = (
            int(data[k]) for k in ("report_data_offset", "signed_length", "signature_offset")
        )
        collateral = data["collateral"].encode()
        event_log = bytes.fromhex(data["event_log"])
        scalar = bytes.fromhex(data["attestation_key_scalar"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if len(report_data) != 64 or not (
        0 <= offset <= signed_length - 64 and signed_length <= sig_offset and sig_offset + 64 <= len(quote)
    ):
        return None
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from ccverify.verifier.ecdsa import Ecdsa

    if len(scalar) != 32:
        return None
    try:
        key = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    except ValueError:  # zero, or not below the group order
        return None
    numbers = key.public_key().public_numbers()
    raw_key = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
    if quote[sig_offset + 64 : sig_offset + 128] != raw_key:  # the quote names this key
        return None
    quote[offset : offset + 64] = report_data
    r, s = decode_dss_signature(
        key.sign(bytes(quote[:signed_length]), Ecdsa(hashes.SHA256(), deterministic_signing=True))
    )
    quote[sig_offset : sig_offset + 64] = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return bytes(quote), collateral, event_log
