"""Offline measurement calculation: what correct evidence must contain.

```python
from pathlib import Path
from ccverify import measurements
digest = measurements.snp_launch_digest(Path("OVMF.fd"), vcpus=4, vcpu_type="EPYC-Milan",
                                        guest_features=0x21, kernel=Path("vmlinuz"),
                                        initrd=Path("initrd.img"), cmdline="console=ttyS0")
m = measurements.measure_snp(Path("OVMF.fd"), vcpus=4, vcpu_type="EPYC-Milan", guest_features=0x21)
m = measurements.measure_tdx(Path("OVMF.fd"), kernel=Path("vmlinuz"), initrd=Path("initrd.img"),
                             cmdline="console=hvc0",
                             load_options=measurements.LoadOptionsForm.INITRD_PREFIX)  # edk2 >= 202508
m.values, m.to_measurement_json()   # what `ccverify measure ... --json` prints
```

Images are bytes (the content) or files (``os.PathLike``); a ``str`` is refused, as everywhere in
the library. ``cmdline`` is the command line itself.

Names load on first use: the ``measure`` command's entry imports ``measurements.prefetch``
before anything else, and that must not pull in the rest.
"""

from __future__ import annotations

import importlib

# not typing's: importing typing costs the measure command's prefetching ~5 ms of its head start
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ccverify.measurements.model import Measurement, measure_snp, measure_tdx, snp_launch_digest
    from ccverify.measurements.snp import SevMode
    from ccverify.measurements.tdx import LoadOptionsForm, PageOrder
    from ccverify.measurements.vmsa import VmmType

_LAZY = {
    "Measurement": "ccverify.measurements.model",
    "measure_snp": "ccverify.measurements.model",
    "measure_tdx": "ccverify.measurements.model",
    "snp_launch_digest": "ccverify.measurements.model",
    "SevMode": "ccverify.measurements.snp",
    "LoadOptionsForm": "ccverify.measurements.tdx",
    "PageOrder": "ccverify.measurements.tdx",
    "VmmType": "ccverify.measurements.vmsa",
}

__all__ = [
    "LoadOptionsForm",
    "Measurement",
    "PageOrder",
    "SevMode",
    "VmmType",
    "measure_snp",
    "measure_tdx",
    "snp_launch_digest",
]


if not TYPE_CHECKING:  # type checkers see the imports above: a misspelt name is an error

    def __getattr__(name: str) -> object:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
