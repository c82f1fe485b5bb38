"""The shipped sample: a complete, self-consistent evidence set under an EXAMPLE root.

``write_example(directory)`` writes what a relying party would hold for one TDX guest and
one SEV-SNP guest: the evidence, its collateral or certificates, the example roots (named
``EXAMPLE-ROOT-NOT-TRUSTED-*``), an event log that replays to the quote's RTMRs, and
reference values signed with an example key. None of it is real: the test PKI made it, the
production roots never trust it, and every command that uses it must name the example
root with ``--trust-root``.

Intel-shaped keys derive from a seed and sign deterministically, so the TDX quote and its
collateral are byte-for-byte reproducible; the reference-value signatures (ECDSA with a
random nonce) and the AMD-shaped RSA keys are not, so those files differ between runs.

``mint_tdx_quote(report_data, now=...)`` makes a new quote under the same example root (the
keys are re-derived from the seed, nothing is stored): the sample's measurements, any
REPORT_DATA, collateral valid from ``now`` for 30 days. ``ccverify example tdx-quote``, the
service tests and the CLI's example evidence provider use it. The seed is public, so anyone
can sign under the example root; that is why only an explicit ``--trust-root`` names it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ccverify.verifier.errors import InputError
from ccverify.verifier.evidence.eventlog import EventLog
from ccverify.verifier.evidence.tdx_quote import TdAttributes
from ccverify.verifier.refvalues.profile import MEASUREMENTS_FORMAT
from ccverify.verifier.replay import rtmrs_from_ccel
from ccverify.verifier.testing.eventlog_builder import direct_boot_log, load_options_digest, sha384
from ccverify.verifier.testing.pki import (
    DEFAULT_TEE_TCB_SVN,
    AmdTestPki,
    IntelTestPki,
    Validity,
    derive_ec_key,
)
from ccverify.verifier.testing.tdx_builder import DEFAULT_XFAM, build_tdx_quote

# what only ``write_example`` needs (the SNP sample, the reference values' codec and signing)
# is imported there: ``mint_tdx_quote`` runs in the guest's example evidence provider, at boot
SEED = b"ccverify-example"
#: REPORT_DATA / REPORTDATA: 64 bytes in a TDX quote and an SNP report alike
REPORT_DATA_SIZE = 64
#: the time the sample's collateral is valid at (the README verifies at this time)
SAMPLE_TIME = datetime(2026, 1, 15, tzinfo=UTC)
_WINDOW = timedelta(days=30)
#: the validity of the reference values and of the AMD-shaped certificates
_LIFETIME = Validity(SAMPLE_TIME - timedelta(days=365), SAMPLE_TIME + timedelta(days=3650))

NONCE = hashlib.sha256(b"ccverify example nonce").digest()
CMDLINE = "console=hvc0 root=/dev/vda1 ro"
KERNEL = b"ccverify example kernel image (not a real kernel)"
INITRD = b"ccverify example initrd (not a real initrd)"
FIRMWARE_VOLUME = b"ccverify example TDVF configuration volume" * 64
_PARAMETERS = {"note": "example values made by ccverify's test PKI, not a real image"}
MRTD = sha384(b"ccverify example TDVF (the MRTD of a real build comes from `ccverify measure tdx`)")


@dataclass(frozen=True)
class ExampleFiles:
    directory: Path
    files: tuple[str, ...]


def report_data(nonce: bytes, public_key: bytes) -> bytes:
    """DESIGN's binding: SHA-512("ccverify/v1" || nonce || public key)."""
    return hashlib.sha512(b"ccverify/v1" + nonce + public_key).digest()


def _signer_key() -> ec.EllipticCurvePrivateKey:
    return derive_ec_key(SEED, "refvalues-signer", ec.SECP256R1())


def _guest_key() -> bytes:
    """The public key a guest binds into REPORT_DATA (an example P-256 key, SEC1 uncompressed)."""
    key = derive_ec_key(SEED, "guest-binding", ec.SECP256R1())
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def write_example(directory: Path, *, force: bool = False) -> ExampleFiles:
    """Write the sample set into ``directory`` (created if missing).

    A directory that already holds anything is refused (``InputError``) unless ``force``: the
    set's file names are common ones (``README.md``), and a user's own files must not be
    replaced silently. With ``force`` the set's files are overwritten, other files are kept.
    """
    if directory.is_dir() and not force:
        present = sorted(p.name for p in directory.iterdir())
        if present:
            shown = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
            raise InputError(
                f"{directory} is not empty ({len(present)} entries: {shown}); the example set would "
                "overwrite same-named files: choose an empty or new folder, or pass --force"
            )
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def put(name: str, data: bytes | str) -> None:
        path = directory / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        written.append(name)

    signer = _signer_key()
    put(
        "EXAMPLE-refvalues-signer.pub.pem",
        signer.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    _write_tdx(put, signer)
    _write_snp(put, signer)
    put("README.md", _README)
    return ExampleFiles(directory, tuple(written))


def _intel_pki() -> IntelTestPki:
    """The example Intel-shaped PKI: the root of ``EXAMPLE-ROOT-NOT-TRUSTED-intel.pem``.

    Every key derives from ``SEED`` (``derive_ec_key``), so this is the same root and the same
    PCK, TCB-signing and attestation keys in every run; nothing secret is stored anywhere.
    """
    return IntelTestPki(seed=SEED + b"/intel")


def sample_tdx_event_log() -> bytes:
    """The sample's CCEL (``tdx-event-log.bin``): a direct boot of the placeholder images."""
    return direct_boot_log(
        firmware_volume=FIRMWARE_VOLUME,
        kernel_authenticode_sha384=sha384(KERNEL),
        cmdline=CMDLINE,
        initrd=INITRD,
    )


_TD_ATTRIBUTES = int(TdAttributes.SEPT_VE_DISABLE).to_bytes(8, "little")


def _tdx_quote(pki: IntelTestPki, log: bytes, report_data: bytes) -> bytes:
    """A quote with the sample's measurements (MRTD, the RTMRs ``log`` replays to, attributes)."""
    return build_tdx_quote(
        pck_key=pki.pck_key,
        pck_chain_pem=pki.pck_chain_pem(),
        attestation_key=derive_ec_key(SEED, "intel/attestation-key", ec.SECP256R1()),
        body_fields={
            "tee_tcb_svn": DEFAULT_TEE_TCB_SVN,
            "mr_td": MRTD,
            "rtmrs": rtmrs_from_ccel(EventLog.from_bytes(log)),
            "td_attributes": _TD_ATTRIBUTES,
            "report_data": report_data,
        },
    )


def _tdx_collateral(pki: IntelTestPki, start: datetime, end: datetime) -> dict[str, str]:
    """QuoteCollateralV3 (TCB info, QE identity, both CRLs) valid from ``start`` to ``end``."""
    return pki.quote_collateral_v3(
        tcb_info=pki.tcb_info(issue_date=start, next_update=end),
        qe_identity=pki.qe_identity(issue_date=start, next_update=end),
        root_crl=pki.root_crl(this_update=start, next_update=end),
        pck_crl=pki.pck_crl(this_update=start, next_update=end),
    )


#: how long collateral minted by ``mint_tdx_quote`` stays valid
MINTED_COLLATERAL_LIFETIME = timedelta(days=30)


def mint_tdx_quote(report_data: bytes, *, now: datetime) -> tuple[bytes, bytes]:
    """A new example quote for ``report_data`` and its collateral, valid from ``now`` for 30 days.

    The quote has the shipped sample's measurements (MRTD, RTMR0-2 of ``tdx-event-log.bin``,
    TD attributes, TEE_TCB_SVN), so the sample's reference values and event log apply to it,
    and it chains to the same example root (``EXAMPLE-ROOT-NOT-TRUSTED-intel.pem``): it
    verifies only where that root is named explicitly. ``report_data`` is 1-64 bytes; a
    shorter value is zero-padded on the right, as configfs-tsm does with a short ``inblob``.
    Returns ``(quote bytes, QuoteCollateralV3 JSON bytes)``; the same inputs give the same
    bytes (deterministic keys and signatures). ``now`` is an aware datetime, truncated to the
    second (the collateral's dates have no fraction). The example certificates themselves
    expire (PCK CA in 2033, PCK leaf in 2030): past that the minted quote no longer verifies.
    """
    if now.tzinfo is None:
        raise InputError("mint_tdx_quote: now must be an aware datetime (UTC)")
    if not 1 <= len(report_data) <= REPORT_DATA_SIZE:
        raise InputError(
            f"REPORT_DATA is 1 to {REPORT_DATA_SIZE} bytes (shorter is zero-padded), got {len(report_data)}"
        )
    start = now.astimezone(UTC).replace(microsecond=0)
    pki = _cached_intel_pki()
    quote = _tdx_quote(pki, _cached_event_log(), bytes(report_data).ljust(REPORT_DATA_SIZE, b"\0"))
    collateral = _tdx_collateral(pki, start, start + MINTED_COLLATERAL_LIFETIME)
    return quote, (json.dumps(collateral, indent=1) + "\n").encode()


_cached_intel_pki = functools.cache(_intel_pki)
_cached_event_log = functools.cache(sample_tdx_event_log)


def _write_tdx(put: Any, signer: ec.EllipticCurvePrivateKey) -> None:
    pki = _intel_pki()
    log = sample_tdx_event_log()
    rtmrs = rtmrs_from_ccel(EventLog.from_bytes(log))
    kernel_authenticode = sha384(KERNEL)
    attributes = _TD_ATTRIBUTES
    quote = _tdx_quote(pki, log, report_data(NONCE, _guest_key()))
    start, end = SAMPLE_TIME - _WINDOW, SAMPLE_TIME + _WINDOW
    collateral = _tdx_collateral(pki, start, end)
    measurements = {
        "format": MEASUREMENTS_FORMAT,
        "platform": "tdx",
        "values": {
            "mrtd": MRTD.hex(),
            "rtmr0": rtmrs[0].hex(),
            "rtmr1": rtmrs[1].hex(),
            "rtmr2": rtmrs[2].hex(),
            "xfam": DEFAULT_XFAM.hex(),
            "td_attributes": {"value": attributes.hex(), "mask": "0x" + "ff" * 8},
        },
        "components": {
            "firmware": {"sha384": sha384(FIRMWARE_VOLUME).hex()},
            "kernel": {"authenticode-sha384": kernel_authenticode.hex()},
            "cmdline": {"sha384": load_options_digest(CMDLINE, initrd=True).hex(), "text": CMDLINE},
            "initrd": {"sha384": sha384(INITRD).hex()},
        },
        "parameters": _PARAMETERS,
    }
    put("EXAMPLE-ROOT-NOT-TRUSTED-intel.pem", pki.root_pem())
    put("tdx-quote.dat", quote)
    put("tdx-collateral.json", json.dumps(collateral, indent=1) + "\n")
    put("tdx-event-log.bin", log)
    _put_reference_values(put, measurements, signer)


def _write_snp(put: Any, signer: ec.EllipticCurvePrivateKey) -> None:
    from ccverify.verifier.evidence.snp_report import Product
    from ccverify.verifier.testing.snp_builder import build_snp_report

    pki = AmdTestPki(
        Product.MILAN,
        seed=SEED + b"/amd",
        ark_validity=_LIFETIME,
        ask_validity=_LIFETIME,
        vcek_validity=_LIFETIME,
    )
    measurement = sha384(b"ccverify example SNP launch (real digests come from `ccverify measure snp`)")
    report = build_snp_report(
        pki.vcek_key,
        product=Product.MILAN,
        measurement=measurement,
        chip_id=pki.chip_id,
        report_data=report_data(NONCE, _guest_key()),
    )
    measurements = {
        "format": MEASUREMENTS_FORMAT,
        "platform": "snp",
        "values": {
            "measurement": measurement.hex(),
            "policy": {"value": "0x30000", "mask": "0xffffffffffffffff"},
        },
        "components": {},
        "parameters": _PARAMETERS,
    }
    put("EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem", pki.ark_pem())
    put("snp-report.bin", report.to_bytes())
    put("snp-vcek.der", pki.vcek_der())
    put("snp-cert-chain.pem", pki.cert_chain_pem("vcek"))
    # the KDS CRL, signed by the example ARK: the default policy requires revocation checked
    put("snp-crl.der", pki.crl(this_update=SAMPLE_TIME - _WINDOW, next_update=SAMPLE_TIME + _WINDOW))
    _put_reference_values(put, measurements, signer)


def _put_reference_values(put: Any, measurements: dict[str, Any], signer: ec.EllipticCurvePrivateKey) -> None:
    """``<platform>-measurements.json`` and the reference values signed from it."""
    from ccverify.verifier.refvalues import sign_reference_values
    from ccverify.verifier.refvalues.model import Signer
    from ccverify.verifier.refvalues.profile import from_measurements

    platform = measurements["platform"]
    rv = from_measurements(
        measurements,
        id=f"ccverify-example-{platform}",
        sequence=1,
        not_before=_LIFETIME.not_before,
        not_after=_LIFETIME.not_after,
        signer=Signer("ccverify EXAMPLE reference-value signer (NOT TRUSTED)"),
    )
    put(f"{platform}-measurements.json", json.dumps(measurements, indent=1) + "\n")
    put(f"{platform}-refvalues.cbor", sign_reference_values(rv, signer))


_README = """# ccverify example evidence (NOT REAL, NOT TRUSTED)

Made by `ccverify example set DIR` with ccverify's test PKI. Every certificate says
`O=ccverify example PKI - NOT TRUSTED`; the roots are the `EXAMPLE-ROOT-NOT-TRUSTED-*` files.
The pinned production roots (Intel SGX Root CA; AMD ARKs) never accept any of it: each command
below names the example root with `--trust-root`, and the verdict records that a
non-production root was used. The Intel-shaped keys derive from a seed written in ccverify's
source (`verifier/testing/sample.py`), so anyone can sign under this root:
`ccverify example tdx-quote --report-data HEX` mints new quotes with these measurements.
Name it only for tests and demos.

TDX (collateral valid 2025-12-16 .. 2026-02-14):

    ccverify verify tdx-quote.dat --collateral tdx-collateral.json \\
      --trust-root EXAMPLE-ROOT-NOT-TRUSTED-intel.pem --at 2026-01-15T00:00:00Z \\
      --reference-values tdx-refvalues.cbor --trust-anchor EXAMPLE-refvalues-signer.pub.pem \\
      --event-log tdx-event-log.bin

SEV-SNP (KDS CRL valid 2025-12-16 .. 2026-02-14):

    ccverify verify snp-report.bin --vcek snp-vcek.der --cert-chain snp-cert-chain.pem \\
      --crl snp-crl.der \\
      --trust-root EXAMPLE-ROOT-NOT-TRUSTED-amd-milan-ark.pem --at 2026-01-15T00:00:00Z \\
      --reference-values snp-refvalues.cbor --trust-anchor EXAMPLE-refvalues-signer.pub.pem

`*-measurements.json` is what `ccverify measure ... --json` prints and what
`ccverify reference create --from` signs; the kernel, initrd and firmware here are
placeholder byte strings, so their digests are examples too.
"""
