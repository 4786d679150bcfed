"""parse_blob: raw bytes, hex in any common layout, or base64 — and clear errors."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from video import MAX_BLOB_TEXT, PRESETS, Audio, EdidError, build_edid, parse_blob

EDID = build_edid("1080p60", audio=Audio.STEREO)


def _hex_layouts(blob: bytes) -> dict[str, str]:
    return {
        "plain": blob.hex(),
        "upper": blob.hex().upper(),
        "spaced": blob.hex(" "),
        "lines of 16": "\n".join(blob[i : i + 16].hex(" ") for i in range(0, len(blob), 16)),
        "colons": blob.hex(":"),
        "c array": ", ".join(f"0x{b:02X}" for b in blob),
        "0x unpadded": " ".join(f"0x{b:x}" for b in blob),
        "crlf and tabs": "\r\n".join(
            "\t".join(f"{b:02x}" for b in blob[i : i + 8]) for i in range(0, len(blob), 8)
        ),
    }


@pytest.mark.parametrize("layout", list(_hex_layouts(EDID)))
def test_hex_in_every_common_layout_gives_the_bytes(layout: str) -> None:
    assert parse_blob(_hex_layouts(EDID)[layout]) == EDID


def test_base64_with_or_without_line_breaks_gives_the_bytes() -> None:
    text = base64.b64encode(EDID).decode()
    assert parse_blob(text) == EDID
    assert parse_blob("\n".join(text[i : i + 76] for i in range(0, len(text), 76))) == EDID


def test_raw_bytes_pass_through_and_text_in_bytes_is_read_as_text() -> None:
    assert parse_blob(EDID) == EDID
    assert parse_blob(bytearray(EDID)) == EDID
    assert parse_blob(EDID.hex(" ").encode()) == EDID
    assert parse_blob(base64.b64encode(EDID)) == EDID


@given(
    preset=st.sampled_from(list(PRESETS)),
    audio=st.sampled_from(list(Audio)),
    separator=st.sampled_from(["", " ", "\n", ":", ", ", " \t"]),
    prefix=st.sampled_from(["", "0x", "0X"]),
    upper=st.booleans(),
)
def test_any_hex_formatting_of_any_built_edid_round_trips(
    preset: str, audio: Audio, separator: str, prefix: str, upper: bool
) -> None:
    blob = build_edid(preset, audio=audio)
    if prefix and not separator:
        separator = " "  # prefixed bytes need a separator to be told apart
    digits = [f"{b:02X}" if upper else f"{b:02x}" for b in blob]
    assert parse_blob(separator.join(prefix + d for d in digits)) == blob


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("zz!!" * 64, "neither hex (character 'z' is not a hex digit) nor base64 (Only base64"),
        (
            "zz" * 128,
            "read as base64 (not hex: character 'z' is not a hex digit): "
            "the decoded blob is 192 bytes",
        ),
        ("0" * 257, "odd number of hex digits (257)"),
        ("0x00 0x1ff", "token '0x1ff' is not a byte like 0x1f"),
        ("", "text is empty"),
        ("   \n ", "text is empty"),
        (b"", "text is empty"),
        (
            "00" * 127,
            "read as hex: the decoded blob is 127 bytes, not a whole number of 128-byte blocks",
        ),
        ("00" * 640, "is 640 bytes, more than the cap of 512"),
        ("0" * (MAX_BLOB_TEXT + 1), f"more than the cap of {MAX_BLOB_TEXT}"),
        (
            b"\x01\x02\xff\xfe",
            "neither raw EDID (it does not start with 00 ff ff ff ff ff ff 00) nor text",
        ),
        (b"\x00\xff\x01", "is 3 bytes, not a whole number of 128-byte blocks"),
        (bytes(MAX_BLOB_TEXT + 1), "too long for text, and not raw EDID"),
    ],
)
def test_bad_blobs_say_which_format_was_tried_and_why_it_failed(
    data: str | bytes, message: str
) -> None:
    with pytest.raises(EdidError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_blob(data)


@given(st.one_of(st.binary(max_size=2000), st.text(max_size=2000)))
def test_any_input_gives_bytes_or_an_edid_error(data: bytes | str) -> None:
    try:
        blob = parse_blob(data)
    except EdidError:
        return
    assert 0 < len(blob) <= 512
    assert len(blob) % 128 == 0
