"""The quiz certificate (知识竞赛合格证书), drawn with app/common/poster.py like the pledge
poster, with a QR code that opens the public verification of the certificate's serial."""
from __future__ import annotations

from app.common.poster import (
    GOLD,
    GREY,
    INK,
    RED,
    Block,
    body,
    centered,
    font,
    footer,
    framed_page,
    png_bytes,
    render_lock,
)


def render_quiz_certificate(*, name: str, quiz_title: str, campaign_title: str, school: str | None, score: int,
                            max_score: int, passed_on: str, serial: str, url: str, levels: int | None = None) -> bytes:
    """The body is laid out by `body` between the header and the footer: a long quiz or campaign
    title (120 characters each) or school line (school and class, 80 characters each) shrinks
    the body rather than run into the date line or out of the frame."""
    with render_lock:
        image, draw = framed_page()
        y = centered(draw, 80, "知识竞赛合格证书", font(56), RED) + 20
        y = centered(draw, y, "争做中国好网民", font(28), GOLD)
        result = f"闯过全部 {levels} 关，总分 {score} 分" if levels else f"中取得 {score} 分（满分 {max_score} 分）"
        body(draw, y, [
            Block(f"{name} 同学", (44, 40, 36, 32), INK, leading=24),
            Block(school or "", (28, 24), GREY, max_lines=2, leading=8, after=22),
            Block("在", (32,), INK),
            Block(campaign_title, (32,), INK, max_lines=None),
            Block(f"《{quiz_title}》", (32,), INK, max_lines=None),
            Block(result, (30,), RED, before=6, leading=20),
            Block("成绩合格，特发此证。", (26,), GREY),
        ])
        footer(image, draw, f"合格日期：{passed_on}", serial, url)
        return png_bytes(image)
