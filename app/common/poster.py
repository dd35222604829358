"""Drawing certificate posters: a Chinese font installed as a system package (Debian's
fonts-noto-cjk; no font file lives in this repository), a red-and-gold frame, a body of centred
text laid out between the header and the footer (`body`: it shrinks rather than run into the
footer or out of the frame), and a footer with the date, serial and a QR code that opens the
public verification.

The font is found through `CERTIFICATE_FONT` (a path, optionally `path#index` for a .ttc),
then fontconfig (`fc-list :lang=zh`), then a few known paths; without one the poster cannot be
drawn and the request fails with a clear 503 naming the package to install.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import qrcode
from flask import current_app
from PIL import Image, ImageDraw, ImageFont

from app.errors import ApiError
from app.extensions import storage

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 750, 1180
RED, GOLD, INK, GREY, PAPER = (176, 32, 32), (196, 150, 60), (40, 40, 40), (110, 110, 110), (255, 251, 240)
KNOWN_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)
render_lock = threading.Lock()  # FreeType faces are shared (cached); one drawing at a time
MISSING_FONT_HINT = "no Chinese font found: install Debian's fonts-noto-cjk (apt-get install -y fonts-noto-cjk) " \
                    "or set CERTIFICATE_FONT=/path/to/font.ttc#index"


class FontMissing(ApiError):
    status, code, message = 503, "certificate_font_missing", "证书暂时无法生成，请稍后再试"


def _fontconfig_candidates() -> list[tuple[str, int]]:
    if not shutil.which("fc-list"):
        return []
    try:
        out = subprocess.run(  # noqa: S603 - fixed arguments, no user input
            ["fc-list", ":lang=zh", "-f", "%{file}|%{index}|%{family}\n"],  # noqa: S607
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        path, _, rest = line.partition("|")
        index, _, family = rest.partition("|")
        if path and os.path.isfile(path):
            # Simplified Chinese sans first, regular weight first.
            rank = (0 if " SC" in family or "SC," in family else 1, 0 if "Sans" in family else 1,
                    0 if "Regular" in path or "Bold" not in path else 1)
            found.append((rank, path, int(index or 0)))
    return [(path, index) for _, path, index in sorted(found)]


@lru_cache(maxsize=4)
def find_font(configured: str | None = None) -> tuple[str, int]:
    """(path, face index) of a font that draws Chinese, or FontMissing."""
    candidates: list[tuple[str, int]] = []
    if configured:
        path, _, index = configured.partition("#")
        candidates.append((path, int(index or 0)))
    candidates += _fontconfig_candidates() + list(KNOWN_FONTS)
    for path, index in candidates:
        if not os.path.isfile(path):
            continue
        try:
            ImageFont.truetype(path, 20, index=index)
        except OSError:
            continue
        return path, index
    log.error(MISSING_FONT_HINT)
    raise FontMissing()


def font(size: int) -> ImageFont.FreeTypeFont:
    path, index = find_font(current_app.config.get("CERTIFICATE_FONT"))
    return _load(path, index, size)


@lru_cache(maxsize=32)
def _load(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


# Chinese line breaking (避头尾): no line starts with closing punctuation or ends with an opening one.
NO_LINE_START = set("，。、；：！？）》」』】〕］｝〉”’…·%％,.;:!?)]}")
NO_LINE_END = set("（《「『【〔［｛〈“‘([{")


def _wrapped(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Every line of `text` broken by width (a character at a time: Chinese has no spaces); a
    character that may not end or begin a line moves down with its neighbour."""
    lines, line = [], ""
    for ch in text:
        if line and draw.textlength(line + ch, font=font) > width:
            carry = ""
            while len(line) > 1 and len(carry) < 2 and (line[-1] in NO_LINE_END or (
                    (carry or ch)[0] in NO_LINE_START)):
                line, carry = line[:-1], line[-1] + carry
            lines.append(line)
            line = carry + ch
        else:
            line += ch
    if line:
        lines.append(line)
    return lines


def _cut(draw: ImageDraw.ImageDraw, lines: list[str], max_lines: int, font, width: int) -> list[str]:
    """At most `max_lines` lines, the last one shortened to end with "…" within `width` when text
    is left over."""
    if len(lines) <= max_lines:
        return lines
    last = lines[max_lines - 1][:-1]
    while last and draw.textlength(last + "…", font=font) > width:
        last = last[:-1]
    return [*lines[:max_lines - 1], last + "…"]


def _fit(draw: ImageDraw.ImageDraw, text: str, sizes: tuple[int, ...],
         width: int) -> tuple[list[str], ImageFont.FreeTypeFont]:
    """The lines and font of a text that must stay inside the frame (a school name may be 80
    characters): the first of `sizes` at which it fits on one line, else wrapped at the last."""
    for size in sizes:
        face = font(size)
        if draw.textlength(text, font=face) <= width:
            return [text], face
    return _wrapped(draw, text, face, width), face


def centered(draw, y: int, text: str, font, fill) -> int:
    width = draw.textlength(text, font=font)
    draw.text(((WIDTH - width) / 2, y), text, font=font, fill=fill)
    box = draw.textbbox((0, 0), text, font=font)
    return y + (box[3] - box[1])


def qr_image(url: str, size: int) -> Image.Image:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    image = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    return image.resize((size, size), Image.Resampling.NEAREST)


def framed_page() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A blank poster with its double frame."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((18, 18, WIDTH - 19, HEIGHT - 19), outline=RED, width=6)
    draw.rectangle((34, 34, WIDTH - 35, HEIGHT - 35), outline=GOLD, width=2)
    return image, draw


QR_SIZE = 260
QR_TOP = HEIGHT - 90 - QR_SIZE - 110


def footer(image: Image.Image, draw: ImageDraw.ImageDraw, date_line: str, serial: str, url: str) -> None:
    """Date, serial and the verification QR code at the bottom of the poster."""
    small = font(24)
    centered(draw, QR_TOP - 90, date_line, small, INK)
    centered(draw, QR_TOP - 50, f"证书编号：{serial}", small, INK)
    image.paste(qr_image(url, QR_SIZE), ((WIDTH - QR_SIZE) // 2, QR_TOP))
    centered(draw, QR_TOP + QR_SIZE + 14, "扫码验证证书真伪", font(22), GREY)


# The body: the lines between the header and the footer, each text centred.
BODY_WIDTH = WIDTH - 160  # the widest line of the body, well inside the gold frame
BODY_BOTTOM = QR_TOP - 90 - 14  # the body's lowest ink: clear of the footer's first line (the date)
# Step by step smaller while the body is too tall for its space: font sizes and gaps, times these.
BODY_SCALES = (1.0, 0.94, 0.88, 0.82, 0.76, 0.7)


@dataclass(frozen=True)
class Block:
    """A text of the body, centred: at the first of `sizes` on which it fits one line, else
    wrapped at the last (smallest) into as many lines as the body's space leaves it, at most
    `max_lines` (None: no limit of its own; a name or school line has one); `before` px above
    its first line, `leading` below each line, `after` below its last."""
    text: str
    sizes: tuple[int, ...]
    fill: tuple[int, int, int]
    max_lines: int | None = 1
    leading: int = 14
    before: int = 0
    after: int = 0


Placed = list[tuple[int, str, ImageFont.FreeTypeFont, tuple[int, int, int]]]


def _set(draw: ImageDraw.ImageDraw, blocks: list[Block], top: int, scale: float,
         caps: list[int]) -> tuple[Placed, int, list[int]]:
    """The lines of `blocks` placed from `top` at `scale`, each (y, text, font, fill); the body's
    lowest ink; and the number of lines of each block (cut to its cap with "…")."""
    placed: Placed = []
    y, bottom, counts = top, top, []

    def px(value: int) -> int:
        return round(value * scale)

    for block, cap in zip(blocks, caps, strict=True):
        lines, face = _fit(draw, block.text, tuple(px(size) for size in block.sizes), BODY_WIDTH)
        lines = _cut(draw, lines, cap, face, BODY_WIDTH)
        counts.append(len(lines))
        y += px(block.before)
        for line in lines:
            box = draw.textbbox((0, 0), line, font=face)
            placed.append((y, line, face, block.fill))
            bottom = y + box[3]
            y += box[3] - box[1] + px(block.leading)
        y += px(block.after)
    return placed, bottom, counts


_NO_GLYPH = "\U000F0000"  # a private-use character no font draws: what a font draws for the ones it lacks


def _drawn(face: ImageFont.FreeTypeFont, char: str) -> bytes:
    image = Image.new("L", (64, 64))
    ImageDraw.Draw(image).text((8, 8), char, font=face, fill=255)
    return image.tobytes()


@lru_cache(maxsize=8192)
def _has_glyph(path: str, index: int, char: str) -> bool:
    face = _load(path, index, 32)
    return _drawn(face, char) != _drawn(face, _NO_GLYPH)


def drawable(text: str) -> str:
    """`text` without the characters the poster's font cannot draw (emoji: the CJK font has
    none, and each was a blank box on the certificate), its spaces collapsed."""
    path, index = find_font(current_app.config.get("CERTIFICATE_FONT"))
    kept = "".join(char for char in text if char.isspace() or (
        unicodedata.category(char) != "Cf" and not "\ufe00" <= char <= "\ufe0f" and _has_glyph(path, index, char)))
    return " ".join(kept.split())  # an emoji's joiners and variation selectors go with it


def body(draw: ImageDraw.ImageDraw, top: int, blocks: list[Block], gap: int = 60) -> None:
    """Draw `blocks` from `gap` px below `top` (the header's last line) within the space above the
    footer, whatever the lengths of the texts (within their limits: titles of 120 characters,
    school lines of 80 or more, names of 20). At full size when they fit there, as short texts
    do; else font sizes and gaps shrink together step by step (BODY_SCALES) until they fit; and
    only when even the smallest step is too tall, the block with the most lines gives up its
    last one at a time, cut with "…". Characters the font cannot draw are left out."""
    blocks = [replace(block, text=drawable(block.text)) for block in blocks]
    blocks = [block for block in blocks if block.text]
    caps = [block.max_lines or 99 for block in blocks]
    for scale in BODY_SCALES:
        start = top + round(gap * scale)
        placed, bottom, counts = _set(draw, blocks, start, scale, caps)
        if bottom <= BODY_BOTTOM:
            break
    while bottom > BODY_BOTTOM and max(counts, default=1) > 1:
        counts[counts.index(max(counts))] -= 1
        placed, bottom, counts = _set(draw, blocks, start, scale, counts)
    for y, line, face, fill in placed:
        centered(draw, y, line, face, fill)


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG", optimize=True)
    return out.getvalue()


def cached_poster(prefix: str, details: dict, render: Callable[..., bytes]) -> bytes:
    """`render(**details)`, drawn once and kept in storage under `prefix` (which names the
    drawing's version and the certificate) and a hash of everything drawn: a renamed student or
    school is drawn again, as the verification shows it at once."""
    # Every text is drawn on one line, wrapped by width: a line break pasted into a title or a
    # school name (allowed there) made Pillow's layout fail, and every poster of it with it.
    details = {name: " ".join(value.split()) if isinstance(value, str) else value for name, value in details.items()}
    shown = hashlib.sha256(repr(sorted(details.items())).encode()).hexdigest()[:16]
    key = f"{prefix}-{shown}.png"
    backend = storage.backend
    if backend.exists(key):
        try:
            return backend.read_bytes(key)
        except Exception:  # noqa: BLE001 - removed between exists() and read: draw it again
            log.warning("cached poster unreadable, rendering again", exc_info=True)
    png = render(**details)
    backend.save_bytes(key, png, "image/png")
    return png
