"""The guest gate's configuration: ``/etc/ccverify/guest.toml``, copied into the initramfs.

Every option of ``ccverify guest authorize|unlock|finish|askpass`` can come from it (an option
on the command line wins). Read with the standard library's ``tomllib``; a wrong key or value
is an ``InputError`` naming the key (``guest.toml: deadline: ...``). Relative paths are
relative to the file's folder. ``KEYS`` is the table the README prints.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccverify.verifier.errors import InputError

DEFAULT_PATH = Path("/etc/ccverify/guest.toml")
#: the overall deadline of remote mode, seconds (README "The guest gate": why 30)
DEFAULT_DEADLINE = 30.0
MAX_DEADLINE = 600.0
EVIDENCE_PROVIDERS = ("auto", "configfs", "sev-guest", "example")
_VOLUME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_SECRET = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")

#: key -> (JSON Schema-like type, default, meaning): the README's table
KEYS: Mapping[str, tuple[str, str, str]] = {
    "relying_party": (
        "string (https:// or http:// URL)",
        "none: local mode",
        "The relying party (`ccverify serve`); set, `guest authorize` runs in remote mode.",
    ),
    "ca": (
        "string (path)",
        "the system's CAs",
        "PEM bundle that verifies the relying party's TLS certificate.",
    ),
    "relying_party_jwks": (
        "string (path)",
        "none",
        "Remote mode: the relying party's result-signing keys (the JWKS it publishes at "
        "`/.well-known/jwks.json`; `serve --init` writes it as `jwks.json`). A release opens only "
        "under a result token one of them signed for this session's nonce. Required over http://.",
    ),
    "trust_anchors": (
        "array of strings (paths), minItems 1",
        "required",
        "Keys or certificates trusted to sign the device policy (and, local mode, the reference "
        "values): the anchors built into the initramfs.",
    ),
    "evidence_provider": (
        'string: "auto" | "configfs" | "sev-guest" | "example"',
        '"auto"',
        "Where the guest's own evidence comes from (`example`: minted by the example PKI, not hardware).",
    ),
    "deadline": (
        "number of seconds, 0 < deadline <= 600",
        "30",
        "Remote mode: everything (challenge, evidence, attestation, every retry) ends by then.",
    ),
    "device_policy": (
        "string (path)",
        "none",
        "The signed device policy in the initramfs: `guest lockdown` and local mode apply it; remote "
        "mode applies the release's and falls back to it.",
    ),
    "reference_values": ("string (path)", "none", "Local mode: the signed reference values (CoRIM)."),
    "trust_root": (
        "string (path)",
        "the vendor's root (Intel SGX Root CA / AMD ARK) pinned in ccverify",
        "Local mode: the root the evidence's chain must end in, in place of the pinned vendor root "
        "(a test PKI's, as `--trust-root`: trusted because the image's owner named it).",
    ),
    "collateral": (
        "string (path)",
        "none: fetched",
        "Local mode: collateral for the evidence (QuoteCollateralV3 JSON or an offline bundle) in the "
        "initramfs, used before any fetch.",
    ),
    "sysfs": ("string (path)", '"/sys"', "Root of sysfs."),
    "run_dir": (
        "string (path)",
        '"/run/ccverify"',
        "Applied state, RTMR3 log, and `secrets/` (must be tmpfs or ramfs).",
    ),
    "volumes": (
        'object: name -> {"secret": string, "device"?: string}',
        "{}",
        "`[volumes.<name>]` (the crypttab name): which released `secret` unlocks it; optional "
        "`device`, as in the ask-password `Id=cryptsetup:<device>`.",
    ),
    "persist_secrets": (
        "boolean",
        "false",
        "Keep the secrets past `guest finish` (switch-root); by default they are removed.",
    ),
}


@dataclass(frozen=True)
class Volume:
    """A LUKS volume the guest unlocks: its name (as the initramfs's crypttab or ``rd.luks.name``
    names it), the released secret that unlocks it, and the device when the file names one."""

    name: str
    secret: str
    device: str | None = None


@dataclass(frozen=True)
class GuestConfig:
    """What the file says; None where it says nothing (the command's default applies)."""

    path: Path | None = None
    relying_party: str | None = None
    ca: Path | None = None
    relying_party_jwks: Path | None = None
    trust_anchors: tuple[Path, ...] = ()
    evidence_provider: str | None = None
    deadline: float | None = None
    device_policy: Path | None = None
    reference_values: Path | None = None
    trust_root: Path | None = None
    collateral: Path | None = None
    sysfs: Path | None = None
    run_dir: Path | None = None
    volumes: Mapping[str, Volume] = field(default_factory=dict)
    persist_secrets: bool = False

    def volume_secret(self, volume: str) -> str:
        found = self.volumes.get(volume)
        if found is None:
            where = f" in {self.path}" if self.path else ""
            raise InputError(f"volume {volume!r} has no [volumes.{volume}] entry{where}")
        return found.secret


def _fail(path: Path | str, key: str, message: str) -> InputError:
    return InputError(f"{Path(path).name}: {key}: {message}")


def load_guest_config(path: Path) -> GuestConfig:
    """Read and check ``path``; ``InputError`` naming the file and the key."""
    import tomllib

    from ccverify.verifier.limits import read_bounded

    data = read_bounded(path, "guest_config", "--config")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path.name}: not valid TOML: {error}") from None
    return parse_guest_config(document, path)


def parse_guest_config(document: Mapping[str, Any], path: Path) -> GuestConfig:
    base = path.parent
    unknown = sorted(set(document) - set(KEYS))
    if unknown:
        raise _fail(path, unknown[0], f"unknown key (known: {', '.join(KEYS)})")

    def text(key: str) -> str | None:
        value = document.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value or "\0" in value:
            raise _fail(path, key, f"a non-empty string, got {value!r}")
        return value

    def a_path(key: str) -> Path | None:
        value = text(key)
        return None if value is None else (base / value if not Path(value).is_absolute() else Path(value))

    relying_party = text("relying_party")
    if relying_party is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", relying_party):
        raise _fail(path, "relying_party", f"an https:// (or http://) URL, got {relying_party!r}")
    anchors_value = document.get("trust_anchors")
    anchors: tuple[Path, ...] = ()
    if anchors_value is not None:
        if (
            not isinstance(anchors_value, list)
            or not anchors_value
            or not all(isinstance(a, str) and a for a in anchors_value)
        ):
            raise _fail(path, "trust_anchors", f"a non-empty array of paths, got {anchors_value!r}")
        anchors = tuple(base / a if not Path(a).is_absolute() else Path(a) for a in anchors_value)
    provider = text("evidence_provider")
    if provider is not None and provider not in EVIDENCE_PROVIDERS:
        raise _fail(path, "evidence_provider", f"one of {', '.join(EVIDENCE_PROVIDERS)}, got {provider!r}")
    deadline = document.get("deadline")
    if deadline is not None:
        if (
            isinstance(deadline, bool)
            or not isinstance(deadline, (int, float))
            or not math.isfinite(deadline)
            or not 0 < deadline <= MAX_DEADLINE
        ):
            raise _fail(
                path, "deadline", f"seconds, more than 0 and at most {MAX_DEADLINE:g}, got {deadline!r}"
            )
        deadline = float(deadline)
    persist = document.get("persist_secrets", False)
    if not isinstance(persist, bool):
        raise _fail(path, "persist_secrets", f"true or false, got {persist!r}")
    volumes_value = document.get("volumes", {})
    if not isinstance(volumes_value, dict):
        raise _fail(path, "volumes", "a table of [volumes.<name>] tables")
    volumes: dict[str, Volume] = {}
    for name, entry in volumes_value.items():
        key = f"volumes.{name}"
        if not _VOLUME.fullmatch(name):
            raise _fail(path, key, "a volume name is 1-128 characters of A-Za-z0-9._-")
        if not isinstance(entry, dict):
            raise _fail(path, key, 'a table with secret = "<name>"')
        extra = sorted(set(entry) - {"secret", "device"})
        if extra:
            raise _fail(path, f"{key}.{extra[0]}", "unknown key (known: secret, device)")
        secret = entry.get("secret")
        if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
            raise _fail(path, f"{key}.secret", f"the name of a released secret, got {secret!r}")
        device = entry.get("device")
        if device is not None and (not isinstance(device, str) or not device.startswith("/")):
            raise _fail(path, f"{key}.device", f"an absolute device path, got {device!r}")
        volumes[name] = Volume(name, secret, device)
    return GuestConfig(
        path=path,
        relying_party=relying_party,
        ca=a_path("ca"),
        relying_party_jwks=a_path("relying_party_jwks"),
        trust_anchors=anchors,
        evidence_provider=provider,
        deadline=deadline,
        device_policy=a_path("device_policy"),
        reference_values=a_path("reference_values"),
        trust_root=a_path("trust_root"),
        collateral=a_path("collateral"),
        sysfs=a_path("sysfs"),
        run_dir=a_path("run_dir"),
        volumes=volumes,
        persist_secrets=persist,
    )
