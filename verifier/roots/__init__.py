"""Pinned production trust roots, checked against their fingerprints when loaded.

The Intel SGX Root CA anchors every TDX PCK chain and collateral signer; the AMD ARKs
(one per product line) anchor the VCEK and VLEK chains. The AMD ASK and ASVK
intermediates ship as well, so a VCEK or VLEK alone can be verified offline; they are
not trust anchors and are always verified against the pinned ARK.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from cryptography import x509

# (the enums' own module: the ``serialization`` package would load its SSH key support, ~3 ms of
# the initramfs hook's start-up, for nothing used here; ``cryptography.x509`` imports it so too)
from cryptography.hazmat.primitives._serialization import Encoding, PublicFormat

if TYPE_CHECKING:
    from ccverify.verifier.evidence.snp_report import Product

#: SHA-256 over the DER certificate (Intel SGX Root CA, serial 22650cd6..., 2018-2049)
INTEL_SGX_ROOT_CA_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

#: SHA-256 over the DER certificates, per product: (ARK, ASK, ASVK)
AMD_CERT_SHA256: dict[str, tuple[str, str, str]] = {
    "milan": (
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
        "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b",
        "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5",
    ),
    "genoa": (
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
        "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521",
        "197e610743a917d6b9bb982a5a9226ccc0a15b611be0619e626aca9151457372",
    ),
    "turin": (
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
        "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185",
        "104e10a8bd060a3c20a434261a57d0588fd65a88915b4f65b08bdecaf8df1a3c",
    ),
}

AMD_PRODUCTS = tuple(AMD_CERT_SHA256)


@dataclass(frozen=True)
class RootInfo:
    """The root a verdict's chain ended in (both platforms' verdicts record one, ``.root``).

    ``production`` is True only for a pinned production root (the Intel SGX Root CA, an AMD
    ARK); ``product`` is the AMD product line the ARK anchors (None for Intel's root, and for a
    test root that names none).
    """

    subject: str  # RFC 4514
    sha256: str  # SHA-256 of the certificate's DER, hex
    spki_sha256: str  # SHA-256 of its SubjectPublicKeyInfo DER, hex
    production: bool
    product: Product | None = None

    @classmethod
    def of(cls, cert: x509.Certificate, *, production: bool, product: Product | None = None) -> RootInfo:
        spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return cls(
            subject=cert.subject.rfc4514_string(),
            sha256=hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
            spki_sha256=hashlib.sha256(spki).hexdigest(),
            production=production,
            product=product,
        )


@cache
def _load(name: str, expected_sha256: str) -> x509.Certificate:
    # the file beside this module (a package on disk, as pip and the initramfs payload install
    # it; importlib.resources would cost a guest's authorize more to import than this read)
    with open(os.path.join(os.path.dirname(__file__), name), "rb") as handle:
        pem = handle.read()
    cert = x509.load_pem_x509_certificate(pem)
    actual = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    if actual != expected_sha256:
        # a shipped root that does not match its pin means the installation is damaged
        raise RuntimeError(f"pinned root {name} has SHA-256 {actual}, expected {expected_sha256}")
    return cert


def intel_sgx_root_ca() -> x509.Certificate:
    return _load("intel_sgx_root_ca.pem", INTEL_SGX_ROOT_CA_SHA256)


def amd_ark(product: str) -> x509.Certificate:
    return _amd(product, 0)


def amd_ask(product: str) -> x509.Certificate:
    return _amd(product, 1)


def amd_asvk(product: str) -> x509.Certificate:
    return _amd(product, 2)


def _amd(product: str, index: int) -> x509.Certificate:
    """The pinned AMD certificate ``index`` of ``AMD_CERT_SHA256`` (0 ARK, 1 ASK, 2 ASVK)."""
    key = product.lower()
    if key not in AMD_CERT_SHA256:
        raise KeyError(f"no pinned AMD root for product {product!r}; known: {', '.join(AMD_PRODUCTS)}")
    role = ("ark", "ask", "asvk")[index]
    return _load(f"amd_{role}_{key}.pem", AMD_CERT_SHA256[key][index])

