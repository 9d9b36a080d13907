"""Percent-encoding of text (docs/protocol.md §6.1, §6.2)."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobwrite.core.escaping import (
    SAFE_CHARACTERS,
    DecodeError,
    decode_raw,
    decode_text,
    encode_text,
    strict_unescape_bytes,
    unescape_bytes,
)

# Any bytes, with plenty of "%", hex digits and near misses among them.
_PERCENT_HEAVY = st.lists(
    st.sampled_from([b"%", b"4", b"f", b"F", b"g", b"0", b"a", b"%4", b"%zz", b"\xff"])
    | st.binary(max_size=3)).map(b"".join)


def test_safe_set_has_83_characters() -> None:
    """The unescaped set is exactly the 83 characters of the spec."""
    assert len(set(SAFE_CHARACTERS)) == 83


@pytest.mark.parametrize(("text", "encoded"), [
    ("café 50% \ttab", "caf%C3%A9 50%25 %09tab"),
    ("\u3046", "%E3%81%86"),
    ("a\x00b%c\nd", "a%00b%25c%0Ad"),
    ("A-Z a-z 0-9 - _ . ! ~ * ' ( ) ; / ? : @ & = + $ , #",
     "A-Z a-z 0-9 - _ . ! ~ * ' ( ) ; / ? : @ & = + $ , #"),
    ("\"<>[\\]^`{|}\x7f\r", "%22%3C%3E%5B%5C%5D%5E%60%7B%7C%7D%7F%0D"),
    ("😀", "%F0%9F%98%80"),
])
def test_encode_examples(text: str, encoded: str) -> None:
    """Known texts encode as the protocol's examples say, with uppercase hex."""
    assert encode_text(text) == encoded


@given(st.text())
def test_encode_matches_reference_quote(text: str) -> None:
    """Encoding equals urllib's quote of the UTF-8 bytes with the safe set."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert encode_text(text) == urllib.parse.quote(data, safe="!~*'();/?:@&=+$,# ")


@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_round_trip(text: str) -> None:
    """Every text survives encoding and both decoders."""
    encoded = encode_text(text).encode("ascii")
    assert decode_text(encoded) == text
    assert decode_raw(encoded) == text


def test_plus_stays_plus_and_extra_escapes_accepted() -> None:
    """A '+' is never a space; needlessly escaped safe characters decode."""
    assert decode_text(b"a+b%2B%3A") == "a+b+:"


def test_unescaped_utf8_accepted() -> None:
    """Raw UTF-8 bytes that should have been escaped are still read."""
    assert decode_text("é😀".encode()) == "é😀"


@pytest.mark.parametrize("bad", [b"%", b"%4", b"%zz", b"abc%G0"])
def test_strict_decoder_refuses_bad_escapes(bad: bytes) -> None:
    """Delta insertions with a broken escape are refused."""
    with pytest.raises(DecodeError):
        decode_text(bad)


def test_raw_decoder_keeps_stray_percent() -> None:
    """Raw payloads keep a '%' that starts no escape, as the original did."""
    assert decode_raw(b"100% sure %4") == "100% sure %4"


@pytest.mark.parametrize("bad", [b"%FF", b"\xc3", b"%ED%A0%80", b"%C0%AF"])
def test_invalid_utf8_refused_by_both(bad: bytes) -> None:
    """Bytes that are not UTF-8 (including encoded surrogates) are refused."""
    with pytest.raises(DecodeError):
        decode_text(bad)
    with pytest.raises(DecodeError):
        decode_raw(bad)


def test_unescape_bytes_decodes_once() -> None:
    """Buffer joining decodes one layer only."""
    assert unescape_bytes(b"u%3Aa%250A") == b"u:a%0A"


@given(_PERCENT_HEAVY)
def test_unescape_bytes_matches_a_regular_expression(data: bytes) -> None:
    """The lenient decoder turns each %XX into its byte and keeps every other byte."""
    expected = re.sub(rb"%[0-9A-Fa-f]{2}", lambda match: bytes((int(match[0][1:], 16),)), data)
    assert unescape_bytes(data) == expected


@given(_PERCENT_HEAVY)
def test_strict_unescape_refuses_exactly_the_broken_escapes(data: bytes) -> None:
    """The strict decoder decodes like the lenient one, or refuses a '%' not before two
    hex digits."""
    if re.search(rb"%(?![0-9A-Fa-f]{2})", data):
        with pytest.raises(DecodeError):
            strict_unescape_bytes(data)
    else:
        assert strict_unescape_bytes(data) == unescape_bytes(data) == (
            urllib.parse.unquote_to_bytes(data))


@given(st.lists(st.sampled_from(["[", "]", "%", "%25", "\n", "é", "😀", "a", " ",
                                  "".join(map(chr, range(0x3b1, 0x3c9)))]) |
                st.text(st.characters(exclude_categories=["Cs"]), max_size=3)).map("".join))
def test_encoding_many_or_few_distinct_bytes_round_trips(text: str) -> None:
    """A text of few distinct unsafe bytes (escaped one value at a time) or of many
    (escaped one by one) is encoded like the reference and decoded back."""
    encoded = encode_text(text)
    assert encoded == urllib.parse.quote(text, safe=SAFE_CHARACTERS.decode())
    assert decode_text(encoded.encode("ascii")) == text


def test_escaped_percent_signs_are_decoded_once() -> None:
    """"%2541" is a percent sign and "41", whichever way the decoder goes."""
    assert strict_unescape_bytes(b"%2541%5B") == b"%41["
    assert strict_unescape_bytes(b"%25" * 20 + b"%41") == b"%" * 20 + b"A"
    with pytest.raises(DecodeError):
        strict_unescape_bytes(b"%25%4")
