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
from typing import Annotated

import typer

from ccverify.cli import guest_evidence, guest_run
from ccverify.cli._common import guarded
from ccverify.cli.release_options import MODULES_DIR_HELP, JsonOption
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
    guest_run.lockdown(
        device_policy=device_policy,
        trust_anchor=trust_anchor,
        sysfs=sysfs,
        modules_dir=modules_dir,
        modprobe=modprobe,
        run_dir=run_dir,
        config=config,
        json_out=json_out,
    )


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
    relying_party_jwks: Annotated[
        Path | None,
        typer.Option(
            "--relying-party-jwks",
            help="Remote mode: the relying party's result-signing keys (its /.well-known/jwks.json); the "
            "release opens only under a result token they signed for this session (required over http://).",
        ),
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
    guest_run.authorize(
        device_policy=device_policy,
        trust_anchor=trust_anchor,
        reference_values=reference_values,
        relying_party=relying_party,
        ca=ca,
        relying_party_jwks=relying_party_jwks,
        evidence_provider=evidence_provider,
        deadline=deadline,
        config=config,
        evidence=evidence,
        event_log=event_log,
        collateral=collateral,
        offline=offline,
        at=at,
        policy=policy,
        trust_root=trust_root,
        sequence_store=sequence_store,
        vcek=vcek,
        vlek=vlek,
        cert_chain=cert_chain,
        cert_table=cert_table,
        crl=crl,
        product=product,
        allow_missing_crl=allow_missing_crl,
        pcs_url=pcs_url,
        sysfs=sysfs,
        modules_dir=modules_dir,
        modprobe=modprobe,
        run_dir=run_dir,
        dry_run=dry_run,
        allow_disk_run_dir=allow_disk_run_dir,
        json_out=json_out,
    )


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
    guest_run.unlock(
        name=name,
        volume=volume,
        config=config,
        run_dir=run_dir,
        json_out=json_out,
    )


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
    guest_run.finish(
        config=config,
        run_dir=run_dir,
        persist=persist,
        json_out=json_out,
    )


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
