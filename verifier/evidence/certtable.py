"""SEV-SNP extended-report certificate table (ioctl ``certs_address`` buffer / configfs ``auxblob``).

Layout (GHCB spec #56421, MSG_REPORT_REQ): a header of 24-byte entries
``{GUID[16] (RFC 4122 byte order), offset u32 LE, length u32 LE}`` ended by an all-zero entry,
then the certificates (DER). Offsets are relative to the start of the buffer and must point
past the header (terminator included); every entry must fit in the buffer. A zero-length buffer
or a table holding only the terminator is valid and means "no certificates". Bytes after the
header that no entry covers (page padding) are allowed.

``from_bytes`` keeps the entries in table order and remembers the buffer, so ``to_bytes`` gives
back the original bytes (padding, ordering and all) as long as the entries are unchanged; a table
made by ``build`` (or changed with ``dataclasses.replace``) is laid out canonically: header,
terminator, then the data of each entry in order with no gaps (go-sev-guest's layout).

The ASK GUID is also used for the ASVK (VLEK chains). ``CertTable.get(CertKind.ASVK)`` /
``get(CertKind.ASK)`` tell them apart by the certificate's subject CN (``SEV-VLEK-<product>`` is
an ASVK); the entry's own ``kind`` is always what the GUID says.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from cryptography.x509.oid import NameOID

from ccverify.verifier import x509load
from ccverify.verifier.errors import InputError
from ccverify.verifier.evidence._binary import Reader, le

STRUCTURE = "CertTable"
ENTRY_SIZE = 24
_TERMINATOR = bytes(ENTRY_SIZE)


class CertKind(enum.Enum):
    """What a table entry holds. ASVK shares the ASK GUID (told apart by CN on request)."""

    ARK = "ark"
    ASK = "ask"
    ASVK = "asvk"
    VCEK = "vcek"
    VLEK = "vlek"
    CRL = "crl"
    UNKNOWN = "unknown"

    @property
    def guid(self) -> uuid.UUID:
        """The GUID this kind is stored under (ASVK uses the ASK GUID); none for UNKNOWN."""
        found = _KIND_GUIDS.get(self)
        if found is None:
            raise InputError("an UNKNOWN certificate-table entry needs an explicit GUID")
        return found


ARK_GUID = uuid.UUID("c0b406a4-a803-4952-9743-3fb6014cd0ae")
ASK_GUID = uuid.UUID("4ab7b379-bbac-4fe4-a02f-05aef327c782")
VCEK_GUID = uuid.UUID("63da758d-e664-4564-adc5-f4b93be8accd")
VLEK_GUID = uuid.UUID("a8074bc2-a25a-483e-aae6-39c045a0b8a1")
CRL_GUID = uuid.UUID("92f81bc3-5811-4d3d-97ff-d19f88dc67ea")

_KIND_GUIDS: dict[CertKind, uuid.UUID] = {
    CertKind.ARK: ARK_GUID,
    CertKind.ASK: ASK_GUID,
    CertKind.ASVK: ASK_GUID,
    CertKind.VCEK: VCEK_GUID,
    CertKind.VLEK: VLEK_GUID,
    CertKind.CRL: CRL_GUID,
}
_GUID_KINDS: dict[uuid.UUID, CertKind] = {
    ARK_GUID: CertKind.ARK,
    ASK_GUID: CertKind.ASK,
    VCEK_GUID: CertKind.VCEK,
    VLEK_GUID: CertKind.VLEK,
    CRL_GUID: CertKind.CRL,
}


def kind_of(guid: uuid.UUID) -> CertKind:
    return _GUID_KINDS.get(guid, CertKind.UNKNOWN)


@dataclass(frozen=True, slots=True)
class CertEntry:
    """One entry: its GUID, the kind that GUID names, and the bytes (DER) it points at."""

    guid: uuid.UUID
    data: bytes
    kind: CertKind = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.guid, uuid.UUID):
            raise InputError(f"certificate-table GUID must be a uuid.UUID, got {self.guid!r}")
        object.__setattr__(self, "kind", kind_of(self.guid))

    @classmethod
    def of(cls, kind: CertKind | uuid.UUID | str, data: bytes) -> Self:
        """An entry for ``kind`` (or an explicit GUID / GUID string)."""
        if isinstance(kind, CertKind):
            guid = kind.guid
        elif isinstance(kind, uuid.UUID):
            guid = kind
        else:
            try:
                guid = uuid.UUID(kind)
            except ValueError as exc:
                raise InputError(f"not a GUID: {kind!r}") from exc
        return cls(guid, bytes(data))

    def subject_cn(self) -> str | None:
        """The certificate's subject CN, or None if the data is not a DER certificate with one."""
        try:
            names = x509load.der_certificate(self.data).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        except ValueError:
            return None
        if not names:
            return None
        value = names[0].value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")

    @property
    def is_asvk(self) -> bool:
        """An ASK-GUID entry holding an ASVK (subject CN ``SEV-VLEK-<product>``)."""
        if self.kind is not CertKind.ASK:
            return False
        cn = self.subject_cn()
        return cn is not None and cn.startswith("SEV-VLEK-")

    @property
    def resolved_kind(self) -> CertKind:
        """The kind, with ASK-GUID entries that hold an ASVK reported as ASVK."""
        return CertKind.ASVK if self.is_asvk else self.kind

    def to_json(self) -> dict[str, Any]:
        return {
            "guid": str(self.guid),
            "kind": self.kind.name,
            "length": len(self.data),
            "subject_cn": self.subject_cn() if self.kind is not CertKind.CRL else None,
            "sha256": hashlib.sha256(self.data).hexdigest(),
            "data": self.data.hex(),
        }


@dataclass(frozen=True, slots=True)
class CertTable:
    """The entries in table order. ``source`` is the parsed buffer (for an exact ``to_bytes``)."""

    entries: tuple[CertEntry, ...] = ()
    source: bytes | None = field(default=None, compare=False, repr=False, metadata={"json": False})

    ENTRY_SIZE: ClassVar[int] = ENTRY_SIZE

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        data = bytes(data)
        return cls(_parse(data), data)

    @classmethod
    def build(cls, entries: Iterable[CertEntry | tuple[CertKind | uuid.UUID | str, bytes]] = ()) -> Self:
        """A table of ``entries`` (entries or ``(kind or GUID, data)`` pairs), canonical layout."""
        built = tuple(e if isinstance(e, CertEntry) else CertEntry.of(e[0], e[1]) for e in entries)
        return cls(built)

    def to_bytes(self) -> bytes:
        if self.source is not None:
            try:
                if _parse(self.source) == self.entries:
                    return self.source
            except InputError:
                pass
        return _canonical(self.entries)

    # ------------------------------------------------------------------ look-ups

    def __iter__(self) -> Iterator[CertEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def is_empty(self) -> bool:
        return not self.entries

    def get_all(self, kind: CertKind | uuid.UUID) -> list[CertEntry]:
        """Entries of ``kind`` (ASK and ASVK told apart by CN) or with GUID ``kind``, in order."""
        if isinstance(kind, uuid.UUID):
            return [e for e in self.entries if e.guid == kind]
        if kind is CertKind.ASK:
            return [e for e in self.entries if e.kind is CertKind.ASK and not e.is_asvk]
        if kind is CertKind.ASVK:
            return [e for e in self.entries if e.is_asvk]
        return [e for e in self.entries if e.kind is kind]

    def get(self, kind: CertKind | uuid.UUID) -> bytes | None:
        """The data of the first entry of ``kind`` (see ``get_all``), or None."""
        found = self.get_all(kind)
        return found[0].data if found else None

    def to_json(self) -> dict[str, Any]:
        return {"entries": [e.to_json() for e in self.entries]}


def _parse(data: bytes) -> tuple[CertEntry, ...]:
    if not data:
        return ()
    r = Reader(data, STRUCTURE)
    headers: list[tuple[int, bytes, int, int]] = []
    pos = 0
    while True:
        index = len(headers)
        raw = r.bytes(f"entries[{index}]", pos, ENTRY_SIZE)
        if raw == _TERMINATOR:
            break
        headers.append(
            (
                pos,
                raw[:16],
                r.u32(f"entries[{index}].offset", pos + 16),
                r.u32(f"entries[{index}].length", pos + 20),
            )
        )
        pos += ENTRY_SIZE
    header_end = pos + ENTRY_SIZE
    out: list[CertEntry] = []
    for index, (at, guid, offset, length) in enumerate(headers):
        if offset < header_end:
            raise r.error(
                f"entries[{index}].offset",
                at + 16,
                f"offset {offset} points into the table header (which ends at {header_end})",
            )
        if offset + length > len(data):
            raise r.error(
                f"entries[{index}].length",
                at + 20,
                f"entry [{offset}, {offset + length}) runs past the end of the {len(data)}-byte buffer",
            )
        out.append(CertEntry(uuid.UUID(bytes=guid), data[offset : offset + length]))
    return tuple(out)


def _canonical(entries: tuple[CertEntry, ...]) -> bytes:
    header_end = (len(entries) + 1) * ENTRY_SIZE
    header: list[bytes] = []
    body: list[bytes] = []
    offset = header_end
    for entry in entries:
        if offset + len(entry.data) > 0xFFFFFFFF:
            raise InputError("certificate table larger than 4 GiB")
        header.append(entry.guid.bytes + le(offset, 4) + le(len(entry.data), 4))
        body.append(entry.data)
        offset += len(entry.data)
    if not entries:
        return _TERMINATOR
    return b"".join([*header, _TERMINATOR, *body])
