"""Replay event logs to measurement registers, check them, and find the boot components.

* ``replay(log, algorithm=...)``: ``reg = H(reg || digest)`` from zeros for every event that is
  not EV_NO_ACTION, per log index (PCR for TPM logs, CC MR index for CCELs).
* ``rtmrs_from_ccel(log)``: RTMR[i] is the replay of CC MR index i+1 (UEFI 2.10 §38.4.1).
* ``check_separators(log)``: go-eventlog's rule, one EV_SEPARATOR per register.
* ``verify_event_digests(log)``: the events whose data determine their digest must hash to it.
* ``rtmr_comparison(log, quoted)``: replayed RTMRs against the quote's, register by register
  (``compare_rtmrs(replayed, quoted)`` for registers already replayed);
  ``require_rtmrs_replayed(log, quoted)`` raises ``event_log_mismatch`` unless all match.
* ``boot_components(log)``: firmware, kernel, command line and initrd digests as logged, which
  is what signed reference values are matched against.
* ``account_events(log, ...)``: every event of a register either carries a digest the reference
  values approve, or a digest its own data proves under a fixed rule, or it is unaccounted for.

The replayed registers are only as good as the comparison with a quoted/attested value: event
data is untrusted until its register matches and, for interpreted events, its digest matches.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ccverify.verifier.errors import Code, InputError, ParseError, VerificationError
from ccverify.verifier.evidence.eventlog import (
    HASHLIB_NAMES,
    INITRD_EVENT_TAG_ID,
    LOAD_OPTIONS_EVENT_TAG_ID,
    Alg,
    Event,
    EventLog,
    EventType,
    Flavour,
    TdShimConfigInfo,
    alg_name,
)

SHA1 = Alg.SHA1
SHA256 = Alg.SHA256
SHA384 = Alg.SHA384
SHA512 = Alg.SHA512

RTMR_SIZE = 48
_STARTUP_LOCALITY = b"StartupLocality\x00"


#: the hashlib constructors of the algorithms eventlog knows by name
_CONSTRUCTORS: dict[int, Callable[[bytes], Any]] = {
    alg: getattr(hashlib, name) for alg, name in HASHLIB_NAMES.items()
}


def _hasher(algorithm: int) -> Callable[[bytes], bytes]:
    constructor = _CONSTRUCTORS.get(algorithm)
    if constructor is None:
        raise InputError(f"cannot replay digest algorithm {alg_name(algorithm)}: no hash implementation")
    return lambda data: constructor(data).digest()


def _require_algorithm(log: EventLog, algorithm: int) -> None:
    if algorithm not in log.algorithms:
        have = ", ".join(alg_name(a) for a in log.algorithms)
        raise InputError(f"the event log has no {alg_name(algorithm)} digests (it has {have})")


def _event_digest(event: Event, algorithm: int) -> bytes:
    digest = event.digests.get(algorithm)
    if digest is None:
        raise VerificationError(
            Code.EVENT_LOG_DIGEST_MISSING,
            f"event {event.number} ({event.type_name}, index {event.index}) at offset {event.offset} "
            f"has no {alg_name(algorithm)} digest, so its register cannot be replayed",
        )
    return digest


def _register_name(log: EventLog, index: int) -> str:
    if log.flavour is Flavour.CCEL:
        return f"CC MR index {index} (RTMR{index - 1})" if 1 <= index <= 4 else f"CC MR index {index}"
    return f"PCR{index}"


def replay(log: EventLog, *, algorithm: int = SHA384) -> dict[int, bytes]:
    """Registers by log index, each replayed from zeros over its non-EV_NO_ACTION events.

    A TPM log's ``StartupLocality`` EV_NO_ACTION event on PCR0 sets PCR0's initial value to
    the locality (last byte), as the TPM does.
    """
    _require_algorithm(log, algorithm)
    h = _hasher(algorithm)
    size = len(h(b""))
    registers: dict[int, bytes] = {}
    initial: dict[int, bytes] = {}
    for event in log.events:
        if event.event_type == EventType.EV_NO_ACTION:
            if event.index == 0 and len(event.data) == 17 and event.data[:16] == _STARTUP_LOCALITY:
                initial[0] = bytes(size - 1) + event.data[16:17]
            continue
        digest = _event_digest(event, algorithm)
        current = registers.get(event.index)
        if current is None:
            current = initial.get(event.index, bytes(size))
        registers[event.index] = h(current + digest)
    return dict(sorted(registers.items()))


def _check_cc_indices(log: EventLog) -> None:
    for event in log.events:
        if event.event_type == EventType.EV_NO_ACTION:
            continue
        if not 1 <= event.index <= 4:
            what = "MRTD, which is never extended at runtime" if event.index == 0 else "no TDX register"
            raise ParseError(
                "CCEL", f"event[{event.number}].mrIndex", event.offset,
                f"{event.type_name} extends CC MR index {event.index} ({what}); a CCEL may only use 1-4 "
                "(RTMR0-3)",
            )


def rtmrs_from_ccel(log: EventLog) -> tuple[bytes, bytes, bytes, bytes]:
    """RTMR0-3 from a CCEL: RTMR[i] = SHA-384 replay of CC MR index i+1 (zeros if never extended)."""
    if log.flavour is not Flavour.CCEL:
        raise InputError(
            "this is a TPM event log (PCR indices), not a CCEL: replay it with replay(log, algorithm=...)"
        )
    _check_cc_indices(log)
    registers = replay(log, algorithm=SHA384)
    zero = bytes(RTMR_SIZE)
    return (
        registers.get(1, zero),
        registers.get(2, zero),
        registers.get(3, zero),
        registers.get(4, zero),
    )


def check_separators(log: EventLog) -> None:
    """Reject a second EV_SEPARATOR in one register (go-eventlog; an old TDVF bug logged two)."""
    first: dict[int, Event] = {}
    for event in log.events:
        if event.event_type != EventType.EV_SEPARATOR:
            continue
        earlier = first.get(event.index)
        if earlier is not None:
            raise VerificationError(
                Code.EVENT_LOG_DUPLICATE_SEPARATOR,
                f"duplicate separator at event {event.number} (offset {event.offset}, 0x{event.offset:x}) in "
                f"{_register_name(log, event.index)}; event {earlier.number} (offset {earlier.offset}) "
                "already separated it, so the log cannot say which events came before the boot "
                "manager ran",
            )
        first[event.index] = event


# --------------------------------------------------------------------------------------------
# Event digests


@dataclass(frozen=True)
class DigestMismatch:
    """An event whose data does not hash to its recorded digest under the rule for its type."""

    number: int
    offset: int
    index: int
    event_type: str
    algorithm: str
    rule: str
    recorded: bytes
    computed: bytes  # what the rule expects (the first candidate, when several are allowed)


_GRUB_CMDLINE = b"kernel_cmdline: "
_GRUB_PREFIXES = (b"grub_cmd: ", _GRUB_CMDLINE)
_EXIT_BOOT_SERVICES = b"Exit Boot Services Invocation"
#: the EV_EFI_ACTION strings UEFI firmware logs (PFP §10.4.4 and edk2 TcgDxe/Tcg2Dxe): fixed data,
#: so an event carrying one is bound by H(string) whatever it is labelled
FIXED_ACTIONS = frozenset({
    b"Calling EFI Application from Boot Option",
    b"Returning from EFI Application from Boot Option",
    _EXIT_BOOT_SERVICES,
    b"Exit Boot Services Returned with Failure",
    b"Exit Boot Services Returned with Success",
})
#: EV_SEPARATOR's normal value (PFP: 0x00000000; 0x00000001 signals an error)
SEPARATOR_DATA = bytes(4)


def _digest_rule(event: Event, h: Callable[[bytes], bytes]) -> tuple[str, list[bytes]] | None:
    """The rule that binds an event's data to its digest, and the digests it allows.

    Rules and the real logs that prove them (``tests/fixtures``):
    * EV_SEPARATOR, EV_EFI_ACTION, EV_EFI_GPT_EVENT, EV_S_CRTM_VERSION: H(data). All go-eventlog
      CCEL and TPM logs, trustee CCEL_data/CCEL_data_ovmf.
    * EV_EFI_VARIABLE_DRIVER_CONFIG and EV_EFI_VARIABLE_AUTHORITY: H(whole UEFI_VARIABLE_DATA).
      COS-113 CCEL (SecureBoot/PK/KEK/db/dbx, shim's SbatLevel/MokListTrusted), COS-101 and
      Ubuntu 21.04 TPM logs. (debian-10.bin's shim 15 logs a "Shim" authority event whose digest
      covers neither: it is reported.)
    * EV_EFI_VARIABLE_BOOT: OVMF/TDVF and GCE firmware hash only VariableData (COS-113 CCEL,
      CCEL_unpadded, event_log.bin, COS-101, Ubuntu 21.04, Debian 10); the PFP says the whole
      UEFI_VARIABLE_DATA, which arch-linux-workstation.bin (real hardware) does. Both are accepted.
    * EV_EFI_VARIABLE_BOOT2: H(whole UEFI_VARIABLE_DATA) (PFP).
    * grub EV_IPL "grub_cmd: X" / "kernel_cmdline: X": H(X), prefix and trailing NUL excluded
      (COS-113 CCEL, COS-101 and Ubuntu 21.04 TPM logs). Other EV_IPL events (file paths, shim's
      MokList) measure content that is not in the log and are not checked.
    * td-shim EV_PLATFORM_CONFIG_FLAGS (``descriptor[16]; u32 length; info``): H(info) (trustee
      CCEL_data "td_hob" and "td_payload_info").
    * any other type whose data is one of the fixed EV_EFI_ACTION strings (``FIXED_ACTIONS``):
      H(data). Such data under another label is a relabel; its digest must still be the string's.
    Not checked (their digest covers content that is not in the log): EV_EVENT_TAG (load options,
    initrd), EV_EFI_BOOT_SERVICES_APPLICATION (Authenticode), EV_EFI_PLATFORM_FIRMWARE_BLOB2,
    EV_EFI_HANDOFF_TABLES2 (TD HOB), OVMF's EV_PLATFORM_CONFIG_FLAGS (ACPI tables), EV_POST_CODE,
    EV_NO_ACTION.
    """
    t = event.event_type
    data = event.data
    if t in (EventType.EV_SEPARATOR, EventType.EV_EFI_ACTION, EventType.EV_EFI_GPT_EVENT,
             EventType.EV_S_CRTM_VERSION):
        return "H(data)", [h(data)]
    if t in (EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, EventType.EV_EFI_VARIABLE_AUTHORITY,
             EventType.EV_EFI_VARIABLE_BOOT2):
        return "H(UEFI_VARIABLE_DATA)", [h(data)]
    if t == EventType.EV_EFI_VARIABLE_BOOT:
        allowed = [h(data)]
        with contextlib.suppress(ParseError):
            allowed.insert(0, h(event.variable().variable_data))
        return "H(VariableData) or H(UEFI_VARIABLE_DATA)", allowed
    if t == EventType.EV_IPL:
        for prefix in _GRUB_PREFIXES:
            if data.startswith(prefix):
                return f"grub H(text after {prefix.decode()!r})", [h(data[len(prefix) :].rstrip(b"\x00"))]
    if t == EventType.EV_PLATFORM_CONFIG_FLAGS:
        config = _td_shim_config(event)
        if config is not None:
            return "td-shim H(info)", [h(config.info)]
    if data.rstrip(b"\x00") in FIXED_ACTIONS:
        return "H(data) (a fixed EV_EFI_ACTION string)", [h(data)]
    return None


def _td_shim_config(event: Event) -> TdShimConfigInfo | None:
    """The event's td-shim config info, or None when its data is not one."""
    try:
        return event.td_shim_config()
    except ParseError:
        return None


def verify_event_digests(log: EventLog, *, algorithms: Sequence[int] | None = None) -> list[DigestMismatch]:
    """Events whose data do not hash to their digest (see ``_digest_rule``); empty when all match.

    Every algorithm of the log is checked unless ``algorithms`` names some.
    """
    chosen = list(algorithms) if algorithms is not None else [a for a in log.algorithms if a in HASHLIB_NAMES]
    for alg in chosen:
        _require_algorithm(log, alg)
    mismatches: list[DigestMismatch] = []
    for alg in chosen:
        h = _hasher(alg)
        for event in log.events:
            recorded = event.digests.get(alg)
            if recorded is None:
                continue
            rule = _digest_rule(event, h)
            if rule is None:
                continue
            name, allowed = rule
            if recorded not in allowed:
                mismatches.append(DigestMismatch(
                    number=event.number, offset=event.offset, index=event.index,
                    event_type=event.type_name, algorithm=alg_name(alg), rule=name,
                    recorded=recorded, computed=allowed[0],
                ))
    return mismatches


# --------------------------------------------------------------------------------------------
# RTMR comparison


@dataclass(frozen=True)
class RtmrMismatch:
    """An RTMR whose replayed value differs from the quote's."""

    rtmr: int
    quoted: bytes
    replayed: bytes


@dataclass(frozen=True)
class RtmrComparison:
    """Replayed RTMRs against the quote's: which matched, which differ, which were left out."""

    replayed: tuple[bytes, ...]
    quoted: tuple[bytes, ...]
    matched: tuple[int, ...]  # RTMR numbers that equal the quote
    mismatches: tuple[RtmrMismatch, ...]
    ignored: tuple[int, ...]  # RTMR numbers deliberately not compared (RTMR3: runtime extends)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def rtmr_comparison(
    log: EventLog, quoted_rtmrs: Sequence[bytes], *, ignore_rtmr3: bool = False
) -> RtmrComparison:
    """The CCEL replay against the quote's RTMR0-3, each register matched or not; never raises
    for a mismatch (``require_rtmrs_replayed`` does).

    ``ignore_rtmr3``: runtime extends of RTMR3 (tsm-mr sysfs, configfs) add no CCEL entry, so a
    relying party may skip it; the result records that it did. Four quoted registers of 48
    bytes are required (``InputError``).
    """
    quoted = _quoted(quoted_rtmrs)
    return compare_rtmrs(rtmrs_from_ccel(log), quoted, ignore_rtmr3=ignore_rtmr3)


def compare_rtmrs(
    replayed: Sequence[bytes], quoted_rtmrs: Sequence[bytes], *, ignore_rtmr3: bool = False
) -> RtmrComparison:
    """``rtmr_comparison`` of registers already replayed (``rtmrs_from_ccel``'s four)."""
    quoted = _quoted(quoted_rtmrs)
    replayed = tuple(replayed)
    ignored = (3,) if ignore_rtmr3 else ()
    matched: list[int] = []
    mismatches: list[RtmrMismatch] = []
    for i in range(4):
        if i in ignored:
            continue
        if replayed[i] == quoted[i]:
            matched.append(i)
        else:
            mismatches.append(RtmrMismatch(i, quoted[i], replayed[i]))
    return RtmrComparison(replayed, quoted, tuple(matched), tuple(mismatches), ignored)


def _quoted(quoted_rtmrs: Sequence[bytes]) -> tuple[bytes, ...]:
    quoted = tuple(bytes(q) for q in quoted_rtmrs)
    if len(quoted) != 4 or any(len(q) != RTMR_SIZE for q in quoted):
        raise InputError(
            f"expected 4 quoted RTMRs of {RTMR_SIZE} bytes, "
            f"got {len(quoted)} of sizes {[len(q) for q in quoted]}"
        )
    return quoted


def require_rtmrs_replayed(
    log: EventLog, quoted_rtmrs: Sequence[bytes], *, ignore_rtmr3: bool = False
) -> RtmrComparison:
    """``rtmr_comparison``, raising ``VerificationError("event_log_mismatch")`` naming each
    register that differs (the first's values as expected/actual)."""
    result = rtmr_comparison(log, quoted_rtmrs, ignore_rtmr3=ignore_rtmr3)
    if result.mismatches:
        parts = "; ".join(
            f"RTMR{m.rtmr}: the quote has {m.quoted.hex()} but the event log replays to {m.replayed.hex()}"
            for m in result.mismatches
        )
        note = " (RTMR3 not compared)" if result.ignored else ""
        first = result.mismatches[0]
        raise VerificationError(
            Code.EVENT_LOG_MISMATCH,
            f"the event log does not reproduce the quoted registers{note}: {parts}",
            expected=first.quoted,
            actual=first.replayed,
        )
    return result


# --------------------------------------------------------------------------------------------
# Boot components


@dataclass(frozen=True)
class Component:
    """One measured boot component as logged: its digest and the event that carries it."""

    digest: bytes
    number: int
    index: int
    offset: int
    source: str  # which kind of event it came from
    description: str
    text: str | None = None  # command lines: the logged text, when the log has it


@dataclass(frozen=True)
class BootComponents:
    """The boot's measured components as the event log shows them, by stage, in order."""

    algorithm: str
    firmware: tuple[Component, ...]
    kernel: tuple[Component, ...]  # every image the firmware started, in order (shim, grub, kernel)
    cmdline: tuple[Component, ...]
    initrd: tuple[Component, ...]


_LOAD_OPTIONS_TEXT = b"LOADED_IMAGE::LoadOptions\x00"
_INITRD_TEXT = b"Linux initrd\x00"


def _tag_kind(event: Event) -> int | None:
    """LOAD_OPTIONS / INITRD tag id of an EV_EVENT_TAG, also for the untagged form.

    CCEL_unpadded.data.bin (go-eventlog) carries just "LOADED_IMAGE::LoadOptions\\0" without the
    TCG_PCClientTaggedEvent header; CCEL_data_ovmf (trustee) has the proper tagged form.
    """
    try:
        return event.tagged().tagged_event_id
    except ParseError:
        if event.data == _LOAD_OPTIONS_TEXT:
            return LOAD_OPTIONS_EVENT_TAG_ID
        if event.data == _INITRD_TEXT:
            return INITRD_EVENT_TAG_ID
        return None


def _default_algorithm(log: EventLog) -> int:
    for alg in (SHA384, SHA256, SHA1):
        if alg in log.algorithms:
            return alg
    raise InputError("the event log has no SHA-384, SHA-256 or SHA-1 digests")


#: the RTMR of a TPM log's PCR, as TDVF maps them to CC measurement registers (UEFI 2.10
#: §38.4.1, edk2 MapPcrToMrIndex: CC MR index = RTMR + 1), except PCR0, which TDX firmware blobs
#: share with PCR1 and 7
_PCR_TO_RTMR = {0: 0, 1: 0, 7: 0, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, **{pcr: 2 for pcr in range(8, 16)}}
#: the PCR a TPM log measures boot applications (the kernel) into
_BOOT_APPLICATION_PCR = 4


def rtmr_of(log: EventLog, index: int) -> int | None:
    """The RTMR (0-3) an event of log index ``index`` speaks for: a CCEL's CC MR index minus one,
    a TPM log's PCR through TDVF's mapping; None for neither (CC MR index 0 is MRTD)."""
    if log.flavour is Flavour.CCEL:
        return index - 1 if 1 <= index <= 4 else None
    return _PCR_TO_RTMR.get(index)


def exit_boot_services(log: EventLog, *, algorithm: int | None = None) -> dict[int, int]:
    """Per log index, the number of the first event that proves ExitBootServices was invoked.

    Only an EV_EFI_ACTION whose digest is the hash of "Exit Boot Services Invocation" counts:
    the label and the data are not bound by the replay, the digest is. Its position orders only
    the events of its own register (the replay binds each register's sequence, nothing across
    registers), so it ends the boot for that register alone.
    """
    alg = algorithm if algorithm is not None else _default_algorithm(log)
    _require_algorithm(log, alg)
    expected = _hasher(alg)(_EXIT_BOOT_SERVICES)
    found: dict[int, int] = {}
    for event in log.events:
        if (
            event.event_type == EventType.EV_EFI_ACTION
            and event.index not in found
            and event.digests.get(alg) == expected
        ):
            found[event.index] = event.number
    return found


def boot_components(log: EventLog, *, algorithm: int | None = None) -> BootComponents:
    """Firmware, kernel, command line and initrd digests as the log records them.

    * firmware: EV_EFI_PLATFORM_FIRMWARE_BLOB/BLOB2 in RTMR0 (CC MR index 1; PCR0: OVMF/TDVF's
      configuration FV), except td-shim's "td_payload" blob, which is the payload (kernel).
    * kernel: EV_EFI_BOOT_SERVICES_APPLICATION (Authenticode) in RTMR1 (CC MR index 2) or PCR4,
      in log order; td-shim's "td_payload" blob (RTMR1).
    * cmdline: EV_EVENT_TAG LOAD_OPTIONS in RTMR2 (Linux EFI stub: H(UTF-16 load options));
      grub's "kernel_cmdline: " EV_IPL in RTMR2 (H(text)); td-shim's "td_payload_info" in RTMR1
      (H(4 KiB info area)); OVMF's "DirectBoot Command Line" EV_PLATFORM_CONFIG_FLAGS in RTMR1
      (digest only).
    * initrd: EV_EVENT_TAG INITRD in RTMR2 (H(initrd)).

    These are the log's *claims*: the labels (event type, data) are not bound by the replay, so
    a caller may use them to find candidates and to refuse (two kernels, a kernel that differs),
    never to approve what the digests do not prove (``account_events`` does that).
    Events in another register (RTMR3 above all, which the running guest extends) are not
    components, whatever they claim. Events of a register after that register's proven
    ExitBootServices (``exit_boot_services``: an EV_EFI_ACTION whose digest is the hash of the
    string) are not components either; a register without one (RTMR2 in TDVF's layout) is
    never cut, because its order against another register's events is not bound.
    A command line's ``text`` is given only when the event's digest is the hash of that text
    (td-shim: of an info area that holds nothing but the NUL-terminated text). A log may list
    several components of a kind (shim, grub and a kernel; or a second one the first
    appended): the caller decides what that means (appraisal refuses to pick one).
    ``algorithm`` defaults to SHA-384, else SHA-256, else SHA-1.
    """
    alg = algorithm if algorithm is not None else _default_algorithm(log)
    _require_algorithm(log, alg)
    h = _hasher(alg)
    ccel = log.flavour is Flavour.CCEL
    ends = exit_boot_services(log, algorithm=alg)
    firmware: list[Component] = []
    kernel: list[Component] = []
    cmdline: list[Component] = []
    initrd: list[Component] = []

    def add(target: list[Component], event: Event, source: str, text: str | None = None) -> None:
        target.append(Component(
            digest=_event_digest(event, alg), number=event.number, index=event.index,
            offset=event.offset, source=source, description=event.describe(), text=text,
        ))

    def bound(event: Event, text: str) -> str | None:
        """``text`` when the event's digest is what its data hashes to (``_digest_rule``)."""
        rule = _digest_rule(event, h)
        return text if rule is not None and event.digests.get(alg) in rule[1] else None

    for event in log.events:
        t = event.event_type
        if t == EventType.EV_NO_ACTION:
            continue
        end = ends.get(event.index)
        if end is not None and event.number >= end:
            continue
        rtmr = rtmr_of(log, event.index)  # RTMR numbers from here on, whatever the log's indices
        if t in (EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2, EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB):
            description = b""
            if t == EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2:
                with contextlib.suppress(ParseError):
                    description = event.firmware_blob2().description
            if description.rstrip(b"\x00") == b"td_payload":
                if ccel and rtmr == 1:
                    add(kernel, event, "td-shim td_payload")
            elif rtmr == 0:
                add(firmware, event, event.type_name)
        elif t == EventType.EV_EFI_BOOT_SERVICES_APPLICATION and (
            rtmr == 1 if ccel else event.index == _BOOT_APPLICATION_PCR
        ):
            add(kernel, event, event.type_name)
        elif t == EventType.EV_EVENT_TAG and rtmr == 2:
            kind = _tag_kind(event)
            if kind == LOAD_OPTIONS_EVENT_TAG_ID:
                add(cmdline, event, "EV_EVENT_TAG LOAD_OPTIONS")
            elif kind == INITRD_EVENT_TAG_ID:
                add(initrd, event, "EV_EVENT_TAG INITRD")
        elif t == EventType.EV_IPL and rtmr == 2 and event.data.startswith(_GRUB_CMDLINE):
            content = event.data[len(_GRUB_CMDLINE) :].rstrip(b"\x00")
            add(cmdline, event, "grub kernel_cmdline", bound(event, content.decode("utf-8", "replace")))
        elif t == EventType.EV_PLATFORM_CONFIG_FLAGS and rtmr == 1:
            if event.data.rstrip(b"\x00") == b"DirectBoot Command Line":
                add(cmdline, event, "OVMF DirectBoot Command Line")
            elif ccel and event.data.startswith(b"td_payload_info\x00"):
                config = _td_shim_config(event)
                if config is not None:
                    raw, _, rest = config.info.partition(b"\x00")
                    text = raw.decode("utf-8", "replace")
                    # the digest covers the whole info area: the text is its meaning only when
                    # nothing but NULs follows it
                    add(cmdline, event, "td-shim td_payload_info",
                        bound(event, text) if not rest.strip(b"\x00") else None)
    return BootComponents(alg_name(alg), tuple(firmware), tuple(kernel), tuple(cmdline), tuple(initrd))


# --------------------------------------------------------------------------------------------
# Accounting for every event of a register

#: how an event is accounted for (``EventAccount.how``)
REFERENCE = "reference"  # its digest is one the reference values approve for its register
FIXED = "fixed"  # its digest is the hash of its data, and that data is fixed (FIXED_ACTIONS, separator)
COMMAND_LINE = "command_line"  # a bound command line the caller compares with the reference values
UNRECOGNIZED = "unrecognized"  # none of these: what it measured is unknown
CONTRADICTION = "contradiction"  # its data has a digest rule and the digest breaks it


@dataclass(frozen=True)
class EventAccount:
    """One event of an accounted register and how (or whether) its digest is explained."""

    number: int
    index: int
    offset: int
    event_type: str  # the claimed type (a label: not bound)
    digest: bytes
    how: str
    detail: str

    @property
    def accounted(self) -> bool:
        return self.how in (REFERENCE, FIXED, COMMAND_LINE)


def account_events(
    log: EventLog,
    registers: Collection[int],
    approved: Mapping[int, Mapping[bytes, str]],
    *,
    command_lines: Collection[int] = (),
    algorithm: int | None = None,
) -> list[EventAccount]:
    """How each extending event of the log indices ``registers`` is accounted for.

    ``approved``: per log index, the digests the reference values approve there and what they
    are (``{2: {kernel_digest: "kernel"}}``). ``command_lines``: numbers of events whose text is
    bound to their digest and that the caller compares with a reference command line (the
    grub and td-shim forms that ``boot_components`` returns with ``text``).

    An event is accounted for when its digest
    * is approved for its register (``REFERENCE``; its label does not matter, the digest does), or
    * is the hash of its own data and that data is fixed: one of ``FIXED_ACTIONS`` as an
      EV_EFI_ACTION, or the normal EV_SEPARATOR value (``FIXED``), or
    * is a bound command line in ``command_lines`` (``COMMAND_LINE``).
    Anything else is ``UNRECOGNIZED``, including events whose free-form data is bound (boot
    variables, GPT, grub commands, other EV_EFI_ACTION strings): the digest of any measured
    content (an image's Authenticode hash, a command line) can be relabelled as such an event
    with that content as its data, so bound free-form data proves nothing about what ran.
    An event whose data has a digest rule (``_digest_rule``) that its digest breaks is a
    ``CONTRADICTION``: its label lies.
    """
    alg = algorithm if algorithm is not None else _default_algorithm(log)
    _require_algorithm(log, alg)
    h = _hasher(alg)
    wanted = set(registers)
    lines = set(command_lines)
    out: list[EventAccount] = []
    for event in log.events:
        if event.index not in wanted or event.event_type == EventType.EV_NO_ACTION:
            continue
        digest = _event_digest(event, alg)
        rule = _digest_rule(event, h)

        def record(how: str, detail: str, event: Event = event, digest: bytes = digest) -> None:
            out.append(
                EventAccount(event.number, event.index, event.offset, event.type_name, digest, how, detail)
            )

        if rule is not None and digest not in rule[1]:
            record(CONTRADICTION, f"its data ({event.describe()}) does not hash to its digest under "
                                  f"{rule[0]}: the label contradicts the digest")
            continue
        what = approved.get(event.index, {}).get(digest)
        if what is not None:
            record(REFERENCE, f"the reference {what} digest")
        elif event.event_type == EventType.EV_EFI_ACTION and event.data in FIXED_ACTIONS:
            record(FIXED, f"H({event.data.decode()!r})")
        elif event.event_type == EventType.EV_SEPARATOR and event.data == SEPARATOR_DATA:
            record(FIXED, "H(separator 00000000)")
        elif rule is not None and event.number in lines:
            record(COMMAND_LINE, f"a command line bound by {rule[0]}")
        elif rule is not None:
            record(UNRECOGNIZED, f"its data is bound ({rule[0]}) but is not fixed: bound free-form data can "
                                 "carry any measured content")
        else:
            record(UNRECOGNIZED, "no rule binds its data to its digest and the digest is no reference value "
                                 "for this register")
    return out
