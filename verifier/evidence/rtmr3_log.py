"""ccverify's own CCEL-format log of run-time RTMR3 extends, and its merge with the firmware's CCEL.

A run-time extend (a 48-byte write to ``/sys/devices/virtual/misc/tdx_guest/measurements/
rtmr3:sha384``, Linux >= 6.16) adds **no** event to the firmware's CCEL, so the CCEL alone no
longer replays to the quoted RTMR3 (Trustee issue 1056). ``ccverify guest authorize`` therefore
keeps a log of its own extends (``/run/ccverify/rtmr3-events.bin``) in the CCEL format and the
verifier replays RTMR3 over the firmware's events followed by these.

The log (what ``log_header`` and ``policy_event`` write):

* a Spec ID record (legacy ``TCG_PCR_EVENT``, EV_NO_ACTION, "Spec ID Event03", one algorithm:
  SHA-384 / 48 bytes), as in a TDVF CCEL;
* one ``TCG_PCR_EVENT2`` per extend: CC MR index 4 (RTMR3), EV_EVENT_TAG, one SHA-384 digest
  (the 48 bytes written, i.e. extended), and a ``TCG_PCClientTaggedEvent`` whose id is
  ``POLICY_EVENT_TAG_ID`` and whose data is the ASCII text
  ``ccverify device policy sha384:<96 lowercase hex digits>`` naming that same digest;
* no padding.

The text binds nothing by itself (the register binds only digests): ``policy_digests`` reports a
policy event only when its text names the digest the event extended. ``with_runtime_log`` is
the verifier's side: the firmware CCEL (its padding dropped) followed by the run-time events, one
``EventLog`` that ``appraise(..., event_log=...)`` replays to all four RTMRs.
"""

from __future__ import annotations

import hashlib
import struct

from ccverify.verifier.errors import InputError, ParseError
from ccverify.verifier.evidence.eventlog import (
    SPEC_ID_SIGNATURE,
    Alg,
    Event,
    EventLog,
    EventType,
    Flavour,
)

#: CC MR index of RTMR3 in a CCEL (RTMR n = index n + 1)
RTMR3_CC_INDEX = 4
#: the TCG_PCClientTaggedEvent id of a ccverify device-policy event ("ccvp" as big-endian ASCII)
POLICY_EVENT_TAG_ID = 0x63637670
POLICY_TEXT_PREFIX = b"ccverify device policy sha384:"
DIGEST_SIZE = 48

_SHA384 = int(Alg.SHA384)


def log_header() -> bytes:
    """The Spec ID record that starts the log: SHA-384 only, uintnSize 2 (64-bit), no vendor info."""
    spec = b"".join((
        SPEC_ID_SIGNATURE,
        struct.pack("<I", 0),  # platformClass
        bytes((0, 2, 0, 2)),  # specVersionMinor 0, Major 2, errata 0, uintnSize 2
        struct.pack("<IHH", 1, _SHA384, DIGEST_SIZE),
        b"\x00",  # vendorInfoSize
    ))
    return struct.pack("<II20sI", 0, int(EventType.EV_NO_ACTION), bytes(20), len(spec)) + spec


def policy_event_data(digest: bytes) -> bytes:
    """The TCG_PCClientTaggedEvent of a policy extend: the tag id and the text naming ``digest``."""
    _check_digest(digest)
    text = POLICY_TEXT_PREFIX + digest.hex().encode("ascii")
    return struct.pack("<II", POLICY_EVENT_TAG_ID, len(text)) + text


def policy_event(digest: bytes) -> bytes:
    """One TCG_PCR_EVENT2 record: RTMR3 (CC MR index 4) extended with ``digest``."""
    data = policy_event_data(digest)
    return b"".join((
        struct.pack("<IIIH", RTMR3_CC_INDEX, int(EventType.EV_EVENT_TAG), 1, _SHA384),
        digest,
        struct.pack("<I", len(data)),
        data,
    ))


def policy_digest(policy: bytes) -> bytes:
    """What is extended for an applied policy: SHA-384 of its exact bytes."""
    return hashlib.sha384(policy).digest()


def parse_runtime_log(data: bytes) -> EventLog:
    """Parse a run-time log: a SHA-384 CCEL whose events all extend RTMR3 (CC MR index 4).

    An empty input is an empty log (nothing was extended). Any event in another register, an
    event without a SHA-384 digest or padding after the events is a ``ParseError``: the log
    records RTMR3 extends and nothing else.
    """
    if not data:
        return EventLog.from_bytes(log_header(), cc=True)
    log = EventLog.from_bytes(data, cc=True, allow_padding=False)
    if log.spec_id is None or Alg.SHA384 not in log.algorithms:
        raise ParseError("Rtmr3Log", "header", 0, "not a crypto-agile log with SHA-384 digests")
    for event in log.events:
        if event.event_type == EventType.EV_NO_ACTION:
            continue
        if event.index != RTMR3_CC_INDEX:
            raise ParseError(
                "Rtmr3Log", f"event[{event.number}].mrIndex", event.offset,
                f"extends CC MR index {event.index}; this log holds RTMR3 (index {RTMR3_CC_INDEX}) "
                "extends only",
            )
        if _SHA384 not in event.digests:
            raise ParseError(
                "Rtmr3Log", f"event[{event.number}].digests", event.offset + 8, "no SHA-384 digest"
            )
    return log


def with_runtime_log(firmware: bytes | EventLog, runtime: bytes | EventLog | None) -> EventLog:
    """The firmware's CCEL followed by the run-time RTMR3 events: one log to replay all RTMRs.

    ``firmware`` is the CCEL as read from ``/sys/firmware/acpi/tables/data/CCEL`` (its 0xFF
    padding is dropped); ``runtime`` is ``rtmr3-events.bin`` (None or empty: no extends). The
    result parses as a CCEL; its events keep the firmware's numbering and offsets, the
    run-time events follow them.
    """
    fw = firmware if isinstance(firmware, EventLog) else EventLog.from_bytes(bytes(firmware), cc=True)
    if fw.flavour is not Flavour.CCEL or fw.spec_id is None:
        raise ParseError("CCEL", "header", 0, "the firmware log is not a crypto-agile CCEL")
    extra = runtime if isinstance(runtime, EventLog) else parse_runtime_log(bytes(runtime or b""))
    if not extra.events:
        return fw
    missing = [a for a in extra.algorithms if a not in fw.algorithms]
    if missing:
        raise ParseError(
            "Rtmr3Log", "header", 0,
            f"the run-time log's digest algorithms {missing} are not in the firmware CCEL's Spec ID",
        )
    body = fw.to_bytes()
    body = body[: len(body) - fw.padding]
    records = extra.to_bytes()
    first = extra.events[0].offset
    merged = body + records[first : len(records) - extra.padding]
    return EventLog.from_bytes(merged, cc=True)


def policy_digests(runtime: bytes | EventLog) -> tuple[bytes, ...]:
    """The policy digests the log's events extended, in order, where the event's text names them.

    An RTMR3 event that is not a ccverify policy event, or whose text names another digest
    than the one it extended, is left out (it still counts in the replay).
    """
    log = runtime if isinstance(runtime, EventLog) else parse_runtime_log(bytes(runtime))
    return tuple(event.digests[_SHA384] for event in log.events if _is_bound_policy_event(event))


def _is_bound_policy_event(event: Event) -> bool:
    if event.event_type != EventType.EV_EVENT_TAG or _SHA384 not in event.digests:
        return False
    try:
        tagged = event.tagged()
    except ParseError:
        return False
    expected = POLICY_TEXT_PREFIX + event.digests[_SHA384].hex().encode("ascii")
    return tagged.tagged_event_id == POLICY_EVENT_TAG_ID and tagged.data == expected


def _check_digest(digest: bytes) -> None:
    if len(digest) != DIGEST_SIZE:
        raise InputError(f"a SHA-384 digest is {DIGEST_SIZE} bytes, got {len(digest)}")
