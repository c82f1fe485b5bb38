"""pyasn1's DER encoder with INTEGER and ENUMERATED written minimally, for the tests' inputs.

pyasn1 0.6's encoder writes -2**(8n-1) with one octet too many (-128 as ``ff80``; X.690 8.3.2
wants ``80``), which ``verifier/der.py`` rightly refuses. Tests that build DER with pyasn1, or
ask "does pyasn1 re-encode this to the same bytes?" to tell DER from BER, use ``encode`` here.
"""

from __future__ import annotations

from typing import Any

from pyasn1.codec.ber import encoder as ber_encoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.type import univ


class _MinimalInteger(ber_encoder.IntegerEncoder):  # type: ignore[misc]
    def encodeValue(  # pyasn1's names
        self, value: Any, asn1Spec: Any, encodeFun: Any, **options: Any
    ) -> tuple[bytes, bool, bool]:
        number = int(value)
        # one sign bit beyond the magnitude; for a negative number the magnitude is ~number's
        size = ((number if number >= 0 else ~number).bit_length() + 8) // 8
        return number.to_bytes(size, "big", signed=True), False, True


_MINIMAL = _MinimalInteger()
_ENCODER = der_encoder.Encoder(
    {**der_encoder.TAG_MAP, univ.Integer.tagSet: _MINIMAL, univ.Enumerated.tagSet: _MINIMAL},
    # the type map is consulted first
    {**der_encoder.TYPE_MAP, univ.Integer.typeId: _MINIMAL, univ.Enumerated.typeId: _MINIMAL},
)


def encode(value: object) -> bytes:
    """``value`` in DER (pyasn1's encoder, but for minimal INTEGERs)."""
    encoded: bytes = _ENCODER(value)
    return encoded


def pyasn1_pads(number: int) -> bool:
    """Whether pyasn1's own encoder writes ``number`` non-minimally (-2**(8n-1), n >= 1)."""
    return number < 0 and (-number).bit_length() % 8 == 0 and -number == 1 << ((-number).bit_length() - 1)


def tlv(tag: int, content: bytes) -> bytes:
    """``content`` under a minimal DER header (to build inputs no encoder would write)."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content
