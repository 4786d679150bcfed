"""The validator: bad bytes give an EdidError saying where and what, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.errors import InputError
from tests.video.conftest import REAL_EDIDS, real_edid
from video import (
    PRESETS,
    Audio,
    EdidError,
    Mode,
    build_edid,
    monitor_can_show,
    parse_edid,
    suggest_modes,
    supported_modes,
    validate_edid,
)
from video.framing import block_checksum

VALID = [build_edid(p, audio=a) for p in PRESETS for a in Audio] + [
    real_edid(n) for n in REAL_EDIDS
]
valid_edids = st.sampled_from(VALID)


def _fix_checksums(blob: bytearray) -> bytes:
    for start in range(0, len(blob), 128):
        blob[start + 127] = block_checksum(blob[start : start + 128])
    return bytes(blob)


def test_edid_error_is_an_input_error() -> None:
    assert issubclass(EdidError, InputError)


@given(st.binary(max_size=700))
def test_random_bytes_are_rejected_cleanly(data: bytes) -> None:
    error: EdidError | None = None
    try:
        validate_edid(data)
    except EdidError as exc:
        error = exc
    if error is not None:
        assert error.block is not None
        assert error.offset is not None
        assert str(error).startswith("EDID block")


@given(valid_edids, st.data())
def test_any_truncation_of_a_valid_edid_is_rejected_with_where(
    blob: bytes, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(EdidError) as caught:
        validate_edid(blob[:cut])
    err = caught.value
    if cut % 128:
        assert (err.block, err.offset) == (cut // 128, cut)
        assert "not a whole number of 128-byte blocks" in str(err)
    elif cut == 0:
        assert "is empty" in str(err)
    else:
        assert (err.block, err.offset) == (0, 126)  # the extension count disagrees
        assert err.got == f"{cut} bytes"


@given(valid_edids, st.data())
def test_any_single_byte_corruption_is_rejected_at_its_block(
    blob: bytes, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(blob) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != blob[index]))
    corrupt = bytearray(blob)
    corrupt[index] = value
    with pytest.raises(EdidError) as caught:
        validate_edid(bytes(corrupt))
    err = caught.value
    if index < 8:
        assert (err.block, err.offset) == (0, index)
        assert err.problem == "bad header"
    else:
        block = index // 128
        assert (err.block, err.offset) == (block, block * 128 + 127)
        assert err.problem == "checksum mismatch"
        assert (
            err.expected
            == f"0x{block_checksum(bytes(corrupt[block * 128 : block * 128 + 128])):02x}"
        )


@given(valid_edids, st.data())
def test_arbitrary_contents_with_valid_framing_parse_or_fail_cleanly(
    blob: bytes, data: st.DataObject
) -> None:
    """Fuzz the decoders: random bytes anywhere past the header, checksums fixed up."""
    mutated = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 40))):
        index = data.draw(st.integers(8, len(blob) - 1))
        mutated[index] = data.draw(st.integers(0, 255))
    mutated[126] = len(blob) // 128 - 1
    mutated[18] = 1
    mutated[19] = data.draw(st.integers(0, 4))
    candidate = _fix_checksums(mutated)
    error: EdidError | None = None
    try:
        info = parse_edid(candidate)
    except EdidError as exc:
        error = exc
    if error is not None:
        assert error.block is not None
        assert error.offset is not None
        return
    # Whatever decoded must be usable by the mode checks without crashing.
    modes = supported_modes(info)
    assert all(isinstance(str(m), str) for m in modes)
    monitor_can_show(info, Mode(1920, 1080, 60))
    suggest_modes(info, build_edid("4k60"))


def _with(blob: bytes, changes: dict[int, int]) -> bytes:
    out = bytearray(blob)
    for index, value in changes.items():
        out[index] = value
    return _fix_checksums(out)


BASE = build_edid("1080p60", audio=Audio.STEREO)


@pytest.mark.parametrize(
    ("blob", "block", "offset", "text"),
    [
        (b"", 0, 0, "EDID block 0, byte 0 (0x00): is empty"),
        (bytes(600), 4, 512, "more than the cap of 512"),
        (BASE[:200], 1, 200, "is 200 bytes, not a whole number of 128-byte blocks"),
        (b"\x00\xff\xff\xff\xfe" + BASE[5:], 0, 4,
         "EDID block 0, byte 4 (0x04): bad header "
         "(expected 00 ff ff ff ff ff ff 00, got 00 ff ff ff fe ff ff 00)"),
        (BASE[:127] + b"\x00" + BASE[128:], 0, 127, "checksum mismatch (expected 0x"),
        (BASE[:255] + b"\x00", 1, 255, "EDID block 1, byte 255 (0xff): checksum mismatch"),
        (BASE[:128], 0, 126,
         "extension count 1 does not match the blob size (expected 256 bytes, got 128 bytes)"),
        (_with(BASE, {126: 5}), 0, 126, "extension count 5 exceeds the cap of 3"),
        (_with(BASE, {18: 2}), 0, 18, "unsupported EDID version (expected 1.0 .. 1.4, got 2.4)"),
        (_with(BASE, {54 + 8: 0xF0}), 0, 62,
         "H front porch + sync (240 + 44) exceed the blanking (280)"),
        (_with(BASE, {54 + 10: 0xF5, 54 + 11: 0x0C}), 0, 64,
         "V front porch + sync (63 + 5) exceed the blanking (45)"),
        (_with(BASE, {54 + 2: 0, 54 + 4: 0x01}), 0, 56, "no active pixels"),
        (_with(BASE, {72 + 2: 0x07}), 0, 74, "display descriptor byte 2 must be 0"),
        (_with(BASE, {72 + 5: 90}), 0, 77, "min vertical rate 90 Hz > max 61 Hz"),
        (_with(BASE, {72 + 7: 90}), 0, 79, "min horizontal rate 90 kHz > max 68 kHz"),
        (_with(BASE, {128 + 2: 2}), 1, 130,
         "CTA-861 DTD offset out of range (expected 0 or 4..127, got 2)"),
        (_with(BASE, {128 + 1: 0}), 1, 129, "CTA-861 revision 0 does not exist"),
        (_with(BASE, {128 + 4: 0x5F}), 1, 132,
         "CTA data block (tag 2, 31 bytes) runs past the DTD offset"),
        (_with(BASE, {128 + 8: 0x24}), 1, 136, "audio data block length 4 is not a multiple of 3"),
    ],
)  # fmt: skip
def test_errors_say_exactly_what_is_wrong_and_where(
    blob: bytes, block: int, offset: int, text: str
) -> None:
    with pytest.raises(EdidError) as caught:
        validate_edid(blob)
    assert (caught.value.block, caught.value.offset) == (block, offset)
    assert text in str(caught.value)


def test_the_cta_layout_the_error_cases_assume() -> None:
    # VDB header at byte 132 (tag 2, three VICs), then the audio block header at 136.
    assert BASE[128 + 4] == 0x43
    assert BASE[128 + 8] == 0x23
    assert BASE[128 + 9] == 0x09


def test_unknown_extension_blocks_are_accepted_unread() -> None:
    blob = bytearray(build_edid("1080p60"))
    blob[126] = 1
    block = bytearray(128)
    block[0] = 0x70  # DisplayID: not decoded here, still a valid block
    info = parse_edid(_fix_checksums(blob + block))
    assert info.extensions == 1
    assert info.cta is None
