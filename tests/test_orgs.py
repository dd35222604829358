"""The org tree: who may create which org where, who may see it, who may list below it.

The rules under test (app/orgs/permissions.py): a staff role reaches the whole subtree of the
org where it was granted; students and parents see their own orgs and the ones above, never
beside; an org you cannot see is a 404 (existence is private), one you see but cannot act on
is a 403. All of it through the HTTP API, against the `world` tree of tests/conftest.py:
city → district → school A (classes A1, A2) and school B (class B1).
"""
from __future__ import annotations

import pytest

from tests.conftest import assert_error, wechat_login

ORG_KEYS = ("city", "district", "school_a", "class_a1", "class_a2", "school_b", "class_b1")


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def child_ids(api, who, org_id: int, **params) -> list[int]:
    response = api.as_(who).get(f"/orgs/{org_id}/children", query_string={"page_size": 100, **params})
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def create(api, who, name: str, kind: str, parent_id: int | None) -> dict:
    response = api.as_(who).post("/orgs", json={"name": name, "kind": kind, "parent_id": parent_id})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def join(api, inviter, org_id: int, role: str, label: str, real_name: str) -> str:
    """A new WeChat user who accepts an invite; returns their access token."""
    invite = api.as_(inviter).post(f"/orgs/{org_id}/invites", json={"role": role})
    assert invite.status_code == 201, invite.get_json()
    token = wechat_login(api, label)["access_token"]
    accepted = api.as_(token).post(f"/invites/{invite.get_json()['code']}/accept", json={"real_name": real_name})
    assert accepted.status_code == 201, accepted.get_json()
    return token


# --- creating orgs ---------------------------------------------------------------------------


def test_platform_admin_creates_top_level_region_and_nobody_else_does(api, world):
    """Top-level regions (a province, a city) are the platform admin's alone; a root must be a region."""
    body = create(api, world.admin, "  新江省 ", "region", None)
    assert body["name"] == "新江省"  # trimmed
    assert body["kind"] == "region" and body["parent_id"] is None
    assert body["depth"] == 0 and body["path"] == f"/{body['id']}/"
    assert api.as_(world.admin).get(f"/orgs/{body['id']}").get_json()["path"] == body["path"]

    # Even a region admin cannot add a root, and a root school/class is refused for the admin too.
    assert_error(api.as_(world.city_admin).post("/orgs", json={"name": "另一个省", "kind": "region"}), 403, "forbidden")
    for who in (world.sa_a, world.t_a, world.s_a1, world.p_a1):
        assert_error(api.as_(who).post("/orgs", json={"name": "我的区域", "kind": "region", "parent_id": None}), 403)
    error = assert_error(api.as_(world.admin).post("/orgs", json={"name": "无主学校", "kind": "school"}), 422)
    assert has_chinese(error["errors"]["parent_id"][0])


# (actor, parent, kind, status, error code)
CREATE_MATRIX = [
    ("city_admin", "district", "region", 201, None),  # region admins nest regions
    ("city_admin", "district", "school", 201, None),
    ("city_admin", "school_a", "class", 201, None),  # deep inside the subtree
    ("admin", "school_b", "class", 201, None),
    ("sa_a", "school_a", "class", 201, None),  # school admin: classes of their own school
    ("sa_a", "school_b", "class", 404, "org_not_found"),  # school B is beside school A: invisible
    ("sa_b", "school_a", "class", 404, "org_not_found"),
    ("sa_a", "district", "school", 403, "forbidden"),  # the district is above: visible, not theirs
    ("sa_a", "district", "region", 403, "forbidden"),  # school admins never create regions
    ("sa_a", "school_a", "region", 422, "invalid_org_kind"),
    ("t_a", "school_a", "class", 403, "forbidden"),  # teachers run classes, they do not create them
    ("t_a1", "class_a1", "class", 403, "forbidden"),
    ("s_a1", "school_a", "class", 403, "forbidden"),  # own school: visible, no authority
    ("s_a1", "class_a1", "class", 403, "forbidden"),
    ("s_a1", "school_b", "class", 404, "org_not_found"),
    ("p_a1", "school_a", "class", 404, "org_not_found"),  # a parent of nobody sees nothing
    ("city_admin", "district", "class", 422, "invalid_org_kind"),  # a class belongs under a school
    ("city_admin", "school_a", "school", 422, "invalid_org_kind"),
    ("city_admin", "class_a1", "class", 422, "invalid_org_kind"),
    ("admin", "school_a", "region", 422, "invalid_org_kind"),
]


@pytest.mark.parametrize(("actor", "parent", "kind", "status", "code"), CREATE_MATRIX)
def test_create_org_matrix(api, world, actor, parent, kind, status, code):
    """Who may create which kind of org under which parent; a refusal creates nothing."""
    who, parent_org = getattr(world, actor), getattr(world, parent)
    before = child_ids(api, world.admin, parent_org.id)
    response = api.as_(who).post("/orgs", json={"name": "新建组织", "kind": kind, "parent_id": parent_org.id})
    after = child_ids(api, world.admin, parent_org.id)
    if status == 201:
        body = response.get_json()
        assert response.status_code == 201, body
        depth = parent_org.path.count("/") - 1
        assert body["kind"] == kind and body["parent_id"] == parent_org.id and body["name"] == "新建组织"
        assert body["depth"] == depth and body["path"] == f"{parent_org.path}{body['id']}/"
        assert set(after) == {*before, body["id"]}
        # The creator reaches what they created, and lists it below the parent.
        assert api.as_(who).get(f"/orgs/{body['id']}").status_code == 200
        assert body["id"] in child_ids(api, who, parent_org.id)
    else:
        assert_error(response, status, code)
        assert after == before


def test_only_region_admins_create_sub_regions(app, api, world):
    """The sub-region rule holds on its own: a school_admin role sitting on a region (say, from an
    import) lets its holder add schools there, but not regions."""
    from app.extensions import db
    from app.orgs.models import Membership

    with app.app_context():
        db.session.add(Membership(user_id=world.sa_a.id, org_id=world.district.id, role="school_admin"))
        db.session.commit()
    create(api, world.sa_a, "第三小学", "school", world.district.id)
    assert_error(api.as_(world.sa_a).post("/orgs", json={"name": "开发区", "kind": "region",
                                                         "parent_id": world.district.id}), 403, "forbidden")
    assert child_ids(api, world.admin, world.district.id, kind="region") == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "A", "kind": "class"}, {"name"}),
        ({"name": "   ", "kind": "class"}, {"name"}),  # blank after trimming
        ({"name": " 班 ", "kind": "class"}, {"name"}),  # one character after trimming
        ({"name": "班" * 81, "kind": "class"}, {"name"}),
        ({"name": 123, "kind": "class"}, {"name"}),
        ({"name": "新班级", "kind": "galaxy"}, {"kind"}),
        ({"name": "新班级", "kind": "class", "parent_id": "abc"}, {"parent_id"}),
        ({"name": "新班级", "kind": "class", "parent_id": 1.5}, {"parent_id"}),
        ({"kind": "class"}, {"name"}),
        ({}, {"name", "kind"}),
        (None, {"name", "kind"}),  # no body at all
    ],
    ids=["short", "blank", "one-char-padded", "too-long", "not-text", "unknown-kind", "parent-string",
         "parent-float", "no-name", "empty", "no-body"],
)
def test_create_org_rejects_bad_input(api, world, body, fields):
    """Bad bodies are a 422 naming each broken field in Chinese, and create nothing."""
    if body is not None:
        body = {"parent_id": world.school_a.id, **body}
        response = api.as_(world.sa_a).post("/orgs", json=body)
    else:
        response = api.as_(world.sa_a).post("/orgs")
    error = assert_error(response, 422, "validation_error")
    assert set(error["errors"]) == fields
    assert all(has_chinese(message) for field in fields for message in error["errors"][field])
    assert set(child_ids(api, world.admin, world.school_a.id)) == {world.class_a1.id, world.class_a2.id}


def test_create_org_garbled_json_and_unknown_parent(api, world):
    """Garbled JSON is a 400 `invalid_json`; a parent that does not exist looks like an invisible one."""
    response = api.as_(world.sa_a).post("/orgs", data='{"name": "新班级",', content_type="application/json")
    assert_error(response, 400, "invalid_json")
    for who in (world.admin, world.sa_a):
        response = api.as_(who).post("/orgs", json={"name": "新班级", "kind": "class", "parent_id": 999999})
        assert_error(response, 404, "org_not_found")


# --- seeing orgs -----------------------------------------------------------------------------

# Which of the world's orgs each person can open (the rest must be 404, never 403).
VISIBLE = {
    "admin": set(ORG_KEYS),
    "city_admin": set(ORG_KEYS),
    "sa_a": {"city", "district", "school_a", "class_a1", "class_a2"},
    "t_a": {"city", "district", "school_a", "class_a1", "class_a2"},
    "t_a1": {"city", "district", "school_a", "class_a1"},  # not the sibling class A2
    "sa_b": {"city", "district", "school_b", "class_b1"},
    "t_b": {"city", "district", "school_b", "class_b1"},
    "s_a1": {"city", "district", "school_a", "class_a1"},
    "s_b1": {"city", "district", "school_b", "class_b1"},
    "p_a1": set(),
}


@pytest.mark.parametrize("person", sorted(VISIBLE))
def test_get_org_visibility_matrix(api, world, person):
    """Staff see their subtree and the orgs above it; participants their own orgs and above."""
    who = getattr(world, person)
    for key in ORG_KEYS:
        org = getattr(world, key)
        response = api.as_(who).get(f"/orgs/{org.id}")
        if key in VISIBLE[person]:
            assert response.status_code == 200, (person, key, response.get_json())
            body = response.get_json()
            assert (body["id"], body["name"], body["kind"], body["path"]) == (org.id, org.name, org.kind, org.path)
        else:
            assert_error(response, 404, "org_not_found")
    assert_error(api.as_(who).get("/orgs/999999"), 404, "org_not_found")


def test_family_link_lets_a_parent_see_the_childs_orgs(api, world):
    """A parent sees what their child sees (class and above), through the family code."""
    assert_error(api.as_(world.p_a1).get(f"/orgs/{world.class_a1.id}"), 404, "org_not_found")
    code = api.as_(world.s_a1).get("/me/family-code").get_json()["code"]
    assert api.as_(world.p_a1).post("/family/links", json={"code": code}).status_code == 201
    for key in ("class_a1", "school_a", "city"):
        assert api.as_(world.p_a1).get(f"/orgs/{getattr(world, key).id}").status_code == 200, key
    for key in ("class_a2", "school_b"):
        assert_error(api.as_(world.p_a1).get(f"/orgs/{getattr(world, key).id}"), 404, "org_not_found")
    assert_error(api.as_(world.p_a1).get(f"/orgs/{world.class_a1.id}/children"), 403, "forbidden")


# (person, org, status) for GET /orgs/{id}/children: staff over the org only.
CHILDREN_MATRIX = [
    ("admin", "city", 200),
    ("city_admin", "district", 200),
    ("sa_a", "school_a", 200),
    ("t_a", "school_a", 200),
    ("t_a1", "class_a1", 200),
    ("t_a1", "school_a", 403),  # above the class they teach: visible, not theirs
    ("sa_a", "district", 403),
    ("t_a", "school_b", 404),
    ("t_a", "class_b1", 404),
    ("s_a1", "class_a1", 403),
    ("s_a1", "school_a", 403),
    ("s_a1", "school_b", 404),
    ("p_a1", "school_a", 404),
]


@pytest.mark.parametrize(("person", "org", "status"), CHILDREN_MATRIX)
def test_children_are_for_staff_over_the_org(api, world, person, org, status):
    """Listing below an org is a staff view; participants get 403 on their own orgs, 404 elsewhere."""
    response = api.as_(getattr(world, person)).get(f"/orgs/{getattr(world, org).id}/children")
    if status == 200:
        body = response.get_json()
        assert response.status_code == 200, body
        expected = {"city": {world.district.id}, "district": {world.school_a.id, world.school_b.id},
                    "school_a": {world.class_a1.id, world.class_a2.id}, "class_a1": set()}[org]
        assert {item["id"] for item in body["items"]} == expected
        assert body["total"] == len(expected) and body["page"] == 1 and body["page_size"] == 20
    else:
        assert_error(response, status, "forbidden" if status == 403 else "org_not_found")


def test_children_pagination_and_kind_filter(api, world):
    """Pages split the children without overlap or loss; `kind` filters; totals count the filter."""
    extra = [create(api, world.sa_b, f"班级{n:02d}", "class", world.school_b.id)["id"] for n in range(1, 4)]
    everyone = {world.class_b1.id, *extra}
    seen = []
    for page in (1, 2, 3):
        response = api.as_(world.t_b).get(f"/orgs/{world.school_b.id}/children", query_string={
            "page": page, "page_size": 2})
        body = response.get_json()
        assert response.status_code == 200, body
        assert (body["total"], body["page"], body["page_size"]) == (4, page, 2)
        assert len(body["items"]) == {1: 2, 2: 2, 3: 0}[page]
        seen += [item["id"] for item in body["items"]]
    assert sorted(seen) == sorted(everyone)

    region = create(api, world.city_admin, "高新区", "region", world.district.id)
    assert set(child_ids(api, world.city_admin, world.district.id)) == {world.school_a.id, world.school_b.id,
                                                                        region["id"]}
    assert set(child_ids(api, world.city_admin, world.district.id, kind="school")) == {world.school_a.id,
                                                                                       world.school_b.id}
    assert child_ids(api, world.city_admin, world.district.id, kind="region") == [region["id"]]
    response = api.as_(world.city_admin).get(f"/orgs/{world.district.id}/children", query_string={"kind": "class"})
    assert response.get_json()["items"] == [] and response.get_json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [({"page_size": 0}, "page_size"), ({"page_size": 101}, "page_size"), ({"page_size": "many"}, "page_size"),
     ({"page": 0}, "page"), ({"page": "x"}, "page"), ({"kind": "galaxy"}, "kind")],
)
def test_children_rejects_bad_query(api, world, query, field):
    """Out-of-range paging and unknown kinds are a 422 naming the parameter in Chinese."""
    response = api.as_(world.city_admin).get(f"/orgs/{world.district.id}/children", query_string=query)
    error = assert_error(response, 422, "validation_error")
    assert list(error["errors"]) == [field] and has_chinese(error["errors"][field][0])


def test_teacher_of_school_a_reaches_nothing_of_school_b(api, world):
    """Cross-school isolation: every org endpoint answers a school A teacher as if school B did not
    exist — read, list, create below, invite into — while the same calls work on school A."""
    t_a = api.as_(world.t_a)
    for org in (world.school_b, world.class_b1):
        assert_error(t_a.get(f"/orgs/{org.id}"), 404, "org_not_found")
        assert_error(t_a.get(f"/orgs/{org.id}/children"), 404, "org_not_found")
        assert_error(t_a.post(f"/orgs/{org.id}/invites", json={"role": "student" if org.kind == "class"
                                                                  else "teacher"}), 404, "org_not_found")
        assert_error(t_a.post("/orgs", json={"name": "偷建班级", "kind": "class", "parent_id": org.id}), 404)
    assert t_a.get(f"/orgs/{world.class_a2.id}").status_code == 200
    assert t_a.post(f"/orgs/{world.class_a2.id}/invites", json={"role": "student"}).status_code == 201
    # And school B's own invite cannot be printed from school A.
    code = api.as_(world.t_b).post(f"/orgs/{world.class_b1.id}/invites", json={"role": "student"}).get_json()["code"]
    assert_error(t_a.get(f"/invites/{code}/qrcode"), 404, "invite_not_found")


def test_deep_subtree_built_through_the_api(api, world):
    """province → city → district → school → class, built through the API by people who joined by
    invite: the province's region admin reaches the class at the bottom (materialised path), the
    city's region admin reaches only their own branch, and the old world's admins reach none of it."""
    province = create(api, world.admin, "新江省", "region", None)
    prov_admin = join(api, world.admin, province["id"], "region_admin", "prov_admin", "省管理员")
    city = create(api, prov_admin, "新江市", "region", province["id"])
    city_admin = join(api, prov_admin, city["id"], "region_admin", "new_city_admin", "市管理员")
    district = create(api, city_admin, "新江区", "region", city["id"])
    school = create(api, city_admin, "新江小学", "school", district["id"])
    klass = create(api, prov_admin, "一年级一班", "class", school["id"])

    chain = [province, city, district, school, klass]
    for depth, (parent, org) in enumerate(zip([None, *chain], chain, strict=False)):
        assert org["depth"] == depth
        assert org["path"] == (parent["path"] if parent else "/") + f"{org['id']}/"

    # Authority all the way down, from the very top.
    assert api.as_(prov_admin).get(f"/orgs/{klass['id']}").get_json()["path"] == klass["path"]
    assert child_ids(api, prov_admin, school["id"]) == [klass["id"]]
    assert api.as_(prov_admin).post(f"/orgs/{klass['id']}/invites", json={"role": "student"}).status_code == 201
    # The city admin runs their branch and sees the province above, without authority over it.
    assert child_ids(api, city_admin, district["id"]) == [school["id"]]
    assert api.as_(city_admin).get(f"/orgs/{province['id']}").status_code == 200
    assert_error(api.as_(city_admin).get(f"/orgs/{province['id']}/children"), 403, "forbidden")
    assert_error(api.as_(city_admin).post(f"/orgs/{province['id']}/invites", json={"role": "judge"}), 403)
    # The other tree's people see nothing of it, and vice versa.
    for outsider in (world.city_admin, world.sa_a, world.s_a1):
        for org in chain:
            assert_error(api.as_(outsider).get(f"/orgs/{org['id']}"), 404, "org_not_found")
    assert_error(api.as_(prov_admin).get(f"/orgs/{world.school_a.id}"), 404, "org_not_found")


def test_the_tree_stops_at_ten_levels_with_a_clear_answer(api, world):
    """Regions nest, so nothing else bounds the depth; PostgreSQL refused the 84th level (its
    materialised path is 255 characters) with an error naming no field, SQLite took 200. Ten
    levels on every database; the eleventh is 422 on `parent_id` and creates nothing."""
    parent = None
    for level in range(10):
        parent = create(api, world.admin, f"第{level + 1}级区域", "region", parent and parent["id"])
    assert parent["depth"] == 9
    body = assert_error(api.as_(world.admin).post("/orgs", json={"name": "第11级区域", "kind": "region",
                                                                 "parent_id": parent["id"]}), 422, "org_too_deep")
    assert "parent_id" in body["errors"]
    assert child_ids(api, world.admin, parent["id"]) == []
    # The same limit for every kind: a school on the tenth level has no room for a class.
    school = create(api, world.admin, "深处小学", "school", parent["parent_id"])
    assert_error(api.as_(world.admin).post("/orgs", json={"name": "一班", "kind": "class", "parent_id": school["id"]}),
                 422, "org_too_deep")


def test_path_prefix_does_not_leak_into_lookalike_ids(api, world):
    """`/1/` must not match `/12/`: a region admin of org N gets nothing in a root whose id starts
    with the digits of N (the trailing slash of the materialised path is what keeps them apart)."""
    prefix = str(world.city.id)
    lookalike = None
    for _ in range(120):
        org = create(api, world.admin, "相邻省份", "region", None)
        if str(org["id"]).startswith(prefix) and org["id"] != world.city.id:
            lookalike = org
            break
    assert lookalike is not None, "could not make an id that starts with the city's id"
    assert_error(api.as_(world.city_admin).get(f"/orgs/{lookalike['id']}"), 404, "org_not_found")
    assert_error(api.as_(world.city_admin).get(f"/orgs/{lookalike['id']}/children"), 404, "org_not_found")
    assert_error(api.as_(world.city_admin).post("/orgs", json={"name": "越界区", "kind": "region",
                                                              "parent_id": lookalike["id"]}), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/orgs"), ("GET", "/orgs/1"), ("GET", "/orgs/1/children"), ("POST", "/orgs/1/invites"),
     ("GET", "/invites/ABCDEFGH"), ("GET", "/invites/ABCDEFGH/qrcode"), ("POST", "/invites/ABCDEFGH/accept")],
)
def test_org_and_invite_endpoints_need_a_login(api, world, method, path):
    """Nothing about the tree or its invites is answered without a token, not even a 404."""
    assert_error(api.request(method, path, json={}), 401, "unauthorized")
