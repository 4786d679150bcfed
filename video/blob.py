"""EDID blobs as users hand them over: raw bytes, hex text or base64.

``parse_blob`` only turns the input into bytes of a plausible size (1..4 whole blocks);
:func:`video.edid.validate_edid` then checks what the bytes say.
"""

from __future__ import annotations

import base64
import binascii
import re

from video.errors import EdidError
from video.framing import HEADER, check_size

# Longest text form accepted. 512 bytes as C-array hex ("0x00, " per byte plus newlines)
# is about 3.3 KB; 16 KiB leaves room for comments-free dumps in any layout while keeping
# a client from making us scan megabytes of "hex".
MAX_BLOB_TEXT = 16 * 1024

_SEPARATORS = re.compile(r"[\s,:;]+")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
_BYTE_TOKEN = re.compile(r"(?:0[xX])?([0-9a-fA-F]{1,2})")


def _from_hex(text: str) -> tuple[bytes | None, str]:
    """Decode hex; on failure return ``None`` and the reason."""
    tokens = [t for t in _SEPARATORS.split(text) if t]
    if not tokens:
        return None, "no hex digits"
    if any(t[:2].lower() == "0x" for t in tokens):
        out = bytearray()
        for token in tokens:
            match = _BYTE_TOKEN.fullmatch(token)
            if match is None:
                return None, f"token {token[:12]!r} is not a byte like 0x1f"
            out.append(int(match[1], 16))
        return bytes(out), ""
    digits = "".join(tokens)
    bad = _HEX_DIGITS.match(digits)
    end = bad.end() if bad else 0
    if end < len(digits):
        return None, f"character {digits[end]!r} is not a hex digit"
    if len(digits) % 2:
        return None, f"odd number of hex digits ({len(digits)})"
    return bytes.fromhex(digits), ""


def _from_base64(text: str) -> tuple[bytes | None, str]:
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact, validate=True), ""
    except (binascii.Error, ValueError) as exc:
        return None, str(exc)


def _from_text(text: str) -> tuple[bytes, str]:
    """Decode text as hex, else base64; return the bytes and how they were read."""
    if len(text) > MAX_BLOB_TEXT:
        raise EdidError(
            f"text form is {len(text)} characters, more than the cap of {MAX_BLOB_TEXT}"
        )
    if not text.strip():
        raise EdidError("text is empty (no hex digits, no base64)")
    blob, hex_reason = _from_hex(text)
    if blob is not None:
        return blob, "read as hex"
    blob, b64_reason = _from_base64(text)
    if blob is not None:
        return blob, f"read as base64 (not hex: {hex_reason})"
    raise EdidError(f"text is neither hex ({hex_reason}) nor base64 ({b64_reason})")


def parse_blob(data: str | bytes | bytearray | memoryview) -> bytes:
    """Raw EDID bytes from raw bytes, hex or base64 text.

    Bytes starting with the EDID header are raw; other bytes are read as ASCII text.
    Hex may be split by whitespace, newlines, colons or commas, with or without ``0x``
    prefixes. Whatever the form, the result must be 1..4 whole 128-byte blocks.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if raw.startswith(HEADER[:2]):
            check_size(raw)
            return raw
        if len(raw) > MAX_BLOB_TEXT:
            raise EdidError(
                f"input is {len(raw)} bytes: too long for text, and not raw EDID "
                f"(it does not start with {HEADER.hex(' ')})"
            )
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise EdidError(
                f"input is neither raw EDID (it does not start with {HEADER.hex(' ')}) "
                f"nor text (byte 0x{raw[exc.start]:02x} at {exc.start} is not ASCII)"
            ) from None
    else:
        text = data
    blob, how = _from_text(text)
    try:
        check_size(blob)
    except EdidError as err:
        raise EdidError(
            f"text {how}: the decoded blob {err.problem}",
            block=err.block,
            offset=err.offset,
            expected=err.expected,
            got=err.got,
        ) from None
    return blob
