"""Handle verification errors by class (the family) and by code (the exact check)
(README "Library").

Run: ``python tests/examples/handle_errors.py [SAMPLE_DIR]`` (default: the shipped sample).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccverify import verifier

SAMPLE = Path(__file__).resolve().parents[2] / "reference-values" / "examples"


def verify(sample: Path, quote: bytes, collateral: verifier.TdxCollateral, at: str) -> str:
    """What happened, as a relying party would act on it."""
    try:
        root = sample / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem"
        verifier.verify_tdx(quote, collateral, at=at, trust_root=root)
    except verifier.PolicyError as refused:  # verified, but the policy says no: every violation
        return "refused: " + ", ".join(violation.code for violation in refused.violations)
    except verifier.ExpiredError as error:  # fetch fresh collateral and try again
        return f"expired ({error.code})"
    except verifier.SignatureError as error:  # forged or corrupted evidence
        assert error.code == verifier.Code.QUOTE_SIGNATURE_INVALID
        return f"bad signature ({error.code})"
    except (verifier.RevokedError, verifier.UntrustedRootError) as error:
        return f"untrusted ({error.code})"
    except verifier.VerificationError as error:  # any other failed check: error.code says which
        return f"failed ({error.code}: {error.detail})"
    except verifier.CollateralUnavailableError as error:  # CollateralError: what is missing
        return f"collateral unavailable ({error.missing})"
    except verifier.InputError as error:  # not a quote at all (ParseError says where)
        return f"bad input ({error})"
    return "verified"


def main(argv: list[str]) -> int:
    sample = Path(argv[0]) if argv else SAMPLE
    quote = (sample / "tdx-quote.dat").read_bytes()
    collateral = verifier.load_collateral(sample / "tdx-collateral.json")
    at = "2026-01-15T00:00:00Z"
    print("as is:", verify(sample, quote, collateral, at=at))
    forged = bytearray(quote)
    forged[600] ^= 1  # a byte of REPORT_DATA: signed by the attestation key
    print("forged:", verify(sample, bytes(forged), collateral, at=at))
    print("much later:", verify(sample, quote, collateral, at="2036-01-15T00:00:00Z"))
    print("no collateral:", verify(sample, quote, verifier.TdxCollateral(), at=at))
    print("not a quote:", verify(sample, b"\0" * 16, collateral, at=at))
    try:
        verifier.verify_tdx(
            quote,
            collateral,
            at=at,
            trust_root=sample / "EXAMPLE-ROOT-NOT-TRUSTED-intel.pem",
            policy=verifier.TdxPolicy(mrtd=(bytes(48),), mrseam=(bytes(48),)),
        )
    except verifier.PolicyError as refused:
        assert isinstance(refused.verdict, verifier.TdxVerdict)  # what was verified, to show
        print("policy:", [(v.code, v.detail) for v in refused.violations])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
