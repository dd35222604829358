"""`flask demo seed`: the data `make run` starts with, so the console and the mini-program have
something to show. It must load once, be a no-op the second time, and every login it prints
must actually work.
"""
from __future__ import annotations

from sqlalchemy import func, select

from app.auth.models import User
from app.campaigns.models import Campaign
from app.demo.seed import demo_password
from app.extensions import db
from app.family.models import FamilyLink
from app.orgs.models import Membership, Org
from tests.conftest import assert_error, wechat_login


def seed(app):
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def counts(app) -> dict:
    def count(model, *where):
        return db.session.scalar(select(func.count()).select_from(model).where(*where))

    with app.app_context():
        summary = {
            "regions": count(Org, Org.kind == "region"),
            "roots": count(Org, Org.parent_id.is_(None)),
            "schools": count(Org, Org.kind == "school"),
            "classes": count(Org, Org.kind == "class"),
            "students": count(Membership, Membership.role == "student"),
            "teachers": count(Membership, Membership.role == "teacher"),
            "school_admins": count(Membership, Membership.role == "school_admin"),
            "region_admins": count(Membership, Membership.role == "region_admin"),
            "links": count(FamilyLink),
            "users": count(User),
            "campaigns": count(Campaign),
        }
        db.session.remove()
    return summary


def test_seed_loads_the_demo_city_once(app):
    """A city with two districts, schools, classes, ~60 students each with a parent, staff and
    one campaign; the second run reports the data is there and changes nothing."""
    output = seed(app)
    assert "loaded" in output.lower()
    first = counts(app)
    assert first["roots"] == 1 and first["regions"] == 3  # the city and its two districts
    assert first["schools"] >= 2 and first["classes"] >= first["schools"]
    assert 50 <= first["students"] <= 70
    assert first["links"] == first["students"]
    assert first["teachers"] >= first["classes"]
    assert first["school_admins"] >= 1 and first["region_admins"] >= 1
    assert first["campaigns"] == 1

    with app.app_context():
        # Every student is in exactly one class and has exactly one parent, who is not a student.
        per_student = db.session.execute(
            select(Membership.user_id, func.count()).where(Membership.role == "student").group_by(Membership.user_id)
        ).all()
        assert {n for _user, n in per_student} == {1}
        students = {user_id for user_id, _n in per_student}
        links = db.session.execute(select(FamilyLink.parent_id, FamilyLink.child_id)).all()
        assert {child for _parent, child in links} == students
        assert not {parent for parent, _child in links} & students
        # Every campaign phase has a window, so the demo shows a current phase.
        campaign = db.session.scalar(select(Campaign))
        assert [p["name"] for p in campaign.phases] == ["启动", "实施", "评估总结"]
        assert all(p["starts_at"] and p["ends_at"] for p in campaign.phases)
        db.session.remove()

    again = seed(app)
    assert "already present" in again
    assert counts(app) == first


def test_seeded_people_can_log_in_and_see_the_demo(app, api):
    """The printed logins work: a teacher by password, a student and a parent by WeChat code;
    the student sees the demo campaign and the parent sees their one child."""
    seed(app)

    staff = api.post("/auth/password-login", json={"username": "teacher01", "password": demo_password()})
    assert staff.status_code == 200, staff.get_json()
    teacher = staff.get_json()
    [membership] = teacher["user"]["memberships"]
    assert membership["role"] == "teacher" and membership["org_kind"] == "class"
    class_id = membership["org_id"]
    assert api.as_(teacher["access_token"]).get(f"/orgs/{class_id}").status_code == 200
    for username in ("admin", "city_admin", "school1_admin"):
        response = api.post("/auth/password-login", json={"username": username, "password": demo_password()})
        assert response.status_code == 200, (username, response.get_json())
    assert_error(api.post("/auth/password-login", json={"username": "teacher01", "password": "wrong-password"}),
                 401, "invalid_credentials")

    student = wechat_login(api, "s01")
    [student_membership] = student["user"]["memberships"]
    assert student_membership["role"] == "student"
    assert student_membership["org_id"] == class_id, "teacher01 teaches s01's class"
    campaigns = api.as_(student["access_token"]).get("/campaigns").get_json()
    assert campaigns["total"] == 1
    [campaign] = campaigns["items"]
    assert "好网民" in campaign["title"]
    assert campaign["status"] == "active" and campaign["current_phase"] is not None
    assert api.as_(teacher["access_token"]).get(f"/campaigns/{campaign['id']}").status_code == 200
    # The demo campaign has something to do: a pledge for everyone, a family pledge, a quiz.
    pledges = api.as_(student["access_token"]).get(f"/campaigns/{campaign['id']}/pledges").get_json()["items"]
    assert sorted(p["mode"] for p in pledges) == ["family", "individual"]
    individual = next(p for p in pledges if p["mode"] == "individual")
    signed = api.as_(student["access_token"]).post(f"/pledges/{individual['id']}/signatures", json={})
    assert signed.status_code == 201 and signed.get_json()["status"] == "complete", signed.get_json()
    quizzes = api.as_(student["access_token"]).get(f"/campaigns/{campaign['id']}/quizzes").get_json()["items"]
    assert len(quizzes) == 1

    parent = wechat_login(api, "p01")
    me = api.as_(parent["access_token"]).get("/me").get_json()
    assert me["children"] == [{"id": student["user"]["id"], "real_name": student["user"]["real_name"]}]
    assert me["memberships"] == []
    assert [c["id"] for c in api.as_(parent["access_token"]).get("/campaigns").get_json()["items"]] == [campaign["id"]]
