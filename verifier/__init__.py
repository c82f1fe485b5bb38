"""ccverify's public verification API (what relying parties embed; the CLI is built on it).

```python
from ccverify import verifier
verdict = verifier.verify_tdx(quote, verifier.load_collateral(path), at=None, trust_root=None, policy=None)
verdict = verifier.verify_snp(report, verifier.load_snp_certs(vcek=...), at=None, product=None, policy=None)
result = verifier.appraise(verdict, reference_values, event_log=None, policy=None)
released = verifier.require_affirming(result)   # the release layer's one call
```

``policy=None`` is the default policy; a refusal raises ``PolicyError`` (with the refused
``verdict``). ``policy=verifier.UNSAFE_NO_POLICY`` skips the policy (the verdict says so).

Names load on first use, so ``import ccverify.verifier`` stays cheap for the initramfs hook.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ccverify.verifier.errors import (
    CCVerifyError,
    CollateralError,
    InputError,
    InputTooLargeError,
    ParseError,
    PolicyError,
    VerificationError,
)

if TYPE_CHECKING:
    from ccverify.verifier.appraisal import appraise
    from ccverify.verifier.collateral.tdx_loader import load_collateral
    from ccverify.verifier.policy import UNSAFE_NO_POLICY, PolicyFile, UnsafeNoPolicy, load_policy_file
    from ccverify.verifier.result import AttestationResult, require_affirming
    from ccverify.verifier.snp.validate import SnpPolicy, validate_snp
    from ccverify.verifier.snp.verify import SnpVerdict, load_snp_certs, verify_snp
    from ccverify.verifier.tdx.collateral import TdxCollateral
    from ccverify.verifier.tdx.validate import TdxPolicy, validate_tdx
    from ccverify.verifier.tdx.verify import TdxVerdict, verify_tdx

_LAZY = {
    "verify_tdx": "ccverify.verifier.tdx.verify",
    "TdxVerdict": "ccverify.verifier.tdx.verify",
    "load_collateral": "ccverify.verifier.collateral.tdx_loader",
    "verify_snp": "ccverify.verifier.snp.verify",
    "SnpVerdict": "ccverify.verifier.snp.verify",
    "load_snp_certs": "ccverify.verifier.snp.verify",
    "appraise": "ccverify.verifier.appraisal",
    "AttestationResult": "ccverify.verifier.result",
    "require_affirming": "ccverify.verifier.result",
    "TdxCollateral": "ccverify.verifier.tdx.collateral",
    "TdxPolicy": "ccverify.verifier.tdx.validate",
    "validate_tdx": "ccverify.verifier.tdx.validate",
    "SnpPolicy": "ccverify.verifier.snp.validate",
    "validate_snp": "ccverify.verifier.snp.validate",
    "UNSAFE_NO_POLICY": "ccverify.verifier.policy",
    "UnsafeNoPolicy": "ccverify.verifier.policy",
    "PolicyFile": "ccverify.verifier.policy",
    "load_policy_file": "ccverify.verifier.policy",
}

__all__ = [
    "UNSAFE_NO_POLICY",
    "AttestationResult",
    "CCVerifyError",
    "CollateralError",
    "InputError",
    "InputTooLargeError",
    "ParseError",
    "PolicyError",
    "PolicyFile",
    "SnpPolicy",
    "SnpVerdict",
    "TdxCollateral",
    "TdxPolicy",
    "TdxVerdict",
    "UnsafeNoPolicy",
    "VerificationError",
    "appraise",
    "load_collateral",
    "load_policy_file",
    "load_snp_certs",
    "require_affirming",
    "validate_snp",
    "validate_tdx",
    "verify_snp",
    "verify_tdx",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
