"""ccverify's public verification API (what relying parties embed; the CLI is built on it).

```python
from ccverify import verifier
verdict = verifier.verify_tdx(quote, verifier.load_collateral(path), at=None, trust_root=None)
verdict = verifier.verify_snp(report, verifier.load_snp_certs(vcek=...), at=None, product=None)
result = verifier.appraise(verdict, reference_values, event_log=None, policy=None)
released = verifier.require_affirming(result)   # the release layer's one call
```

Names load on first use, so ``import ccverify.verifier`` stays cheap for the initramfs hook.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ccverify.verifier.errors import (
    CCVerifyError,
    CollateralError,
    InputError,
    ParseError,
    PolicyError,
    VerificationError,
)

if TYPE_CHECKING:
    from ccverify.verifier.appraisal import appraise
    from ccverify.verifier.collateral.tdx_loader import load_collateral
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
}

__all__ = [
    "AttestationResult",
    "CCVerifyError",
    "CollateralError",
    "InputError",
    "ParseError",
    "PolicyError",
    "SnpPolicy",
    "SnpVerdict",
    "TdxCollateral",
    "TdxPolicy",
    "TdxVerdict",
    "VerificationError",
    "appraise",
    "load_collateral",
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
