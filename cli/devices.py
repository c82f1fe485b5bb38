"""``ccverify devices list|plan|sign|verify|template``: device-authorization policies.

``list`` shows every device on the covered buses (ids, class, modalias, the driver bound now,
the driver that would bind, ``authorized``); ``plan`` the decision a policy makes for each and
the rule that made it (nothing is changed; unsigned JSON is read too, to help authors);
``sign``/``verify`` the COSE_Sign1 form (the keys of reference values, its own content type);
``template`` a starting policy. Exit 0 ok, 1 a signature that does not verify, 2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ccverify.cli._common import emit_json, guarded, read_file, stdout
from ccverify.cli._release import _ids, modules_index, plan_table, read_policy
from ccverify.cli.release_options import MODULES_DIR_HELP, JsonOption
from ccverify.verifier.errors import InputError

if TYPE_CHECKING:
    from ccverify.verifier.release.devices import Decision, Device

app = typer.Typer(
    name="devices",
    help="List devices, plan, sign and verify device-authorization policies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SysfsOption = Annotated[Path, typer.Option("--sysfs", help="Root of sysfs (a generated tree in tests).")]
ModulesOption = Annotated[Path | None, typer.Option("--modules-dir", help=MODULES_DIR_HELP)]
AnchorOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--trust-anchor", help="Public key or certificate (PEM/DER) trusted to sign the policy; repeatable."
    ),
]


def _kind(device: Device) -> str:
    if device.class_code is not None:
        return f"class {device.class_code:06x}"
    if device.virtio_id is not None:
        return f"virtio id {device.virtio_id}"
    if device.interfaces:
        return "if " + ",".join(i.to_json()["class"] for i in device.interfaces)
    return "-"


def _device_table(devices: tuple[Device, ...]) -> Any:
    from rich.table import Table

    out = Table(title=f"{len(devices)} devices", title_justify="left", header_style="bold")
    out.add_column("device", no_wrap=True)
    for column in ("ids", "class", "driver", "would bind", "authorized"):
        out.add_column(column, overflow="fold")
    for d in devices:
        authorized = "-" if d.authorized is None else ("yes" if d.authorized else "no")
        out.add_row(d.key, _ids(d), _kind(d), d.driver or "-", ", ".join(d.would_bind) or "-", authorized)
    return out


@app.command("list")
def list_(
    sysfs: SysfsOption = Path("/sys"),
    modules_dir: ModulesOption = None,
    bus: Annotated[
        list[str] | None, typer.Option("--bus", help="Buses to list (default pci, virtio, usb, thunderbolt).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Every device on the covered buses: ids, class, driver now, driver that would bind (--json: modalias too)."""

    def run() -> tuple[Device, ...]:
        from ccverify.verifier.release.devices import BUSES, DEFAULT_BUSES, scan

        buses = list(bus or DEFAULT_BUSES)
        unknown = [b for b in buses if b not in BUSES]
        if unknown:
            raise InputError(f"--bus {unknown[0]}: not a covered bus ({', '.join(BUSES)})")
        return scan(sysfs, buses, modules_index(modules_dir))

    found = guarded(run, "devices list" if json_out else None)
    if json_out:
        emit_json({"sysfs": str(sysfs), "devices": [d.to_json() for d in found]}, "devices list")
        return
    stdout.print(_device_table(found))


def plan_result(loaded: Any, decisions: tuple[Decision, ...]) -> dict[str, Any]:
    counts = {v: sum(1 for d in decisions if d.verdict == v) for v in ("bootstrap", "allow", "deny")}
    return {"policy": loaded.to_json(), "summary": counts, "decisions": [d.to_json() for d in decisions]}


@app.command("plan")
def plan(
    device_policy: Annotated[
        Path, typer.Option("--device-policy", help="Signed policy (COSE_Sign1), or its unsigned JSON.")
    ],
    trust_anchor: AnchorOption = None,
    sysfs: SysfsOption = Path("/sys"),
    modules_dir: ModulesOption = None,
    at: Annotated[
        str | None, typer.Option(help="Time to check the signature at, ISO 8601 (default: now).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """The decision for each device and the rule that made it; changes nothing."""

    def run() -> tuple[Any, tuple[Decision, ...]]:
        from ccverify.verifier.release.devices import plan as make_plan
        from ccverify.verifier.release.devices import scan
        from ccverify.verifier.timeutil import parse_time

        moment = parse_time(at, "--at") if at is not None else None
        loaded = read_policy(device_policy, trust_anchor or [], allow_unsigned=True, at=moment)
        found = scan(sysfs, loaded.policy.buses, modules_index(modules_dir))
        return loaded, make_plan(loaded.policy, found)

    loaded, decisions = guarded(run, "devices plan" if json_out else None)
    if json_out:
        emit_json(plan_result(loaded, decisions), "devices plan")
        return
    how = "signed, verified" if loaded.signed else "UNSIGNED: plan only, never applied"
    stdout.print(plan_table(decisions, f"{device_policy} ({how}; sha256 {loaded.policy.sha256[:16]}...)"))


@app.command("sign")
def sign(
    policy: Annotated[Path, typer.Argument(help="Policy JSON.")],
    key: Annotated[Path, typer.Option("--key", help="Signing key (PEM/DER; P-256, P-384 or Ed25519).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the COSE_Sign1.")],
    signer: Annotated[
        str, typer.Option(help="Signer name recorded in the header.")
    ] = "ccverify device policy",
    json_out: JsonOption = False,
) -> None:
    """Check a policy and sign it (COSE_Sign1 over its JSON bytes)."""

    def run() -> dict[str, Any]:
        import hashlib

        from ccverify.verifier.release.devices import parse_policy, sign_policy

        data = read_file(policy, "policy", "device_policy")
        parsed = parse_policy(data, what=str(policy))
        signed = sign_policy(data, read_file(key, "--key", "certificate"), signer=signer)
        try:
            output.write_bytes(signed)
        except OSError as error:
            raise InputError(f"output {output}: {error.strerror or error}") from None
        return {
            "output": str(output),
            "size": len(signed),
            "sha256": parsed.sha256,
            "file_sha256": hashlib.sha256(signed).hexdigest(),
            "bootstrap": len(parsed.bootstrap),
            "rules": len(parsed.rules),
        }

    done = guarded(run, "devices sign" if json_out else None)
    if json_out:
        emit_json(done, "devices sign")
        return
    stdout.print(
        f"wrote {done['output']} ({done['size']} bytes): {done['bootstrap']} bootstrap entries, "
        f"{done['rules']} rules, policy sha256 {done['sha256']}",
        highlight=False,
    )


@app.command("verify")
def verify(
    policy: Annotated[Path, typer.Argument(help="Signed policy (COSE_Sign1).")],
    trust_anchor: Annotated[
        list[Path],
        typer.Option("--trust-anchor", help="Public key or certificate trusted to sign; repeatable."),
    ],
    at: Annotated[str | None, typer.Option(help="Verification time, ISO 8601 (default: now).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Verify a signed policy's signature, content type and contents; exit 1 if it fails."""

    def run() -> Any:
        from ccverify.verifier.timeutil import parse_time

        moment = parse_time(at, "--at") if at is not None else None
        return read_policy(policy, trust_anchor, at=moment)

    loaded = guarded(run, "devices verify" if json_out else None)
    if json_out:
        emit_json(
            {"verified": True, "signature": loaded.to_json(), "policy": loaded.policy.to_json()}, "devices verify"
        )
        return
    p = loaded.policy
    stdout.print(
        f"OK: {policy} verifies (signer {loaded.signer!r}, key {loaded.key_id.hex()[:16]}...): "
        f"{len(p.bootstrap)} bootstrap entries, {len(p.rules)} rules, covers {', '.join(p.buses)}; "
        f"policy sha256 {p.sha256}",
        highlight=False,
    )


@app.command("template")
def template(
    name: Annotated[str, typer.Argument(help="confidential-computing-default")],
) -> None:
    """Print a starting policy to edit and sign (the virtio devices hardened for confidential guests)."""

    def run() -> dict[str, Any]:
        from ccverify.verifier.release.devices import template as make

        return make(name)

    document = guarded(run)
    # one entry per line: readable, and easy to edit
    lines = ["{", f'  "version": {document["version"]},', f'  "default": {json.dumps(document["default"])},']
    for key in ("bootstrap", "rules"):
        entries = document[key]
        lines.append(f'  "{key}": [')
        lines.extend(
            f"    {json.dumps(e)}{',' if i < len(entries) - 1 else ''}" for i, e in enumerate(entries)
        )
        lines.append("  ]," if key == "bootstrap" else "  ]")
    lines.append("}")
    typer.echo("\n".join(lines))
