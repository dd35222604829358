"""Certificates: the public verification (no login, masked names only), the PNG poster with a
QR code that decodes to the verification URL, its cache in storage, and revocation."""
from __future__ import annotations

import hashlib
import io
from datetime import datetime

import pytest
import zxingcpp
from PIL import Image, ImageChops

from app.auth.models import User
from app.common import poster
from app.common.masking import mask_name
from app.common.time import BEIJING
from app.extensions import db, storage
from app.orgs.models import Org
from tests.conftest import assert_error
from tests.pledge_helpers import add_students, make_campaign, make_pledge, signed, upload_handwriting

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def pledge(api, world):
    campaign = make_campaign(api, world.city_admin, world.city.id)
    return make_pledge(api, world.city_admin, campaign, title="文明上网倡议书")


def decode_qr(data: bytes) -> list[str]:
    image = Image.open(io.BytesIO(data))
    image.load()
    return [result.text for result in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张小三", "张*三"), ("李四", "李*"), ("欧阳小娜", "欧**娜"), ("王", "*"), (None, "**"), ("", "**"),
     ("阿依古丽·买买提", "阿******提"), ("阿·木", "阿*"), ("A B", "A*"), ("Li Na", "L***a"), ("Li-Na", "L***a")],
)
def test_mask_name(name, masked):
    """Counted on letters: a separator hides nothing, so a short name never shows every letter."""
    assert mask_name(name) == masked


def test_public_verification_shows_a_masked_name(app, api, world, pledge):
    """No login; the minor's full name appears nowhere in the answer."""
    signature = signed(api, world.s_a1, pledge["id"])
    response = api.get(f"/certificates/{signature['serial']}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["serial"] == signature["serial"] and body["name_masked"] == "张*三"
    assert body["title"] == "文明上网倡议书" and body["school"] == "第一小学"
    assert body["valid"] is True and body["revoked"] is False and body["status"] == "complete"
    assert body["signed_at"] == signature["completed_at"]
    raw = response.get_data(as_text=True)
    assert "张小三" not in raw and "小三" not in raw
    # A serial in another case still finds it; a guessed one finds nothing.
    assert api.get(f"/certificates/{signature['serial'].lower()}").get_json()["serial"] == signature["serial"]
    assert_error(api.get("/certificates/AAAAAAAAAAAAAAAAAAAA"), 404, "certificate_not_found")
    assert_error(api.get("/certificates/" + "A" * 40), 404, "certificate_not_found")
    assert_error(api.get("/certificates/AAAAAAAAAAAAAAAAAAAA/image"), 404, "certificate_not_found")

    for name, masked in (("李四", "李*"), ("阿·木", "阿*")):
        two = add_students(app, world.class_a2.id, [name])[0]
        other = signed(api, two, pledge["id"])
        answer = api.get(f"/certificates/{other['serial']}")
        assert answer.get_json()["name_masked"] == masked
        assert name not in answer.get_data(as_text=True)


def test_poster_is_a_png_whose_qr_code_opens_the_verification(app, api, world, pledge):
    signature = signed(api, world.s_a1, pledge["id"])
    serial = signature["serial"]
    response = api.get(f"/certificates/{serial}/image")
    assert response.status_code == 200, response.get_data()[:300]
    assert response.mimetype == "image/png"
    data = response.get_data()
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG" and image.width >= 600 and image.height > image.width
    qr_url = f"http://localhost/api/v1/certificates/{serial}"
    assert decode_qr(data) == [qr_url]

    # A poster an older renderer left in storage (its key had no version; it still carried the
    # drawn signature) is never served again.
    stale_key = f"certificates/{serial}/valid-{hashlib.sha256(qr_url.encode()).hexdigest()[:12]}.png"
    with app.app_context():
        storage.backend.save_bytes(stale_key, b"an old poster", "image/png")
    assert api.get(f"/certificates/{serial}/image").get_data() == data

    # Rendered once and kept in storage; the next answer is the same file.
    with app.app_context():
        keys = [key for key in storage.backend.keys(f"certificates/{serial}/") if key != stale_key]
    assert len(keys) == 1 and keys[0].endswith(".png")
    assert api.get(f"/certificates/{serial}/image").get_data() == data

    # With PUBLIC_BASE_URL the QR code points there.
    app.config["PUBLIC_BASE_URL"] = "https://qinglang.example.cn/"
    public = api.get(f"/certificates/{serial}/image").get_data()
    assert decode_qr(public) == [f"https://qinglang.example.cn/api/v1/certificates/{serial}"]


def served_and_drawn(app, api, serial: str):
    """The served poster, and a function drawing one from the public verification's details
    (the masked name unless another is given) with the renderer itself."""
    from app.pledges.certificate import render_poster

    served = Image.open(io.BytesIO(api.get(f"/certificates/{serial}/image").get_data())).convert("RGB")
    public = api.get(f"/certificates/{serial}").get_json()
    signed_at = datetime.fromisoformat(public["signed_at"]).astimezone(BEIJING)
    details = {"name_masked": public["name_masked"], "title": public["title"], "school": public["school"],
               "serial": serial, "signed_on": f"{signed_at.year}年{signed_at.month}月{signed_at.day}日",
               "url": f"http://localhost/api/v1/certificates/{serial}"}

    def drawn(**overrides) -> Image.Image:
        with app.app_context():
            return Image.open(io.BytesIO(render_poster(**{**details, **overrides}))).convert("RGB")

    return served, drawn


def same_pixels(one: Image.Image, other: Image.Image) -> bool:
    return ImageChops.difference(one, other).getbbox() is None


def test_the_public_poster_shows_the_masked_name_and_no_handwriting(app, api, world):
    """The poster is shared to Moments: its printed name is masked, and the drawn signature
    (usually the child's full name in their own hand) is not on it. Checked by pixels: the
    served poster is exactly what the renderer draws from the public details alone, and not
    what it draws with the full name."""
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pid = make_pledge(api, world.sa_a, campaign, requires_handwriting=True)["id"]
    serial = signed(api, world.s_a1, pid, handwriting_upload_id=upload_handwriting(api, world.s_a1))["serial"]
    served, drawn = served_and_drawn(app, api, serial)
    assert same_pixels(served, drawn(name_masked="张*三"))
    assert not same_pixels(served, drawn(name_masked="张小三"))


def test_a_teachers_poster_does_not_call_them_a_student(app, api, world, pledge):
    """"同学" is for students; a teacher who takes the pledge is named without it."""
    served, drawn = served_and_drawn(app, api, signed(api, world.t_a1, pledge["id"])["serial"])
    assert same_pixels(served, drawn(student=False))
    assert not same_pixels(served, drawn(student=True))


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8"


def test_a_browser_opening_the_qr_code_gets_a_chinese_page(app, api, world, pledge):
    """WeChat's scanner or a phone camera opens the QR link in a browser: the same public
    details as a page in Chinese, with the date in Beijing time and still no full name; the
    mini-program (no HTML in its Accept header) keeps getting JSON."""
    signature = signed(api, world.s_a1, pledge["id"])
    serial = signature["serial"]
    page = api.get(f"/certificates/{serial}", headers={"Accept": BROWSER})
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    day = datetime.fromisoformat(signature["completed_at"]).astimezone(BEIJING)
    on_day = f"{day.year}年{day.month}月{day.day}日"
    for shown in ("有效证书", "张*三", "第一小学", "《文明上网倡议书》", serial, on_day):
        assert shown in text, shown
    assert "张小三" not in text and "<script" not in text
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert api.get(f"/certificates/{serial}", headers={"Accept": "*/*"}).get_json()["serial"] == serial

    api.as_(world.sa_a).post(f"/signatures/{signature['id']}/revoke", json={"reason": "重复提交"})
    assert "已被撤销" in api.get(f"/certificates/{serial}", headers={"Accept": BROWSER}).get_data(as_text=True)
    missing = api.get("/certificates/AAAAAAAAAAAAAAAAAAAA", headers={"Accept": BROWSER})
    assert missing.status_code == 404 and "证书不存在" in missing.get_data(as_text=True)


def test_revoked_certificate_says_so_and_the_poster_is_drawn_again(app, api, world, pledge):
    signature = signed(api, world.s_a1, pledge["id"])
    serial = signature["serial"]
    before = api.get(f"/certificates/{serial}/image").get_data()
    revoked = api.as_(world.sa_a).post(f"/signatures/{signature['id']}/revoke", json={"reason": "重复提交"})
    assert revoked.status_code == 200, revoked.get_json()

    body = api.get(f"/certificates/{serial}").get_json()
    assert body["valid"] is False and body["revoked"] is True and body["revoked_at"]
    after = api.get(f"/certificates/{serial}/image")
    assert after.status_code == 200 and after.get_data() != before
    assert decode_qr(after.get_data()) == [f"http://localhost/api/v1/certificates/{serial}"]
    with app.app_context():
        keys = list(storage.backend.keys(f"certificates/{serial}/"))
    assert len(keys) == 1 and "-revoked-" in keys[0]


def test_a_family_signature_revoked_before_the_parent_signed_shows_the_revoked_poster(app, api, world):
    """Revocation comes before status: a family signature revoked while awaiting the parent will
    never be completed, so its image is the revoked poster like any revoked certificate's, not
    "wait for the parent" — and it does not claim the parent signed (no 及家长)."""
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pid = make_pledge(api, world.sa_a, campaign, mode="family")["id"]
    child = signed(api, world.s_a1, pid)
    serial = child["serial"]
    assert_error(api.get(f"/certificates/{serial}/image"), 409, "certificate_not_ready")
    assert api.as_(world.sa_a).post(f"/signatures/{child['id']}/revoke", json={}).status_code == 200

    response = api.get(f"/certificates/{serial}/image")
    assert response.status_code == 200 and response.mimetype == "image/png"
    served, drawn = served_and_drawn(app, api, serial)
    assert same_pixels(served, drawn(revoked=True, family=False))
    assert not same_pixels(served, drawn(revoked=False, family=False))
    assert not same_pixels(served, drawn(revoked=True, family=True))
    page = api.get(f"/certificates/{serial}", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "已被撤销" in page and f"/certificates/{serial}/image" in page


def ink_bands(image: Image.Image, top: int, bottom: int) -> list[tuple[int, int]]:
    """(first, last) row of each run of rows between `top` and `bottom` with ink: a pixel between
    x=60 and width-60 whose R+G+B is under 560 (the paper's is 746; grey and gold text are ink)."""
    width = (image.width - 120) * 3
    strip = image.convert("RGB").crop((60, top, image.width - 60, bottom)).tobytes()
    bands: list[tuple[int, int]] = []
    for y in range(bottom - top):
        row = strip[y * width:(y + 1) * width]
        if min(row) < 187 and min(sum(row[x:x + 3]) for x in range(0, width, 3)) < 560:
            if bands and bands[-1][1] == top + y - 1:
                bands[-1] = (bands[-1][0], top + y)
            else:
                bands.append((top + y, top + y))
    return bands


def body_lines(data: bytes) -> list[tuple[int, int]]:
    """The bands of ink of a poster's body, its lines one band each unless they run together:
    those between the header (the poster's name, 争做中国好网民) and the footer's date and serial
    lines, checked to be the footer's own (nothing of the body runs into the date line) and to
    leave the margins inside the gold frame blank (nothing runs out of the frame)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert_inside_frame(image)
    bands = ink_bands(image, 40, poster.QR_TOP)  # from the top frame down to the QR code
    date_line = poster.QR_TOP - 90  # where `footer` draws the date
    assert len(bands) >= 5 and bands[-2][0] >= date_line, f"the body runs into the date line: {bands}"
    assert bands[-3][1] < date_line, bands
    return bands[2:-2]


def assert_inside_frame(image: Image.Image) -> None:
    """Left and right of the gold frame's inner edge (36 px in, checked from 40) the poster is the
    blank frame: no text runs out of it."""
    blank, _ = poster.framed_page()
    inside = 40
    for box in ((0, 0, inside, poster.HEIGHT), (poster.WIDTH - inside, 0, poster.WIDTH, poster.HEIGHT)):
        assert same_pixels(image.crop(box), blank.crop(box)), box


def test_the_longest_texts_stay_inside_the_frame_and_above_the_footer(app, api, world, pledge):
    """Names may be 20 characters (with 同学及家长), org names 80 and titles 120: the body shrinks,
    step by step, rather than run out of the frame or into the footer, and the title is shown
    whole. Checked by pixels: the served poster's body has one band of ink per line, each clear
    of the next and of the date line, and nothing outside the frame; a short one is drawn at
    full size, with one band each for the name, school, 郑重签署, title and the closing line."""
    short = api.get(f"/certificates/{signed(api, world.s_a1, pledge['id'])['serial']}/image").get_data()
    lines = body_lines(short)
    assert len(lines) == 5 and lines[0] == (256, 297), lines  # the name at 44 px, 60 px below the header

    from tests.pledge_helpers import add_adult, link_family

    admin = api.as_(world.city_admin)
    name = "青山县实验学校第一分校附属" * 6 + "小学"  # 80 characters, the longest an org name may be
    school = admin.post("/orgs", json={"name": name, "kind": "school", "parent_id": world.district.id}).get_json()
    assert school["name"] == name and len(name) == 80
    klass = admin.post("/orgs", json={"name": "一年级一班", "kind": "class", "parent_id": school["id"]}).get_json()
    student = add_students(app, klass["id"], ["欧阳" + "小" * 17 + "娜"])[0]  # 20 characters, the most allowed
    parent = add_adult(app, "欧阳大山")
    link_family(app, parent.id, student.id)
    title = "全国青少年网络文明公约" * 10 + "（二〇二六年修订版）"  # 120 characters, the longest allowed
    assert len(title) == 120
    pid = make_pledge(api, world.city_admin, make_campaign(api, world.city_admin, school["id"]),
                      title=title, mode="family")["id"]
    serial = signed(api, student, pid)["serial"]
    signed(api, parent, pid, child_id=student.id)
    response = api.get(f"/certificates/{serial}/image")
    assert response.status_code == 200, response.get_data()[:300]
    # The name, the school on 2 lines (cut: 80 characters), 郑重签署, the whole title on 5 lines,
    # the closing line.
    assert len(body_lines(response.get_data())) == 1 + 2 + 1 + 5 + 1
    assert decode_qr(response.get_data()) == [f"http://localhost/api/v1/certificates/{serial}"]


def test_emoji_in_a_title_are_left_out_of_the_poster_not_drawn_as_boxes(app, api, world):
    """The CJK font has no emoji: 🌐 was drawn as a blank box. The body of a title with emoji is
    drawn exactly as the same title without them; the JSON keeps the title as written."""
    campaign = make_campaign(api, world.city_admin, world.city.id)
    bodies = []
    for title in ("网络文明公约", "🌐网络文明公约✨"):
        pid = make_pledge(api, world.city_admin, campaign, title=title)["id"]
        serial = signed(api, world.s_a1, pid)["serial"]
        assert api.get(f"/certificates/{serial}").get_json()["title"] == title
        image = Image.open(io.BytesIO(api.get(f"/certificates/{serial}/image").get_data())).convert("RGB")
        bodies.append(image.crop((40, 200, image.width - 40, poster.BODY_BOTTOM)).tobytes())
    assert bodies[0] == bodies[1]


@pytest.mark.parametrize(("text", "size", "lines"), [
    # Broken by width alone, a bracket would end the first line, and a full stop begin the second.
    ("《2026年“清朗校园”网络安全知识竞赛（初中组）决赛第一场》", 30,
     ["《2026年“清朗校园”网络安全知识竞赛", "（初中组）决赛第一场》"]),
    ("《网络安全知识竞赛第一场比赛初中组决。》", 32, ["《网络安全知识竞赛第一场比赛初中组", "决。》"]),
])
def test_poster_lines_break_the_chinese_way(app, text, size, lines):
    """No line of a poster begins with closing punctuation or ends with an opening one (避头尾)."""
    with app.app_context():
        draw = poster.ImageDraw.Draw(Image.new("RGB", (1, 1)))
        assert poster._wrapped(draw, text, poster.font(size), poster.BODY_WIDTH) == lines


def test_a_line_cut_with_an_ellipsis_still_fits(app):
    """"…" took the place of the last character unmeasured: after a narrow one (i) it stuck out."""
    with app.app_context():
        draw, face = poster.ImageDraw.Draw(Image.new("RGB", (1, 1))), poster.font(32)
        lines = poster._wrapped(draw, "网" * 18 + "i" + "网" * 20, face, poster.BODY_WIDTH)
        [cut] = poster._cut(draw, lines, 1, face, poster.BODY_WIDTH)
        assert cut.endswith("…") and cut.startswith("网" * 17)
        assert draw.textlength(cut, font=face) <= poster.BODY_WIDTH


def test_line_breaks_pasted_into_a_title_or_school_name_still_give_a_poster(app, api, world):
    """Titles come pasted from notices with their line breaks, and org names may hold one: the
    poster draws them on a line (they made Pillow's layout fail: a 500 for every signer, and a
    title is locked once someone signed). The quiz poster is drawn by the same `cached_poster`."""
    admin = api.as_(world.city_admin)
    school = admin.post("/orgs", json={"name": "城关第二\n实验小学", "kind": "school",
                                       "parent_id": world.district.id}).get_json()
    klass = admin.post("/orgs", json={"name": "一年级\r\n一班", "kind": "class", "parent_id": school["id"]}).get_json()
    student = add_students(app, klass["id"], ["张小三"])[0]
    pid = make_pledge(api, world.city_admin, make_campaign(api, world.city_admin, school["id"]),
                      title="全国青少年网络文明公约\n（2026年版）")["id"]
    serial = signed(api, student, pid)["serial"]
    assert "\n" in api.get(f"/certificates/{serial}").get_json()["title"], "the text itself is kept as written"
    response = api.get(f"/certificates/{serial}/image")
    assert response.status_code == 200 and response.mimetype == "image/png", response.get_data()[:300]
    assert decode_qr(response.get_data()) == [f"http://localhost/api/v1/certificates/{serial}"]


def test_a_renamed_student_or_school_gets_a_new_poster(app, api, world, pledge):
    """What the poster shows is in its cache key: after a rename the poster is drawn again, the
    same as the renderer draws from the JSON verification's (already renamed) details."""
    serial = signed(api, world.s_a1, pledge["id"])["serial"]
    posters = [api.get(f"/certificates/{serial}/image").get_data()]
    renames = ((User, world.s_a1.id, "real_name", "王小五", "name_masked", "王*五"),
               (Org, world.school_a.id, "name", "第一实验小学", "school", "第一实验小学"))
    for model, row_id, column, value, field, shown in renames:
        with app.app_context():
            setattr(db.session.get(model, row_id), column, value)
            db.session.commit()
        assert api.get(f"/certificates/{serial}").get_json()[field] == shown
        served, drawn = served_and_drawn(app, api, serial)
        assert same_pixels(served, drawn())
        posters.append(api.get(f"/certificates/{serial}/image").get_data())
    assert len(set(posters)) == 3


def test_family_certificate_masks_the_child(app, api, world):
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pid = make_pledge(api, world.sa_a, campaign, mode="family")["id"]
    from tests.pledge_helpers import add_adult, link_family

    parent = add_adult(app, "张大山")
    link_family(app, parent.id, world.s_a1.id)
    serial = signed(api, world.s_a1, pid)["serial"]
    # The page names the parent only once the parent has signed.
    waiting = api.get(f"/certificates/{serial}", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "张*三" in waiting and "及家长" not in waiting
    signed(api, parent, pid, child_id=world.s_a1.id)
    assert "张*三（及家长）" in api.get(f"/certificates/{serial}", headers={"Accept": BROWSER}).get_data(as_text=True)
    response = api.get(f"/certificates/{serial}")
    body = response.get_json()
    assert body["valid"] is True and body["guardian_signed"] is True and body["mode"] == "family"
    raw = response.get_data(as_text=True)
    assert "张小三" not in raw and "张大山" not in raw
    assert api.get(f"/certificates/{serial}/image").status_code == 200


def test_without_a_chinese_font_the_poster_fails_clearly(app, api, world, pledge, monkeypatch):
    serial = signed(api, world.s_a1, pledge["id"])["serial"]
    monkeypatch.setattr(poster, "KNOWN_FONTS", ())
    monkeypatch.setattr(poster, "_fontconfig_candidates", lambda: [])
    app.config["CERTIFICATE_FONT"] = "/nonexistent/font.ttc"
    poster.find_font.cache_clear()
    try:
        assert_error(api.get(f"/certificates/{serial}/image"), 503, "certificate_font_missing")
    finally:
        poster.find_font.cache_clear()
    # The verification itself needs no font.
    assert api.get(f"/certificates/{serial}").status_code == 200
