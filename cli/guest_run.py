"""The bodies of the initramfs hook's ``guest`` verbs (``lockdown``, ``authorize``, ``unlock``,
``finish``), without typer: ``cli/guest.py``'s typer commands call them with every parameter,
and the console entry (``cli/entry.py``) calls them for the hook's own command lines read by
``cli/guest_args.py``, so both paths run the same code. Each function's defaults are the typer
command's (a test holds them to that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccverify.cli._common import VerifyOptions, emit_json, guarded, read_file, read_input, stdout
from ccverify.cli._release import modules_index, read_policy
from ccverify.verifier.errors import InputError

if TYPE_CHECKING:
    from ccverify.verifier.release.devices import Applied


def print_applied(applied: Applied, headline: str) -> None:
    from ccverify.cli._release import print_plan

    print_plan(applied.decisions, headline)
    for change in applied.changes:
        target = change.target + (f" ({change.driver})" if change.driver else "")
        # not markup: "[rolled back]" and the device names are text
        stdout.print(
            f"  {change.action}{' [rolled back]' if change.rolled_back else ''}: {target}",
            highlight=False, markup=False,
        )  # fmt: skip


def lockdown(
    *,
    device_policy: Path | None = None,
    trust_anchor: list[Path] | None = None,
    sysfs: Path | None = None,
    modules_dir: Path | None = None,
    modprobe: str = "modprobe",
    run_dir: Path | None = None,
    config: Path | None = None,
    json_out: bool = False,
) -> None:
    """``guest lockdown``."""

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
    print_applied(applied, f"lockdown: {len(applied.bound)} bootstrap devices bound; unbound: {unbound}")


def authorize(
    *,
    device_policy: Path | None = None,
    trust_anchor: list[Path] | None = None,
    reference_values: Path | None = None,
    relying_party: str | None = None,
    ca: Path | None = None,
    relying_party_jwks: Path | None = None,
    evidence_provider: str | None = None,
    deadline: float | None = None,
    config: Path | None = None,
    evidence: Path | None = None,
    event_log: Path | None = None,
    collateral: Path | None = None,
    offline: bool = False,
    at: str | None = None,
    policy: Path | None = None,
    trust_root: Path | None = None,
    sequence_store: Path | None = None,
    vcek: Path | None = None,
    vlek: Path | None = None,
    cert_chain: Path | None = None,
    cert_table: Path | None = None,
    crl: Path | None = None,
    product: str | None = None,
    allow_missing_crl: bool = False,
    pcs_url: str | None = None,
    sysfs: Path | None = None,
    modules_dir: Path | None = None,
    modprobe: str = "modprobe",
    run_dir: Path | None = None,
    dry_run: bool = False,
    allow_disk_run_dir: bool = False,
    json_out: bool = False,
) -> None:
    """``guest authorize``."""
    from ccverify.cli import guest_gate

    command = "guest authorize"
    json_command = command if json_out else None
    settings = guarded(
        lambda: guest_gate.Settings.resolve(
            guest_gate.load_config(config), relying_party=relying_party, ca=ca,
            relying_party_jwks=relying_party_jwks, trust_anchors=trust_anchor,
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
            collateral_path = collateral or settings.config.collateral or got_collateral
        opts = VerifyOptions(
            evidence=evidence_bytes, evidence_path=evidence_path, collateral=collateral_path,
            offline=offline, at=moment, policy=policy,
            trust_root=trust_root or settings.config.trust_root, json=json_out,
            reference_values=settings.reference_values,
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
        from ccverify.cli._release import print_plan

        decisions = guarded(lambda: guest_gate.plan(settings, loaded, index), json_command, lambda: partial)
        if json_out:
            partial["decisions"] = [d.to_json() for d in decisions]
            emit_json(partial, command)
            return
        print_plan(decisions, "authorize --dry-run (attestation result affirming; nothing changed)")
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
    print_applied(
        applied,
        f"authorized (result affirming): {len(applied.bound)} devices bound; state in {settings.run_dir}",
    )


def _own_evidence(settings: Any, partial: dict[str, Any]) -> tuple[bytes, Path, Path | None, Path | None]:
    """Local mode without --evidence: the guest's own evidence for fresh REPORT_DATA, written to
    ``<run_dir>/evidence/`` (quote or report, the CCEL followed by ccverify's RTMR3 log, the
    example provider's collateral) for the verification to read."""
    from datetime import UTC, datetime

    from ccverify.cli.guest_providers import make_provider
    from ccverify.verifier.release.guest import REPORT_DATA_SIZE
    from ccverify.verifier.release.rtmr3 import LOG_NAME

    # os.urandom is what secrets.token_bytes returns; secrets would import random and base64
    report_data = os.urandom(REPORT_DATA_SIZE)
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


def unlock(
    *,
    name: str | None = None,
    volume: str | None = None,
    config: Path | None = None,
    run_dir: Path | None = None,
    json_out: bool = False,
) -> None:
    """``guest unlock``."""
    from ccverify.cli import guest_gate

    cfg = guarded(lambda: guest_gate.load_config(config), "guest unlock" if json_out else None)
    guest_gate.unlock(cfg, run_dir, name, volume, json_out)


def finish(
    *, config: Path | None = None, run_dir: Path | None = None, persist: bool = False, json_out: bool = False
) -> None:
    """``guest finish``."""
    from ccverify.cli import guest_gate

    cfg = guarded(lambda: guest_gate.load_config(config), "guest finish" if json_out else None)
    guest_gate.finish(cfg, run_dir, persist or None, json_out)
