import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.encoding import BINARY_SNIFF_BYTES, Decoded, decode
from connectors.errors import BinaryContentError

SOURCE = "/data/notes.txt"


def test_valid_utf8_is_decoded_silently():
    result = decode("Grüße, 世界 — ok\n".encode(), SOURCE)
    assert result == Decoded("Grüße, 世界 — ok\n", "utf-8", ())


def test_utf8_bom_is_stripped():
    result = decode(codecs.BOM_UTF8 + b"hello", SOURCE)
    assert result.text == "hello"
    assert result.encoding == "utf-8-sig"
    assert result.warnings == ()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_with_bom(encoding):
    text = "Crème brûlée\nsecond line"
    bom = {
        "utf-16": codecs.BOM_UTF16,
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
        "utf-32-le": codecs.BOM_UTF32_LE,
        "utf-32-be": codecs.BOM_UTF32_BE,
    }[encoding]
    data = text.encode(encoding) if encoding == "utf-16" else bom + text.encode(encoding)
    result = decode(data, SOURCE)
    assert result.text == text
    assert result.encoding.startswith(encoding[:6])
    assert result.warnings == ()


def test_broken_utf16_after_bom_is_replaced_with_a_warning():
    data = codecs.BOM_UTF16_LE + "ok".encode("utf-16-le") + b"\x00\xd8"  # lone high surrogate
    result = decode(data, SOURCE)
    assert result.text.startswith("ok")
    assert "\ufffd" in result.text
    assert result.warnings
    assert result.warnings[0].startswith(f"{SOURCE}: invalid utf-16-le")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a\r\nb\r\n", "a\nb\n"),
        (b"a\rb\r", "a\nb\n"),
        (b"a\r\n\r\nb", "a\n\nb"),
        (b"tab\there\x0cform\xe2\x80\xa8sep", "tab\there\x0cform\u2028sep"),
    ],
)
def test_newlines_are_normalised_and_nothing_else_changes(raw, expected):
    assert decode(raw, SOURCE).text == expected


def test_cp1252_is_guessed_with_a_warning_naming_the_file():
    text = "It’s a “quoted” word — and it’s fine. " * 20
    result = decode(text.encode("cp1252"), SOURCE)
    assert result.text == text
    assert result.encoding == "cp1252"
    assert result.warnings == (f"{SOURCE}: not valid UTF-8; decoded as cp1252 (guessed)",)


def test_latin1_text_is_decoded_correctly():
    text = "Grüße aus Köln, schöne Straße, naïve café."
    result = decode(text.encode("latin-1"), SOURCE)
    assert result.text == text
    assert len(result.warnings) == 1
    assert SOURCE in result.warnings[0]
    assert "guessed" in result.warnings[0]


def test_cyrillic_legacy_encoding_is_guessed():
    text = "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 3
    result = decode(text.encode("cp1251"), SOURCE)
    assert result.text == text
    assert result.encoding == "cp1251"


def test_mostly_utf8_with_a_stray_byte_is_kept_with_replacement():
    data = ("Ünïcödé text with accents é à ü. " * 20).encode() + b"\x92 stray"
    result = decode(data, SOURCE)
    assert result.text.startswith("Ünïcödé text")
    assert result.text.endswith("\ufffd stray")
    assert result.encoding == "utf-8"
    assert "U+FFFD" in result.warnings[0]
    assert result.warnings[0].startswith(SOURCE)


def test_png_header_is_binary():
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
    with pytest.raises(BinaryContentError) as info:
        decode(data, SOURCE)
    assert info.value.source == SOURCE
    assert SOURCE in str(info.value)


def test_bytes_without_nul_but_no_text_encoding_are_binary():
    data = bytes(range(1, 256)) * 8
    with pytest.raises(BinaryContentError):
        decode(data, SOURCE)


def test_nul_bytes_after_the_sniffed_prefix_do_not_make_text_binary():
    data = b"a" * BINARY_SNIFF_BYTES + b"\x00tail"
    assert decode(data, SOURCE).text.endswith("\x00tail")


def test_empty_input_is_empty_text():
    assert decode(b"", SOURCE) == Decoded("", "utf-8", ())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_either_returns_text_or_says_binary(data):
    try:
        result = decode(data, SOURCE)
    except BinaryContentError:
        return
    assert "\r" not in result.text
    assert all(w.startswith(SOURCE) for w in result.warnings)


@given(st.text().filter(lambda s: "\x00" not in s and not s.startswith("\ufeff")))
def test_utf8_round_trip_only_changes_line_ends(text):
    result = decode(text.encode(), SOURCE)
    assert result.text == text.replace("\r\n", "\n").replace("\r", "\n")
    assert result.warnings == ()
