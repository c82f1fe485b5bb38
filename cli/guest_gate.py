"""The guest gate's remote mode and its secrets: ``guest authorize --relying-party``, ``guest
unlock``, ``guest finish``, ``guest askpass`` (issue #17).

``Settings`` merges the command line over the configuration file (``--config``, else
``/etc/ccverify/guest.toml`` when it exists; ``verifier/release/guest_config.py``) over the
defaults. ``authorize_remote`` is ``guest authorize`` in remote mode:

1. the run directory must be memory-backed (secrets are written there), checked first;
2. ``remote.attest_remote``: challenge, an HPKE key pair in memory, the guest's own evidence
   for the binding, attestation, the release opened; retries (connection failures, 503, 429
   only) with back-off, each announced on stderr, all within ``deadline`` seconds;
3. the device policy in the release (else the configured one) checked against the initramfs's
   anchors (``--trust-anchor`` / ``trust_anchors``);
4. the policy applied (``devices.authorize``: on failure nothing beyond bootstrap stays);
5. RTMR3 extended with the policy's SHA-384 and the event logged, where the kernel can
   (Linux >= 6.16 in a TD);
6. the secrets written (0400, ``<run_dir>/secrets/``).

Any failure before 6 writes no secret; before 4 changes no device.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccverify.cli._common import emit_json, guarded, read_file, stderr, stdout
from ccverify.cli._release import load_signed_policy, modules_index
from ccverify.verifier.errors import InputError

if TYPE_CHECKING:
    from ccverify.verifier.release.devices import Applied, Decision, LoadedPolicy, ModuleIndex
    from ccverify.verifier.release.guest_config import GuestConfig
    from ccverify.verifier.release.secrets import SecretStore

DEFAULT_SYSFS = Path("/sys")
DEFAULT_RUN_DIR = Path("/run/ccverify")


def load_config(path: Path | None) -> GuestConfig:
    """``path``, else ``/etc/ccverify/guest.toml`` when it exists, else an empty configuration."""
    from ccverify.verifier.release.guest_config import DEFAULT_PATH, GuestConfig, load_guest_config

    if path is not None:
        return load_guest_config(path)
    if DEFAULT_PATH.is_file():
        return load_guest_config(DEFAULT_PATH)
    return GuestConfig()


@dataclass(frozen=True)
class Settings:
    """What a guest command runs with: the command line over the configuration over defaults."""

    config: GuestConfig
    relying_party: str | None
    ca: Path | None
    relying_party_jwks: Path | None
    trust_anchors: tuple[Path, ...]
    evidence_provider: str
    deadline: float
    device_policy: Path | None
    reference_values: Path | None
    sysfs: Path
    run_dir: Path

    @classmethod
    def resolve(
        cls,
        config: GuestConfig,
        *,
        relying_party: str | None = None,
        ca: Path | None = None,
        relying_party_jwks: Path | None = None,
        trust_anchors: list[Path] | None = None,
        evidence_provider: str | None = None,
        deadline: float | None = None,
        device_policy: Path | None = None,
        reference_values: Path | None = None,
        sysfs: Path | None = None,
        run_dir: Path | None = None,
    ) -> Settings:
        from ccverify.verifier.release.guest_config import (
            DEFAULT_DEADLINE,
            EVIDENCE_PROVIDERS,
            MAX_DEADLINE,
        )

        provider = evidence_provider or config.evidence_provider or "auto"
        if provider not in EVIDENCE_PROVIDERS:
            raise InputError(f"--evidence-provider: one of {', '.join(EVIDENCE_PROVIDERS)}, got {provider!r}")
        seconds = deadline if deadline is not None else config.deadline or DEFAULT_DEADLINE
        if not 0 < seconds <= MAX_DEADLINE:
            raise InputError(
                f"--deadline: seconds, more than 0 and at most {MAX_DEADLINE:g}, got {seconds:g}"
            )
        return cls(
            config=config,
            relying_party=relying_party or config.relying_party,
            ca=ca or config.ca,
            relying_party_jwks=relying_party_jwks or config.relying_party_jwks,
            trust_anchors=tuple(trust_anchors) if trust_anchors else config.trust_anchors,
            evidence_provider=provider,
            deadline=float(seconds),
            device_policy=device_policy or config.device_policy,
            reference_values=reference_values or config.reference_values,
            sysfs=sysfs or config.sysfs or DEFAULT_SYSFS,
            run_dir=run_dir or config.run_dir or DEFAULT_RUN_DIR,
        )

    def require_anchors(self) -> tuple[Path, ...]:
        if not self.trust_anchors:
            raise InputError(
                "no trust anchor: --trust-anchor (or trust_anchors in the configuration) names who may sign "
                "the device policy"
            )
        return self.trust_anchors


def announce(line: str) -> None:
    """One line on stderr (a retry the console shows while the boot waits)."""
    sys.stderr.write(f"ccverify: {line}\n")
    sys.stderr.flush()


def plan(settings: Settings, loaded: LoadedPolicy, index: ModuleIndex) -> tuple[Decision, ...]:
    """``authorize --dry-run``: the decision the policy makes for each device (changes nothing)."""
    from ccverify.verifier.release import devices

    return devices.plan(loaded.policy, devices.scan(settings.sysfs, loaded.policy.buses, index))


def apply(
    settings: Settings, loaded: LoadedPolicy, attested: Any, index: ModuleIndex, modprobe: str
) -> Applied:
    """The policy applied for an affirming result (local) or an opened release (remote)."""
    from ccverify.verifier.release import devices

    return devices.authorize(
        loaded,
        attested,
        sysfs=settings.sysfs,
        modules=index,
        loader=devices.modprobe_loader(modprobe),
        run_dir=settings.run_dir,
    )


def record(settings: Settings, policy_bytes: Callable[[], bytes]) -> dict[str, Any] | None:
    """RTMR3 extended with the applied policy's digest and the event logged; None where the
    kernel has no run-time RTMR3 extends (before Linux 6.16, or SNP). ``policy_bytes`` is read
    only then."""
    from ccverify.verifier.release.rtmr3 import Rtmr3Recorder

    recorder = Rtmr3Recorder(settings.sysfs, settings.run_dir)
    if not recorder.available():
        return None
    done = recorder.record_policy(policy_bytes())
    return {
        "digest": done.digest.hex(),
        "before": done.rtmr3_before.hex(),
        "after": done.rtmr3_after.hex(),
        "log": str(done.log),
        "offset": done.event_offset,
    }


def _result_keys(settings: Settings) -> dict[str, Any] | None:
    """The relying party's pinned result-signing keys (a JWKS), or None where TLS alone
    authenticates it; over plain http:// a pin is required (anyone on the path could otherwise
    answer, and seal secrets of its choosing to this session's key)."""
    path = settings.relying_party_jwks
    url = settings.relying_party or ""
    if path is None:
        if not url.lower().startswith("https://"):  # http://, or anything else: only a pin can say
            raise InputError(
                f"relying party {url}: over http:// nothing authenticates the answer: set "
                "relying_party_jwks (the service's /.well-known/jwks.json, which `ccverify serve --init` "
                "writes as jwks.json) or use https://"
            )
        return None
    from ccverify.verifier.service.client import load_jwks

    return load_jwks(read_file(path, "--relying-party-jwks", "certificate"), str(path))


def authorize_remote(
    settings: Settings,
    *,
    modules_dir: Path | None,
    modprobe: str,
    json_out: bool,
    allow_disk_run_dir: bool,
    dry_run: bool,
) -> None:
    command = "guest authorize"
    json_command = command if json_out else None
    from ccverify.verifier.release.secrets import SecretStore

    url = settings.relying_party
    assert url is not None
    partial: dict[str, Any] = {
        "mode": "remote",
        "dry_run": dry_run,
        "relying_party": url,
        "deadline_seconds": settings.deadline,
    }
    store = SecretStore(settings.run_dir, allow_any_filesystem=allow_disk_run_dir)

    def prepare() -> tuple[Any, Any, str, bytes]:
        from ccverify.cli.guest_providers import make_provider
        from ccverify.verifier.release import remote
        from ccverify.verifier.release.rtmr3 import LOG_NAME
        from ccverify.verifier.service.client import RelyingPartyClient

        anchors = settings.require_anchors()
        for anchor in anchors:  # unreadable anchors fail before anything else happens
            read_file(anchor, "--trust-anchor", "certificate")
        store.require_memory()
        provider = make_provider(
            settings.evidence_provider,
            now=datetime.now(UTC).replace(microsecond=0),
            sysfs_root=settings.sysfs,
        )
        tee = remote.guess_tee(provider, sysfs_root=settings.sysfs)
        verify: bool | str = str(settings.ca) if settings.ca is not None else True
        if settings.ca is not None and not settings.ca.is_file():
            raise InputError(f"--ca {settings.ca}: no such file")
        client = RelyingPartyClient(url, verify=verify, timeout=settings.deadline)
        log_path = settings.run_dir / LOG_NAME
        runtime = log_path.read_bytes() if tee == "tdx" and log_path.is_file() else b""
        return client, provider, tee, runtime

    # before anything else: over http:// nothing but a pinned result key says who answered
    jwks = guarded(lambda: _result_keys(settings), json_command, lambda: partial)
    client, provider, tee, runtime = guarded(prepare, json_command, lambda: partial)

    def attest() -> Any:
        from ccverify.verifier.release import remote

        deadline = remote.Deadline(settings.deadline)
        return remote.attest_remote(
            client, provider, tee=tee, deadline=deadline, announce=announce, runtime_log=runtime or None,
            jwks=jwks,
        )  # fmt: skip

    release = guarded(attest, json_command, lambda: partial)
    partial["attestation"] = release.to_json()
    partial["seconds"] = round(release.seconds, 3)

    def policy() -> tuple[LoadedPolicy | None, bytes | None]:
        data, source = release.payload.device_policy, "release"
        if data is None and settings.device_policy is not None:
            data, source = read_file(settings.device_policy, "--device-policy", "device_policy"), "config"
        if data is None:
            return None, None
        loaded = load_signed_policy(data, settings.require_anchors())
        partial["policy"] = loaded.to_json()
        partial["policy_source"] = source
        return loaded, data

    loaded, policy_bytes = guarded(policy, json_command, lambda: partial)
    if loaded is None:
        partial["policy"] = None
    index = guarded(lambda: modules_index(modules_dir), json_command, lambda: partial)
    if dry_run:
        if loaded is not None:
            decisions = guarded(lambda: plan(settings, loaded, index), json_command, lambda: partial)
            partial["decisions"] = [d.to_json() for d in decisions]
        _report(command, json_out, partial, None, "authorize --dry-run (release opened; nothing changed)")
        return

    def apply_released() -> Applied | None:
        if loaded is None:
            return None
        return apply(settings, loaded, release, index, modprobe)

    applied = guarded(apply_released, json_command, lambda: partial)
    if applied is not None:
        partial["applied"] = applied.to_json()

    def record_released() -> Any:
        if loaded is None or policy_bytes is None or tee != "tdx":
            return None
        data = policy_bytes
        return record(settings, lambda: data)

    # after applying, as in local mode; a kernel without run-time RTMR3 extends records nothing
    partial["rtmr3"] = guarded(record_released, json_command, lambda: partial)

    def hand_over() -> dict[str, Any]:
        names = store.write(dict(release.payload.secrets))
        return {
            "directory": str(store.directory),
            "written": {n: len(release.payload.secrets[n]) for n in names},
        }

    partial["secrets"] = guarded(hand_over, json_command, lambda: partial)
    if applied is not None:
        headline = f"authorized by {url}: {len(applied.bound)} devices bound"
    else:
        headline = f"authorized by {url}: no device policy released or configured, devices unchanged"
    _report(command, json_out, partial, applied, headline)


def _report(
    command: str, json_out: bool, partial: dict[str, Any], applied: Applied | None, headline: str
) -> None:
    if json_out:
        emit_json(partial, command)
        return
    if applied is not None:
        from ccverify.cli.guest_run import print_applied

        print_applied(applied, headline)
    else:
        stdout.print(headline, highlight=False, markup=False)
    attestation = partial.get("attestation") or {}
    if attestation:
        stdout.print(
            f"  attestation: {attestation.get('ear_status')} ({attestation.get('attempts')} attempt(s), "
            f"{partial.get('seconds')} s; evidence from {attestation.get('provider')})",
            highlight=False,
            markup=False,
        )
    secrets = partial.get("secrets")
    if secrets:
        names = ", ".join(f"{n} ({size} bytes)" for n, size in secrets["written"].items()) or "none"
        stdout.print(f"  secrets in {secrets['directory']}: {names}", highlight=False, markup=False)


# ------------------------------------------------------------------------------ secrets


def store_of(settings_run_dir: Path) -> SecretStore:
    from ccverify.verifier.release.secrets import SecretStore

    return SecretStore(settings_run_dir, allow_any_filesystem=True)  # reading never writes


def unlock(
    config: GuestConfig, run_dir: Path | None, name: str | None, volume: str | None, json_out: bool
) -> None:
    command = "guest unlock"
    json_command = command if json_out else None

    def work() -> tuple[str, str | None, bytes, Path]:
        chosen_volume = volume
        secret = name
        if secret is None:
            chosen_volume = chosen_volume or os.environ.get("CRYPTTAB_NAME") or None
            if chosen_volume is None:
                raise InputError(
                    "which secret: NAME, --volume VOLUME, or $CRYPTTAB_NAME (set for an initramfs-tools keyscript)"
                )
            secret = config.volume_secret(chosen_volume)
        elif chosen_volume is not None:
            raise InputError("give NAME or --volume, not both")
        store = store_of(run_dir or config.run_dir or DEFAULT_RUN_DIR)
        return secret, chosen_volume, store.read(secret), store.directory

    secret, chosen_volume, value, directory = guarded(work, json_command)
    if json_out:
        emit_json(
            {
                "secret": secret,
                "volume": chosen_volume,
                "bytes": len(value),
                "directory": str(directory),
            },
            command,
        )
        return
    out = sys.stdout.buffer
    out.write(value)
    out.flush()


def finish(config: GuestConfig, run_dir: Path | None, persist: bool | None, json_out: bool) -> None:
    command = "guest finish"
    json_command = command if json_out else None
    keep = config.persist_secrets if persist is None else persist

    def work() -> dict[str, Any]:
        store = store_of(run_dir or config.run_dir or DEFAULT_RUN_DIR)
        removed = [] if keep else store.scrub()
        return {"directory": str(store.directory), "persisted": keep, "removed": removed}

    result = guarded(work, json_command)
    if json_out:
        emit_json(result, command)
        return
    if keep:
        stdout.print(
            f"secrets kept in {result['directory']} (persist_secrets)", highlight=False, markup=False
        )
    else:
        removed = ", ".join(result["removed"]) or "none"
        stdout.print(f"secrets removed from {result['directory']}: {removed}", highlight=False, markup=False)


def askpass(
    config: GuestConfig,
    run_dir: Path | None,
    directory: Path,
    once: bool,
    timeout: float | None,
    json_out: bool,
) -> None:
    command = "guest askpass"
    json_command = command if json_out else None
    import time

    def work() -> dict[str, Any]:
        from ccverify.verifier.release.askpass import Agent

        if not config.volumes:
            raise InputError(
                "no [volumes.<name>] in the configuration: nothing says which secret unlocks which volume"
            )
        agent = Agent(
            store_of(run_dir or config.run_dir or DEFAULT_RUN_DIR),
            config.volumes,
            directory=directory,
            log=lambda line: stderr.print(f"ccverify askpass: {line}", highlight=False, markup=False),
        )
        stop = time.monotonic() + timeout if timeout is not None else None
        given = agent.run(once=once, until=lambda: stop is not None and time.monotonic() > stop)
        return {
            "directory": str(directory),
            "answered": [{"ask": a.ask, "volume": a.volume, "secret": a.secret, "id": a.id} for a in given],
        }

    result = guarded(work, json_command)
    if json_out:
        emit_json(result, command)
        return
    for answered in result["answered"]:
        stdout.print(
            f"answered {answered['id']} ({answered['volume']}) with secret {answered['secret']}",
            highlight=False,
            markup=False,
        )
