"""``ccverify guest lockdown|authorize|unlock|finish|askpass|evidence``: the initramfs hook's verbs.

- ``lockdown`` (stage 1, before udev coldplug): ``drivers_autoprobe`` = 0 on the covered
  buses, USB root hubs' ``authorized_default`` = 0, every bound device that is not bootstrap
  unbound (and listed), the bootstrap devices bound.
- ``authorize`` (stage 2). Remote mode (a relying party configured, ``--relying-party`` or
  ``relying_party``; ``cli/guest_gate.py``): attest to it, open the sealed release, check its
  device policy against the anchors, apply it, hand the secrets over. Local mode: verify and
  appraise the guest's own evidence (or ``--evidence``) as ``ccverify verify`` does, and only if
  the attestation result is affirming apply the policy. Exit 0 applied; 1 not affirming, refused
  or not applied (nothing beyond bootstrap); 2 bad input; 3 relying party or collateral
  unavailable (remote: the deadline passed). ``--dry-run`` prints the plan and changes nothing.
  The applied state goes to ``--run-dir`` (``/run/ccverify``).
- ``unlock NAME`` prints a released secret; ``finish`` removes them before switch-root;
  ``askpass`` answers systemd-cryptsetup's password request with one.

A signed policy only (``devices sign``): ``--trust-anchor`` lists who may sign the policy and the
reference values. ``evidence`` (``cli/guest_evidence.py``) writes the guest's own evidence
(configfs-tsm, ``/dev/sev-guest``, the CCEL, ccverify's RTMR3 log; ``--evidence-provider
example`` without a TEE). Every option can come from ``--config`` (``/etc/ccverify/guest.toml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ccverify.cli import guest_evidence
from ccverify.cli._common import VerifyOptions, emit_json, guarded, read_file, read_input, stdout
from ccverify.cli._release import MODULES_DIR_HELP, JsonOption, modules_index, read_policy
from ccverify.cli.verify_options import (
    AllowMissingCrlOption,
    AtOption,
    CertChainOption,
    CertTableOption,
    CollateralOption,
    CrlOption,
    OfflineOption,
    PcsUrlOption,
    PolicyOption,
    ProductOption,
    TrustRootOption,
    VcekOption,
    VlekOption,
)
from ccverify.verifier.errors import InputError

if TYPE_CHECKING:
    from ccverify.verifier.release.devices import Applied

app = typer.Typer(
    name="guest",
    help="The guest's verbs: lock devices down, authorize them after attestation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_PLATFORM = "Evidence verification (as ccverify verify)"
_SYS = "System"

ModulesOption = Annotated[
    Path | None,
    typer.Option(
        "--modules-dir",
        help=MODULES_DIR_HELP,
        rich_help_panel=_SYS,
    ),
]
ModprobeOption = Annotated[
    str, typer.Option("--modprobe", help="Program that loads a module by name.", rich_help_panel=_SYS)
]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="The guest gate's configuration (TOML; default /etc/ccverify/guest.toml when it exists); "
        "options given here win.",
    ),
]
GateRunDirOption = Annotated[
    Path | None,
    typer.Option(
        "--run-dir",
        help="Applied state, RTMR3 log and released secrets (default /run/ccverify; tmpfs).",
        rich_help_panel=_SYS,
    ),
]


def _print_applied(applied: Applied, headline: str) -> None:
    from ccverify.cli.devices import plan_table

    stdout.print(plan_table(applied.decisions, headline))
    for change in applied.changes:
        target = change.target + (f" ({change.driver})" if change.driver else "")
        stdout.print(
            f"  {change.action}{' [rolled back]' if change.rolled_back else ''}: {target}", highlight=False
        )


@app.command("lockdown")
def lockdown(
    device_policy: Annotated[
        Path | None,
        typer.Option("--device-policy", help="Signed device policy (COSE_Sign1); default: device_policy."),
    ] = None,
    trust_anchor: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust-anchor",
            help="Public key or certificate trusted to sign the device policy; repeatable (default: trust_anchors).",
        ),
    ] = None,
    sysfs: Annotated[
        Path | None, typer.Option("--sysfs", help="Root of sysfs (default /sys).", rich_help_panel=_SYS)
    ] = None,
    modules_dir: ModulesOption = None,
    modprobe: ModprobeOption = "modprobe",
    run_dir: GateRunDirOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Stage 1: stop automatic binding, unbind all but the bootstrap devices, bind those."""

    def run() -> Applied:
        from ccverify.cli import guest_gate
        from ccverify.verifier.release import devices

        settings = guest_gate.Settings.resolve(
            guest_gate.load_config(config), trust_anchors=trust_anchor, device_policy=device_policy,
            sysfs=sysfs, run_dir=run_dir,
        )  # fmt: skip
        if settings.device_policy is None:
            raise InputError("lockdown needs --device-policy (or device_policy in the configuration)")
        loaded = read_policy(settings.device_policy, settings.require_anchors())
        return devices.lockdown(
            loaded, sysfs=settings.sysfs, modules=modules_index(modules_dir),
            loader=devices.modprobe_loader(modprobe), run_dir=settings.run_dir,
        )  # fmt: skip

    applied = guarded(run, "guest lockdown" if json_out else None)
    if json_out:
        emit_json(applied.to_json(), "guest lockdown")
        return
    unbound = ", ".join(applied.unbound) or "none"
    _print_applied(applied, f"lockdown: {len(applied.bound)} bootstrap devices bound; unbound: {unbound}")


@app.command("authorize")
def authorize(
    device_policy: Annotated[
        Path | None,
        typer.Option(
            "--device-policy",
            help="Signed device policy (COSE_Sign1). Local mode: required; remote mode: used when the "
            "release carries none.",
        ),
    ] = None,
    trust_anchor: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust-anchor",
            help="Public key or certificate trusted to sign the device policy (and, local mode, the "
            "reference values); repeatable.",
        ),
    ] = None,
    reference_values: Annotated[
        Path | None,
        typer.Option(
            "--reference-values",
            help="Local mode: signed reference values (CoRIM) to appraise the evidence against.",
        ),
    ] = None,
    relying_party: Annotated[
        str | None,
        typer.Option(
            "--relying-party",
            help="URL of the relying party (ccverify serve): remote mode, the default when one is configured.",
        ),
    ] = None,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="Remote mode: PEM CA bundle for the relying party's TLS.")
    ] = None,
    evidence_provider: Annotated[
        str | None,
        typer.Option(
            "--evidence-provider",
            help="The guest's own evidence: auto (configfs-tsm, else /dev/sev-guest), configfs, sev-guest, "
            "or example (NOT hardware).",
        ),
    ] = None,
    deadline: Annotated[
        float | None,
        typer.Option(
            "--deadline",
            help="Remote mode: seconds for everything, retries included (default 30); then nothing beyond "
            "bootstrap is authorized and no secret written.",
        ),
    ] = None,
    config: ConfigOption = None,
    evidence: Annotated[
        Path | None,
        typer.Option(
            "--evidence",
            help="Local mode: a TDX quote or SNP report file instead of the guest's own evidence.",
        ),
    ] = None,
    event_log: Annotated[
        Path | None,
        typer.Option(
            "--event-log", help="With --evidence: CCEL / TCG2 event log to replay against the quoted RTMRs."
        ),
    ] = None,
    collateral: CollateralOption = None,
    offline: OfflineOption = False,
    at: AtOption = None,
    policy: PolicyOption = None,
    trust_root: TrustRootOption = None,
    sequence_store: Annotated[
        Path | None,
        typer.Option(
            help="JSON file with the last accepted reference-value sequence per id (rollback protection).",
            rich_help_panel=_PLATFORM,
        ),
    ] = None,
    vcek: VcekOption = None,
    vlek: VlekOption = None,
    cert_chain: CertChainOption = None,
    cert_table: CertTableOption = None,
    crl: CrlOption = None,
    product: ProductOption = None,
    allow_missing_crl: AllowMissingCrlOption = False,
    pcs_url: PcsUrlOption = None,
    sysfs: Annotated[
        Path | None, typer.Option("--sysfs", help="Root of sysfs (default /sys).", rich_help_panel=_SYS)
    ] = None,
    modules_dir: ModulesOption = None,
    modprobe: ModprobeOption = "modprobe",
    run_dir: GateRunDirOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Attest and print the plan; change nothing, write no secret.")
    ] = False,
    allow_disk_run_dir: Annotated[
        bool, typer.Option("--allow-disk-run-dir", hidden=True, help="Tests only: a run dir not on tmpfs.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Stage 2: attest (remote mode: to the relying party; local mode: verify and appraise here);
    only on an affirming result bind every device the policy allows and hand the secrets over."""
    from ccverify.cli import guest_gate

    command = "guest authorize"
    json_command = command if json_out else None
    settings = guarded(
        lambda: guest_gate.Settings.resolve(
            guest_gate.load_config(config), relying_party=relying_party, ca=ca, trust_anchors=trust_anchor,
            evidence_provider=evidence_provider, deadline=deadline, device_policy=device_policy,
            reference_values=reference_values, sysfs=sysfs, run_dir=run_dir,
        ),
        json_command,
    )  # fmt: skip
    if settings.relying_party is not None and evidence is None:
        guest_gate.authorize_remote(
            settings,
            modules_dir=modules_dir,
            modprobe=modprobe,
            json_out=json_out,
            allow_disk_run_dir=allow_disk_run_dir,
            dry_run=dry_run,
        )
        return
    partial: dict[str, Any] = {"mode": "local", "dry_run": dry_run}

    def attest() -> Any:
        from ccverify.cli._appraise import attest as run_attest
        from ccverify.verifier.timeutil import parse_time

        anchors = list(settings.require_anchors())
        if settings.device_policy is None:
            raise InputError("local mode needs --device-policy (or device_policy in the configuration)")
        if settings.reference_values is None:
            raise InputError("local mode needs --reference-values (or reference_values in the configuration)")
        moment = parse_time(at, "--at") if at is not None else None
        loaded = read_policy(settings.device_policy, anchors, at=moment)
        partial["policy"] = loaded.to_json()
        partial["policy_source"] = "file"
        if evidence is not None:
            evidence_bytes, evidence_path, log_path, collateral_path = (
                read_input(evidence, "--evidence", "evidence"), evidence, event_log, collateral,
            )  # fmt: skip
        else:
            evidence_bytes, evidence_path, log_path, got_collateral = _own_evidence(settings, partial)
            collateral_path = collateral or got_collateral
        opts = VerifyOptions(
            evidence=evidence_bytes, evidence_path=evidence_path, collateral=collateral_path,
            offline=offline, at=moment, policy=policy,
            trust_root=trust_root, json=json_out, reference_values=settings.reference_values,
            trust_anchor=anchors[0], event_log=log_path, sequence_store=sequence_store, vcek=vcek,
            vlek=vlek, cert_chain=cert_chain, cert_table=cert_table, product=product, crl=crl,
            allow_missing_crl=allow_missing_crl, pcs_url=pcs_url,
        )  # fmt: skip
        platform, _verdict, result = run_attest(opts, anchors)
        partial["platform"] = platform
        partial["attestation_result"] = result.to_json()
        return loaded, result

    loaded, result = guarded(attest, json_command, lambda: partial)
    from ccverify.verifier.release import devices

    guarded(lambda: devices.require_affirming(result), json_command, lambda: partial)
    index = guarded(lambda: modules_index(modules_dir), json_command, lambda: partial)

    if dry_run:
        from ccverify.cli.devices import plan_table

        decisions = guarded(lambda: guest_gate.plan(settings, loaded, index), json_command, lambda: partial)
        if json_out:
            partial["decisions"] = [d.to_json() for d in decisions]
            emit_json(partial, command)
            return
        stdout.print(
            plan_table(decisions, "authorize --dry-run (attestation result affirming; nothing changed)")
        )
        return

    def record() -> Any:
        path = settings.device_policy
        if partial.get("platform") != "tdx" or path is None:
            return None
        return guest_gate.record(settings, lambda: read_file(path, "--device-policy", "device_policy"))

    applied = guarded(
        lambda: guest_gate.apply(settings, loaded, result, index, modprobe), json_command, lambda: partial
    )
    # after applying (local mode: as the evidence issue asked); a kernel without run-time RTMR3
    # extends (before Linux 6.16, or SNP) records nothing
    partial["rtmr3"] = guarded(record, json_command, lambda: partial)
    if json_out:
        partial["applied"] = applied.to_json()
        emit_json(partial, command)
        return
    _print_applied(
        applied,
        f"authorized (result affirming): {len(applied.bound)} devices bound; state in {settings.run_dir}",
    )


def _own_evidence(settings: Any, partial: dict[str, Any]) -> tuple[bytes, Path, Path | None, Path | None]:
    """Local mode without --evidence: the guest's own evidence for fresh REPORT_DATA, written to
    ``<run_dir>/evidence/`` (quote or report, the CCEL followed by ccverify's RTMR3 log, the
    example provider's collateral) for the verification to read."""
    import secrets
    from datetime import UTC, datetime

    from ccverify.cli.guest_evidence import make_provider
    from ccverify.verifier.release.guest import REPORT_DATA_SIZE
    from ccverify.verifier.release.rtmr3 import LOG_NAME

    report_data = secrets.token_bytes(REPORT_DATA_SIZE)
    provider = make_provider(
        settings.evidence_provider, now=datetime.now(UTC).replace(microsecond=0), sysfs_root=settings.sysfs
    )
    got = provider.get(report_data)
    partial["evidence"] = {
        "provider": got.provider_name,
        "hardware": got.hardware,
        "tee": got.tee,
        "report_data": got.report_data.hex(),
    }
    folder = settings.run_dir / "evidence"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    evidence_path = folder / ("tdx-quote.dat" if got.tee == "tdx" else "snp-report.bin")
    evidence_path.write_bytes(got.evidence)
    log_path = None
    if got.event_log is not None:
        from ccverify.verifier.evidence.rtmr3_log import with_runtime_log

        runtime = settings.run_dir / LOG_NAME
        merged = with_runtime_log(got.event_log, runtime.read_bytes() if runtime.is_file() else None)
        log_path = folder / "tdx-event-log.bin"
        log_path.write_bytes(merged.to_bytes())
    collateral_path = None
    if got.collateral is not None:
        collateral_path = folder / "tdx-collateral.json"
        collateral_path.write_bytes(got.collateral)
    if got.aux_blob is not None:
        (folder / "snp-cert-table.bin").write_bytes(got.aux_blob)
    return got.evidence, evidence_path, log_path, collateral_path


@app.command("unlock")
def unlock(
    name: Annotated[str | None, typer.Argument(help="The released secret to print.")] = None,
    volume: Annotated[
        str | None,
        typer.Option(
            "--volume",
            help="The crypttab volume whose [volumes.<name>] secret to print (default $CRYPTTAB_NAME).",
        ),
    ] = None,
    config: ConfigOption = None,
    run_dir: GateRunDirOption = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the envelope (name and size) instead of the secret.")
    ] = False,
) -> None:
    """Print a released secret to stdout, exactly its bytes (cryptsetup --key-file=-, a crypttab keyscript)."""
    from ccverify.cli import guest_gate

    cfg = guarded(lambda: guest_gate.load_config(config), "guest unlock" if json_out else None)
    guest_gate.unlock(cfg, run_dir, name, volume, json_out)


@app.command("finish")
def finish(
    config: ConfigOption = None,
    run_dir: GateRunDirOption = None,
    persist: Annotated[
        bool,
        typer.Option("--persist", help="Keep the secrets past switch-root (as persist_secrets = true does)."),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Before switch-root: remove the released secrets (overwritten, then unlinked) unless persist_secrets."""
    from ccverify.cli import guest_gate

    cfg = guarded(lambda: guest_gate.load_config(config), "guest finish" if json_out else None)
    guest_gate.finish(cfg, run_dir, persist or None, json_out)


@app.command("askpass")
def askpass(
    once: Annotated[
        bool,
        typer.Option("--once", help="Answer the pending requests and exit (for a .path-activated unit)."),
    ] = False,
    ask_dir: Annotated[
        Path, typer.Option("--ask-dir", help="systemd's ask-password directory.", rich_help_panel=_SYS)
    ] = Path("/run/systemd/ask-password"),
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Without --once: stop after this many seconds.")
    ] = None,
    config: ConfigOption = None,
    run_dir: GateRunDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """A systemd password agent: answer systemd-cryptsetup's request for a configured volume with
    its released secret (over the request's socket, never to a file)."""
    from ccverify.cli import guest_gate

    cfg = guarded(lambda: guest_gate.load_config(config), "guest askpass" if json_out else None)
    guest_gate.askpass(cfg, run_dir, ask_dir, once, timeout, json_out)


# ``guest evidence`` (issue #17): the guest's own evidence, written for operators
app.command("evidence")(guest_evidence.evidence)
app.command("install-hook")(__import__("ccverify.cli.guest_hook", fromlist=["install_hook"]).install_hook)
