"""Measurement results and the two entry points image builders call.

:func:`measure_snp` and :func:`measure_tdx` take paths (or bytes), hash the kernel and
initrd as streams in parallel threads while the firmware pages are measured, and return a
:class:`Measurement` whose :meth:`~Measurement.to_measurement_json` is the "Measurement JSON"
of DEVELOPERS.md (what ``ccverify measure ... --json`` prints and ``ccverify reference
create --from`` reads)::

    {"format": "ccverify-measurements/1", "platform": "snp" | "tdx",
     "values": {"measurement": "<hex>"}                       # SNP / SEV-ES / SEV
            or {"mrtd": "<hex>", "rtmr0": ..., "rtmr1": ..., "rtmr2": ...},   # TDX
     "components": {"firmware": {"sha384": "<hex>", ...}, "kernel": {...},
                    "cmdline": {...}, "initrd": {...}},
     "parameters": {...}}

``components`` follows the contract strictly (firmware / kernel / cmdline / initrd, each with
digests named by algorithm, ``authenticode_<alg>``, and the cmdline's ``text``), so
``reference create --from`` can read every key; everything else (input paths and sizes, the
SNP OVMF hash, TDX LoadOptions text) is under ``parameters``. What each digest covers:

* SNP: ``firmware.sha384`` (the image file), ``kernel.sha256`` / ``initrd.sha256`` (the files)
  and ``cmdline.sha256`` (command line + NUL) -- the three entries of QEMU's SEV hashes
  table (``initrd.sha256`` is SHA-256 of nothing when no initrd is given, as QEMU does);
  ``parameters.snp_ovmf_hash`` is the launch digest after the firmware pages;
* TDX: ``kernel.authenticode_sha384`` (the RTMR1 application event), ``initrd.sha384``
  (RTMR2 initrd event), ``cmdline.sha384`` = the RTMR2 LoadOptions event digest, i.e. over
  ``parameters.load_options`` (the command line with ``initrd=initrd`` before or after it
  when an initrd is given, as ``parameters.load_options_form`` says: ``initrd-prefix`` for
  edk2-stable202508 and later, the default; ``initrd-suffix`` for earlier edk2) in UTF-16LE
  with its NUL; ``cmdline.text`` is the command line as given.

A command line that is not valid UTF-8 (raw argv bytes) is hashed as those bytes; it has no
``cmdline.text`` (the profile's text is UTF-8), and ``parameters.inputs.cmdline`` carries its
``hex`` and a printable form (``shown``, with ``\\xNN`` escapes).

SEV and SEV-ES (SHA-256 launch digests) are reported with platform ``"sev"`` / ``"sev-es"``:
they are not SNP reports and the reference-value profile does not take them.

Digests are lowercase hex (no ``0x``); integers are JSON integers: guest features are always
present (``33``, with their names ``["SNPActive", "DebugSwap"]``), ``vcpu_sig`` too (``10489617``
is ``0xa00f11``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccverify.measurements import cmdline as cmdline_mod
from ccverify.measurements import snp as snp_mod
from ccverify.measurements import tdx as tdx_mod
from ccverify.measurements.hashing import (
    CHUNK_SIZE,
    Advance,
    FileDigests,
    Job,
    Source,
    file_job,
    open_source,
    read_small,
    run_jobs,
    source_name,
    source_size,
)
from ccverify.measurements.ovmf import FOUR_GIB, PAGE_SIZE, OvmfImage
from ccverify.measurements.pe import authenticode_digests
from ccverify.measurements.snp import (
    LaunchDigest,
    OvmfLaunchState,
    SevHashes,
    SevMode,
    VmmType,
    cmdline_bytes,
    guest_feature_names,
)
from ccverify.measurements.tdx import DEFAULT_LOAD_OPTIONS, LoadOptionsForm, PageOrder
from ccverify.measurements.vmsa import SVSM_SEV_FEATURES
from ccverify.verifier.errors import InputError, ParseError
from ccverify.verifier.jsonable import to_jsonable

FORMAT = "ccverify-measurements/1"


@dataclass(frozen=True)
class Measurement:
    """What a launch must measure to, with the inputs and parameters that produced it."""

    platform: str  # "snp" or "tdx"
    values: Mapping[str, bytes]
    components: Mapping[str, Mapping[str, Any]]
    parameters: Mapping[str, Any]
    #: predicted event-log entries (TDX), for display and for checking a real log
    events: tuple[tdx_mod.PredictedEvent, ...] = field(default=(), compare=False)

    def to_measurement_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "platform": self.platform,
            "values": to_jsonable(self.values),
            "components": to_jsonable(self.components),
            "parameters": to_jsonable(self.parameters),
        }

    def to_json(self) -> dict[str, Any]:
        """For ``verifier.jsonable.to_jsonable`` / ``cli._common.emit_json``."""
        return self.to_measurement_json()


@dataclass(frozen=True)
class _Firmware:
    """A firmware image as read once for every measurement made from it."""

    size: int
    sha384: bytes
    #: SNP launch digest after the firmware pages, when they were hashed
    ovmf_hash: bytes | None
    #: the whole image, or (when streamed) its last ``TAIL_SIZE`` bytes: enough for the footer
    data: bytes
    #: the footer table parsed from ``data`` and checked for SNP, when streamed
    image: OvmfImage | None = None


#: how much of the image end is kept in memory when the firmware pages are streamed
TAIL_SIZE = 256 << 10


def _stream_snp_firmware(source: Source, pages: bool, advance: Advance) -> _Firmware:
    """SHA-384 of the image and, when ``pages``, its SNP page digests, in 1 MiB pieces.

    Only the image's tail stays in memory (the footer table, SEV metadata and reset block
    live in the last pages); it is parsed and checked before any page is hashed.
    """
    size = source_size(source)
    if not size or size % PAGE_SIZE:
        raise InputError(f"firmware {source_name(source)}: size {size} is not a non-zero multiple of 4 KiB")
    with open_source(source) as stream:
        tail_at = max(0, size - TAIL_SIZE)
        stream.seek(tail_at)
        tail = stream.read(size - tail_at) or b""
        try:
            image = OvmfImage.from_bytes(tail)
        except ParseError:
            if not tail_at:
                raise
            # something the footer points at lies further from the end: parse the whole image
            tail = read_small(source, "firmware")
            image = OvmfImage.from_bytes(tail)
        image.require_sev_metadata()
        image.require_reset_eip()
        whole = hashlib.sha384()
        ld = LaunchDigest()
        gpa = FOUR_GIB - size
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        stream.seek(0)
        done = 0
        while done < size:
            got = 0
            while got < len(buffer) and done + got < size:
                n = stream.readinto(view[got : min(len(buffer), size - done)])
                if not n:
                    raise InputError(f"firmware {source_name(source)} shrank while it was read")
                got += n
            chunk = view[:got]
            whole.update(chunk)
            if pages:
                ld.normal_pages(gpa + done, chunk)
            done += got
            advance(got)
    return _Firmware(size, whole.digest(), ld.value if pages else None, bytes(tail), image)


def _cmdline_text(cmdline: str | None) -> dict[str, str]:
    """``components.cmdline.text``: the command line, when it is UTF-8 text (the reference-value
    profile's ``text`` is UTF-8); a command line of other bytes has only its digests there."""
    return {"text": cmdline or ""} if cmdline_mod.is_utf8(cmdline) else {}


def _cmdline_raw(cmdline: str | None) -> dict[str, Any]:
    """For a command line that is not UTF-8: its raw bytes (hex) and a printable form."""
    if cmdline_mod.is_utf8(cmdline):
        return {}
    return {"hex": cmdline_mod.raw_bytes(cmdline), "shown": cmdline_mod.display(cmdline), "utf8": False}


#: an image a public function takes: its bytes, or its file (``os.PathLike``); a ``str`` is
#: refused, as everywhere in the library (``verifier/inputs.py``)
Image = bytes | bytearray | memoryview | os.PathLike[str]


def _image(source: object, what: str, function: str) -> Source:
    """``source`` as the readers take it (a ``Path`` or bytes); ``InputError`` for anything else."""
    if isinstance(source, bytes | bytearray | memoryview | Path):
        return source
    if isinstance(source, os.PathLike):
        return Path(source)
    from ccverify.verifier.inputs import refuse

    raise refuse(source, what, function)


def _opt_image(source: object, what: str, function: str) -> Source | None:
    return None if source is None else _image(source, what, function)


def _require_kernel_for(kernel: Source | None, initrd: Source | None, cmdline: str | None) -> None:
    if kernel is None and (initrd is not None or cmdline is not None):
        raise InputError("initrd and cmdline need kernel (direct kernel boot)")


# -- SNP ---------------------------------------------------------------------------------------


def measure_snp(
    firmware: Image,
    *,
    mode: SevMode = SevMode.SNP,
    vcpus: int | None = None,
    vcpu_type: str | None = None,
    vcpu_sig: int | None = None,
    vmm: VmmType = VmmType.QEMU,
    guest_features: int | None = None,
    kernel: Image | None = None,
    initrd: Image | None = None,
    cmdline: str | None = None,
    snp_ovmf_hash: bytes | None = None,
    svsm: Image | None = None,
    vars_size: int | None = None,
    show_progress: bool | None = None,
) -> Measurement:
    """The SEV-SNP (or SEV-ES / SEV) launch measurement of a guest, with its inputs.

    Images (``firmware``, ``kernel``, ``initrd``, ``svsm``) are bytes or files (``os.PathLike``);
    a ``str`` is refused. ``cmdline`` is the command line itself (text).
    """
    name = "measure_snp"
    firmware_ = _image(firmware, "firmware", name)
    kernel_, initrd_ = _opt_image(kernel, "kernel", name), _opt_image(initrd, "initrd", name)
    svsm_ = _opt_image(svsm, "svsm", name)
    return _measure_snp(
        firmware_, mode=mode, vcpus=vcpus, vcpu_type=vcpu_type, vcpu_sig=vcpu_sig, vmm=vmm,
        guest_features=guest_features, kernel=kernel_, initrd=initrd_, cmdline=cmdline,
        snp_ovmf_hash=snp_ovmf_hash, svsm=svsm_, vars_size=vars_size, show_progress=show_progress,
    )  # fmt: skip


def _measure_snp(
    firmware: Source,
    *,
    mode: SevMode,
    vcpus: int | None,
    vcpu_type: str | None,
    vcpu_sig: int | None,
    vmm: VmmType,
    guest_features: int | None,
    kernel: Source | None,
    initrd: Source | None,
    cmdline: str | None,
    snp_ovmf_hash: bytes | None,
    svsm: Source | None,
    vars_size: int | None,
    show_progress: bool | None,
) -> Measurement:
    _require_kernel_for(kernel, initrd, cmdline)
    cmdline_mod.raw_bytes(cmdline)  # refuse a command line QEMU could not get before any work
    if snp_ovmf_hash is not None and mode is not SevMode.SNP:
        raise InputError("snp_ovmf_hash only applies to mode snp")
    if mode is SevMode.SNP_SVSM and vmm is not VmmType.QEMU:
        raise InputError("snp:svsm mode is only defined for QEMU")
    if mode is SevMode.SNP_SVSM and kernel is not None:
        raise InputError(
            "snp:svsm mode does not measure a kernel (sev-snp-measure ignores it); drop kernel"
        )
    if mode in (SevMode.SNP, SevMode.SNP_SVSM, SevMode.SEV_ES) and vcpus is None:
        raise InputError(f"vcpus is required in {mode.value} mode")
    if vcpus is not None:
        snp_mod.check_vcpus(vcpus)  # before any work: a count no KVM launch has is refused at once
    if mode is SevMode.SNP and guest_features is None:
        raise InputError(
            "guest_features is required in snp mode (0x1 is sev-snp-measure's command-line default, "
            "0x21 = SNPActive+DebugSwap is what KVM on Linux >= 6.6 sets and its README names)"
        )
    if mode is SevMode.SNP_SVSM:
        if guest_features is not None and guest_features != SVSM_SEV_FEATURES:
            raise InputError(
                f"guest_features 0x{guest_features:x} in snp:svsm mode: every SVSM VMSA is measured "
                f"with SEV_FEATURES 0x{SVSM_SEV_FEATURES:x} (sev-snp-measure's VMSA_SVSM hard-codes it, "
                "and the golden digests of real Coconut-SVSM launches were made that way), so a digest "
                f"for 0x{guest_features:x} would not be what the launch measures; drop guest_features "
                f"or pass 0x{SVSM_SEV_FEATURES:x}"
            )
        guest_features = SVSM_SEV_FEATURES

    signature: int | None = vcpu_sig
    if signature is None and vcpu_type is not None:
        signature = snp_mod.vcpu_signature(vcpu_type)
    needs_sig = mode in (SevMode.SNP, SevMode.SEV_ES, SevMode.SNP_SVSM) and vmm is VmmType.QEMU
    if needs_sig and signature is None:
        raise InputError(f"vcpu_type (or vcpu_sig) is required for QEMU in {mode.value} mode")

    parameters: dict[str, Any] = {"mode": mode.value}
    if mode is not SevMode.SEV and mode is not SevMode.SNP_OVMF_HASH:
        parameters["vcpus"] = vcpus
        parameters["vmm_type"] = vmm.value
        parameters["vcpu_type"] = vcpu_type
        # ec2/gce load RDX 0x600 whatever the CPU model
        parameters["vcpu_sig"] = (signature or 0) if vmm is VmmType.QEMU else None

    # the work: firmware pages and the kernel/initrd streams, in parallel threads
    streamed = mode in (SevMode.SNP, SevMode.SNP_OVMF_HASH)
    pages = streamed and snp_ovmf_hash is None

    def firmware_job(advance: Advance) -> _Firmware:
        if streamed:
            return _stream_snp_firmware(firmware, pages, advance)
        data = read_small(firmware, "firmware")
        advance(len(data))
        return _Firmware(len(data), hashlib.sha384(data).digest(), None, data)

    jobs = [Job("firmware", source_size(firmware), firmware_job)]
    if kernel is not None:
        jobs.append(file_job("kernel", kernel, ("sha256",)))
        if initrd is not None:
            jobs.append(file_job("initrd", initrd, ("sha256",)))
    results = run_jobs(jobs, show_progress=show_progress)
    fw: _Firmware = results[0]
    data = fw.data
    computed_hash = fw.ovmf_hash

    components: dict[str, dict[str, Any]] = {"firmware": {"sha384": fw.sha384}}
    inputs: dict[str, dict[str, Any]] = {"firmware": {"path": source_name(firmware), "size": fw.size}}
    parameters["inputs"] = inputs
    hashes: SevHashes | None = None
    if kernel is not None:
        kernel_digests: FileDigests = results[1]
        initrd_digests: FileDigests | None = results[2] if initrd is not None else None
        hashes = SevHashes.from_digests(
            kernel_digests["sha256"], initrd_digests["sha256"] if initrd_digests else None, cmdline
        )
        components["kernel"] = {"sha256": hashes.kernel_sha256}
        components["cmdline"] = {**_cmdline_text(cmdline), "sha256": hashes.cmdline_sha256}
        components["initrd"] = {"sha256": hashes.initrd_sha256}
        inputs["kernel"] = {"path": kernel_digests.name, "size": kernel_digests.size}
        inputs["initrd"] = (
            {"path": initrd_digests.name, "size": initrd_digests.size}
            if initrd_digests
            else {"path": None, "size": 0}
        )
        inputs["cmdline"] = {"hashed_bytes": len(cmdline_bytes(cmdline)), **_cmdline_raw(cmdline)}

    values: dict[str, bytes] = {}
    if mode is SevMode.SNP_OVMF_HASH:
        assert computed_hash is not None
        parameters["snp_ovmf_hash"] = computed_hash
    elif mode is SevMode.SNP:
        assert guest_features is not None and vcpus is not None
        if snp_ovmf_hash is not None:
            state = OvmfLaunchState.from_hash(snp_ovmf_hash, data)
        else:
            assert computed_hash is not None and fw.image is not None
            state = OvmfLaunchState(ovmf_hash=computed_hash, image=fw.image)
        values["measurement"] = state.launch_digest(
            vcpus=vcpus, vcpu_sig=signature or 0, guest_features=guest_features, vmm=vmm, hashes=hashes
        )
        parameters["snp_ovmf_hash"] = state.ovmf_hash
        parameters["snp_ovmf_hash_supplied"] = state.precomputed
    elif mode is SevMode.SNP_SVSM:
        assert guest_features is not None and vcpus is not None
        if svsm is None or vars_size is None:
            raise InputError("snp:svsm mode needs svsm and vars_size")
        svsm_data = read_small(svsm, "SVSM image")
        values["measurement"] = snp_mod.svsm_launch_digest(
            data,
            svsm_data,
            vars_size=vars_size,
            vcpus=vcpus,
            vcpu_sig=signature or 0,
        )
        inputs["svsm"] = {
            "path": source_name(svsm),
            "size": len(svsm_data),
            "sha384": hashlib.sha384(svsm_data).digest(),
        }
        parameters["vars_size"] = vars_size
    elif mode is SevMode.SEV_ES:
        assert vcpus is not None
        values["measurement"] = snp_mod.seves_launch_digest(
            data, vcpus=vcpus, vcpu_sig=signature or 0, vmm=vmm, hashes=hashes
        )
        guest_features = 0
    else:
        values["measurement"] = snp_mod.sev_launch_digest(data, hashes=hashes)

    if mode in (SevMode.SNP, SevMode.SNP_SVSM, SevMode.SEV_ES):
        assert guest_features is not None
        parameters["guest_features"] = guest_features
        parameters["guest_feature_names"] = guest_feature_names(guest_features)
    parameters["kernel_hashes"] = hashes is not None
    # SEV and SEV-ES digests are SHA-256 launch digests, not SNP reports: say so in the platform
    platform = {SevMode.SEV: "sev", SevMode.SEV_ES: "sev-es"}.get(mode, "snp")
    return Measurement(platform, values, components, parameters)


def snp_launch_digest(
    firmware: Image,
    *,
    vcpus: int,
    guest_features: int,
    vcpu_type: str | None = None,
    vcpu_sig: int | None = None,
    vmm: VmmType = VmmType.QEMU,
    kernel: Image | None = None,
    initrd: Image | None = None,
    cmdline: str | None = None,
) -> bytes:
    """The 48-byte SNP MEASUREMENT of a guest (``measure_snp`` in SNP mode, digest only).

    ``guest_features`` has no default on purpose: sev-snp-measure's command line and README
    disagree (0x1 / 0x21) and a wrong value gives a different digest.
    """
    result = measure_snp(
        firmware,
        vcpus=vcpus,
        vcpu_type=vcpu_type,
        vcpu_sig=vcpu_sig,
        vmm=vmm,
        guest_features=guest_features,
        kernel=kernel,
        initrd=initrd,
        cmdline=cmdline,
        show_progress=False,
    )
    return bytes(result.values["measurement"])


# -- TDX ---------------------------------------------------------------------------------------


def measure_tdx(
    firmware: Image,
    *,
    order: PageOrder = PageOrder.SINGLE_PASS,
    kernel: Image | None = None,
    initrd: Image | None = None,
    cmdline: str | None = None,
    rtmr0: bytes | None = None,
    load_options: LoadOptionsForm = DEFAULT_LOAD_OPTIONS,
    show_progress: bool | None = None,
) -> Measurement:
    """MRTD and (for direct kernel boot) RTMR1/RTMR2 of a TD; RTMR0 only as supplied.

    ``load_options`` says where the firmware's QEMU loader puts ``initrd=initrd`` (edk2
    release dependent, see :class:`~ccverify.measurements.tdx.LoadOptionsForm`); the default
    is the newest edk2 form (``initrd-prefix``, edk2-stable202508 and later). The results
    record which form was used. Images (``firmware``, ``kernel``, ``initrd``) are bytes or files
    (``os.PathLike``); a ``str`` is refused. ``cmdline`` is the command line itself (text).
    """
    name = "measure_tdx"
    return _measure_tdx(
        _image(firmware, "firmware", name), order=order, kernel=_opt_image(kernel, "kernel", name),
        initrd=_opt_image(initrd, "initrd", name), cmdline=cmdline, rtmr0=rtmr0,
        load_options=load_options, show_progress=show_progress,
    )  # fmt: skip


def _measure_tdx(
    firmware: Source,
    *,
    order: PageOrder,
    kernel: Source | None,
    initrd: Source | None,
    cmdline: str | None,
    rtmr0: bytes | None,
    load_options: LoadOptionsForm,
    show_progress: bool | None,
) -> Measurement:
    _require_kernel_for(kernel, initrd, cmdline)
    if not isinstance(load_options, LoadOptionsForm):
        raise InputError(
            f"load_options {load_options!r}: expected a LoadOptionsForm (initrd-prefix/initrd-suffix)"
        )
    cmdline_mod.raw_bytes(cmdline)  # refuse a command line QEMU could not get before any work

    def firmware_job(advance: Advance) -> tuple[bytes, bytes, int, str]:
        data = read_small(firmware, "firmware")
        value = tdx_mod.mrtd(data, order)
        advance(len(data))
        return value, hashlib.sha384(data).digest(), len(data), source_name(firmware)

    def kernel_job(advance: Advance) -> dict[str, bytes]:
        assert kernel is not None
        return authenticode_digests(kernel, ("sha384",), advance=advance)

    jobs = [Job("firmware", source_size(firmware), firmware_job)]
    if kernel is not None:
        jobs.append(Job("kernel", source_size(kernel), kernel_job))
        if initrd is not None:
            jobs.append(file_job("initrd", initrd, ("sha384",)))
    results = run_jobs(jobs, show_progress=show_progress)
    mrtd_value, firmware_sha384, firmware_size, firmware_name = results[0]

    components: dict[str, dict[str, Any]] = {"firmware": {"sha384": firmware_sha384}}
    inputs: dict[str, dict[str, Any]] = {"firmware": {"path": firmware_name, "size": firmware_size}}
    load_options_text: str | None = None
    kernel_digest = initrd_digest = None
    if kernel is not None:
        kernel_digest = results[1]["sha384"]
        components["kernel"] = {"authenticode_sha384": kernel_digest}
        inputs["kernel"] = {"path": source_name(kernel), "size": source_size(kernel)}
        if initrd is not None:
            initrd_digests: FileDigests = results[2]
            inputs["initrd"] = {"path": initrd_digests.name, "size": initrd_digests.size}
            # QEMU passes an empty -initrd as "no initrd" (fw_cfg initrd size 0): OVMF then adds
            # no " initrd=initrd" and installs no initrd protocol, so nothing is measured
            if initrd_digests.size:
                initrd_digest = initrd_digests["sha384"]
                components["initrd"] = {"sha384": initrd_digest}
        load_options_text = tdx_mod.load_options(cmdline, initrd_digest is not None, load_options)
        components["cmdline"] = _cmdline_text(cmdline)
        raw = _cmdline_raw(cmdline)
        if raw:
            inputs["cmdline"] = raw
        if load_options_text is not None:
            # the RTMR2 LoadOptions event digest (UTF-16LE load options incl. initrd=initrd)
            components["cmdline"]["sha384"] = hashlib.sha384(
                tdx_mod.load_options_bytes(load_options_text)
            ).digest()
    prediction = tdx_mod.predict(
        b"",
        order=order,
        kernel_authenticode_sha384=kernel_digest,
        cmdline=cmdline,
        initrd_sha384=initrd_digest,
        rtmr0=rtmr0,
        mrtd_value=mrtd_value,
        load_options_form=load_options,
    )
    values: dict[str, bytes] = {"mrtd": prediction.mrtd}
    if prediction.rtmr0 is not None:
        values["rtmr0"] = prediction.rtmr0
    if prediction.rtmr1 is not None:
        values["rtmr1"] = prediction.rtmr1
    if prediction.rtmr2 is not None:
        values["rtmr2"] = prediction.rtmr2
    parameters: dict[str, Any] = {
        "mrtd_order": order.value,
        "inputs": inputs,
        "load_options": cmdline_mod.display(load_options_text) if load_options_text is not None else None,
        "load_options_form": load_options.value if kernel is not None else None,
        "load_options_form_edk2": load_options.edk2 if kernel is not None else None,
        "boot": "direct" if kernel is not None else "firmware-only",
        "rtmr0_source": "supplied (replayed from a recorded firmware event log)"
        if rtmr0 is not None
        else None,
        "kernel_image_measured": "raw PE file (OVMF >= 2025.05; QEMU-patched bzImage not modelled)"
        if kernel is not None
        else None,
    }
    return Measurement("tdx", values, components, parameters, prediction.events)
