"""A strict RFC 5424 parser for the tests: it accepts only what the ABNF of RFC 5424 §6
allows (and the escaping rules of §6.3.3, read strictly: a backslash only before ``"``,
``\\`` or ``]``), and returns the fields with SD values unescaped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADER = re.compile(
    rb"<(0|[1-9][0-9]{0,2})>([1-9][0-9]{0,2}) "
    rb"(-|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    rb"(?:Z|[+-][0-9]{2}:[0-9]{2})) "
    rb"([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) "
)
SD_NAME = re.compile(r"[\x21-\x7e]{1,32}")
BOM = b"\xef\xbb\xbf"


class Malformed(ValueError):
    pass


@dataclass
class Message:
    prival: int
    version: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    sd: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    msg: str | None = None

    def param(self, sd_id: str, name: str) -> str | None:
        values = [v for n, v in self.sd.get(sd_id, []) if n == name]
        return values[0] if values else None


def _sd_name(text: str, at: int, stop: str) -> tuple[str, int]:
    end = at
    while end < len(text) and text[end] not in stop:
        end += 1
    name = text[at:end]
    if not SD_NAME.fullmatch(name) or any(c in name for c in '= ]"'):
        raise Malformed(f"bad SD-NAME {name!r} at {at}")
    return name, end


def parse(data: bytes) -> Message:
    head = HEADER.match(data)
    if head is None:
        raise Malformed(f"bad header: {data[:120]!r}")
    prival = int(head.group(1))
    if prival > 191:
        raise Malformed(f"PRIVAL {prival} > 191")
    fields = [g.decode("ascii") for g in head.groups()]
    message = Message(prival, int(fields[1]), fields[2], fields[3], fields[4], fields[5], fields[6])
    try:
        text = data[head.end() :].decode("utf-8")
    except UnicodeDecodeError as exc:
        # MSG may be any octets without the BOM; SD must be UTF-8
        raise Malformed(f"not UTF-8: {exc}") from None
    at = 0
    if text.startswith("-"):
        at = 1
    else:
        if not text.startswith("["):
            raise Malformed("no STRUCTURED-DATA")
        while at < len(text) and text[at] == "[":
            sd_id, at = _sd_name(text, at + 1, " ]")
            if sd_id in message.sd:
                raise Malformed(f"SD-ID {sd_id} twice")
            params: list[tuple[str, str]] = []
            while text[at] == " ":
                name, at = _sd_name(text, at + 1, "=")
                if text[at : at + 2] != '="':
                    raise Malformed(f'no =" after {name}')
                at += 2
                value = []
                while True:
                    if at >= len(text):
                        raise Malformed("unterminated PARAM-VALUE")
                    char = text[at]
                    if char == '"':
                        at += 1
                        break
                    if char == "]":
                        raise Malformed("unescaped ] in PARAM-VALUE")
                    if char == "\\":
                        if at + 1 >= len(text) or text[at + 1] not in '"\\]':
                            raise Malformed("a backslash escapes nothing")
                        char = text[at + 1]
                        at += 1
                    value.append(char)
                    at += 1
                params.append((name, "".join(value)))
                if at >= len(text):
                    raise Malformed("unterminated SD-ELEMENT")
            if text[at] != "]":
                raise Malformed(f"expected ] at {at}")
            at += 1
            message.sd[sd_id] = params
    rest = text[at:]
    if rest:
        if not rest.startswith(" "):
            raise Malformed("no SP before MSG")
        body = rest[1:].encode("utf-8")
        if body.startswith(BOM):
            message.msg = body[len(BOM) :].decode("utf-8")
        else:
            message.msg = body.decode("utf-8")
    return message


def octet_frames(stream: bytes) -> list[bytes]:
    """Split an RFC 6587 octet-counted stream; Malformed for anything else."""
    frames = []
    while stream:
        length, sep, rest = stream.partition(b" ")
        if not sep or not length.isdigit() or length.startswith(b"0"):
            raise Malformed(f"bad MSG-LEN {length[:12]!r}")
        size = int(length)
        if len(rest) < size:
            raise Malformed("truncated frame")
        frames.append(rest[:size])
        stream = rest[size:]
    return frames
