"""The pledge certificate poster (文明上网承诺证书), drawn with app/common/poster.py."""
from __future__ import annotations

from PIL import Image, ImageDraw

from app.common.poster import (
    GOLD,
    GREY,
    HEIGHT,
    INK,
    QR_SIZE,
    QR_TOP,
    RED,
    WIDTH,
    Block,
    body,
    centered,
    font,
    footer,
    framed_page,
    png_bytes,
    render_lock,
)


def render_poster(**details) -> bytes:
    """The poster as PNG bytes; see `_draw` for the details it shows."""
    with render_lock:
        return _draw(**details)


def _draw(*, name_masked: str, title: str, school: str | None, signed_on: str, serial: str, url: str,
          revoked: bool = False, family: bool = False, student: bool = True) -> bytes:
    """No handwriting on it: the poster is public (shared to Moments, opened without a login),
    and a drawn signature is usually the child's full name in their own hand, which the masked
    printed name exists to keep off public pages. The drawing stays with the signature record."""
    image, draw = framed_page()
    y = centered(draw, 80, "文明上网承诺证书", font(56), RED) + 20
    y = centered(draw, y, "争做中国好网民", font(28), GOLD)
    who = name_masked + (" 同学" if student else "") + ("及家长" if family else "")  # 张*三 同学及家长
    # A long name or school (org names may be 80 characters) shrinks, then wraps, inside the frame,
    # and `body` keeps the whole between the header and the footer.
    body(draw, y, [
        Block(who, (44, 40, 36, 32), INK, leading=24),
        Block(school or "", (28, 24), GREY, max_lines=2, leading=8, after=22),
        Block("郑重签署", (32,), INK),
        Block(f"《{title}》", (32,), INK, max_lines=None),
        Block("承诺文明上网，争做中国好网民。", (26,), GREY, before=6),
    ])

    footer(image, draw, f"签署日期：{signed_on}", serial, url)

    if revoked:
        stamp = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
        mark = ImageDraw.Draw(stamp)
        big = font(96)
        text = "已撤销"
        width = mark.textlength(text, font=big)
        box = ((WIDTH - width) / 2 - 30, 470, (WIDTH + width) / 2 + 30, 600)
        mark.rectangle(box, outline=(200, 0, 0, 200), width=8)
        mark.text(((WIDTH - width) / 2, 480), text, font=big, fill=(200, 0, 0, 200))
        image = Image.alpha_composite(image.convert("RGBA"), stamp.rotate(12, center=(WIDTH / 2, 535)))
        draw = ImageDraw.Draw(image)
        centered(draw, QR_TOP + QR_SIZE + 50, "该证书已被撤销，不再有效", font(26), (200, 0, 0))

    return png_bytes(image)
