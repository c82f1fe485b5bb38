"""Device authorization for confidential guests: a signed policy, a sysfs view, a plan, and
the two stages that apply it (``lockdown`` before attestation, ``authorize`` after an
affirming ``AttestationResult``).

```python
from ccverify.verifier.release import devices
loaded = devices.load_policy(cose_bytes, [Path("owner.pub.pem")])       # LoadedPolicy
found = devices.scan(Path("/sys"), loaded.policy.buses, devices.ModuleIndex.load(modules_dir))
for decision in devices.plan(loaded.policy, found): ...                  # changes nothing
devices.lockdown(loaded, sysfs=Path("/sys"), modules=index)             # stage 1
devices.authorize(loaded, result, sysfs=Path("/sys"), modules=index)    # stage 2, affirming only
```

What it proves: which drivers face the host's devices. Ids, classes and modaliases are what
the host reports and can be forged; authenticating a device needs TDISP/SPDM.
"""

from ccverify.verifier.release.devices.enforce import (
    DEFAULT_RUN_DIR,
    Applied,
    Change,
    KernelWriter,
    SysfsWriter,
    authorize,
    lockdown,
    modprobe_loader,
    require_affirming,
    write_state,
)
from ccverify.verifier.release.devices.plan import Decision, Planner, matches, plan
from ccverify.verifier.release.devices.policy import (
    BUSES,
    CONTENT_TYPE,
    DEFAULT_BUSES,
    TEMPLATES,
    DevicePolicy,
    LoadedPolicy,
    Match,
    Rule,
    load_policy,
    parse_policy,
    sign_policy,
    template,
)
from ccverify.verifier.release.devices.sysfs import (
    Device,
    Interface,
    ModuleIndex,
    default_modules_dir,
    scan,
)

__all__ = [
    "BUSES",
    "CONTENT_TYPE",
    "DEFAULT_BUSES",
    "DEFAULT_RUN_DIR",
    "TEMPLATES",
    "Applied",
    "Change",
    "Decision",
    "Device",
    "DevicePolicy",
    "Interface",
    "KernelWriter",
    "LoadedPolicy",
    "Match",
    "ModuleIndex",
    "Planner",
    "Rule",
    "SysfsWriter",
    "authorize",
    "default_modules_dir",
    "load_policy",
    "lockdown",
    "matches",
    "modprobe_loader",
    "parse_policy",
    "plan",
    "require_affirming",
    "scan",
    "sign_policy",
    "template",
    "write_state",
]
