"""ccverify's public verification API (what relying parties embed; the CLI is built on it).

```python
from pathlib import Path
from ccverify import verifier
collateral = verifier.load_collateral(Path("collateral.json"))   # or TdxCollateral.from_pcs(...)
verdict = verifier.verify_tdx(quote_bytes, collateral, at=None, trust_root=None, policy=None)
certs = verifier.load_snp_certs(vcek=Path("vcek.der"), chain=Path("cert_chain.pem"))
verdict = verifier.verify_snp(report_bytes, certs, at=None, product=None, policy=None)
result = verifier.appraise(verdict, reference_values, event_log=None, policy=None)
released = verifier.require_affirming(result)   # the release layer's one call
```

Inputs, the same everywhere: ``bytes`` (or ``bytearray``/``memoryview``) is the content,
an ``os.PathLike`` (``pathlib.Path``) is a file, read with the input's size limit
(``verifier/limits.py``). A ``str`` is neither and is refused (``InputError``), so a PEM text is
never opened as a file name nor a file name parsed as content. A value of the wrong type is an
``InputError`` before anything is read.

``policy=None`` is the default policy; a refusal raises ``PolicyError`` (with the refused
``verdict``). ``policy=verifier.UNSAFE_NO_POLICY`` skips the policy (the verdict says so).
Errors: ``verifier.errors`` (``Code`` for every code; ``ExpiredError``, ``RevokedError``,
``RollbackError``, ``SignatureError``, ``UntrustedRootError`` under ``VerificationError``;
``CollateralError`` alias ``CollateralUnavailableError``).

Concurrency: every function here may be called from many threads at once. The memoized
checks (chains, CRLs, signed collateral, TCB evaluation, loaded keys) sit behind locks, are
keyed by the bytes they were computed from (a ``TdxCollateral`` by its ``content_key``, never by
the object's identity) and hold only time-independent results, so concurrent verifications
over shared collateral give the same verdicts as one at a time. Verdicts, policies,
collateral and results are immutable. ``clear_caches()`` empties every memo (benchmarks of
the cold path, tests); calling it while others verify only costs them the cold path.

Names load on first use, so ``import ccverify.verifier`` stays cheap for the initramfs hook;
type checkers see every name as imported (``verifier.verify_tdxx`` is an error).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

from ccverify.verifier.errors import (
    CCVerifyError,
    Code,
    CollateralError,
    CollateralUnavailableError,
    ExpiredError,
    InputError,
    InputTooLargeError,
    ParseError,
    PolicyError,
    RevokedError,
    RollbackError,
    SignatureError,
    UntrustedRootError,
    VerificationError,
)

if TYPE_CHECKING:
    from ccverify.verifier.appraisal import appraise
    from ccverify.verifier.collateral.tdx_loader import load_collateral
    from ccverify.verifier.evidence.snp_report import Product
    from ccverify.verifier.jsonable import verdict_to_json
    from ccverify.verifier.policy import UNSAFE_NO_POLICY, PolicyFile, UnsafeNoPolicy, load_policy_file
    from ccverify.verifier.refvalues import load_reference_values, load_trust_anchors
    from ccverify.verifier.refvalues.model import ReferenceValues
    from ccverify.verifier.result import AttestationResult, Reason, Tier, require_affirming
    from ccverify.verifier.snp.validate import SnpPolicy, validate_snp
    from ccverify.verifier.snp.verify import SnpCertificates, SnpVerdict, load_snp_certs, verify_snp
    from ccverify.verifier.tdx.collateral import TcbStatus, TdxCollateral
    from ccverify.verifier.tdx.validate import TdxPolicy, validate_tdx
    from ccverify.verifier.tdx.verify import TdxVerdict, verify_tdx

_LAZY = {
    "verify_tdx": "ccverify.verifier.tdx.verify",
    "TdxVerdict": "ccverify.verifier.tdx.verify",
    "load_collateral": "ccverify.verifier.collateral.tdx_loader",
    "verify_snp": "ccverify.verifier.snp.verify",
    "SnpVerdict": "ccverify.verifier.snp.verify",
    "SnpCertificates": "ccverify.verifier.snp.verify",
    "load_snp_certs": "ccverify.verifier.snp.verify",
    "Product": "ccverify.verifier.evidence.snp_report",
    "appraise": "ccverify.verifier.appraisal",
    "AttestationResult": "ccverify.verifier.result",
    "Reason": "ccverify.verifier.result",
    "Tier": "ccverify.verifier.result",
    "require_affirming": "ccverify.verifier.result",
    "TdxCollateral": "ccverify.verifier.tdx.collateral",
    "TcbStatus": "ccverify.verifier.tdx.collateral",
    "TdxPolicy": "ccverify.verifier.tdx.validate",
    "validate_tdx": "ccverify.verifier.tdx.validate",
    "SnpPolicy": "ccverify.verifier.snp.validate",
    "validate_snp": "ccverify.verifier.snp.validate",
    "UNSAFE_NO_POLICY": "ccverify.verifier.policy",
    "UnsafeNoPolicy": "ccverify.verifier.policy",
    "PolicyFile": "ccverify.verifier.policy",
    "load_policy_file": "ccverify.verifier.policy",
    "load_reference_values": "ccverify.verifier.refvalues",
    "load_trust_anchors": "ccverify.verifier.refvalues",
    "ReferenceValues": "ccverify.verifier.refvalues.model",
    "verdict_to_json": "ccverify.verifier.jsonable",
}

__all__ = [
    "UNSAFE_NO_POLICY",
    "AttestationResult",
    "CCVerifyError",
    "Code",
    "CollateralError",
    "CollateralUnavailableError",
    "ExpiredError",
    "InputError",
    "InputTooLargeError",
    "ParseError",
    "PolicyError",
    "PolicyFile",
    "Product",
    "Reason",
    "ReferenceValues",
    "RevokedError",
    "RollbackError",
    "SignatureError",
    "SnpCertificates",
    "SnpPolicy",
    "SnpVerdict",
    "TcbStatus",
    "TdxCollateral",
    "TdxPolicy",
    "TdxVerdict",
    "Tier",
    "UnsafeNoPolicy",
    "UntrustedRootError",
    "VerificationError",
    "appraise",
    "clear_caches",
    "load_collateral",
    "load_policy_file",
    "load_reference_values",
    "load_snp_certs",
    "load_trust_anchors",
    "require_affirming",
    "validate_snp",
    "validate_tdx",
    "verdict_to_json",
    "verify_snp",
    "verify_tdx",
]


def clear_caches() -> None:
    """Forget every memoized check of both platforms (a module not yet imported has none)."""
    tdx = sys.modules.get("ccverify.verifier.tdx.verify")
    if tdx is not None:
        tdx.clear_caches()
    snp = sys.modules.get("ccverify.verifier.snp.verify")
    if snp is not None:
        snp.clear_caches()


if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
