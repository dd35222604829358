"""Invites: who may hand out which role where, and what happens when a code is used.

An invite grants one role in one org; only staff with authority over the org may create it,
only for roles at or below their own rank and only for roles that fit the org's kind. Accepting
spends one use (never more than `max_uses`, even under concurrent accepts), records the real
name, and moves a student who joins another class. Everything goes through the HTTP API and
the WeChat stand-in (a real HTTP server); the database is touched only to read the use counter
or to push an expiry into the past.
"""
from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import qrcode
from PIL import Image
from sqlalchemy import func, select

from app.extensions import db
from app.orgs.models import Invite, Membership
from tests.concurrency import all_at_once
from tests.conftest import assert_error, wechat_login

CODE_RE = re.compile(r"^[A-HJ-NP-Z2-9]{8}$")  # no 0/O, no 1/I
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def make_invite(api, who, org_id: int, role: str, **extra) -> dict:
    response = api.as_(who).post(f"/orgs/{org_id}/invites", json={"role": role, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def newcomer(api, label: str) -> str:
    """A first-time WeChat user: their access token."""
    return wechat_login(api, label)["access_token"]


def me(api, token) -> dict:
    response = api.as_(token).get("/me")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def invite_uses(app, code: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Invite.uses).where(Invite.code == code))


def invite_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Invite.id)))


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- creating invites ------------------------------------------------------------------------

# (inviter, org, role, status, error code)
CREATE_MATRIX = [
    ("t_a", "class_a1", "student", 201, None),
    ("t_a", "school_a", "teacher", 201, None),  # teachers bring in colleagues, at their own rank
    ("t_a", "class_a2", "teacher", 201, None),
    ("t_a1", "class_a1", "student", 201, None),  # a class teacher runs their class
    ("t_a1", "class_a1", "teacher", 201, None),
    ("sa_a", "school_a", "judge", 201, None),
    ("sa_a", "school_a", "school_admin", 201, None),
    ("city_admin", "district", "region_admin", 201, None),
    ("city_admin", "city", "judge", 201, None),
    ("city_admin", "school_b", "school_admin", 201, None),
    ("admin", "city", "region_admin", 201, None),
    ("t_a", "school_a", "judge", 403, "role_above_own"),  # judge needs a school admin or higher
    ("t_a", "school_a", "school_admin", 403, "role_above_own"),
    ("t_a1", "school_a", "teacher", 403, "forbidden"),  # the school is above their class: no authority
    ("sa_a", "district", "judge", 403, "forbidden"),
    ("s_a1", "class_a1", "student", 403, "forbidden"),  # students invite nobody
    ("t_a", "class_b1", "student", 404, "org_not_found"),  # school B does not exist for school A
    ("t_a1", "class_a2", "student", 404, "org_not_found"),  # nor the class next door for a class teacher
    ("sa_b", "school_a", "teacher", 404, "org_not_found"),
    ("p_a1", "class_a1", "student", 404, "org_not_found"),
    ("t_a", "school_a", "student", 422, "role_not_allowed_here"),  # students join classes
    ("sa_a", "class_a1", "school_admin", 422, "role_not_allowed_here"),
    ("city_admin", "school_a", "region_admin", 422, "role_not_allowed_here"),
    ("city_admin", "class_a1", "judge", 422, "role_not_allowed_here"),
    ("city_admin", "district", "teacher", 422, "role_not_allowed_here"),
    ("admin", "city", "student", 422, "role_not_allowed_here"),
]


@pytest.mark.parametrize(("inviter", "org", "role", "status", "code"), CREATE_MATRIX)
def test_create_invite_matrix(app, api, world, inviter, org, role, status, code):
    """Authority over the org, rank at or above the role, and a role that fits the org kind."""
    org_id = getattr(world, org).id
    response = api.as_(getattr(world, inviter)).post(f"/orgs/{org_id}/invites", json={"role": role})
    if status == 201:
        body = response.get_json()
        assert response.status_code == 201, body
        assert CODE_RE.match(body["code"]), body["code"]
        assert (body["role"], body["org_id"], body["org"]["id"], body["uses"]) == (role, org_id, org_id, 0)
        assert body["qrcode_url"].endswith(f"/invites/{body['code']}/qrcode")
        preview = api.as_(world.p_a1).get(f"/invites/{body['code']}")
        assert preview.status_code == 200 and preview.get_json()["role"] == role
    else:
        error = assert_error(response, status, code)
        if status == 422:
            assert has_chinese(error["errors"]["role"][0])
        assert invite_count(app) == 0


def test_invite_defaults_and_limits(api, world):
    """Left out, an invite allows 60 uses for 7 days; a chosen window may reach 90 days, not more."""
    before = datetime.now(UTC)
    body = make_invite(api, world.t_a, world.class_a1.id, "student")
    assert body["max_uses"] == 60 and body["uses"] == 0
    expires = parse_time(body["expires_at"])
    assert expires.utcoffset() is not None
    assert before + timedelta(days=7) - timedelta(seconds=5) <= expires <= datetime.now(UTC) + timedelta(days=7)

    body = make_invite(api, world.t_a, world.class_a1.id, "student", max_uses=5, expires_in_s=3600)
    assert body["max_uses"] == 5
    assert abs(parse_time(body["expires_at"]) - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(seconds=30)

    body = make_invite(api, world.t_a, world.class_a1.id, "student", max_uses=2000, expires_in_s=90 * 86400)
    assert abs(parse_time(body["expires_at"]) - (datetime.now(UTC) + timedelta(days=90))) < timedelta(seconds=30)
    assert body["max_uses"] == 2000
    codes = {make_invite(api, world.t_a, world.class_a1.id, "student")["code"] for _ in range(5)}
    assert len(codes) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "role"),
        ({"role": "parent"}, "role"),  # parents link to a child, they are never invited
        ({"role": "admin"}, "role"),
        ({"role": None}, "role"),
        ({"role": "student", "max_uses": 0}, "max_uses"),
        ({"role": "student", "max_uses": 2001}, "max_uses"),
        ({"role": "student", "max_uses": "many"}, "max_uses"),
        ({"role": "student", "max_uses": 1.5}, "max_uses"),
        ({"role": "student", "expires_in_s": 59}, "expires_in_s"),
        ({"role": "student", "expires_in_s": 90 * 86400 + 1}, "expires_in_s"),
        ({"role": "student", "expires_in_s": "soon"}, "expires_in_s"),
    ],
    ids=["no-role", "parent", "admin", "null-role", "zero-uses", "too-many-uses", "uses-text", "uses-float",
         "too-short", "over-90-days", "expiry-text"],
)
def test_create_invite_rejects_bad_input(app, api, world, body, field):
    """Each bad field is a 422 naming it in Chinese; nothing is created."""
    error = assert_error(api.as_(world.t_a).post(f"/orgs/{world.class_a1.id}/invites", json=body), 422)
    assert list(error["errors"]) == [field]
    assert has_chinese(error["errors"][field][0])
    assert invite_count(app) == 0


# --- accepting -------------------------------------------------------------------------------


def test_student_joins_by_code(app, api, world):
    """Preview, then accept with a lowercase code: a class membership, the trimmed real name on
    `/me`, one use spent, the class now visible. Accepting again is a 200 that changes nothing."""
    invite = make_invite(api, world.t_a1, world.class_a1.id, "student")
    code = invite["code"]
    kid = newcomer(api, "newkid")
    assert me(api, kid)["memberships"] == []

    preview = api.as_(kid).get(f"/invites/{code.lower()}")
    assert preview.status_code == 200, preview.get_json()
    body = preview.get_json()
    assert body["code"] == code and body["role"] == "student"
    assert body["org"] == {"id": world.class_a1.id, "name": world.class_a1.name, "kind": "class"}
    assert [p["id"] for p in body["parents"]] == [world.city.id, world.district.id, world.school_a.id]
    assert_error(api.as_(kid).get(f"/orgs/{world.class_a1.id}"), 404, "org_not_found")

    accepted = api.as_(kid).post(f"/invites/{code.lower()}/accept", json={"real_name": " 王小明 "})
    assert accepted.status_code == 201, accepted.get_json()
    body = accepted.get_json()
    assert (body["org_id"], body["role"], body["org_kind"], body["moved_from_org_id"]) == (
        world.class_a1.id, "student", "class", None)
    profile = me(api, kid)
    assert profile["real_name"] == "王小明"
    assert [(m["org_id"], m["role"]) for m in profile["memberships"]] == [(world.class_a1.id, "student")]
    assert invite_uses(app, code) == 1
    assert api.as_(kid).get(f"/orgs/{world.class_a1.id}").status_code == 200
    assert_error(api.as_(kid).get(f"/orgs/{world.class_a2.id}"), 404, "org_not_found")

    again = api.as_(kid).post(f"/invites/{code}/accept", json={"real_name": "李四"})
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["id"] == body["id"] and again.get_json()["moved_from_org_id"] is None
    assert invite_uses(app, code) == 1
    profile = me(api, kid)
    assert profile["real_name"] == "王小明" and len(profile["memberships"]) == 1


def test_staff_invite_grants_authority_and_roles_accumulate(api, world):
    """A teacher who joins a school by invite can run it at once; joining a second school as a
    teacher keeps the first (only students move)."""
    invite = make_invite(api, world.sa_a, world.school_a.id, "teacher")
    teacher = newcomer(api, "new_teacher")
    assert api.as_(teacher).post(f"/invites/{invite['code']}/accept", json={"real_name": "陈老师"}).status_code == 201
    children = api.as_(teacher).get(f"/orgs/{world.school_a.id}/children")
    assert children.status_code == 200 and children.get_json()["total"] == 2
    assert api.as_(teacher).post(f"/orgs/{world.class_a2.id}/invites", json={"role": "student"}).status_code == 201
    assert_error(api.as_(teacher).post(f"/orgs/{world.school_a.id}/invites", json={"role": "judge"}), 403,
                 "role_above_own")
    assert_error(api.as_(teacher).get(f"/orgs/{world.school_b.id}"), 404, "org_not_found")

    second = make_invite(api, world.sa_b, world.school_b.id, "teacher")
    accepted = api.as_(world.t_a).post(f"/invites/{second['code']}/accept", json={"real_name": "王老师"})
    assert accepted.status_code == 201 and accepted.get_json()["moved_from_org_id"] is None
    assert {(m["org_id"], m["role"]) for m in me(api, world.t_a)["memberships"]} == {
        (world.school_a.id, "teacher"), (world.school_b.id, "teacher")}
    assert api.as_(world.t_a).get(f"/orgs/{world.school_b.id}/children").status_code == 200


def test_student_joining_another_class_moves(app, api, world):
    """A student belongs to one class: accepting a class A2 invite ends the class A1 membership."""
    invite = make_invite(api, world.t_a, world.class_a2.id, "student")
    accepted = api.as_(world.s_a1).post(f"/invites/{invite['code']}/accept", json={"real_name": "张小三"})
    assert accepted.status_code == 201, accepted.get_json()
    assert accepted.get_json()["org_id"] == world.class_a2.id
    assert accepted.get_json()["moved_from_org_id"] == world.class_a1.id
    assert [(m["org_id"], m["role"]) for m in me(api, world.s_a1)["memberships"]] == [(world.class_a2.id, "student")]
    with app.app_context():
        rows = db.session.scalars(select(Membership).where(Membership.user_id == world.s_a1.id)).all()
        assert [(m.org_id, m.role) for m in rows] == [(world.class_a2.id, "student")]
    assert_error(api.as_(world.s_a1).get(f"/orgs/{world.class_a1.id}"), 404, "org_not_found")
    assert api.as_(world.s_a1).get(f"/orgs/{world.class_a2.id}").status_code == 200


@pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")  # no "0 rows deleted" either
def test_two_class_invites_accepted_at_once_leave_one_class(app, api, world):
    """Tapped in two chats at the same moment by a student of class A1: both accepts answer, and
    the student ends up in exactly one class (two would count them twice in every class's
    numbers). Five rounds, each starting from A1 again."""
    invites = [make_invite(api, world.t_a, world.class_a2.id, "student"),
               make_invite(api, world.sa_b, world.class_b1.id, "student")]
    for _round in range(5):
        results = all_at_once(app, [(world.s_a1.token, f"/invites/{invite['code']}/accept", {"real_name": "张小三"})
                                    for invite in invites])
        assert sorted(status for status, _ in results) == [201, 201], results
        with app.app_context():
            rows = db.session.scalars(select(Membership).where(Membership.role == "student",
                                                              Membership.user_id == world.s_a1.id)).all()
            assert len(rows) == 1 and rows[0].org_id in (world.class_a2.id, world.class_b1.id)
            rows[0].org_id = world.class_a1.id  # back to A1 for the next round
            db.session.commit()


@pytest.mark.parametrize(
    ("given", "stored"),
    [("张三", "张三"), (" 王小明 ", "王小明"), ("买买提·艾力", "买买提·艾力"), ("Tom Lee", "Tom Lee"),
     ("张 三", "张三"),  # a space typed inside a Chinese name is dropped
     ("  Tom   Lee ", "Tom Lee"), ("Mary-Jane O'Neil", "Mary-Jane O'Neil"), ("Al", "Al"),
     ("欧阳" + "娜" * 18, "欧阳" + "娜" * 18)],  # 20 characters: the upper bound
)
def test_real_name_accepted(api, world, given, stored):
    """Chinese (with the middle dot of minority names) or Latin names, 2–20 characters, trimmed."""
    invite = make_invite(api, world.t_a, world.class_a1.id, "student")
    kid = newcomer(api, "named_kid")
    response = api.as_(kid).post(f"/invites/{invite['code']}/accept", json={"real_name": given})
    assert response.status_code == 201, response.get_json()
    assert me(api, kid)["real_name"] == stored


@pytest.mark.parametrize(
    "body",
    [{"real_name": "张"}, {"real_name": ""}, {"real_name": "   "}, {"real_name": "张" * 21},
     {"real_name": "张三1"}, {"real_name": "<script>"}, {"real_name": "A"}, {"real_name": "张三Tom"},
     {"real_name": "·张三"}, {"real_name": "张三·"}, {"real_name": None}, {"real_name": 123}, {}],
    ids=["one-char", "empty", "blank", "21-chars", "digit", "markup", "one-letter", "mixed-scripts",
         "leading-dot", "trailing-dot", "null", "number", "missing"],
)
def test_real_name_rejected(app, api, world, body):
    """A bad name is a 422 on `real_name` in Chinese; no use is spent and nobody joins."""
    invite = make_invite(api, world.t_a, world.class_a1.id, "student")
    kid = newcomer(api, "bad_name_kid")
    error = assert_error(api.as_(kid).post(f"/invites/{invite['code']}/accept", json=body), 422, "validation_error")
    assert list(error["errors"]) == ["real_name"] and has_chinese(error["errors"]["real_name"][0])
    assert invite_uses(app, invite["code"]) == 0
    assert me(api, kid)["memberships"] == [] and me(api, kid)["real_name"] is None


@pytest.mark.parametrize("state", ["expired", "used_up"])
def test_unusable_invite_is_gone(app, api, world, state):
    """Expired and used-up codes are a 410 with their own code, for the preview and the accept; no
    use is spent and nobody joins. A member who already joined still gets their 200."""
    invite = make_invite(api, world.t_a, world.class_a1.id, "student", max_uses=1)
    code = invite["code"]
    first = newcomer(api, "first_kid")
    if state == "expired":
        with app.app_context():
            row = db.session.scalar(select(Invite).where(Invite.code == code))
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            db.session.commit()
        expected_uses = 0
    else:
        assert api.as_(first).post(f"/invites/{code}/accept", json={"real_name": "先来"}).status_code == 201
        assert api.as_(first).post(f"/invites/{code}/accept", json={"real_name": "先来"}).status_code == 200
        expected_uses = 1
    late = newcomer(api, "late_kid")
    assert_error(api.as_(late).get(f"/invites/{code}"), 410, f"invite_{state}")
    assert_error(api.as_(late).post(f"/invites/{code}/accept", json={"real_name": "后到"}), 410, f"invite_{state}")
    assert invite_uses(app, code) == expected_uses
    assert me(api, late)["memberships"] == []


@pytest.mark.parametrize("code", ["ZZZZ2222", "not-a-code", "A"])
def test_unknown_code_is_not_found(api, world, code):
    """A code that was never issued is a 404 `invite_not_found` everywhere it can be used."""
    make_invite(api, world.t_a, world.class_a1.id, "student")
    assert_error(api.as_(world.p_a1).get(f"/invites/{code}"), 404, "invite_not_found")
    assert_error(api.as_(world.p_a1).post(f"/invites/{code}/accept", json={"real_name": "张三"}), 404,
                 "invite_not_found")
    assert_error(api.as_(world.t_a).get(f"/invites/{code}/qrcode"), 404, "invite_not_found")
    assert me(api, world.p_a1)["memberships"] == []


def _accept_in_threads(app, code: str, tokens: list[str]) -> list[tuple[int, dict]]:
    """Everyone accepts at the same moment, each through their own test client (own session)."""
    return all_at_once(app, [(token, f"/invites/{code}/accept", {"real_name": "并发同学"}) for token in tokens])


def test_concurrent_accepts_never_exceed_max_uses(app, api, world):
    """Ten people racing for a three-use code: exactly three join, seven get `invite_used_up`."""
    code = make_invite(api, world.t_a, world.class_a2.id, "student", max_uses=3)["code"]
    tokens = [newcomer(api, f"racer{n}") for n in range(10)]
    results = _accept_in_threads(app, code, tokens)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 3 + [410] * 7, results
    assert all(body["code"] == "invite_used_up" for status, body in results if status == 410)
    assert invite_uses(app, code) == 3
    with app.app_context():
        joined = db.session.scalar(select(func.count(Membership.id)).where(Membership.org_id == world.class_a2.id))
    assert joined == 3


def test_concurrent_accepts_by_one_person_spend_one_use(app, api, world):
    """A double tap sends the same accept several times at once: one 201, the rest 200, one use."""
    code = make_invite(api, world.t_a, world.class_a2.id, "student", max_uses=5)["code"]
    token = newcomer(api, "double_tap")
    results = _accept_in_threads(app, code, [token] * 5)
    assert sorted(status for status, _ in results) == [200] * 4 + [201], results
    assert len({body["id"] for _, body in results}) == 1
    assert invite_uses(app, code) == 1
    assert [(m["org_id"], m["role"]) for m in me(api, token)["memberships"]] == [(world.class_a2.id, "student")]


# --- the QR code -----------------------------------------------------------------------------


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_invite_qrcode_for_staff_over_the_org(app, api, world):
    """Staff over the org get a real PNG 小程序码 from WeChat whose scene is the invite code (the
    stand-in draws `scene=<code>;page=<join page>` as a QR code); others get a 404."""
    code = make_invite(api, world.t_a, world.class_a1.id, "student")["code"]
    response = api.as_(world.t_a).get(f"/invites/{code}/qrcode")
    assert response.status_code == 200, response.get_data()[:200]
    assert response.mimetype == "image/png"
    data = response.get_data()
    assert data.startswith(PNG_SIGNATURE)
    image = _image(data)
    assert image.format == "PNG" and min(image.size) > 100

    buffer = io.BytesIO()
    qrcode.make(f"scene={code};page={app.config['WECHAT_JOIN_PAGE']}").save(buffer)
    expected = _image(buffer.getvalue())
    assert image.size == expected.size
    assert image.convert("L").tobytes() == expected.convert("L").tobytes(), "the QR code does not hold the code"

    # Anyone with authority over the class may print it, with the code in any case.
    for who in (world.sa_a, world.city_admin, world.admin, world.t_a1):
        again = api.as_(who).get(f"/invites/{code.lower()}/qrcode")
        assert again.status_code == 200 and again.get_data() == data
    # Nobody else learns that it exists.
    for who in (world.s_a1, world.t_b, world.sa_b, world.p_a1):
        assert_error(api.as_(who).get(f"/invites/{code}/qrcode"), 404, "invite_not_found")
    # A class teacher is not staff over the whole school.
    school_code = make_invite(api, world.t_a, world.school_a.id, "teacher")["code"]
    assert_error(api.as_(world.t_a1).get(f"/invites/{school_code}/qrcode"), 404, "invite_not_found")
