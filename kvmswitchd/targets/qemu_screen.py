"""A qemu port's screen: QEMU's ``screendump`` read back, or a card saying why not."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from kvmswitchd.errors import DeviceError, StateDirError
from kvmswitchd.statedir import read_nofollow
from kvmswitchd.targets.screen import NO_SIGNAL, encode, font

log = logging.getLogger(__name__)

# Bytes of one screendump PNG we read back. A 4K frame is well under this; the cap stops
# a file swapped under us (or a huge guest mode) from filling the daemon's memory.
MAX_FRAME_BYTES = 32 << 20
CARD_WIDTH, CARD_HEIGHT = 720, 400  # the size of a VGA text screen
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

Execute = Callable[[str, dict[str, Any]], Awaitable[Any]]


@lru_cache(maxsize=32)
def card(text: str) -> bytes:
    """A grey frame saying ``text``: what the port shows when the VM has no frame."""
    image = Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), NO_SIGNAL)
    draw = ImageDraw.Draw(image)
    draw.text(
        (CARD_WIDTH // 2, CARD_HEIGHT // 2), text, fill=(220, 220, 220), font=font(20), anchor="mm"
    )
    return encode(image)


async def screendump(execute: Execute, path: Path) -> bytes | None:
    """QEMU writes its display to ``path`` as PNG; the frame read back (the file is
    removed whatever happens), or None when it failed or is not a PNG within the cap."""
    try:
        await execute("screendump", {"filename": str(path), "format": "png"})
    except DeviceError as exc:
        log.debug("screendump to %s: %s", path, exc)
        _remove(path)
        return None
    return _take(path)


def _take(path: Path) -> bytes | None:
    """The file's PNG (a regular file of at most the cap, never through a symlink: QEMU
    may write in that folder, so it could plant one), then removed."""
    try:
        data = read_nofollow(path, MAX_FRAME_BYTES)
    except (OSError, StateDirError) as exc:
        log.debug("screendump %s: %s", path, exc)
        return None
    finally:
        _remove(path)
    if len(data) > MAX_FRAME_BYTES or not data.startswith(PNG_MAGIC):
        return None
    return data


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
