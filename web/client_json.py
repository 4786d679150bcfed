"""JSON sent by clients (request bodies, websocket messages), parsed only once it is
known to nest shallowly enough for ``json.loads``.

``json.loads`` recurses once per ``[`` or ``{``: 100k of them exhaust the interpreter's
stack (RecursionError, a 500 on an unauthenticated route). ``check_depth`` measures the
nesting without recursion and without a Python loop over the characters: escapes are
dropped, the text is split at the quotes that remain (string contents, brackets
included, are skipped), every other character but the brackets is deleted, and the
innermost pairs are removed, one level per pass, for at most ``limit`` passes.
"""

from __future__ import annotations

import json
from typing import Any

from kvmswitchd.errors import InputError

# Deepest nesting accepted: the API's documents nest three or four levels; anything past
# this is an attack on the parser's recursion, refused before it starts.
MAX_DEPTH = 32

# Every byte but the four brackets (deleted), then { and } read as [ and ].
_NOT_BRACKETS = bytes(code for code in range(256) if code not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")


def _brackets(text: bytes) -> bytes:
    """The brackets of UTF-8 ``text`` that lie outside strings, in order, as ``[``/``]``.

    Multi-byte UTF-8 sequences never contain an ASCII byte, so bytes are safe to scan."""
    # "\\\\" first: a backslash run pairs up from the left, exactly as the parser reads it;
    # what remains of '\\"' is then an escaped quote, never a string's end.
    plain = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(plain.split(b'"')[::2])  # the even pieces lie outside strings
    return outside.translate(_SQUARE, _NOT_BRACKETS)


def check_depth(text: str | bytes, limit: int = MAX_DEPTH) -> None:
    """InputError unless ``json.loads(text)`` is sure to nest at most ``limit`` levels.

    Valid JSON is refused exactly when it nests deeper than ``limit``. Broken JSON is
    either refused here or left to ``json.loads`` to report, when it provably cannot
    recurse deeper than ``limit`` before it fails."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= limit:
        return  # few openers at all, strings included: the common case, no scan
    brackets = _brackets(data)
    if brackets.count(b"[") <= limit:
        return  # cannot nest deeper than it has openers outside strings
    passes = 0
    while passes <= limit:
        inner = brackets.replace(b"[]", b"")  # every innermost pair: one level less
        if len(inner) == len(brackets):
            break
        brackets, passes = inner, passes + 1
    else:  # a pair still enclosed others after `limit` passes: more than `limit` deep
        raise InputError(f"JSON nested deeper than {limit} levels")
    # What is left cannot pair up: "]]]...[[[" (stray closers, then unclosed openers).
    unclosed = brackets.count(b"[")
    if unclosed - (len(brackets) - unclosed) > limit:
        raise InputError(f"JSON nested deeper than {limit} levels")
    if brackets and passes + unclosed > limit:
        raise InputError("malformed JSON: brackets do not pair up")


def loads(data: str | bytes) -> Any:
    """Client JSON, depth-checked before it is parsed; InputError (400) when it is too deep,
    not UTF-8/16/32 text, or malformed."""
    if isinstance(data, bytes | bytearray):
        data = bytes(data)
        encoding = json.detect_encoding(data)
        if encoding != "utf-8":  # UTF-16/32 (or a BOM): scanned as text, not as bytes
            try:
                data = data.decode(encoding)
            except UnicodeDecodeError:
                raise InputError(f"malformed JSON: not {encoding} text") from None
    check_depth(data)
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise InputError("malformed JSON: not UTF-8 text") from None
    except ValueError as exc:
        raise InputError(f"malformed JSON: {exc}") from None
