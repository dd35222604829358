"""Pledges (承诺): who creates them, signing (idempotent, also under 40 taps at once), family
co-signing (小手牵大手), windows, visibility, handwriting, progress per level, Excel export and
revocation — all through the HTTP API."""
from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from app.common.downloads import file_name_part
from app.extensions import db
from app.orgs.models import Membership
from app.pledges.models import Signature
from tests.concurrency import all_at_once
from tests.conftest import Api, assert_error, make_app, wechat_login
from tests.media_files import noisy_jpeg
from tests.pledge_helpers import (
    add_adult,
    add_students,
    link_family,
    make_campaign,
    make_pledge,
    sign,
    signed,
    stats,
    upload_handwriting,
)


def iso(value: datetime) -> str:
    return value.isoformat()


@pytest.fixture
def fresh_counts(app):
    """Counts may lag by the cache's few seconds; these tests read them uncached."""
    app.config["PLEDGE_STATS_CACHE_S"] = 0
    return app


@pytest.fixture
def city_pledge(api, world):
    campaign = make_campaign(api, world.city_admin, world.city.id)
    return make_pledge(api, world.city_admin, campaign)


def signature_rows(app, pledge_id: int) -> list[Signature]:
    with app.app_context():
        rows = db.session.scalars(select(Signature).where(Signature.pledge_id == pledge_id)).all()
        db.session.expunge_all()
        return rows


# --- creating and reading ---------------------------------------------------------------------


def test_admins_over_the_campaign_create_pledges(api, world):
    """Region and school admins over the campaign's org create; teachers and students may not;
    admins elsewhere do not even see the campaign."""
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    body = {"title": " 文明上网倡议书 ", "body": "倡议同学们文明上网。", "mode": "family",
            "requires_handwriting": True, "opens_at": "2026-01-01T00:00:00+08:00",
            "closes_at": "2099-01-01T00:00:00Z"}
    response = api.as_(world.sa_a).post(f"/campaigns/{campaign}/pledges", json=body)
    assert response.status_code == 201, response.get_json()
    pledge = response.get_json()
    assert pledge["title"] == "文明上网倡议书" and pledge["mode"] == "family" and pledge["requires_handwriting"]
    assert pledge["campaign_id"] == campaign and pledge["status"] == "open" and pledge["my_signature"] is None
    assert datetime.fromisoformat(pledge["opens_at"]) == datetime(2025, 12, 31, 16, tzinfo=UTC)
    by_city = make_pledge(api, world.city_admin, campaign)
    assert by_city["mode"] == "individual" and by_city["requires_handwriting"] is False
    assert by_city["opens_at"] is None and by_city["closes_at"] is None

    assert_error(api.as_(world.t_a).post(f"/campaigns/{campaign}/pledges", json=body), 403, "forbidden")
    assert_error(api.as_(world.s_a1).post(f"/campaigns/{campaign}/pledges", json=body), 403, "forbidden")
    assert_error(api.as_(world.sa_b).post(f"/campaigns/{campaign}/pledges", json=body), 404, "campaign_not_found")
    assert_error(api.as_(world.sa_a).post("/campaigns/999999/pledges", json=body), 404, "campaign_not_found")
    assert_error(api.post(f"/campaigns/{campaign}/pledges", json=body), 401)

    # Students below see the pledge and the list; people beside do not.
    detail = api.as_(world.s_a1).get(f"/pledges/{pledge['id']}")
    assert detail.status_code == 200 and detail.get_json()["body"] == "倡议同学们文明上网。"
    listed = api.as_(world.s_a1).get(f"/campaigns/{campaign}/pledges").get_json()
    assert [p["id"] for p in listed["items"]] == [by_city["id"], pledge["id"]] and listed["total"] == 2
    assert_error(api.as_(world.s_b1).get(f"/pledges/{pledge['id']}"), 404, "pledge_not_found")
    assert_error(api.as_(world.s_b1).get(f"/campaigns/{campaign}/pledges"), 404, "campaign_not_found")
    assert_error(api.as_(world.s_a1).get("/pledges/999999"), 404, "pledge_not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "内容"}, "title"),
        ({"title": "x", "body": "内容"}, "title"),
        ({"title": "承诺书"}, "body"),
        ({"title": "承诺书", "body": "   "}, "body"),
        ({"title": "承诺书", "body": "内容", "mode": "group"}, "mode"),
        ({"title": "承诺书", "body": "内容", "requires_handwriting": "maybe"}, "requires_handwriting"),
        ({"title": "承诺书", "body": "内容", "opens_at": "2030-05-01T00:00:00Z", "closes_at": "2030-04-01T00:00:00Z"},
         "closes_at"),
        ({"title": "承诺书", "body": "内容", "closes_at": "soon"}, "closes_at"),
    ],
)
def test_pledge_input_is_validated(api, world, body, field):
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    error = assert_error(api.as_(world.sa_a).post(f"/campaigns/{campaign}/pledges", json=body), 422)
    assert field in error["errors"], error


# --- signing ----------------------------------------------------------------------------------


def test_signing_twice_answers_the_same_signature(app, api, world, city_pledge):
    """201 the first time, 200 with the same serial after; the serial is long and random."""
    first = signed(api, world.s_a1, city_pledge["id"])
    assert first["status"] == "complete" and first["revoked"] is False
    assert len(first["serial"]) >= 16 and first["serial"].isalnum()
    assert datetime.fromisoformat(first["signed_at"]).utcoffset() is not None
    again = signed(api, world.s_a1, city_pledge["id"], status=200)
    assert again == first
    other = signed(api, world.s_b1, city_pledge["id"])
    assert other["serial"] != first["serial"] and other["id"] != first["id"]
    mine = api.as_(world.s_a1).get(f"/pledges/{city_pledge['id']}").get_json()["my_signature"]
    assert mine["serial"] == first["serial"]

    (row,) = [s for s in signature_rows(app, city_pledge["id"]) if s.user_id == world.s_a1.id]
    # The snapshot of where the student was.
    assert (row.class_id, row.school_id, row.region_id) == (world.class_a1.id, world.school_a.id,
                                                             world.district.id)
    assert row.class_path == world.class_a1.path


def test_forty_simultaneous_taps_make_one_signature(app, api, world, city_pledge):
    """The same student taps "sign" 40 times at once: one 201, 39 × 200, one row, one serial."""
    results = all_at_once(app, [(world.s_a1.token, f"/pledges/{city_pledge['id']}/signatures", {})] * 40)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 39 + [201], results
    assert len({body["serial"] for _, body in results}) == 1
    assert len({body["id"] for _, body in results}) == 1
    assert len(signature_rows(app, city_pledge["id"])) == 1


def test_many_students_at_once_give_exact_counts(app, api, world, city_pledge, fresh_counts):
    """36 different students sign at the same moment; aggregation counts each exactly once."""
    a1 = add_students(app, world.class_a1.id, [f"甲一同学{n}" for n in range(12)])
    a2 = add_students(app, world.class_a2.id, [f"甲二同学{n}" for n in range(12)])
    b1 = add_students(app, world.class_b1.id, [f"乙一同学{n}" for n in range(12)])
    path = f"/pledges/{city_pledge['id']}/signatures"
    students = a1 + a2 + b1
    results = all_at_once(app, [(s.token, path, {}) for s in students])
    assert sorted(status for status, _ in results) == [201] * 36, results
    assert len({body["serial"] for _, body in results}) == 36
    # Each answer is the sender's own signature (signings of one moment are written together).
    rows = {row.user_id: row for row in signature_rows(app, city_pledge["id"])}
    for student, (_, body) in zip(students, results, strict=True):
        assert (body["id"], body["serial"]) == (rows[student.id].id, rows[student.id].serial)

    city = stats(api, world.city_admin, city_pledge["id"])
    assert city["org_id"] == world.city.id
    assert (city["signed"], city["enrolled"]) == (36, 38)  # s_a1 and s_b1 are enrolled, unsigned
    school_a = stats(api, world.city_admin, city_pledge["id"], world.school_a.id)
    assert {c["org_id"]: (c["signed"], c["enrolled"]) for c in school_a["children"]} == {
        world.class_a1.id: (12, 13), world.class_a2.id: (12, 12)}


def test_one_batch_of_signings_writes_each_student_once_with_their_own_class(app, api, world):
    """A group-commit batch (written here directly, so several rows always share one statement):
    every student gets their own row and class snapshot; a second tap in the same batch, a
    student outside the campaign's school and an adult write nothing (None: their requests take
    the full rules, which answer 200 / 404 / 422)."""
    from app.pledges import services as pledge_services

    campaign = make_campaign(api, world.sa_a, world.school_a.id)  # school A only
    pledge = make_pledge(api, world.sa_a, campaign)
    a1, a2 = add_students(app, world.class_a1.id, ["批内甲"])[0], add_students(app, world.class_a2.id, ["批内乙"])[0]
    batch = [(pledge["id"], a2.id, "SERIAL-A2"), (pledge["id"], a1.id, "SERIAL-A1"),
             (pledge["id"], a2.id, "SERIAL-A2-AGAIN"), (pledge["id"], world.s_b1.id, "SERIAL-B1"),
             (pledge["id"], world.p_a1.id, "SERIAL-P")]
    with app.app_context():
        written = pledge_services._write_student_signatures(batch)
    assert [row is not None for row in written] == [True, True, False, False, False]
    assert {(row.user_id, row.serial) for row in written[:2]} == {(a2.id, "SERIAL-A2"), (a1.id, "SERIAL-A1")}
    assert written[0].signed_at == written[1].signed_at  # one statement
    assert written[0].signed_at.tzinfo is not None  # read back as through SQLAlchemy: aware UTC
    rows = {row.user_id: row for row in signature_rows(app, pledge["id"])}
    assert set(rows) == {a1.id, a2.id}
    assert (rows[a1.id].class_id, rows[a2.id].class_id) == (world.class_a1.id, world.class_a2.id)
    assert {rows[a1.id].school_id, rows[a2.id].school_id} == {world.school_a.id}
    again = sign(api, a2, pledge["id"])
    assert (again.status_code, again.get_json()["serial"]) == (200, "SERIAL-A2")
    assert_error(sign(api, world.s_b1, pledge["id"]), 404, "pledge_not_found")


def test_a_batch_the_database_refuses_raises_sqlalchemys_error_and_writes_nothing(app, api, world):
    """The batch statement runs on the driver's connection; a database error must still arrive as
    SQLAlchemy's (what GroupCommit turns into each request's full path), write none of the batch,
    and leave the connection as the pool lent it: the next batch and the request's own session
    (which takes the same pooled connections on SQLite) work as before."""
    from sqlalchemy.exc import IntegrityError

    from app.pledges import services as pledge_services

    pledge = make_pledge(api, world.sa_a, make_campaign(api, world.sa_a, world.school_a.id))
    first, second, third = add_students(app, world.class_a1.id, ["撞号甲", "撞号乙", "撞号丙"])
    with app.app_context():
        assert pledge_services._write_student_signatures([(pledge["id"], first.id, "SERIAL-TAKEN")])[0] is not None
        with pytest.raises(IntegrityError):  # the serial is unique: once in 2^100 for real
            pledge_services._write_student_signatures([(pledge["id"], second.id, "SERIAL-FREE"),
                                                       (pledge["id"], third.id, "SERIAL-TAKEN")])
        assert [row.serial for row in signature_rows(app, pledge["id"])] == ["SERIAL-TAKEN"]
        again = pledge_services._write_student_signatures([(pledge["id"], second.id, "SERIAL-FREE")])
        assert again[0].serial == "SERIAL-FREE"
    # Through HTTP: the second student's signature is the one the retried batch wrote (200, same
    # serial); the third, whose batch was refused, signs afresh (201).
    again_second = sign(api, second, pledge["id"])
    assert (again_second.status_code, again_second.get_json()["serial"]) == (200, "SERIAL-FREE")
    assert sign(api, third, pledge["id"]).status_code == 201
    assert sorted(row.user_id for row in signature_rows(app, pledge["id"])) == sorted([first.id, second.id, third.id])
    with app.app_context():  # a session transaction still rolls back (not left in autocommit)
        db.session.execute(update(Signature).where(Signature.user_id == first.id).values(revoked=True))
        db.session.rollback()
        assert db.session.scalar(select(Signature.revoked).where(Signature.user_id == first.id)) is False


def test_progress_per_level_and_who_has_not_signed(app, api, world, city_pledge, fresh_counts):
    """class → school → district → city: each level counts its subtree and lists its children;
    a class also names the students still to sign, for the teacher's reminder."""
    pid = city_pledge["id"]
    a1 = add_students(app, world.class_a1.id, ["王小明", "陈小红", "周小刚"])
    add_students(app, world.class_a2.id, ["吴小丽"])
    signed(api, world.s_a1, pid)
    signed(api, a1[0], pid)
    signed(api, world.s_b1, pid)

    city = stats(api, world.city_admin, pid, world.city.id)
    assert (city["signed"], city["enrolled"], city["name"], city["kind"]) == (3, 6, "测试市", "region")
    assert [(c["org_id"], c["name"], c["signed"], c["enrolled"]) for c in city["children"]] == [
        (world.district.id, "测试区", 3, 6)]
    assert "unsigned" not in city
    district = stats(api, world.city_admin, pid, world.district.id)
    assert {c["org_id"]: (c["signed"], c["enrolled"]) for c in district["children"]} == {
        world.school_a.id: (2, 5), world.school_b.id: (1, 1)}
    school = stats(api, world.sa_a, pid, world.school_a.id)
    assert (school["signed"], school["enrolled"]) == (2, 5)
    assert {c["org_id"]: (c["signed"], c["enrolled"]) for c in school["children"]} == {
        world.class_a1.id: (2, 4), world.class_a2.id: (0, 1)}
    klass = stats(api, world.t_a1, pid, world.class_a1.id)
    assert (klass["signed"], klass["enrolled"], klass["children"]) == (2, 4, [])
    assert sorted(s["real_name"] for s in klass["unsigned"]) == ["周小刚", "陈小红"]
    assert {s["id"] for s in klass["unsigned"]} == {a1[1].id, a1[2].id}
    # A teacher asking without org_id gets their own part of the campaign.
    assert stats(api, world.t_a1, pid)["org_id"] == world.class_a1.id
    assert stats(api, world.t_a, pid)["org_id"] == world.school_a.id

    # Who may look: staff over the org only.
    assert_error(api.as_(world.t_a1).get(f"/pledges/{pid}/stats", query_string={"org_id": world.school_a.id}),
                 403, "forbidden")
    assert_error(api.as_(world.t_b).get(f"/pledges/{pid}/stats", query_string={"org_id": world.school_a.id}),
                 404, "org_not_found")
    assert_error(api.as_(world.s_a1).get(f"/pledges/{pid}/stats"), 403, "forbidden")
    body = assert_error(api.as_(world.s_a1).get(f"/pledges/{pid}/stats",
                                                 query_string={"org_id": world.class_a1.id}), 403)
    assert "周小刚" not in str(body)


def test_stats_of_a_school_campaign_stay_inside_it(app, api, world, fresh_counts):
    """A school's pledge counts that school's students even when asked at the district level;
    an org beside the campaign is refused; staff who cannot see the campaign get a 404."""
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pid = make_pledge(api, world.sa_a, campaign)["id"]
    signed(api, world.s_a1, pid)
    district = stats(api, world.city_admin, pid, world.district.id)
    assert (district["signed"], district["enrolled"]) == (1, 1)
    assert [c["org_id"] for c in district["children"]] == [world.school_a.id]
    assert_error(api.as_(world.city_admin).get(f"/pledges/{pid}/stats", query_string={"org_id": world.school_b.id}),
                 422, "org_outside_campaign")
    assert_error(api.as_(world.sa_b).get(f"/pledges/{pid}/stats"), 404, "pledge_not_found")


def signed_count_until(api, who, pledge_id: int, want: int) -> list[int]:
    """Read the count until it shows `want` (at most 5 s): a stale count stands while one recount
    runs in the background. Every count seen, in order."""
    seen = [stats(api, who, pledge_id)["signed"]]
    deadline = time.monotonic() + 5
    while seen[-1] != want and time.monotonic() < deadline:
        time.sleep(0.05)
        seen.append(stats(api, who, pledge_id)["signed"])
    return seen


def test_counts_are_cached_for_a_few_seconds(app, api, world, city_pledge):
    """Signing never updates a counter: the count catches up when the short cache expires."""
    app.config["PLEDGE_STATS_CACHE_S"] = 0.5
    pid = city_pledge["id"]
    assert stats(api, world.city_admin, pid)["signed"] == 0
    signed(api, world.s_a1, pid)
    assert stats(api, world.city_admin, pid)["signed"] == 0  # still the cached answer
    time.sleep(0.7)
    # Expired: the stale answer stands while a background recount runs, then the new count.
    seen = signed_count_until(api, world.city_admin, pid, 1)
    assert seen[-1] == 1 and set(seen) <= {0, 1}, seen


def test_a_cold_cache_is_counted_once_under_load(app, api, world, city_pledge, monkeypatch):
    """Twelve dashboards open at once: one request runs the GROUP BYs, the others wait for it."""
    from app.pledges import services

    app.config["PLEDGE_STATS_CACHE_S"] = 30
    signed(api, world.s_a1, city_pledge["id"])
    calls = []
    real_count = services._count

    def slow_count(*args, **kwargs):
        calls.append(1)
        time.sleep(0.3)
        return real_count(*args, **kwargs)

    monkeypatch.setattr(services, "_count", slow_count)
    path = f"/pledges/{city_pledge['id']}/stats"
    results = all_at_once(app, [(world.city_admin.token, path, {})] * 12, method="GET")
    assert [status for status, _ in results] == [200] * 12, results
    assert {(body["signed"], body["enrolled"]) for _, body in results} == {(1, 2)}
    assert len(calls) == 1


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="instances share counts through Redis")
def test_instances_share_one_count_through_redis(app, api, world, city_pledge, monkeypatch, standin, tmp_path):
    """Every gunicorn worker of every instance used to count a city on its own. With Redis, one
    count serves them all: another instance answers it without counting; when it goes stale one
    instance counts again and the others take that count; a revocation shows everywhere at once;
    and a cached value nobody can read is counted again, never a 500."""
    from app.common.aggregates import shared_redis
    from app.pledges import services

    calls = []
    real_count = services._count

    def counted(*args, **kwargs):
        calls.append(1)
        return real_count(*args, **kwargs)

    monkeypatch.setattr(services, "_count", counted)
    app.config["PLEDGE_STATS_CACHE_S"] = 4  # long enough for the next two requests on a busy machine
    other = make_app(standin, tmp_path, RATELIMIT_KEY_PREFIX=app.config["RATELIMIT_KEY_PREFIX"],
                     PLEDGE_STATS_CACHE_S=4)
    try:
        there = Api(other.test_client())
        pid = city_pledge["id"]
        with app.app_context():
            shared_redis().set(services._stats_cache._redis_key((pid, world.city.id)), b"{not json")
        assert stats(api, world.city_admin, pid)["signed"] == 0
        signature = signed(api, world.s_a1, pid)
        assert stats(there, world.city_admin, pid)["signed"] == 0, "the first instance's count"
        assert len(calls) == 1
        time.sleep(4.2)  # stale everywhere
        seen = signed_count_until(there, world.city_admin, pid, 1)
        assert seen[-1] == 1 and set(seen) <= {0, 1}, seen
        assert stats(api, world.city_admin, pid)["signed"] == 1, "the other instance's recount"
        assert len(calls) == 2

        revoked = api.as_(world.city_admin).post(f"/signatures/{signature['id']}/revoke", json={})
        assert revoked.status_code == 200, revoked.get_json()
        assert stats(there, world.city_admin, pid)["signed"] == 0, "revoked on one instance, counted on both"
    finally:
        with other.app_context():
            db.engine.dispose()


def test_a_class_move_does_not_rewrite_history(app, api, world, city_pledge, fresh_counts):
    """The signature keeps the class the student signed in."""
    pid = city_pledge["id"]
    signed(api, world.s_a1, pid)
    with app.app_context():
        db.session.execute(update(Membership).where(Membership.user_id == world.s_a1.id)
                           .values(org_id=world.class_a2.id))
        db.session.commit()
    school = stats(api, world.sa_a, pid, world.school_a.id)
    assert {c["org_id"]: (c["signed"], c["enrolled"]) for c in school["children"]} == {
        world.class_a1.id: (1, 0), world.class_a2.id: (0, 1)}
    (row,) = signature_rows(app, pid)
    assert row.class_id == world.class_a1.id
    # Now in A2 and signed: not on A2's reminder list.
    assert stats(api, world.t_a, pid, world.class_a2.id)["unsigned"] == []


# --- windows, visibility, handwriting ---------------------------------------------------------


def test_signing_only_inside_the_window(app, api, world):
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    now = datetime.now(UTC)
    later = make_pledge(api, world.sa_a, campaign, opens_at=iso(now + timedelta(days=1)))
    assert later["status"] == "upcoming"
    assert_error(sign(api, world.s_a1, later["id"]), 409, "pledge_not_open")
    over = make_pledge(api, world.sa_a, campaign, opens_at=iso(now - timedelta(days=2)),
                       closes_at=iso(now - timedelta(days=1)))
    assert over["status"] == "closed"
    assert_error(sign(api, world.s_a1, over["id"]), 409, "pledge_closed")
    assert signature_rows(app, later["id"]) == [] and signature_rows(app, over["id"]) == []

    # A signature made while open is still answered (200) after the window closed.
    open_now = make_pledge(api, world.sa_a, campaign, closes_at=iso(now + timedelta(hours=1)))
    first = signed(api, world.s_a1, open_now["id"])
    with app.app_context():
        from app.pledges.models import Pledge

        db.session.execute(update(Pledge).where(Pledge.id == open_now["id"])
                           .values(closes_at=now - timedelta(minutes=1)))
        db.session.commit()
    assert signed(api, world.s_a1, open_now["id"], status=200)["serial"] == first["serial"]
    assert_error(sign(api, world.s_b1, open_now["id"]), 404, "pledge_not_found")


def test_the_campaigns_period_bounds_signing_too(app, api, world):
    """A pledge without a window of its own is open only while its campaign runs; a window
    outside the campaign's period is refused when the pledge is made."""
    from app.campaigns.models import Campaign

    now = datetime.now(UTC)
    campaign = api.as_(world.sa_a).post("/campaigns", json={
        "title": "网络安全宣传周", "org_id": world.school_a.id,
        "starts_at": iso(now - timedelta(days=10)), "ends_at": iso(now + timedelta(days=10))}).get_json()["id"]
    for window, field in (({"opens_at": iso(now - timedelta(days=20))}, "opens_at"),
                          ({"opens_at": iso(now + timedelta(days=11))}, "opens_at"),
                          ({"closes_at": iso(now + timedelta(days=30))}, "closes_at"),
                          ({"closes_at": iso(now - timedelta(days=15))}, "closes_at")):
        body = assert_error(api.as_(world.sa_a).post(f"/campaigns/{campaign}/pledges", json={
            "title": "承诺书", "body": "内容", **window}), 422, "outside_campaign_period")
        assert field in body["errors"], body
    plain = make_pledge(api, world.sa_a, campaign)
    drawn = make_pledge(api, world.sa_a, campaign, requires_handwriting=True)
    early, late = add_students(app, world.class_a1.id, ["早同学", "晚同学"])
    signed(api, early, plain["id"])

    def move_period(**period):
        with app.app_context():
            db.session.execute(update(Campaign).where(Campaign.id == campaign).values(**period))
            db.session.commit()

    move_period(ends_at=now - timedelta(minutes=1))  # the campaign is over
    assert api.as_(late).get(f"/pledges/{plain['id']}").get_json()["status"] == "closed"
    assert_error(sign(api, late, plain["id"]), 409, "pledge_closed")  # the batched student path
    assert_error(sign(api, late, drawn["id"], handwriting_upload_id=upload_handwriting(api, late)), 409,
                 "pledge_closed")  # the full path
    move_period(starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=5))  # not begun
    assert_error(sign(api, late, plain["id"]), 409, "pledge_not_open")
    assert [row.user_id for row in signature_rows(app, plain["id"])] == [early.id]


def test_admins_correct_a_pledge_its_text_until_someone_signs_its_window_any_time(api, world):
    """PATCH /pledges/{id}: only the fields sent change. The text, mode and handwriting rule are
    fixed once anyone has signed (their certificates carry the text); a refused edit changes
    nothing, not even the window sent with it; a moved window applies to the next signing."""
    now = datetime.now(UTC)
    campaign = api.as_(world.city_admin).post("/campaigns", json={
        "title": "网络安全宣传周", "org_id": world.city.id,
        "starts_at": iso(now - timedelta(days=10)), "ends_at": iso(now + timedelta(days=10))}).get_json()["id"]
    pledge = make_pledge(api, world.city_admin, campaign, title="文明上网倡义书",
                         closes_at=iso(now + timedelta(days=5)))
    path = f"/pledges/{pledge['id']}"
    for who in (world.t_a, world.sa_a, world.s_a1):
        assert_error(api.as_(who).patch(path, json={"title": "改个名字"}), 403, "forbidden")
    assert_error(api.as_(world.city_admin).patch("/pledges/999999", json={"title": "改个名字"}), 404)
    empty = assert_error(api.as_(world.city_admin).patch(path, json={}), 422, "validation_error")
    assert "_schema" in empty["errors"]
    backwards = assert_error(api.as_(world.city_admin).patch(path, json={"opens_at": iso(now + timedelta(days=6))}),
                             422, "validation_error")
    assert "closes_at" in backwards["errors"]
    outside = assert_error(api.as_(world.city_admin).patch(path, json={"closes_at": iso(now + timedelta(days=30))}),
                           422, "outside_campaign_period")
    assert "closes_at" in outside["errors"]

    fixed = api.as_(world.city_admin).patch(path, json={"title": "  文明上网倡议书 ", "mode": "family"})
    assert fixed.status_code == 200, fixed.get_json()
    assert (fixed.get_json()["title"], fixed.get_json()["mode"]) == ("文明上网倡议书", "family")
    back = api.as_(world.city_admin).patch(path, json={"mode": "individual", "body": "争做中国好网民。"}).get_json()
    assert (back["title"], back["mode"], back["body"]) == ("文明上网倡议书", "individual", "争做中国好网民。")
    mine = signed(api, world.s_a1, pledge["id"])

    # Someone signed: the text is fixed. The refusal names the field and changes nothing.
    locked = assert_error(api.as_(world.city_admin).patch(path, json={
        "title": "新标题", "closes_at": iso(now + timedelta(days=1))}), 409, "pledge_content_locked")
    assert list(locked["errors"]) == ["title"]
    assert api.as_(world.s_a1).get(path).get_json()["closes_at"] == fixed.get_json()["closes_at"]
    assert api.get(f"/certificates/{mine['serial']}").get_json()["title"] == "文明上网倡议书"
    # The same text sent again is no edit; the window moves: closed now, then open without an end.
    closed = api.as_(world.city_admin).patch(path, json={
        "title": "文明上网倡议书", "closes_at": iso(now - timedelta(minutes=1))})
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert_error(sign(api, world.s_b1, pledge["id"]), 409, "pledge_closed")
    reopened = api.as_(world.city_admin).patch(path, json={"closes_at": None}).get_json()
    assert (reopened["closes_at"], reopened["status"]) == (None, "open")
    signed(api, world.s_b1, pledge["id"])
    assert stats(api, world.city_admin, pledge["id"])["signed"] == 2


def test_a_pledge_you_cannot_see_is_not_found(api, world):
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pid = make_pledge(api, world.sa_a, campaign)["id"]
    assert_error(sign(api, world.s_b1, pid), 404, "pledge_not_found")
    stranger = wechat_login(api, "pledge_stranger")["access_token"]
    assert_error(sign(api, stranger, pid), 404, "pledge_not_found")
    assert_error(sign(api, world.s_a1, 999_999), 404, "pledge_not_found")
    assert_error(api.post(f"/pledges/{pid}/signatures", json={}), 401)


def test_handwriting_must_be_the_signers_own_ready_upload(app, api, world):
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pid = make_pledge(api, world.sa_a, campaign, requires_handwriting=True)["id"]
    other = add_students(app, world.class_a1.id, ["马小跳"])[0]

    missing = assert_error(sign(api, world.s_a1, pid), 422, "handwriting_required")
    assert "handwriting_upload_id" in missing["errors"]
    someone_elses = upload_handwriting(api, other)
    assert_error(sign(api, world.s_a1, pid, handwriting_upload_id=someone_elses), 422, "invalid_handwriting")
    assert_error(sign(api, world.s_a1, pid, handwriting_upload_id="f" * 32), 422, "invalid_handwriting")
    assert_error(sign(api, world.s_a1, pid, handwriting_upload_id="x" * 33), 422)
    pending = api.as_(world.s_a1).post("/uploads", json={"filename": "sign.png", "size": 1000}).get_json()["id"]
    assert_error(sign(api, world.s_a1, pid, handwriting_upload_id=pending), 422, "handwriting_not_ready")
    # A photo is not a signature drawn on the pad (the pad exports PNG).
    photo = api.as_(world.s_a1).post("/uploads/direct", data={"file": (io.BytesIO(noisy_jpeg()), "me.jpg")},
                                     content_type="multipart/form-data").get_json()["id"]
    assert_error(sign(api, world.s_a1, pid, handwriting_upload_id=photo), 422, "invalid_handwriting")
    assert signature_rows(app, pid) == []

    mine = upload_handwriting(api, world.s_a1)
    first = signed(api, world.s_a1, pid, handwriting_upload_id=mine)
    (row,) = signature_rows(app, pid)
    assert row.handwriting_media_id is not None and first["status"] == "complete"
    # The other student's upload is still theirs to use.
    assert signed(api, other, pid, handwriting_upload_id=someone_elses)["status"] == "complete"


# --- family mode (小手牵大手) ------------------------------------------------------------------


def test_family_pledge_child_first_then_a_linked_guardian(app, api, world, fresh_counts):
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pid = make_pledge(api, world.sa_a, campaign, mode="family", title="小手牵大手家庭文明上网承诺书")["id"]
    code = api.as_(world.s_a1).get("/me/family-code").get_json()["code"]
    assert api.as_(world.p_a1).post("/family/links", json={"code": code}).status_code == 201

    # The guardian cannot go first, nor sign without naming the child.
    assert_error(sign(api, world.p_a1, pid, child_id=world.s_a1.id), 409, "child_not_signed")
    assert_error(sign(api, world.p_a1, pid), 422, "child_id_required")

    seen_by_parent = api.as_(world.p_a1).get(f"/pledges/{pid}").get_json()
    assert seen_by_parent["children"] == [{"id": world.s_a1.id, "real_name": "张小三", "status": None,
                                           "revoked": False, "serial": None}]
    child = signed(api, world.s_a1, pid)
    assert child["status"] == "awaiting_guardian" and child["guardian_signed_at"] is None
    assert api.as_(world.p_a1).get(f"/pledges/{pid}").get_json()["children"][0]["status"] == "awaiting_guardian"
    assert signed(api, world.s_a1, pid, status=200) == child
    klass = stats(api, world.t_a1, pid, world.class_a1.id)
    assert (klass["signed"], klass["awaiting_guardian"]) == (0, 1)
    assert klass["unsigned"] == [{"id": world.s_a1.id, "real_name": "张小三", "status": "awaiting_guardian"}]
    certificate = api.get(f"/certificates/{child['serial']}").get_json()
    assert certificate["valid"] is False and certificate["status"] == "awaiting_guardian"
    assert_error(api.get(f"/certificates/{child['serial']}/image"), 409, "certificate_not_ready")

    # An adult who is not linked to the child cannot complete it.
    stranger = add_adult(app, "路人甲")
    assert_error(sign(api, stranger, pid, child_id=world.s_a1.id), 404)
    other_parent = add_adult(app)
    link_family(app, other_parent.id, world.s_b1.id)  # linked, but to another child
    assert_error(sign(api, other_parent, pid, child_id=world.s_a1.id), 404)
    assert_error(sign(api, world.t_a1, pid, child_id=world.s_a1.id), 404, "child_not_found")

    done = signed(api, world.p_a1, pid, child_id=world.s_a1.id)
    assert done["id"] == child["id"] and done["serial"] == child["serial"]
    assert done["status"] == "complete" and done["guardian_signed_at"] is not None
    assert signed(api, world.p_a1, pid, status=200, child_id=world.s_a1.id)["status"] == "complete"
    assert api.as_(world.p_a1).get(f"/pledges/{pid}").get_json()["children"][0]["status"] == "complete"
    # The parent's home lists the campaign's pledges with where each child stands and the family
    # certificate, so a co-signed pledge does not stay "to sign"; the child's list has none.
    # Each family pledge with its own states (a second one the child has not signed).
    holiday = make_pledge(api, world.sa_a, campaign, mode="family", title="寒假家庭文明上网承诺书")["id"]
    listed = {p["id"]: p for p in api.as_(world.p_a1).get(f"/campaigns/{campaign}/pledges").get_json()["items"]}
    assert listed[pid]["my_signature"] is None
    assert listed[pid]["children"] == [{"id": world.s_a1.id, "real_name": "张小三", "status": "complete",
                                        "revoked": False, "serial": child["serial"]}]
    assert listed[holiday]["children"] == [{"id": world.s_a1.id, "real_name": "张小三", "status": None,
                                            "revoked": False, "serial": None}]
    assert all(p["children"] is None for p in api.as_(world.s_a1).get(f"/campaigns/{campaign}/pledges")
               .get_json()["items"])
    assert api.as_(stranger).get(f"/pledges/{pid}").status_code == 404
    assert signed(api, world.s_a1, pid, status=200)["status"] == "complete"
    (row,) = signature_rows(app, pid)
    assert row.guardian_id == world.p_a1.id and row.guardian_consent_at is not None
    assert row.user_id == world.s_a1.id
    assert stats(api, world.t_a1, pid, world.class_a1.id)["signed"] == 1
    assert api.get(f"/certificates/{child['serial']}").get_json()["valid"] is True

    # A child_id on an individual pledge is a mistake; the parent signing it is refused too (it
    # would count nowhere, and its certificate would name nobody): the child signs it.
    individual = make_pledge(api, world.sa_a, campaign)["id"]
    assert_error(sign(api, world.p_a1, individual, child_id=world.s_a1.id), 422, "not_family_pledge")
    refused = assert_error(sign(api, world.p_a1, individual), 403, "guardians_cosign_only")
    assert "学生本人签署" in refused["message"]
    # So is a teacher of another school whose child is here: their signature would count
    # nowhere here and its certificate would name their own school under this school's pledge.
    link_family(app, world.t_b.id, world.s_a1.id)
    assert_error(sign(api, world.t_b, individual), 403, "guardians_cosign_only")
    assert [row.user_id for row in signature_rows(app, individual)] == []
    # The answers say so beforehand (the mini-program shows no sign button and no open task).
    listed = api.as_(world.t_b).get(f"/campaigns/{campaign}/pledges").get_json()["items"]
    assert {p["id"]: p["guardian_only"] for p in listed}[individual] is True
    assert api.as_(world.p_a1).get(f"/pledges/{individual}").get_json()["guardian_only"] is True
    assert api.as_(world.s_a1).get(f"/pledges/{individual}").get_json()["guardian_only"] is False
    assert api.as_(world.t_a).get(f"/campaigns/{campaign}/pledges").get_json()["items"][0]["guardian_only"] is False
    assert signed(api, world.s_a1, individual)["status"] == "complete"
    assert signed(api, world.t_a, individual)["status"] == "complete"  # staff of the school sign


def test_a_guardian_of_children_in_two_schools_is_offered_only_the_child_the_campaign_reaches(app, api, world):
    """School A's family pledge, a parent of 张小三 (school A) and 刘小四 (school B): the parent
    sees it through 张小三, and 刘小四 — who cannot see or sign it — is neither listed nor told to
    "sign first"."""
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pid = make_pledge(api, world.sa_a, campaign, mode="family")["id"]
    parent = add_adult(app, "家长")
    link_family(app, parent.id, world.s_a1.id)
    link_family(app, parent.id, world.s_b1.id)
    assert_error(sign(api, world.s_b1, pid), 404, "pledge_not_found")

    children = api.as_(parent).get(f"/pledges/{pid}").get_json()["children"]
    assert children == [{"id": world.s_a1.id, "real_name": "张小三", "status": None, "revoked": False,
                         "serial": None}]
    outside = assert_error(sign(api, parent, pid, child_id=world.s_b1.id), 404, "child_not_found")
    assert "不在本次活动范围" in outside["message"], outside
    assert_error(sign(api, parent, pid, child_id=world.s_a1.id), 409, "child_not_signed")

    signed(api, world.s_a1, pid)
    assert signed(api, parent, pid, child_id=world.s_a1.id)["status"] == "complete"
    assert [c["id"] for c in api.as_(parent).get(f"/pledges/{pid}").get_json()["children"]] == [world.s_a1.id]
    # Linked to someone who is staff in school A, not a student: not offered either.
    link_family(app, parent.id, world.t_a1.id)
    assert [c["id"] for c in api.as_(parent).get(f"/pledges/{pid}").get_json()["children"]] == [world.s_a1.id]
    assert_error(sign(api, parent, pid, child_id=world.t_a1.id), 404, "child_not_found")


def test_two_guardians_at_once_complete_it_once(app, api, world):
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pid = make_pledge(api, world.sa_a, campaign, mode="family")["id"]
    mother, father = add_adult(app), add_adult(app)
    link_family(app, mother.id, world.s_a1.id)
    link_family(app, father.id, world.s_a1.id)
    signed(api, world.s_a1, pid)
    body = {"child_id": world.s_a1.id}
    results = all_at_once(app, [(mother.token, f"/pledges/{pid}/signatures", body),
                                (father.token, f"/pledges/{pid}/signatures", body)] * 3)
    assert sorted(status for status, _ in results) == [200] * 5 + [201], results
    assert {body["status"] for _, body in results} == {"complete"}
    (row,) = signature_rows(app, pid)
    assert row.guardian_id in (mother.id, father.id)


def test_a_family_pledge_with_handwriting_taps_guardians_and_export(app, api, world):
    """Handwriting required in family mode: 40 taps of the child at once through the full path
    (handwriting attached) make one signature; the guardian needs a drawing of their own (not
    the child's); the class's export then names the guardian and when they signed."""
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    pid = make_pledge(api, world.sa_a, campaign, mode="family", requires_handwriting=True,
                      title="小手牵大手家庭承诺书")["id"]
    mother = add_adult(app, "张妈妈")
    link_family(app, mother.id, world.s_a1.id)
    child_drawing = upload_handwriting(api, world.s_a1)
    assert_error(sign(api, world.s_a1, pid), 422, "handwriting_required")

    path, body = f"/pledges/{pid}/signatures", {"handwriting_upload_id": child_drawing}
    results = all_at_once(app, [(world.s_a1.token, path, body)] * 40)
    assert sorted(status for status, _ in results) == [200] * 39 + [201], results
    assert {answer["status"] for _, answer in results} == {"awaiting_guardian"}
    assert len({answer["serial"] for _, answer in results}) == 1

    # Until the parent signs, the teacher's export lists the child as waiting for them.
    waiting = load_workbook(io.BytesIO(api.as_(world.t_a1).get(f"/pledges/{pid}/signatures.xlsx").get_data()))
    assert [r[1:] for r in list(waiting["未完成名单"].iter_rows(values_only=True))[2:]] == [
        ("张小三", "第一小学", "一年级一班", "待家长签署")]

    cosign = {"child_id": world.s_a1.id}
    assert_error(sign(api, mother, pid, **cosign), 422, "handwriting_required")
    assert_error(sign(api, mother, pid, handwriting_upload_id=child_drawing, **cosign), 422, "invalid_handwriting")
    done = signed(api, mother, pid, handwriting_upload_id=upload_handwriting(api, mother), **cosign)
    assert done["status"] == "complete"
    (row,) = signature_rows(app, pid)
    assert row.guardian_id == mother.id and row.handwriting_media_id is not None

    response = api.as_(world.t_a1).get(f"/pledges/{pid}/signatures.xlsx", query_string={"org_id": world.class_a1.id})
    rows = [list(r) for r in load_workbook(io.BytesIO(response.get_data())).active.iter_rows(values_only=True)]
    assert rows[1] == ["序号", "姓名", "学校", "班级", "状态", "签署时间（北京时间）", "家长",
                       "家长签署时间（北京时间）", "证书编号", "是否撤销"]
    assert rows[2][1] == "张小三" and rows[2][4] == "已完成" and rows[2][6] == "张妈妈"
    assert isinstance(rows[2][7], datetime) and rows[2][8] == done["serial"]
    assert len(list(load_workbook(io.BytesIO(response.get_data()))["未完成名单"].iter_rows())) == 2  # title, header


# --- export and revocation --------------------------------------------------------------------


def test_excel_export_for_staff_in_scope(app, api, world, city_pledge):
    pid = city_pledge["id"]
    add_students(app, world.class_a1.id, ["欧阳小娜"])
    signed(api, world.s_a1, pid)
    signed(api, world.s_b1, pid)

    response = api.as_(world.t_a1).get(f"/pledges/{pid}/signatures.xlsx",
                                        query_string={"org_id": world.class_a1.id})
    assert response.status_code == 200, response.get_data()[:300]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    # Named after the pledge and the class; an ASCII name for browsers that cannot read it.
    disposition = response.headers["Content-Disposition"]
    named = quote(f"{file_name_part(city_pledge['title'])}-一年级一班-签名名单.xlsx", safe="")
    assert disposition.startswith("attachment") and f"filename*=UTF-8''{named}" in disposition
    assert f'filename="signatures-pledge{pid}-org{world.class_a1.id}.xlsx"' in disposition
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["签名名单", "未完成名单"]
    rows = [list(r) for r in book["签名名单"].iter_rows(values_only=True)]
    assert "全国青少年网络文明公约" in rows[0][0]
    assert rows[1][:5] == ["序号", "姓名", "学校", "班级", "状态"]
    data = rows[2:]
    assert len(data) == 1
    assert data[0][1:5] == ["张小三", "第一小学", "一年级一班", "已完成"]
    assert isinstance(data[0][5], datetime)
    # The class's students who have not signed, for the teacher to remind.
    assert [list(r) for r in book["未完成名单"].iter_rows(values_only=True)][1:] == [
        ["序号", "姓名", "学校", "班级", "状态"], [1, "欧阳小娜", "第一小学", "一年级一班", "未签署"]]

    # A revoked signature stays on the list (marked) and its student is not done.
    revoked = api.as_(world.sa_b).post(f"/signatures/{signed(api, world.s_b1, pid, status=200)['id']}/revoke",
                                       json={"reason": "代签"})
    assert revoked.status_code == 200, revoked.get_json()
    # Another district has its own 第一小学 / 一年级一班: above a school the district tells them
    # apart, and their rows never interleave.
    with app.app_context():
        from app.orgs.models import Org
        from app.orgs.services import add_org

        other = add_org("另一区", "region", db.session.get(Org, world.city.id))
        town = add_org("城关镇", "region", other)  # regions may go down to towns
        other_class = add_org("一年级一班", "class", add_org("第一小学", "school", town))
        db.session.commit()
        other_class_id = other_class.id
    (namesake,) = add_students(app, other_class_id, ["甲同学"])
    signed(api, namesake, pid)
    add_students(app, other_class_id, ["乙同学"])
    everyone = load_workbook(io.BytesIO(api.as_(world.city_admin).get(f"/pledges/{pid}/signatures.xlsx").get_data()))
    signatures = list(everyone["签名名单"].iter_rows(values_only=True))
    assert signatures[1][:6] == ("序号", "姓名", "所属地区", "学校", "班级", "状态")
    assert [r[1:5] for r in signatures[2:]] == [("甲同学", "另一区 / 城关镇", "第一小学", "一年级一班"),
                                               ("张小三", "测试区", "第一小学", "一年级一班"),
                                               ("刘小四", "测试区", "第二小学", "二年级一班")]
    assert [r[1:] for r in list(everyone["未完成名单"].iter_rows(values_only=True))[2:]] == [
        ("乙同学", "另一区 / 城关镇", "第一小学", "一年级一班", "未签署"),
        ("欧阳小娜", "测试区", "第一小学", "一年级一班", "未签署"),
        ("刘小四", "测试区", "第二小学", "二年级一班", "签名已撤销")]
    # A list longer than one export may hold (3 signatures + 3 not done) is refused with the way
    # out; the class (1 + 1) still fits.
    app.config["EXPORT_MAX_ROWS"] = 2
    too_long = assert_error(api.as_(world.city_admin).get(f"/pledges/{pid}/signatures.xlsx"), 422, "export_too_large")
    assert "下级单位" in too_long["message"] and "org_id" in too_long["errors"]
    assert api.as_(world.t_a1).get(f"/pledges/{pid}/signatures.xlsx").status_code == 200

    assert_error(api.as_(world.s_a1).get(f"/pledges/{pid}/signatures.xlsx"), 403, "forbidden")
    assert_error(api.as_(world.t_b).get(f"/pledges/{pid}/signatures.xlsx",
                                        query_string={"org_id": world.class_a1.id}), 404, "org_not_found")


def test_revocation_by_admins(app, api, world, city_pledge):
    """Revoking shows in the counts at once, although they are otherwise cached."""
    app.config["PLEDGE_STATS_CACHE_S"] = 30
    pid = city_pledge["id"]
    signature = signed(api, world.s_a1, pid)
    assert stats(api, world.sa_a, pid, world.school_a.id)["signed"] == 1
    url = f"/signatures/{signature['id']}/revoke"
    assert_error(api.as_(world.t_a1).post(url, json={}), 403, "forbidden")
    assert_error(api.as_(world.sa_b).post(url, json={}), 404, "signature_not_found")
    assert_error(api.as_(world.s_a1).post(url, json={}), 404, "signature_not_found")
    assert_error(api.as_(world.sa_a).post("/signatures/999999/revoke", json={}), 404, "signature_not_found")

    response = api.as_(world.sa_a).post(url, json={"reason": "代签"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["revoked"] is True
    assert api.as_(world.city_admin).post(url, json={}).get_json()["revoked"] is True
    assert stats(api, world.sa_a, pid, world.school_a.id)["signed"] == 0
    # The class teacher's reminder list says why: this student cannot simply be told to sign.
    listed = {s["id"]: s["status"] for s in stats(api, world.t_a1, pid, world.class_a1.id)["unsigned"]}
    assert listed[world.s_a1.id] == "revoked"
    mine = signed(api, world.s_a1, pid, status=200)
    assert mine["serial"] == signature["serial"] and mine["revoked"] is True
    with app.app_context():
        assert db.session.scalar(select(func.count(Signature.id)).where(Signature.pledge_id == pid)) == 1
