"""Certificates that cryptography refuses with errors other than ValueError still come out as ValueError."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ccverify.verifier import x509load
from ccverify.verifier.roots import intel_sgx_root_ca

V3 = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2: version v3


def _with_version(value: int) -> bytes:
    der = intel_sgx_root_ca().public_bytes(Encoding.DER)
    assert der.count(V3) == 1
    return der.replace(V3, V3[:-1] + bytes([value]))


def _pem(der: bytes) -> bytes:
    import base64

    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("version", [3, 6, 255])
def test_an_invalid_version_is_a_value_error_in_every_loader(version: int) -> None:
    der = _with_version(version)
    with pytest.raises(ValueError, match="version"):
        x509load.der_certificate(der)
    with pytest.raises(ValueError, match="version"):
        x509load.certificate(_pem(der))
    with pytest.raises(ValueError, match="version"):
        x509load.pem_certificates(_pem(der))


def test_the_unchanged_certificate_loads() -> None:
    der = _with_version(2)
    assert x509load.der_certificate(der).public_bytes(Encoding.DER) == der
    assert len(x509load.pem_certificates(_pem(der) * 2)) == 2
