"""The guest's own evidence: configfs-tsm, the ``/dev/sev-guest`` ioctls, the CCEL, RTMR3 records.

Every provider answers ``get(report_data) -> GuestEvidence`` for exactly 64 bytes of REPORT_DATA
(``report_data_from`` zero-pads a shorter nonce, as configfs-tsm does with a short ``inblob``;
the kernel's TDX and SNP providers refuse an ``inblob`` of another length, so 64 bytes are always
written) and checks that the evidence it returns carries those bytes.

* ``ConfigfsTsmProvider`` (Linux >= 6.7, ``Documentation/ABI/testing/configfs-tsm-report``): one
  uniquely named entry under ``/sys/kernel/config/tsm/report`` per request; ``provider`` checked
  against the expected TEE (``tdx_guest`` -> TDX, ``sev_guest`` -> SNP); ``generation`` read before
  writing ``inblob`` and after reading ``outblob``/``auxblob``: anything but one more means another
  writer used the entry, so the request is retried on a fresh entry (``attempts``, then an
  error); the entry is removed afterwards. ``outblob`` and ``auxblob`` are read with a size bound
  (``BLOB_MAX``). A TDX ``outblob`` that is a CBOR Web Token (DICE-based TDX attestation: a quote
  over 8 KB, per the ABI document) is recognised and refused until supported.
* ``SevGuestProvider`` (``verifier/release/sev_guest.py``): ``SNP_GET_EXT_REPORT`` /
  ``SNP_GET_REPORT`` on ``/dev/sev-guest``.
* ``TdxGuestDeviceProvider``: ``/dev/tdx_guest`` only yields a TD report (TDREPORT), which no
  relying party can verify; it says so and stops.
* ``read_ccel(sysfs_root)``: the CCEL event log (``/sys/firmware/acpi/tables/data/CCEL``, Linux
  >= 6.4).
* ``Rtmr3Recorder`` (``verifier/release/rtmr3.py``): extend RTMR3 with an applied policy's digest
  and keep ccverify's own CCEL-format log of such extends.

Production code never imports ``verifier.testing``: the example provider (quotes minted by the
example PKI) lives in the CLI (``cli/guest_evidence.py``).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ccverify.verifier.errors import InputError, ParseError, VerificationError
from ccverify.verifier.limits import LIMITS

Tee = Literal["tdx", "snp"]

REPORT_DATA_SIZE = 64
#: the most bytes read from ``outblob``/``auxblob`` or the CCEL: the evidence limit of
#: ``verifier/limits.py`` (Linux 7.0's configfs-tsm allows an outblob of up to 16 MiB), which the
#: certificate-table and event-log limits equal
BLOB_MAX = max(LIMITS["evidence"], LIMITS["cert_table"], LIMITS["event_log"])
#: the ABI document: "Intel TDX platforms with DICE-based attestation use CBOR Web Token (CWT)
#: format for the Quote payload. This is indicated by the Quote size exceeding 8KB."
CWT_QUOTE_MIN_SIZE = 8 * 1024

#: configfs-tsm ``provider`` names (the drivers' KBUILD_MODNAME) and the TEE they report for
TSM_PROVIDERS: dict[str, Tee] = {"tdx_guest": "tdx", "sev_guest": "snp"}

CONFIGFS_ROOT = Path("/sys/kernel/config")
SYSFS_ROOT = Path("/sys")
DEV_ROOT = Path("/dev")
#: where the CCEL's log area appears (Linux >= 6.4); the ACPI table itself is ``tables/CCEL``
CCEL_DATA = Path("firmware/acpi/tables/data/CCEL")
CCEL_TABLE = Path("firmware/acpi/tables/CCEL")


@dataclass(frozen=True)
class GuestEvidence:
    """What a provider got for one REPORT_DATA.

    ``evidence``: a TDX quote or an SNP attestation report. ``aux_blob``: SNP's certificate
    table (configfs-tsm ``auxblob``, ``SNP_GET_EXT_REPORT``'s certificates), else None.
    ``event_log``: the CCEL (TDX), else None. ``hardware`` is False only for example evidence
    (the CLI's ``--evidence-provider example``); ``collateral`` is set only there too (the
    example PKI's collateral, so a demo verifies offline).
    """

    tee: Tee
    evidence: bytes
    aux_blob: bytes | None
    event_log: bytes | None
    provider_name: str
    report_data: bytes
    hardware: bool = True
    collateral: bytes | None = None


class EvidenceProvider(Protocol):
    """A source of the guest's own evidence for a REPORT_DATA."""

    name: str

    def get(self, report_data: bytes) -> GuestEvidence: ...


def report_data_from(nonce: bytes) -> bytes:
    """64 bytes of REPORT_DATA from 1-64 bytes: shorter values are zero-padded on the right.

    This is what configfs-tsm does with a short ``inblob`` (and what ``appraise``'s
    ``expected_report_data`` compares against); the binding of a nonce and a key into
    REPORT_DATA is ``verifier/release/binding.py``'s.
    """
    if not 1 <= len(nonce) <= REPORT_DATA_SIZE:
        raise InputError(
            f"REPORT_DATA is 1 to {REPORT_DATA_SIZE} bytes (shorter is zero-padded), got {len(nonce)}"
        )
    return bytes(nonce).ljust(REPORT_DATA_SIZE, b"\0")


def require_report_data(report_data: bytes) -> bytes:
    if len(report_data) != REPORT_DATA_SIZE:
        raise InputError(
            f"a provider takes exactly {REPORT_DATA_SIZE} bytes of REPORT_DATA (report_data_from pads a "
            f"shorter nonce), got {len(report_data)}"
        )
    return bytes(report_data)


# --------------------------------------------------------------------------------------------
# file access (a seam for the fake configfs/sysfs trees of the tests)


class FileOps:
    """The file operations the providers use, one call each, as the kernel interfaces need them.

    ``write`` is one ``write(2)`` on a descriptor opened ``O_WRONLY`` without ``O_TRUNC`` (a
    configfs binary attribute takes its value when the file is closed; a tsm-mr register
    takes exactly 48 bytes at offset 0). ``read`` reads at most ``limit`` bytes and refuses
    more. Tests subclass it to emulate the kernel's side on a fake tree.
    """

    def mkdir(self, path: Path) -> None:
        os.mkdir(path, 0o700)

    def rmdir(self, path: Path) -> None:
        os.rmdir(path)

    def exists(self, path: Path) -> bool:
        return path.exists()

    def read(self, path: Path, limit: int) -> bytes:
        with open(path, "rb", buffering=0) as handle:
            chunks: list[bytes] = []
            total = 0
            while total <= limit:
                chunk = handle.read(min(1 << 20, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise InputError(f"{path}: more than {limit} bytes; refused (a bounded read)")
        return data

    def write(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
        if written != len(data):
            raise InputError(f"{path}: wrote {written} of {len(data)} bytes")


def _os_error(what: str, error: OSError) -> InputError:
    return InputError(f"{what}: {error.strerror or error}")


# --------------------------------------------------------------------------------------------
# configfs-tsm


class ConfigfsTsmProvider:
    """Evidence through configfs-tsm (``<root>/tsm/report``), TDX or SNP.

    ``tee`` (None: whichever the kernel's ``provider`` says) is the TEE the caller expects;
    another provider is refused. ``sysfs_root`` is where the CCEL is read for TDX. ``privlevel``
    (SNP VMPL, 0-3) is written when given. ``attempts`` bounds the retries after a concurrent
    writer changed ``generation``.
    """

    name = "configfs"

    def __init__(
        self,
        root: Path = CONFIGFS_ROOT,
        *,
        tee: Tee | None = None,
        sysfs_root: Path = SYSFS_ROOT,
        privlevel: int | None = None,
        attempts: int = 3,
        ops: FileOps | None = None,
    ) -> None:
        if privlevel is not None and not 0 <= privlevel <= 3:
            raise InputError(f"privlevel (SNP VMPL) is 0-3, got {privlevel}")
        if attempts < 1:
            raise InputError(f"attempts must be at least 1, got {attempts}")
        self.root = Path(root)
        self.reports = self.root / "tsm" / "report"
        self.tee = tee
        self.sysfs_root = Path(sysfs_root)
        self.privlevel = privlevel
        self.attempts = attempts
        self.ops = ops or FileOps()

    def available(self) -> bool:
        return self.ops.exists(self.reports)

    def get(self, report_data: bytes) -> GuestEvidence:
        data = require_report_data(report_data)
        if not self.available():
            raise InputError(
                f"{self.reports} does not exist: no configfs-tsm (Linux >= 6.7 with a TEE guest driver, "
                "configfs mounted on /sys/kernel/config)"
            )
        races: list[str] = []
        for _ in range(self.attempts):
            got = self._attempt(data)
            if isinstance(got, GuestEvidence):
                return got
            races.append(got)
        raise InputError(
            f"configfs-tsm: another writer changed the report entry during each of {self.attempts} "
            f"attempts ({'; '.join(races)}); refusing evidence that may not be for this REPORT_DATA"
        )

    def _attempt(self, data: bytes) -> GuestEvidence | str:
        """Evidence, or a sentence describing the race that spoiled this attempt."""
        entry = self._make_entry()
        try:
            tee, provider = self._provider(entry)
            before = self._generation(entry)
            writes = 0
            if self.privlevel is not None:
                self._write(entry / "privlevel", str(self.privlevel).encode())
                writes += 1
            self._write(entry / "inblob", data)
            writes += 1
            outblob = self._read_blob(entry / "outblob", "outblob")
            auxblob = b""
            if self.ops.exists(entry / "auxblob"):
                auxblob = self._read_blob(entry / "auxblob", "auxblob")
            after = self._generation(entry)
            if after != before + writes:
                return f"generation {before} before, {after} after {writes} write(s)"
        finally:
            self._remove_entry(entry)
        got = _report_data_of(tee, outblob)
        if got != data:
            raise VerificationError(
                "report_data_mismatch",
                f"configfs-tsm ({provider}) returned evidence for another REPORT_DATA than was written",
                expected=data,
                actual=got,
            )
        return GuestEvidence(
            tee=tee,
            evidence=outblob,
            aux_blob=auxblob or None,
            event_log=read_ccel(self.sysfs_root, ops=self.ops) if tee == "tdx" else None,
            provider_name=f"configfs-tsm ({provider})",
            report_data=data,
        )

    def _make_entry(self) -> Path:
        for _ in range(8):
            entry = self.reports / f"ccverify-{os.getpid()}-{os.urandom(8).hex()}"
            try:
                self.ops.mkdir(entry)
            except FileExistsError:
                continue
            except OSError as error:
                if error.errno == errno.ENXIO:  # what Linux answers when no TSM provider registered
                    raise InputError(
                        f"configfs-tsm: no TSM provider is registered (creating {entry}: "
                        f"{error.strerror}): no TDX or SEV-SNP guest driver (tdx_guest, sev_guest) is "
                        "loaded; is this a confidential VM?"
                    ) from None
                raise _os_error(f"configfs-tsm: cannot create {entry}", error) from None
            return entry
        raise InputError(f"configfs-tsm: could not create a uniquely named entry in {self.reports}")

    def _remove_entry(self, entry: Path) -> None:
        try:
            self.ops.rmdir(entry)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise _os_error(f"configfs-tsm: cannot remove {entry} (remove it by hand)", error) from None

    def _provider(self, entry: Path) -> tuple[Tee, str]:
        provider = self._read_text(entry / "provider")
        tee = TSM_PROVIDERS.get(provider)
        if tee is None:
            known = ", ".join(sorted(TSM_PROVIDERS))
            raise InputError(f"configfs-tsm provider {provider!r} is not supported (ccverify reads {known})")
        if self.tee is not None and tee != self.tee:
            raise VerificationError(
                "tee_mismatch",
                f"configfs-tsm's provider is {provider!r} ({tee.upper()}), "
                f"not the expected {self.tee.upper()}",
                expected=self.tee,
                actual=tee,
            )
        return tee, provider

    def _generation(self, entry: Path) -> int:
        text = self._read_text(entry / "generation")
        if not text.isdigit():
            raise InputError(f"configfs-tsm: {entry / 'generation'} is not a number: {text!r}")
        return int(text)

    def _read_text(self, path: Path) -> str:
        try:
            raw = self.ops.read(path, 4096)
        except OSError as error:
            raise _os_error(f"configfs-tsm: {path}", error) from None
        return raw.decode("ascii", "replace").strip()

    def _write(self, path: Path, data: bytes) -> None:
        try:
            self.ops.write(path, data)
        except OSError as error:
            raise _os_error(f"configfs-tsm: writing {path}", error) from None

    def _read_blob(self, path: Path, what: str) -> bytes:
        try:
            return self.ops.read(path, BLOB_MAX)
        except OSError as error:
            if error.errno == errno.EFBIG:
                raise InputError(
                    f"configfs-tsm: the {what} is larger than the kernel's configfs-tsm maximum (EFBIG): "
                    "this TEE's evidence needs a newer kernel"
                ) from None
            raise _os_error(f"configfs-tsm: reading {path}", error) from None


def is_cwt(evidence: bytes) -> bool:
    """Whether a TDX ``outblob`` is a CBOR Web Token quote (DICE-based TDX attestation).

    A TDX quote starts with its version (u16 4 or 5, little-endian). A CWT is a COSE_Sign1,
    tagged CWT (CBOR tag 61: ``d8 3d``) or COSE_Sign1 (tag 18: ``d2``), or an untagged
    4-element array (``84``); the ABI document adds that such quotes exceed 8 KB.
    """
    return evidence[:2] == b"\xd8\x3d" or evidence[:1] in (b"\xd2", b"\x84")


def _report_data_of(tee: Tee, evidence: bytes) -> bytes:
    if tee == "tdx":
        if is_cwt(evidence):
            raise InputError(
                f"the TDX quote is a CBOR Web Token ({len(evidence)} bytes; DICE-based TDX attestation, "
                f"quotes over {CWT_QUOTE_MIN_SIZE} bytes): ccverify does not verify CWT quotes yet"
            )
        from ccverify.verifier.evidence.tdx_quote import TdxQuote

        return TdxQuote.from_bytes(evidence).body.report_data
    from ccverify.verifier.evidence.snp_report import SnpReport

    return SnpReport.from_bytes(evidence).report_data


# --------------------------------------------------------------------------------------------
# /dev/tdx_guest


class TdxGuestDeviceProvider:
    """``/dev/tdx_guest``: its only call (``TDX_CMD_GET_REPORT0``) returns a TD report, not a quote.

    A TDREPORT is MAC'd for the local platform only; a quote needs the host's quoting
    service (reached by configfs-tsm's tdx_guest provider, or by the QGS over vsock, which
    ccverify does not speak). ``get`` says so and stops.
    """

    name = "tdx-guest"

    def __init__(self, device: Path = DEV_ROOT / "tdx_guest") -> None:
        self.device = Path(device)

    def get(self, report_data: bytes) -> GuestEvidence:
        require_report_data(report_data)
        present = "exists" if self.device.exists() else "does not exist"
        raise InputError(
            f"{self.device} ({present}) yields a TD report (TDREPORT), not a quote: a relying party "
            "cannot verify it. Quotes come from configfs-tsm (/sys/kernel/config/tsm/report, Linux "
            ">= 6.7 with the tdx_guest driver); ccverify does not talk to the host's QGS directly"
        )


# --------------------------------------------------------------------------------------------
# the CCEL


def read_ccel(sysfs_root: Path = SYSFS_ROOT, *, ops: FileOps | None = None) -> bytes | None:
    """The CCEL event log from ``<sysfs_root>/firmware/acpi/tables/data/CCEL``, or None.

    None when the guest has no CCEL table (SNP, or firmware without one). A table without its
    ``data`` file means a kernel older than 6.4, which does not expose the log area: an
    ``InputError`` saying so. The bytes must parse as a CCEL (``ParseError`` otherwise); they are
    returned as read, padding included.
    """
    from ccverify.verifier.evidence.eventlog import EventLog

    ops = ops or FileOps()
    data_path = Path(sysfs_root) / CCEL_DATA
    if not ops.exists(data_path):
        if ops.exists(Path(sysfs_root) / CCEL_TABLE):
            raise InputError(
                f"{Path(sysfs_root) / CCEL_TABLE} exists but {data_path} does not: the kernel exposes "
                "the CCEL's log area from Linux 6.4 on"
            )
        return None
    try:
        data = ops.read(data_path, BLOB_MAX)
    except OSError as error:
        raise _os_error(f"CCEL {data_path}", error) from None
    if not data:
        raise ParseError("CCEL", "header", 0, f"{data_path} is empty")
    EventLog.from_bytes(data, cc=True)
    return data


# --------------------------------------------------------------------------------------------
# choosing a provider


def default_provider(
    *,
    configfs_root: Path = CONFIGFS_ROOT,
    dev_root: Path = DEV_ROOT,
    sysfs_root: Path = SYSFS_ROOT,
    ops: FileOps | None = None,
) -> EvidenceProvider:
    """configfs-tsm when present, else ``/dev/sev-guest``; ``/dev/tdx_guest`` alone is refused."""
    from ccverify.verifier.release.sev_guest import SevGuestProvider

    ops = ops or FileOps()
    configfs = ConfigfsTsmProvider(configfs_root, sysfs_root=sysfs_root, ops=ops)
    if configfs.available():
        return configfs
    if ops.exists(dev_root / "sev-guest"):
        return SevGuestProvider(dev_root / "sev-guest")
    if ops.exists(dev_root / "tdx_guest"):
        return TdxGuestDeviceProvider(dev_root / "tdx_guest")
    raise InputError(
        f"no TEE evidence interface: neither {configfs.reports} nor {dev_root / 'sev-guest'} exists "
        "(not a confidential VM, or its guest driver is not loaded); without a TEE, "
        "'--evidence-provider example' mints example evidence (not hardware)"
    )


def __getattr__(name: str) -> object:
    """``SevGuestProvider`` and ``Rtmr3Recorder`` live beside this module; named here too."""
    if name == "SevGuestProvider":
        from ccverify.verifier.release.sev_guest import SevGuestProvider

        return SevGuestProvider
    if name == "Rtmr3Recorder":
        from ccverify.verifier.release.rtmr3 import Rtmr3Recorder

        return Rtmr3Recorder
    raise AttributeError(name)
