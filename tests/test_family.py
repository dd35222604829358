"""Family links (小手牵大手): a student shows a short code, a parent types it in.

The rules under test: the code is 8 digits, stable until used, single-use, expiring within hours,
never issued twice; only adults who are not students can become guardians; every attempt to link
counts against the account's cap; a link lets the parent see the child's class and nothing beside.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.common.time import utcnow
from app.extensions import db
from app.family.models import FamilyCode, FamilyLink
from tests.conftest import assert_error, wechat_login
from tests.pledge_helpers import add_students


def family_code(api, who) -> dict:
    response = api.as_(who).get("/me/family-code")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def link(api, who, code: str):
    return api.as_(who).post("/family/links", json={"code": code})


def children_of(api, who) -> list[dict]:
    response = api.as_(who).get("/me")
    assert response.status_code == 200
    return response.get_json()["children"]


def test_parent_links_with_the_childs_code_and_sees_the_child(api, world):
    """The happy path: a stable short code, one link, the child listed in the parent's /me."""
    first = family_code(api, world.s_a1)
    assert first["code"].isdigit() and len(first["code"]) == 8
    expires_at = datetime.fromisoformat(first["expires_at"])
    assert expires_at.utcoffset() is not None, "times carry an offset"
    assert utcnow() < expires_at <= utcnow() + timedelta(hours=2, seconds=5)
    # Asking again before it is used gives the same code: the child can read it out twice.
    assert family_code(api, world.s_a1) == first

    assert children_of(api, world.p_a1) == []
    response = link(api, world.p_a1, first["code"])
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {"child": {"id": world.s_a1.id, "real_name": "张小三"}}
    assert children_of(api, world.p_a1) == [{"id": world.s_a1.id, "real_name": "张小三"}]
    # The link goes one way: the child has no children, the parent no memberships.
    assert children_of(api, world.s_a1) == []
    assert api.as_(world.p_a1).get("/me").get_json()["memberships"] == []


def test_code_is_single_use_and_the_child_then_gets_a_new_one(api, world):
    """A code seen over a shoulder must not link a stranger after the parent used it."""
    code = family_code(api, world.s_a1)["code"]
    assert link(api, world.p_a1, code).status_code == 201

    stranger = wechat_login(api, "another_adult")
    assert_error(link(api, stranger["access_token"], code), 410, "family_code_expired")
    assert children_of(api, stranger["access_token"]) == []

    fresh = family_code(api, world.s_a1)["code"]
    assert fresh != code
    # The fresh code works for a second guardian (mother and father both bind).
    assert link(api, stranger["access_token"], fresh).status_code == 201
    assert [c["id"] for c in children_of(api, stranger["access_token"])] == [world.s_a1.id]


def test_expired_code_is_refused_and_replaced(app, api, world):
    """Codes are short-lived: past `expires_at` a code links nobody and the child gets a new one."""
    code = family_code(api, world.s_a1)["code"]
    with app.app_context():
        db.session.execute(
            update(FamilyCode).where(FamilyCode.code == code).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()

    assert_error(link(api, world.p_a1, code), 410, "family_code_expired")
    assert children_of(api, world.p_a1) == []
    fresh = family_code(api, world.s_a1)
    assert fresh["code"] != code
    assert datetime.fromisoformat(fresh["expires_at"]) > utcnow()
    assert link(api, world.p_a1, fresh["code"]).status_code == 201


def test_who_may_link_and_who_has_a_code(api, world):
    """Unknown codes, students as guardians and self links are refused, each with its own code;
    staff and plain WeChat users have no family code. None of these consume the child's code."""
    code = family_code(api, world.s_a1)["code"]
    unknown = "99999999" if code != "99999999" else "88888888"

    assert_error(link(api, world.p_a1, unknown), 404, "family_code_not_found")
    assert_error(link(api, world.s_b1, code), 403, "students_cannot_be_guardians")
    assert_error(link(api, world.s_a1, code), 422, "cannot_link_self")
    for not_a_student in (world.p_a1, world.t_a1, world.sa_a, world.admin):
        assert_error(api.as_(not_a_student).get("/me/family-code"), 403, "not_a_student")
    assert children_of(api, world.s_b1) == []

    # The refusals above left the code usable.
    assert family_code(api, world.s_a1)["code"] == code
    # Surrounding spaces from a parent's paste do not matter.
    assert link(api, world.p_a1, f" {code} ").status_code == 201


def test_linking_again_with_a_fresh_code_is_harmless(app, api, world):
    """A parent who binds twice (new phone, tapped twice) still has one link to one child."""
    assert link(api, world.p_a1, family_code(api, world.s_a1)["code"]).status_code == 201
    again = link(api, world.p_a1, family_code(api, world.s_a1)["code"])
    assert again.status_code == 200, "already linked: nothing new was created"
    assert again.get_json()["child"]["id"] == world.s_a1.id
    assert children_of(api, world.p_a1) == [{"id": world.s_a1.id, "real_name": "张小三"}]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FamilyLink)) == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": None},
        {"code": 234567},
        {"code": ["234567"]},
        {"code": "23"},
        {"code": "2" * 13},
        {"kode": "234567"},
        {"code": "2345\x0067"},
        [],
        "234567",
    ],
    ids=["missing", "null", "number", "list", "too-short", "too-long", "misspelt-field", "nul-char", "array-body",
         "string-body"],
)
def test_bad_link_bodies_are_422_in_the_error_shape(api, world, body):
    """Malformed bodies are validation errors naming the field, never a 500 or a link."""
    family_code(api, world.s_a1)
    body_error = assert_error(api.as_(world.p_a1).post("/family/links", json=body), 422, "validation_error")
    assert body_error.get("errors"), body_error
    if isinstance(body, dict):
        assert "code" in body_error["errors"], body_error
    assert children_of(api, world.p_a1) == []


def test_garbled_json_and_no_login_are_refused(api, world):
    """Not JSON at all is a clear 4xx; without a token nobody gets a code or a link."""
    garbled = api.as_(world.p_a1).post("/family/links", data="{code: 1", content_type="application/json")
    assert_error(garbled, 400)
    assert_error(api.get("/me/family-code"), 401)
    assert_error(api.post("/family/links", json={"code": "234567"}), 401)


def test_linked_parent_sees_the_childs_class_but_not_other_schools(api, world):
    """A guardian reads the orgs above the child (for campaigns and pledges), nothing beside."""
    assert_error(api.as_(world.p_a1).get(f"/orgs/{world.class_a1.id}"), 404)
    assert link(api, world.p_a1, family_code(api, world.s_a1)["code"]).status_code == 201

    response = api.as_(world.p_a1).get(f"/orgs/{world.class_a1.id}")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["id"] == world.class_a1.id
    assert api.as_(world.p_a1).get(f"/orgs/{world.school_a.id}").status_code == 200
    for hidden in (world.school_b, world.class_b1, world.class_a2):
        assert_error(api.as_(world.p_a1).get(f"/orgs/{hidden.id}"), 404)


def test_wrong_codes_are_rate_limited_per_account(app, api, world):
    """Codes can be guessed: wrong guesses are capped per account, so a stranger cannot walk the
    code space into a minor's family; the cap of one account does not touch another's."""
    app.config["FAMILY_LINK_RATE_LIMIT"] = "3 per hour"
    code = family_code(api, world.s_a1)["code"]
    guesser = wechat_login(api, "guesser")["access_token"]
    for guess in ("2222333", "3333444", "4444555"):  # 7 digits: never an issued code
        assert_error(link(api, guesser, guess), 404, "family_code_not_found")
    limited = assert_error(link(api, guesser, code), 429, "too_many_requests")
    assert limited["message"]
    assert children_of(api, guesser) == []

    # Another parent is not affected.
    assert link(api, world.p_a1, code).status_code == 201
    assert children_of(api, world.p_a1) == [{"id": world.s_a1.id, "real_name": "张小三"}]


def test_right_codes_count_against_the_cap_too(app, api, world):
    """Where many codes are live, a stranger's right guesses are the danger: every attempt that
    links or is refused for its code counts, so one account cannot link many children (nor guess
    on for free after a hit). Only "already linked" and malformed bodies are free."""
    app.config["FAMILY_LINK_RATE_LIMIT"] = "3 per hour"
    collector = wechat_login(api, "collector")["access_token"]
    kids = [world.s_a1, *add_students(app, world.class_a1.id, ["学生乙", "学生丙"]), world.s_b1]
    codes = [family_code(api, kid)["code"] for kid in kids]

    assert link(api, collector, codes[0]).status_code == 201
    # Free: binding the same child again (200) and bodies that are not a code (422).
    assert link(api, collector, family_code(api, world.s_a1)["code"]).status_code == 200
    assert_error(link(api, collector, "23"), 422, "validation_error")
    assert link(api, collector, codes[1]).status_code == 201
    assert_error(link(api, collector, "7777777"), 404, "family_code_not_found")
    # Three counted attempts (two of them links) spend the cap: the next right code is refused.
    assert_error(link(api, collector, codes[2]), 429, "too_many_requests")
    assert_error(link(api, collector, codes[3]), 429, "too_many_requests")
    assert sorted(c["id"] for c in children_of(api, collector)) == sorted(kid.id for kid in kids[:2])

    # The refused codes were not spent: their children's own parents still link with them.
    assert link(api, world.p_a1, codes[3]).status_code == 201
    assert [c["id"] for c in children_of(api, world.p_a1)] == [world.s_b1.id]


def test_students_and_self_links_count_against_the_cap(app, api, world):
    """A refusal that shows the code exists (a student account: 403; one's own code: 422) must not
    be a free test of codes either."""
    app.config["FAMILY_LINK_RATE_LIMIT"] = "2 per hour"
    code = family_code(api, world.s_a1)["code"]
    assert_error(link(api, world.s_a1, code), 422, "cannot_link_self")
    assert_error(link(api, world.s_a1, code), 422, "cannot_link_self")
    assert_error(link(api, world.s_a1, code), 429, "too_many_requests")
    assert_error(link(api, world.s_b1, code), 403, "students_cannot_be_guardians")
    assert_error(link(api, world.s_b1, code), 403, "students_cannot_be_guardians")
    assert_error(link(api, world.s_b1, code), 429, "too_many_requests")


def test_code_values_are_never_issued_again(api, world, monkeypatch):
    """A used (or expired) value is not handed to another child: a parent who types a stale code
    gets 410, never someone else's child. A taken value is simply drawn again."""
    candidates = iter(["23456789", "23456789", "01234567", "23456789", "01234567", "98765432"])
    monkeypatch.setattr("app.family.services.random_code", lambda *_args: next(candidates))

    assert family_code(api, world.s_a1)["code"] == "23456789"
    assert link(api, world.p_a1, "23456789").status_code == 201
    # s_a1's code is used, but its value is not free again: s_b1 gets the next candidate.
    assert family_code(api, world.s_b1)["code"] == "01234567"
    # s_a1's new code skips both taken values.
    assert family_code(api, world.s_a1)["code"] == "98765432"

    other = wechat_login(api, "second_parent")["access_token"]
    assert_error(link(api, other, "23456789"), 410, "family_code_expired")
    assert children_of(api, other) == []


def test_codes_are_eight_digits_with_leading_zeros_kept(api, world, monkeypatch):
    """Eight digits from 0-9 (10^8 values): a code starting with 0 is a string, not a number."""
    monkeypatch.setattr("app.family.services.random_code", lambda length, alphabet: "0" * (length - 3) + "123")
    got = family_code(api, world.s_a1)["code"]
    assert got == "00000123"
    assert link(api, world.p_a1, got).status_code == 201


def test_short_codes_from_before_are_dead_and_replaced(app, api, world):
    """A six-character code issued before codes were 8 digits links nobody, even while unexpired,
    and the child is given a new 8-digit code instead of it."""
    with app.app_context():
        db.session.add(FamilyCode(student_id=world.s_a1.id, code="234567", expires_at=utcnow() + timedelta(hours=20)))
        db.session.commit()
    assert_error(link(api, world.p_a1, "234567"), 410, "family_code_expired")
    fresh = family_code(api, world.s_a1)["code"]
    assert fresh != "234567" and fresh.isdigit() and len(fresh) == 8
    assert link(api, world.p_a1, fresh).status_code == 201


def test_a_classmate_linked_before_joining_the_class_cannot_co_sign(api, world):
    """Links are checked when made ("students cannot be guardians"), but an account may join a
    class afterwards: a classmate types a friend's family code on a fresh account, then accepts
    the class invite. As a student they are offered no child and cannot complete the friend's
    family pledge (it stays awaiting the real parent, with no guardian consent recorded)."""
    from tests.pledge_helpers import make_campaign, make_pledge, signed

    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pledge_id = make_pledge(api, world.sa_a, campaign, mode="family")["id"]
    classmate = api.as_(wechat_login(api, "classmate")["access_token"])
    code = api.as_(world.s_a1).get("/me/family-code").get_json()["code"]
    assert classmate.post("/family/links", json={"code": code}).status_code == 201
    invite = api.as_(world.t_a1).post(f"/orgs/{world.class_a1.id}/invites", json={"role": "student"}).get_json()
    assert classmate.post(f"/invites/{invite['code']}/accept", json={"real_name": "王小五"}).status_code in (200, 201)
    assert signed(api, world.s_a1, pledge_id)["status"] == "awaiting_guardian"
    # Joining as a student ended the link: no child on /me, no guardian on the child's list.
    assert classmate.get("/me").get_json()["children"] == []
    assert api.as_(world.s_a1).get("/family/links").get_json()["guardians"] == []

    assert classmate.get(f"/pledges/{pledge_id}").get_json()["children"] == []
    assert_error(classmate.post(f"/pledges/{pledge_id}/signatures", json={"child_id": world.s_a1.id}), 403,
                 "students_cannot_be_guardians")
    mine = api.as_(world.s_a1).get(f"/pledges/{pledge_id}").get_json()["my_signature"]
    assert mine["status"] == "awaiting_guardian"


def test_a_child_sees_its_guardians_and_removes_a_stranger(app, api, world):
    """A code read out over a shoulder can link a stranger, who could then co-sign for the child:
    the child sees every account linked as its guardian and removes one it does not know; either
    side may end a link, nobody else can. Listing is never rate limited (only link attempts are)."""
    from tests.pledge_helpers import make_campaign, make_pledge, sign, signed

    app.config["FAMILY_LINK_RATE_LIMIT"] = "1 per hour"
    assert link(api, world.p_a1, family_code(api, world.s_a1)["code"]).status_code == 201
    stranger = api.as_(wechat_login(api, "stranger")["access_token"])
    assert stranger.post("/family/links", json={"code": family_code(api, world.s_a1)["code"]}).status_code == 201
    assert stranger.post("/family/links", json={"code": "12345678"}).status_code == 429  # its cap is spent
    assert stranger.get("/family/links").status_code == 200, "listing is not a link attempt"

    mine = api.as_(world.s_a1).get("/family/links").get_json()
    assert mine["children"] == [] and len(mine["guardians"]) == 2
    stranger_link = mine["guardians"][1]
    parents = api.as_(world.p_a1).get("/family/links").get_json()
    assert [item["person"]["real_name"] for item in parents["children"]] == ["张小三"]
    assert parents["guardians"] == []
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pledge_id = make_pledge(api, world.sa_a, campaign, mode="family")["id"]
    signed(api, world.s_a1, pledge_id)
    offered = stranger.get(f"/pledges/{pledge_id}").get_json()["children"]
    assert [child["id"] for child in offered] == [world.s_a1.id], "linked, the stranger could co-sign"

    # Nobody else removes it; the child does.
    for other in (world.p_a1, world.s_b1, world.sa_a):
        assert_error(api.as_(other).delete(f"/family/links/{stranger_link['id']}"), 404, "family_link_not_found")
    assert api.as_(world.s_a1).delete(f"/family/links/{stranger_link['id']}").status_code == 204
    assert_error(api.as_(world.s_a1).delete(f"/family/links/{stranger_link['id']}"), 404, "family_link_not_found")
    assert [g["id"] for g in api.as_(world.s_a1).get("/family/links").get_json()["guardians"]] == [
        mine["guardians"][0]["id"]]
    assert stranger.get("/me").get_json()["children"] == []

    # The removed account can no longer see or co-sign the pledge; the real parent still can, and
    # a parent may end their own link too (the co-signed pledge stays signed).
    assert_error(stranger.post(f"/pledges/{pledge_id}/signatures", json={"child_id": world.s_a1.id}), 404)
    assert signed(api, world.p_a1, pledge_id, child_id=world.s_a1.id)["status"] == "complete"
    assert api.as_(world.p_a1).delete(f"/family/links/{mine['guardians'][0]['id']}").status_code == 204
    assert children_of(api, world.p_a1) == []
    assert sign(api, world.s_a1, pledge_id).get_json()["status"] == "complete"


def test_a_link_made_before_joining_another_school_shows_nothing_of_the_first(api, world):
    """A pupil of school B who linked a school-A pupil's code on a fresh account, then joined
    class B1: the link ends with the join, so school A's campaigns (seen through a child) and
    the A pupil's full name on a leaderboard stay hidden."""
    from tests.pledge_helpers import make_campaign

    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    other = api.as_(wechat_login(api, "other-school-kid")["access_token"])
    assert other.post("/family/links", json={"code": api.as_(world.s_a1).get("/me/family-code")
                                            .get_json()["code"]}).status_code == 201
    assert other.get(f"/campaigns/{campaign}").status_code == 200, "as a guardian it saw the child's campaign"
    invite = api.as_(world.t_b).post(f"/orgs/{world.class_b1.id}/invites", json={"role": "student"}).get_json()
    assert other.post(f"/invites/{invite['code']}/accept", json={"real_name": "赵六"}).status_code in (200, 201)
    assert other.get("/me").get_json()["children"] == []
    assert_error(other.get(f"/campaigns/{campaign}"), 404)

