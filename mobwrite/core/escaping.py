"""Percent-encoding of text on the wire (docs/protocol.md §6.1 and §6.2).

Raw payloads and delta insertions are UTF-8 bytes in which every byte
outside a fixed set of 83 safe characters is written as ``%XX``.
"""

from __future__ import annotations

import re

SAFE_CHARACTERS = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    b"-_.!~*'();/?:@&=+$,# "
)

_UNSAFE_BYTE = re.compile(
    b"[^" + b"".join(b"\\x%02x" % c for c in SAFE_CHARACTERS) + b"]"
)
_ESCAPES = {i: b"%%%02X" % i for i in range(256)}
PERCENT = ord("%")
# Distinct unsafe bytes (or escapes) up to which a text is escaped (or
# unescaped) one value at a time.
FEW_BYTES = 16
# The byte each two hex digits after a "%" stand for, in either case: decoding
# splits at every "%" and looks the next two bytes up (much faster than a
# regular expression calling back into Python for each escape).
_HEX = b"0123456789ABCDEFabcdef"
_UNESCAPED = {bytes((high, low)): bytes((int(bytes((high, low)), 16),))
              for high in _HEX for low in _HEX}


class DecodeError(ValueError):
    """Encoded text that is not valid percent-escaped UTF-8."""


def encode_text(text: str) -> str:
    """Percent-encode *text* the way every MobWrite peer does."""
    data = text.encode("utf-8")
    unsafe = data.translate(None, SAFE_CHARACTERS)
    if not unsafe:
        return text
    # A text of few distinct unsafe bytes (prose, markup, counters) is escaped
    # one byte value at a time, each pass in C; the percent sign goes first,
    # since every escape brings one.
    distinct: list[int] = []
    while unsafe and len(distinct) <= FEW_BYTES:
        distinct.append(unsafe[0])
        unsafe = unsafe.replace(unsafe[:1], b"")
    if unsafe:
        return _UNSAFE_BYTE.sub(lambda m: _ESCAPES[m[0][0]], data).decode("ascii")
    if PERCENT in distinct:
        distinct.remove(PERCENT)
        data = data.replace(b"%", b"%25")
    for byte in distinct:
        data = data.replace(bytes((byte,)), _ESCAPES[byte])
    return data.decode("ascii")


def _to_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DecodeError(f"not UTF-8 at byte {error.start}") from None


def decode_text(encoded: bytes) -> str:
    """Decode a delta insertion: every ``%`` must start a valid escape."""
    return _to_text(strict_unescape_bytes(encoded))


def decode_raw(encoded: bytes) -> str:
    """Decode a raw payload: a stray ``%`` is kept literally, as the original did."""
    return _to_text(unescape_bytes(encoded))


def unescape_bytes(encoded: bytes) -> bytes:
    """Percent-decode to bytes once, keeping stray ``%`` (used for buffers)."""
    if b"%" not in encoded:
        return encoded
    parts = encoded.split(b"%")
    unescaped = _UNESCAPED.get
    for index in range(1, len(parts)):
        part = parts[index]
        byte = unescaped(part[:2])
        parts[index] = b"%" + part if byte is None else byte + part[2:]
    return b"".join(parts)


def strict_unescape_bytes(encoded: bytes) -> bytes:
    """Percent-decode to bytes once; a ``%`` without two hex digits raises DecodeError."""
    if b"%" not in encoded:
        return encoded
    # Between the escaped percent signs, each distinct escape is replaced
    # everywhere in one pass in C (none of them brings a new "%"), while
    # there are few; the rest is split at every "%" and looked up.
    parts = encoded.split(b"%25")
    if len(parts) > FEW_BYTES:
        return _unescape_each(encoded)
    return b"%".join([_unescape_part(part) for part in parts])


def _unescape_part(part: bytes) -> bytes:
    at = part.find(b"%")
    passes = 0
    while at >= 0:
        if passes == FEW_BYTES:
            return _unescape_each(part)
        escape = part[at:at + 3]
        byte = _UNESCAPED.get(escape[1:])
        if byte is None or len(escape) < 3:
            raise DecodeError("a '%' is not followed by two hex digits")
        part = part.replace(escape, byte)
        passes += 1
        at = part.find(b"%", at)
    return part


def _unescape_each(encoded: bytes) -> bytes:
    first, *rest = encoded.split(b"%")
    try:
        return first + b"".join([_UNESCAPED[part[:2]] + part[2:] for part in rest])
    except KeyError:
        raise DecodeError("a '%' is not followed by two hex digits") from None
