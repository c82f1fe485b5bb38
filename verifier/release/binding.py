"""The REPORT_DATA binding of a guest's evidence to a challenge and to its release key.

``REPORT_DATA = SHA-512("ccverify/v1" || nonce || hpke_public_key)`` (DESIGN.md, Decisions):
the relying party's nonce makes the evidence fresh, the HPKE public key is the one the released
resources are sealed to, so a quote produced for one session and one key is worth nothing in
another. The service, the guest and ``ccverify example tdx-quote`` all call this one function.
The digest is 64 bytes: exactly TDX REPORTDATA and SNP REPORT_DATA.
"""

from __future__ import annotations

import hashlib
import hmac

from ccverify.verifier.errors import InputError, VerificationError

DOMAIN = b"ccverify/v1"
NONCE_SIZE = 32
REPORT_DATA_SIZE = 64


def report_data(nonce: bytes, hpke_public_key: bytes) -> bytes:
    """SHA-512("ccverify/v1" || nonce || hpke_public_key), 64 bytes."""
    if len(nonce) != NONCE_SIZE:
        raise InputError(f"a challenge nonce is {NONCE_SIZE} bytes, got {len(nonce)}")
    if not hpke_public_key:
        raise InputError("the HPKE public key bound into REPORT_DATA is empty")
    return hashlib.sha512(DOMAIN + nonce + hpke_public_key).digest()


def check_report_data(actual: bytes, nonce: bytes, hpke_public_key: bytes) -> None:
    """Raise ``VerificationError('report_data_mismatch')`` unless ``actual`` is the binding."""
    expected = report_data(nonce, hpke_public_key)
    if not hmac.compare_digest(bytes(actual), expected):
        raise VerificationError(
            "report_data_mismatch",
            "REPORT_DATA is not SHA-512('ccverify/v1' || nonce || hpke_public_key): the evidence was "
            "made for another challenge or another key",
            expected=expected,
            actual=bytes(actual),
        )
