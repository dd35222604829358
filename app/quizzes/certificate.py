"""The quiz certificate (知识竞赛合格证书), drawn with app/common/poster.py like the pledge
poster, with a QR code that opens the public verification of the certificate's serial."""
from __future__ import annotations

from app.common.poster import (
    GOLD,
    GREY,
    INK,
    RED,
    WIDTH,
    centered,
    font,
    footer,
    framed_page,
    png_bytes,
    render_lock,
    wrap,
)


def render_quiz_certificate(*, name: str, quiz_title: str, campaign_title: str, school: str | None, score: int,
                            max_score: int, passed_on: str, serial: str, url: str, levels: int | None = None) -> bytes:
    with render_lock:
        image, draw = framed_page()
        y = centered(draw, 80, "知识竞赛合格证书", font(56), RED) + 20
        y = centered(draw, y, "争做中国好网民", font(28), GOLD) + 60
        y = centered(draw, y, f"{name} 同学", font(44), INK) + 24
        if school:
            y = centered(draw, y, school, font(28), GREY) + 30
        body = font(32)
        for line in ["在", *wrap(draw, campaign_title, body, WIDTH - 160, 2),
                     *wrap(draw, f"《{quiz_title}》", body, WIDTH - 160, 2)]:
            y = centered(draw, y, line, body, INK) + 14
        result = f"闯过全部 {levels} 关，总分 {score} 分" if levels else f"中取得 {score} 分（满分 {max_score} 分）"
        y = centered(draw, y + 6, result, font(30), RED) + 20
        centered(draw, y, "成绩合格，特发此证。", font(26), GREY)
        footer(image, draw, f"合格日期：{passed_on}", serial, url)
        return png_bytes(image)
