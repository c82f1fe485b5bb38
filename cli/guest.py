"""``ccverify guest lockdown|authorize``: the initramfs hook's verbs for device authorization.

- ``lockdown`` (stage 1, before udev coldplug): ``drivers_autoprobe`` = 0 on the covered
  buses, USB root hubs' ``authorized_default`` = 0, every bound device that is not bootstrap
  unbound (and listed), the bootstrap devices bound.
- ``authorize`` (stage 2), local mode: verify and appraise the evidence as ``ccverify verify``
  does, and only if the attestation result is affirming apply the policy. Exit 0 applied;
  1 not affirming or not applied (nothing beyond bootstrap); 2 bad input; 3 collateral
  unavailable. ``--dry-run`` prints the plan and changes nothing. The applied state goes to
  ``--run-dir`` (``/run/ccverify``).

A signed policy only (``devices sign``): ``--trust-anchor`` lists who may sign the policy and the
reference values. ``evidence`` (``cli/guest_evidence.py``) writes the guest's own evidence
(configfs-tsm, ``/dev/sev-guest``, the CCEL, ccverify's RTMR3 log; ``--evidence-provider
example`` without a TEE). Using it in ``authorize``, ``guest unlock`` and the remote mode
(``--relying-party``) come with later issues.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ccverify.cli import guest_evidence
from ccverify.cli._common import VerifyOptions, read_input, stdout
from ccverify.cli._release import enveloped, modules_index, read_policy
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

PolicyOption = Annotated[Path, typer.Option("--device-policy", help="Signed device policy (COSE_Sign1).")]
AnchorOption = Annotated[
    list[Path],
    typer.Option(
        "--trust-anchor",
        help="Public key or certificate trusted to sign the device policy and the reference values; repeatable.",
    ),
]
SysfsOption = Annotated[Path, typer.Option("--sysfs", help="Root of sysfs.", rich_help_panel=_SYS)]
ModulesOption = Annotated[
    Path | None,
    typer.Option(
        "--modules-dir",
        help="Directory with modules.alias (default /lib/modules/$(uname -r)).",
        rich_help_panel=_SYS,
    ),
]
ModprobeOption = Annotated[
    str, typer.Option("--modprobe", help="Program that loads a module by name.", rich_help_panel=_SYS)
]
RunDirOption = Annotated[
    Path, typer.Option("--run-dir", help="Where the applied state is recorded.", rich_help_panel=_SYS)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the ccverify JSON envelope.")]


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
    device_policy: PolicyOption,
    trust_anchor: AnchorOption,
    sysfs: SysfsOption = Path("/sys"),
    modules_dir: ModulesOption = None,
    modprobe: ModprobeOption = "modprobe",
    run_dir: RunDirOption = Path("/run/ccverify"),
    json_out: JsonOption = False,
) -> None:
    """Stage 1: stop automatic binding, unbind all but the bootstrap devices, bind those."""

    def run() -> Applied:
        from ccverify.verifier.release import devices

        loaded = read_policy(device_policy, trust_anchor)
        return devices.lockdown(
            loaded, sysfs=sysfs, modules=modules_index(modules_dir),
            loader=devices.modprobe_loader(modprobe), run_dir=run_dir,
        )  # fmt: skip

    applied = enveloped("guest lockdown", json_out, run)
    if json_out:
        from ccverify.cli.envelope import emit_envelope

        emit_envelope("guest lockdown", result=applied.to_json())
        return
    unbound = ", ".join(applied.unbound) or "none"
    _print_applied(applied, f"lockdown: {len(applied.bound)} bootstrap devices bound; unbound: {unbound}")


@app.command("authorize")
def authorize(
    device_policy: PolicyOption,
    trust_anchor: AnchorOption,
    reference_values: Annotated[
        Path,
        typer.Option(
            "--reference-values", help="Signed reference values (CoRIM) to appraise the evidence against."
        ),
    ],
    evidence: Annotated[
        Path | None,
        typer.Option(
            "--evidence",
            help="TDX quote or SNP report (a file for now; the guest's own evidence comes with a later issue).",
        ),
    ] = None,
    event_log: Annotated[
        Path | None,
        typer.Option("--event-log", help="CCEL / TCG2 event log to replay against the quoted RTMRs."),
    ] = None,
    collateral: Annotated[
        Path | None,
        typer.Option(
            help="Collateral: a cache directory, an offline bundle, or a QuoteCollateralV3 JSON.",
            rich_help_panel=_PLATFORM,
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            help="Never use the network; fail (exit 3) if collateral is missing.", rich_help_panel=_PLATFORM
        ),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(help="Verification time, ISO 8601 (default: now).", rich_help_panel=_PLATFORM),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(help="Policy JSON with a 'tdx' and/or 'snp' object.", rich_help_panel=_PLATFORM),
    ] = None,
    trust_root: Annotated[
        Path | None,
        typer.Option(
            help="PEM root to trust INSTEAD of the pinned production roots (test and example PKIs only).",
            rich_help_panel=_PLATFORM,
        ),
    ] = None,
    sequence_store: Annotated[
        Path | None,
        typer.Option(
            help="JSON file with the last accepted reference-value sequence per id (rollback protection).",
            rich_help_panel=_PLATFORM,
        ),
    ] = None,
    vcek: Annotated[
        Path | None, typer.Option(help="SNP: VCEK certificate (DER or PEM).", rich_help_panel=_PLATFORM)
    ] = None,
    vlek: Annotated[
        Path | None, typer.Option(help="SNP: VLEK certificate (DER or PEM).", rich_help_panel=_PLATFORM)
    ] = None,
    cert_chain: Annotated[
        Path | None,
        typer.Option(help="SNP: KDS cert_chain PEM (ASK or ASVK, then ARK).", rich_help_panel=_PLATFORM),
    ] = None,
    cert_table: Annotated[
        Path | None, typer.Option(help="SNP: extended-report certificate table.", rich_help_panel=_PLATFORM)
    ] = None,
    crl: Annotated[
        Path | None, typer.Option(help="SNP: AMD KDS CRL (opt-in).", rich_help_panel=_PLATFORM)
    ] = None,
    product: Annotated[
        str | None, typer.Option(help="SNP: milan, genoa or turin.", rich_help_panel=_PLATFORM)
    ] = None,
    allow_missing_crl: Annotated[
        bool,
        typer.Option(
            help="TDX: verify without CRLs (the default policy still refuses it).", rich_help_panel=_PLATFORM
        ),
    ] = False,
    pcs_url: Annotated[
        str | None,
        typer.Option(help="TDX: Intel PCS base URL (a PCCS or mirror).", rich_help_panel=_PLATFORM),
    ] = None,
    sysfs: SysfsOption = Path("/sys"),
    modules_dir: ModulesOption = None,
    modprobe: ModprobeOption = "modprobe",
    run_dir: RunDirOption = Path("/run/ccverify"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Attest and print the plan; change nothing.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Stage 2 (local mode): verify and appraise the evidence; only if the result is affirming,
    bind every device the policy allows."""
    command = "guest authorize"
    partial: dict[str, Any] = {"mode": "local", "dry_run": dry_run}

    def attest() -> Any:
        from ccverify.cli._appraise import attest as run_attest
        from ccverify.verifier.timeutil import parse_time

        if evidence is None:
            raise InputError(
                "--evidence is required for now: reading the guest's own evidence (configfs-tsm) comes with a later issue"
            )
        loaded = read_policy(
            device_policy, trust_anchor, at=parse_time(at, "--at") if at is not None else None
        )
        partial["policy"] = loaded.to_json()
        opts = VerifyOptions(
            evidence=read_input(evidence, "--evidence", "evidence"), evidence_path=evidence, collateral=collateral,
            offline=offline, at=parse_time(at, "--at") if at is not None else None, policy=policy,
            trust_root=trust_root, json=json_out, reference_values=reference_values,
            trust_anchor=trust_anchor[0], event_log=event_log, sequence_store=sequence_store, vcek=vcek,
            vlek=vlek, cert_chain=cert_chain, cert_table=cert_table, product=product, crl=crl,
            allow_missing_crl=allow_missing_crl, pcs_url=pcs_url,
        )  # fmt: skip
        platform, _verdict, result = run_attest(opts, trust_anchor)
        partial["platform"] = platform
        partial["attestation_result"] = result.to_json()
        return loaded, result

    loaded, result = enveloped(command, json_out, attest, lambda: partial)
    from ccverify.verifier.release import devices

    enveloped(command, json_out, lambda: devices.require_affirming(result), lambda: partial)
    index = enveloped(command, json_out, lambda: modules_index(modules_dir), lambda: partial)

    if dry_run:
        from ccverify.cli.devices import plan_table

        decisions = enveloped(
            command, json_out, lambda: devices.plan(loaded.policy, devices.scan(sysfs, loaded.policy.buses, index)),
            lambda: partial,
        )  # fmt: skip
        if json_out:
            from ccverify.cli.envelope import emit_envelope

            partial["decisions"] = [d.to_json() for d in decisions]
            emit_envelope(command, result=partial)
            return
        stdout.print(
            plan_table(decisions, "authorize --dry-run (attestation result affirming; nothing changed)")
        )
        return

    def apply() -> Applied:
        return devices.authorize(
            loaded,
            result,
            sysfs=sysfs,
            modules=index,
            loader=devices.modprobe_loader(modprobe),
            run_dir=run_dir,
        )

    applied = enveloped(command, json_out, apply, lambda: partial)
    if json_out:
        from ccverify.cli.envelope import emit_envelope

        partial["applied"] = applied.to_json()
        emit_envelope(command, result=partial)
        return
    _print_applied(
        applied, f"authorized (result affirming): {len(applied.bound)} devices bound; state in {run_dir}"
    )


# ``guest evidence`` (issue #17): the guest's own evidence, written for operators
app.command("evidence")(guest_evidence.evidence)
app.command("install-hook")(__import__("ccverify.cli.guest_hook", fromlist=["install_hook"]).install_hook)
