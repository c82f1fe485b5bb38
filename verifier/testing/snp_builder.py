"""Build SEV-SNP attestation reports (v2, v3, v5) from field values and sign them.

For tests and the shipped example only: the signing key is any EC P-384 private key the caller
passes (normally a VCEK/VLEK leaf of the test PKI in ``verifier/testing/pki.py``). Defaults make a
plausible report of the chosen product: policy 0x30000, signed by the VCEK, the product's CPUID,
TCB and firmware version seen in real reports, a chip id derived from a fixed label (zero for a
VLEK or when MASK_CHIP_KEY is set), REPORT_ID_MA all 0xFF (no migration agent).

    report = build_snp_report(key, product=Product.GENOA, report_data=nonce_digest)
    blob = report.to_bytes()
    resigned = sign_snp_report(dataclasses.replace(report, vmpl=1), key)
"""

from __future__ import annotations

import dataclasses
import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ccverify.verifier.errors import InputError
from ccverify.verifier.evidence.snp_report import (
    SIGNATURE_ALGO_ECDSA_P384_SHA384,
    GuestPolicy,
    KeyInfo,
    PlatformInfo,
    Product,
    SigningKey,
    SnpReport,
    TcbParts,
    TcbVersion,
)

#: TCB values of real reports of each product (bl/tee/snp/ucode, Turin with fmc)
DEFAULT_TCB: dict[Product, TcbParts] = {
    Product.MILAN: TcbParts(bl_spl=4, tee_spl=0, snp_spl=24, ucode_spl=219),
    Product.GENOA: TcbParts(bl_spl=10, tee_spl=0, snp_spl=25, ucode_spl=84),
    Product.TURIN: TcbParts(bl_spl=1, tee_spl=0, snp_spl=2, ucode_spl=71, fmc_spl=0),
}
#: firmware (major, minor, build) by report layout, as seen in real reports
DEFAULT_FIRMWARE: dict[int, tuple[int, int, int]] = {2: (1, 52, 4), 3: (1, 55, 29), 5: (1, 55, 61)}
DEFAULT_POLICY = 0x30000


def example_chip_id(product: Product, label: str = "ccverify example chip") -> bytes:
    """A deterministic 64-byte CHIP_ID; Turin uses only the first 8 bytes (the rest zero)."""
    digest = hashlib.sha512(f"{label}/{product.value}".encode()).digest()
    return digest[:8] + bytes(56) if product is Product.TURIN else digest


def build_snp_report(
    key: ec.EllipticCurvePrivateKey | None,
    *,
    version: int = 5,
    product: Product = Product.MILAN,
    guest_svn: int = 0,
    policy: int | GuestPolicy = DEFAULT_POLICY,
    family_id: bytes = bytes(16),
    image_id: bytes = bytes(16),
    vmpl: int = 0,
    signature_algo: int = SIGNATURE_ALGO_ECDSA_P384_SHA384,
    tcb: TcbParts | TcbVersion | None = None,
    current_tcb: TcbParts | TcbVersion | None = None,
    reported_tcb: TcbParts | TcbVersion | None = None,
    committed_tcb: TcbParts | TcbVersion | None = None,
    launch_tcb: TcbParts | TcbVersion | None = None,
    platform_info: int | PlatformInfo | None = None,
    signing_key: SigningKey = SigningKey.VCEK,
    author_key_en: bool = False,
    mask_chip_key: bool = False,
    report_data: bytes = bytes(64),
    measurement: bytes | None = None,
    host_data: bytes = bytes(32),
    id_key_digest: bytes = bytes(48),
    author_key_digest: bytes = bytes(48),
    report_id: bytes | None = None,
    report_id_ma: bytes = b"\xff" * 32,
    cpuid: tuple[int, int, int] | None = None,
    chip_id: bytes | None = None,
    firmware: tuple[int, int, int] | None = None,
    committed_firmware: tuple[int, int, int] | None = None,
    launch_mit_vector: int | None = None,
    current_mit_vector: int | None = None,
) -> SnpReport:
    """A report with these fields, signed with ``key`` (unsigned, zero signature, if None).

    ``tcb`` sets all four TCB fields at once; the specific ones override it. TCBs given as
    ``TcbParts`` are encoded in ``product``'s layout. ``cpuid`` (family, model, stepping) is
    ignored for v2 (which has none); ``firmware`` is (major, minor, build).
    """
    if version not in (2, 3, 4, 5):
        raise InputError(f"cannot build a version {version} report (2, 3, 4 or 5)")
    layout = 5 if version >= 5 else 3 if version >= 3 else 2
    base = tcb if tcb is not None else DEFAULT_TCB[product]

    def tcb_of(value: TcbParts | TcbVersion | None) -> TcbVersion:
        chosen = base if value is None else value
        return chosen if isinstance(chosen, TcbVersion) else TcbVersion.from_parts(chosen, product)

    if platform_info is None:
        platform_info = (
            PlatformInfo.SMT_EN
            if layout == 2
            else (PlatformInfo.SMT_EN | PlatformInfo.ECC_EN | PlatformInfo.ALIAS_CHECK_COMPLETE)
        )
    if chip_id is None:
        unmasked = signing_key is SigningKey.VCEK and not mask_chip_key
        chip_id = example_chip_id(product) if unmasked else bytes(64)
    fam, mod, step = cpuid if cpuid is not None else product.example_cpuid
    major, minor, build = firmware if firmware is not None else DEFAULT_FIRMWARE[layout]
    c_major, c_minor, c_build = (
        committed_firmware if committed_firmware is not None else (major, minor, build)
    )
    if layout >= 5:
        launch_mit = 0 if launch_mit_vector is None else launch_mit_vector
        current_mit: int | None = 0 if current_mit_vector is None else current_mit_vector
    else:
        if launch_mit_vector is not None or current_mit_vector is not None:
            raise InputError(f"a version {version} report has no mitigation vectors")
        launch_mit = None
        current_mit = None
    measurement = (
        measurement if measurement is not None else hashlib.sha384(b"ccverify example guest").digest()
    )
    report_id = report_id if report_id is not None else hashlib.sha256(b"ccverify example report id").digest()

    report = SnpReport(
        version=version,
        guest_svn=guest_svn,
        policy=policy if isinstance(policy, GuestPolicy) else GuestPolicy(policy),
        family_id=family_id,
        image_id=image_id,
        vmpl=vmpl,
        signature_algo=signature_algo,
        current_tcb=tcb_of(current_tcb),
        platform_info=PlatformInfo(platform_info),
        key_info=KeyInfo.build(signing_key, author_key_en=author_key_en, mask_chip_key=mask_chip_key),
        report_data=report_data,
        measurement=measurement,
        host_data=host_data,
        id_key_digest=id_key_digest,
        author_key_digest=author_key_digest,
        report_id=report_id,
        report_id_ma=report_id_ma,
        reported_tcb=tcb_of(reported_tcb),
        cpuid_fam_id=fam if layout >= 3 else None,
        cpuid_mod_id=mod if layout >= 3 else None,
        cpuid_step=step if layout >= 3 else None,
        reserved_cpuid=bytes(21 if layout >= 3 else 24),
        chip_id=chip_id,
        committed_tcb=tcb_of(committed_tcb),
        current_build=build,
        current_minor=minor,
        current_major=major,
        committed_build=c_build,
        committed_minor=c_minor,
        committed_major=c_major,
        launch_tcb=tcb_of(launch_tcb),
        launch_mit_vector=launch_mit,
        current_mit_vector=current_mit,
        reserved_tail=bytes(152 if layout >= 5 else 168),
        signature_r=0,
        signature_s=0,
    )
    report.to_bytes()  # every field the right size, or InputError now rather than later
    return report if key is None else sign_snp_report(report, key)


def sign_snp_report(report: SnpReport | bytes, key: ec.EllipticCurvePrivateKey) -> SnpReport:
    """``report`` with R and S replaced by an ECDSA P-384/SHA-384 signature over its signed data.

    Bytes are parsed leniently (``strict=False``), so mutated reports can be re-signed too.
    """
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP384R1):
        raise InputError("an SNP report is signed with an EC P-384 private key")
    parsed = report if isinstance(report, SnpReport) else SnpReport.from_bytes(report, strict=False)
    der = key.sign(parsed.signed_data, ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(der)
    return dataclasses.replace(parsed, signature_r=r, signature_s=s)
