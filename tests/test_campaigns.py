"""Campaigns (活动): who may create them, their window and phases, and who sees them.

A campaign belongs to a school or region; everyone in that org's subtree (students, their
linked parents, teachers) and the staff above it see it, nobody beside it.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import assert_error, wechat_login


def create(api, who, org_id, title="争做中国好网民主题活动", **fields):
    return api.as_(who).post("/campaigns", json={"title": title, "org_id": org_id, **fields})


def created(api, who, org_id, **fields) -> dict:
    response = create(api, who, org_id, **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def iso(value: datetime) -> str:
    return value.isoformat()


def when(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.utcoffset() is not None, f"{text!r} has no offset"
    return value


def visible_ids(api, who, **query) -> set[int]:
    response = api.as_(who).get("/campaigns", query_string={"page_size": 100, **query})
    assert response.status_code == 200, response.get_json()
    return {item["id"] for item in response.get_json()["items"]}


def test_who_may_create_a_campaign(api, world):
    """Region admins over the org and the school's own admin create; teachers, students and
    admins of another school do not (404 where the org itself is private); classes own nothing."""
    by_city = created(api, world.city_admin, world.school_a.id, title="  争做中国好网民主题活动 ",
                      theme="网络安全进校园")
    assert by_city["org_id"] == world.school_a.id and by_city["org_name"] == "第一小学"
    assert by_city["title"] == "争做中国好网民主题活动" and by_city["theme"] == "网络安全进校园"
    in_city = created(api, world.city_admin, world.city.id)
    in_district = created(api, world.city_admin, world.district.id)
    by_school = created(api, world.sa_a, world.school_a.id)
    assert by_school["org_id"] == world.school_a.id and by_school["id"] != by_city["id"]
    in_school_b = created(api, world.admin, world.school_b.id)

    assert_error(create(api, world.t_a, world.school_a.id), 403, "forbidden")
    assert_error(create(api, world.t_a1, world.school_a.id), 403, "forbidden")
    # A student sees their own school (so 403, not 404) but may not create anything there.
    assert_error(create(api, world.s_a1, world.school_a.id), 403, "forbidden")
    assert_error(create(api, world.sa_a, world.school_b.id), 404, "org_not_found")
    assert_error(create(api, world.sa_a, world.district.id), 403, "forbidden")
    assert_error(create(api, world.sa_a, 999_999), 404, "org_not_found")
    stranger = wechat_login(api, "stranger")["access_token"]
    assert_error(create(api, stranger, world.city.id), 404, "org_not_found")

    wrong_kind = assert_error(create(api, world.sa_a, world.class_a1.id), 422, "invalid_org_kind")
    assert "org_id" in wrong_kind["errors"]
    # Nothing was created by the refused requests.
    assert visible_ids(api, world.admin) == {by_city["id"], in_city["id"], in_district["id"], by_school["id"],
                                             in_school_b["id"]}


def test_phases_default_to_the_three_stages_and_keep_given_windows(api, world):
    """Left out, phases are 启动 / 实施 / 评估总结 without windows; given, they keep order and times."""
    plain = created(api, world.sa_a, world.school_a.id)
    assert [p["name"] for p in plain["phases"]] == ["启动", "实施", "评估总结"]
    assert all(p["starts_at"] is None and p["ends_at"] is None for p in plain["phases"])
    assert plain["starts_at"] is None and plain["ends_at"] is None
    assert plain["status"] == "active" and plain["current_phase"] is None

    start = datetime(2030, 3, 1, tzinfo=UTC)
    phases = [
        {"name": "宣传发动", "starts_at": iso(start), "ends_at": iso(start + timedelta(days=10))},
        {"name": "总结表彰", "starts_at": iso(start + timedelta(days=10)), "ends_at": iso(start + timedelta(days=20))},
    ]
    custom = created(api, world.sa_a, world.school_a.id, starts_at=iso(start),
                     ends_at=iso(start + timedelta(days=20)), phases=phases)
    assert [p["name"] for p in custom["phases"]] == ["宣传发动", "总结表彰"]
    assert when(custom["phases"][1]["starts_at"]) == start + timedelta(days=10)
    # An explicit empty list means "no phases", not the defaults.
    assert created(api, world.sa_a, world.school_a.id, phases=[])["phases"] == []
    # The detail view says the same as the create answer.
    detail = api.as_(world.s_a1).get(f"/campaigns/{custom['id']}")
    assert detail.status_code == 200
    assert detail.get_json() == custom


def test_naive_times_are_utc_and_answers_carry_an_offset(api, world):
    """A time without an offset is read as UTC; one with +08:00 is converted; both come back aware."""
    body = created(
        api, world.sa_a, world.school_a.id,
        starts_at="2030-09-01T08:00:00", ends_at="2030-09-30T18:00:00+08:00",
        phases=[{"name": "启动", "starts_at": "2030-09-01T08:00:00", "ends_at": "2030-09-10T08:00:00+08:00"}],
    )
    assert when(body["starts_at"]) == datetime(2030, 9, 1, 8, tzinfo=UTC)
    assert when(body["ends_at"]) == datetime(2030, 9, 30, 10, tzinfo=UTC)
    assert when(body["phases"][0]["starts_at"]) == datetime(2030, 9, 1, 8, tzinfo=UTC)
    assert when(body["phases"][0]["ends_at"]) == datetime(2030, 9, 10, 0, tzinfo=UTC)
    assert when(body["created_at"]) <= datetime.now(UTC)
    again = api.as_(world.sa_a).get(f"/campaigns/{body['id']}").get_json()
    assert when(again["starts_at"]) == datetime(2030, 9, 1, 8, tzinfo=UTC)
    assert when(again["ends_at"]) == datetime(2030, 9, 30, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"org_id": 1}, "title"),
        ({"title": "x", "org_id": 1}, "title"),
        ({"title": "   ", "org_id": 1}, "title"),
        ({"title": "好" * 121, "org_id": 1}, "title"),
        ({"title": "活动"}, "org_id"),
        ({"title": "活动", "org_id": "school"}, "org_id"),
        ({"title": "活动", "org_id": None}, "org_id"),
        ({"title": "活动", "org_id": 1.5}, "org_id"),
        ({"title": "活动", "org_id": 2**31}, "org_id"),
        ({"title": "活动", "org_id": 10**20}, "org_id"),
        ({"title": "活\x00动", "org_id": 1}, "title"),
        ({"title": "活动", "org_id": 1, "theme": "主\x00题"}, "theme"),
        ({"title": "活动", "org_id": 1, "starts_at": "0001-01-01T00:00:00+08:00"}, "starts_at"),
        ({"title": "活动", "org_id": 1, "ends_at": "9999-12-31T23:00:00-08:00"}, "ends_at"),
        ({"title": "活动", "org_id": 1, "phases": [{"name": "启动", "ends_at": "9999-12-31T23:59:59-01:00"}]},
         "phases.0.ends_at"),
        ({"title": "活动", "org_id": 1, "starts_at": "next monday"}, "starts_at"),
        ({"title": "活动", "org_id": 1, "ends_at": 20300101}, "ends_at"),
        ({"title": "活动", "org_id": 1, "starts_at": "2030-05-01T00:00:00Z", "ends_at": "2030-04-01T00:00:00Z"},
         "ends_at"),
        ({"title": "活动", "org_id": 1, "starts_at": "2030-05-01T00:00:00Z", "ends_at": "2030-05-01T00:00:00Z"},
         "ends_at"),
        ({"title": "活动", "org_id": 1, "phases": "启动"}, "phases"),
        ({"title": "活动", "org_id": 1, "phases": [{"starts_at": "2030-05-01T00:00:00Z"}]}, "phases.0.name"),
        ({"title": "活动", "org_id": 1, "phases": [{"name": "启动"}, {"name": ""}]}, "phases.1.name"),
        ({"title": "活动", "org_id": 1, "phases": [{"name": "  "}]}, "phases.0.name"),
        ({"title": "活动", "org_id": 1, "phases": [{"name": f"阶段{i}"} for i in range(11)]}, "phases"),
        ({"title": "活动", "org_id": 1, "phases": [
            {"name": "启动", "starts_at": "2030-05-01T00:00:00Z", "ends_at": "2030-06-01T00:00:00Z"},
            {"name": "实施", "starts_at": "2030-06-10T00:00:00Z", "ends_at": "2030-06-01T00:00:00Z"},
        ]}, "phases.1.ends_at"),
        ({"title": "活动", "org_id": 1, "theme": {"text": "主题"}}, "theme"),
    ],
    ids=["no-title", "short-title", "blank-title", "long-title", "no-org", "org-not-int", "org-null",
         "org-fraction", "org-beyond-int32", "org-beyond-int64", "nul-in-title", "nul-in-theme", "year-1",
         "year-9999", "phase-year-9999", "garbled-start", "number-end", "ends-before-starts", "ends-at-start",
         "phases-not-list",
         "phase-without-name", "phase-empty-name", "phase-blank-name", "too-many-phases",
         "phase-ends-before-starts", "theme-object"],
)
def test_bad_campaign_bodies_are_422_naming_the_field(api, world, body, field):
    """Each broken rule is a validation error on the right field, and nothing is created."""
    body = {**body, "org_id": world.school_a.id} if body.get("org_id") == 1 else body
    error = assert_error(api.as_(world.sa_a).post("/campaigns", json=body), 422)
    assert field in error.get("errors", {}), error
    assert visible_ids(api, world.sa_a) == set()


def test_status_and_current_phase_follow_the_clock(api, world):
    """`status` is upcoming/active/ended from the window, `current_phase` is the phase whose
    window holds now, and `?status=` filters the list the same way."""
    now = datetime.now(UTC)
    day = timedelta(days=1)
    upcoming = created(api, world.sa_a, world.school_a.id, starts_at=iso(now + 5 * day), ends_at=iso(now + 30 * day))
    running = created(
        api, world.sa_a, world.school_a.id, starts_at=iso(now - 10 * day), ends_at=iso(now + 20 * day),
        phases=[
            {"name": "启动", "starts_at": iso(now - 10 * day), "ends_at": iso(now - 2 * day)},
            {"name": "实施", "starts_at": iso(now - 2 * day), "ends_at": iso(now + 10 * day)},
            {"name": "评估总结", "starts_at": iso(now + 10 * day), "ends_at": iso(now + 20 * day)},
        ],
    )
    ended = created(api, world.sa_a, world.school_a.id, starts_at=iso(now - 30 * day), ends_at=iso(now - day))
    open_ended = created(api, world.sa_a, world.school_a.id, starts_at=iso(now - day))
    no_window = created(api, world.sa_a, world.school_a.id)

    assert (upcoming["status"], upcoming["current_phase"]) == ("upcoming", None)
    assert (running["status"], running["current_phase"]) == ("active", "实施")
    assert (ended["status"], ended["current_phase"]) == ("ended", None)
    assert open_ended["status"] == "active" and no_window["status"] == "active"

    listed = {
        item["id"]: (item["status"], item["current_phase"])
        for item in api.as_(world.s_a1).get("/campaigns").get_json()["items"]
    }
    assert listed[running["id"]] == ("active", "实施")
    assert listed[upcoming["id"]] == ("upcoming", None)
    assert listed[ended["id"]] == ("ended", None)

    assert visible_ids(api, world.s_a1, status="upcoming") == {upcoming["id"]}
    assert visible_ids(api, world.s_a1, status="active") == {running["id"], open_ended["id"], no_window["id"]}
    assert visible_ids(api, world.s_a1, status="ended") == {ended["id"]}
    assert len(visible_ids(api, world.s_a1)) == 5
    for status in ("upcoming", "active", "ended"):
        items = api.as_(world.s_a1).get("/campaigns", query_string={"status": status}).get_json()["items"]
        assert {item["status"] for item in items} == {status}

    bad = assert_error(api.as_(world.s_a1).get("/campaigns", query_string={"status": "soon"}), 422)
    assert "status" in bad["errors"]


def test_who_sees_a_city_campaign_and_a_school_campaign(api, world):
    """Visibility follows the tree: a city campaign reaches everyone in the city and linked
    parents; a school campaign reaches that school and the staff above, not the school beside."""
    city = created(api, world.city_admin, world.city.id, title="全市网络文明月")
    school_a = created(api, world.sa_a, world.school_a.id, title="第一小学网络安全周")

    code = api.as_(world.s_a1).get("/me/family-code").get_json()["code"]
    assert api.as_(world.p_a1).post("/family/links", json={"code": code}).status_code == 201
    stranger = wechat_login(api, "nobody_in_particular")["access_token"]

    sees_both = [world.s_a1, world.t_a, world.t_a1, world.sa_a, world.city_admin, world.admin, world.p_a1]
    sees_city_only = [world.s_b1, world.t_b, world.sa_b]
    for person in sees_both:
        assert visible_ids(api, person) == {city["id"], school_a["id"]}, person.username or person.openid
        for campaign in (city, school_a):
            response = api.as_(person).get(f"/campaigns/{campaign['id']}")
            assert response.status_code == 200 and response.get_json()["id"] == campaign["id"]
    for person in sees_city_only:
        assert visible_ids(api, person) == {city["id"]}, person.username or person.openid
        assert api.as_(person).get(f"/campaigns/{city['id']}").status_code == 200
        assert_error(api.as_(person).get(f"/campaigns/{school_a['id']}"), 404, "campaign_not_found")

    assert visible_ids(api, stranger) == set()
    for campaign in (city, school_a):
        assert_error(api.as_(stranger).get(f"/campaigns/{campaign['id']}"), 404, "campaign_not_found")
    for missing in (999_999, 2**31, 10**20):
        assert_error(api.as_(world.s_a1).get(f"/campaigns/{missing}"), 404)
    assert_error(api.get("/campaigns"), 401)
    assert_error(api.get(f"/campaigns/{city['id']}"), 401)


def test_list_is_paginated_newest_first(api, world):
    """25 campaigns in pages of 10: three pages of 10, 10 and 5, newest first, totals right."""
    made = [created(api, world.city_admin, world.city.id, title=f"第{n:02d}期活动")["id"] for n in range(25)]

    pages = []
    for page in (1, 2, 3, 4):
        response = api.as_(world.s_b1).get("/campaigns", query_string={"page": page, "page_size": 10})
        assert response.status_code == 200
        body = response.get_json()
        assert (body["total"], body["page"], body["page_size"]) == (25, page, 10)
        pages.append([item["id"] for item in body["items"]])
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    assert pages[0] + pages[1] + pages[2] == list(reversed(made))

    default = api.as_(world.s_b1).get("/campaigns").get_json()
    assert (default["page"], default["page_size"], default["total"]) == (1, 20, 25)
    assert len(default["items"]) == 20


@pytest.mark.parametrize(
    "query",
    [{"page": 0}, {"page": "two"}, {"page_size": 0}, {"page_size": 101}, {"page_size": "many"}],
    ids=["page-0", "page-word", "size-0", "size-101", "size-word"],
)
def test_bad_page_arguments_are_422(api, world, query):
    """Paging arguments are validated, not passed to SQL."""
    error = assert_error(api.as_(world.s_a1).get("/campaigns", query_string=query), 422)
    assert set(error["errors"]) & set(query), error
