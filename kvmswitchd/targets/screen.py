"""Render an emulated computer's screen (text console and pointer) to a PNG frame."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from kvmswitchd.targets.computer import COLUMNS, ROWS, VirtualComputer

# Frames are drawn at the mode's resolution, scaled down to fit this box (keeps a 4K
# frame's PNG encode cheap; the browser scales anyway).
MAX_WIDTH = 1920
MAX_HEIGHT = 1200
MONO_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/TTF/DejaVuSansMono.ttf",
)
BACKGROUND = (16, 24, 32)
FOREGROUND = (200, 230, 200)
NO_SIGNAL = (60, 60, 60)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=16)
def font(size: int) -> Font:
    for path in MONO_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def frame_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_WIDTH / width, MAX_HEIGHT / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def render(computer: VirtualComputer) -> bytes:
    mode = computer.mode
    width, height = frame_size(mode.width, mode.height)
    image = Image.new("RGB", (width, height), BACKGROUND if computer.monitor else NO_SIGNAL)
    draw = ImageDraw.Draw(image)
    if not computer.monitor:
        draw.text(
            (width // 2, height // 2),
            "no signal",
            fill=(220, 220, 220),
            font=font(max(12, height // 20)),
            anchor="mm",
        )
        return encode(image)
    line_height = height / ROWS
    size = max(8, min(int(line_height * 0.8), int(width / COLUMNS * 1.6)))
    face = font(size)
    for row, line in enumerate(computer.screen.lines):
        draw.text((width * 0.01, row * line_height), line, fill=FOREGROUND, font=face)
    # the pointer: a small arrow at the scaled position
    x = computer.pointer_x * width / mode.width
    y = computer.pointer_y * height / mode.height
    arrow = max(8, height // 60)
    draw.polygon(
        [(x, y), (x, y + arrow * 1.6), (x + arrow, y + arrow)],
        fill=(255, 255, 255),
        outline=(0, 0, 0),
    )
    return encode(image)


def encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue()
