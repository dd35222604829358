"""Quizzes (知识竞赛) and 闯关: who creates them, draw rules checked against the bank, the window
and attempt limits, levels that unlock in order, the leaderboard (order, ties, masking, org
rankings), item statistics on a known data set, and suspicion flags.

Helpers here are shared with tests/test_quiz_attempts.py.
"""
from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import select, update

from app.auth.models import User
from app.extensions import db
from app.orgs.models import Membership
from app.quizzes.models import Attempt, Quiz
from tests.conftest import assert_error
from tests.test_certificates import body_lines, decode_qr

# (type, stem, options, answer keys, category)
BANK = [
    ("single", f"单选题{i}：哪一个是正确的？", ["正确的选项", "错误一", "错误二", "错误三"], ["A"], "网络安全法")
    for i in range(1, 7)
] + [
    ("multiple", f"多选题{i}：哪些是正确的？", ["对一", "错一", "对二", "错二"], ["A", "C"], "个人信息保护法")
    for i in range(1, 5)
] + [
    ("true_false", f"判断题{i}：这句话是对的。", [], ["A"], "防沉迷") for i in range(1, 5)
]
EXPLANATION = "解析-{stem}"


def make_bank(api, who, org_id, rows=BANK) -> int:
    response = api.as_(who).post("/question-banks", json={"name": "测试题库", "org_id": org_id})
    assert response.status_code == 201, response.get_json()
    bank_id = response.get_json()["id"]
    for qtype, stem, options, answer, category in rows:
        body = {"type": qtype, "stem": stem, "options": options, "answer": answer, "category": category,
                "explanation": EXPLANATION.format(stem=stem), "legal_basis": "《网络安全法》"}
        if qtype == "true_false":
            body["answer"] = "正确" if answer == ["A"] else "错误"
        created = api.as_(who).post(f"/question-banks/{bank_id}/questions", json=body)
        assert created.status_code == 201, created.get_json()
    return bank_id


def make_campaign(api, who, org_id, starts_at: datetime | None = None, ends_at: datetime | None = None) -> int:
    period = {name: value.isoformat() for name, value in (("starts_at", starts_at), ("ends_at", ends_at)) if value}
    response = api.as_(who).post("/campaigns", json={"title": "网络安全知识竞赛活动", "org_id": org_id, **period})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def create_quiz(api, who, campaign_id, bank_id, **fields):
    body = {"title": "网络安全知识竞赛", "bank_id": bank_id, "draw": [{"count": 5}], "time_limit_s": 600,
            "max_attempts": 2, "pass_score": 15, **fields}
    body = {key: value for key, value in body.items() if value is not None}  # None: leave it out
    return api.as_(who).post(f"/campaigns/{campaign_id}/quizzes", json=body)


def make_quiz(api, who, campaign_id, bank_id, **fields) -> dict:
    response = create_quiz(api, who, campaign_id, bank_id, **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def setup(api, world):
    """A city bank of 14 questions and a city campaign."""
    bank = make_bank(api, world.city_admin, world.city.id)
    campaign = make_campaign(api, world.city_admin, world.city.id)
    return SimpleNamespace(bank=bank, campaign=campaign)


def add_student(app, org_id: int, real_name: str) -> SimpleNamespace:
    with app.app_context():
        user = User(real_name=real_name, openid=f"test_{real_name}_{org_id}")
        db.session.add(user)
        db.session.flush()
        db.session.add(Membership(user_id=user.id, org_id=org_id, role="student"))
        db.session.commit()
        return SimpleNamespace(id=user.id, real_name=real_name, token=create_access_token(identity=str(user.id)))


def start(api, who, quiz_id, **body):
    return api.as_(who).post(f"/quizzes/{quiz_id}/attempts", json=body)


def started(api, who, quiz_id, **body) -> dict:
    response = start(api, who, quiz_id, **body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def right_keys(question: dict, want_correct: bool = True) -> list[str]:
    """The displayed keys of the correct (or a wrong) answer, from the option texts of BANK."""
    texts = {o["text"]: o["key"] for o in question["options"]}
    if question["type"] == "true_false":
        return [texts["正确"]] if want_correct else [texts["错误"]]
    if question["type"] == "single":
        return [texts["正确的选项"]] if want_correct else [texts["错误一"]]
    return sorted([texts["对一"], texts["对二"]]) if want_correct else [texts["错一"]]


def submit(api, who, attempt_id, answers=None):
    response = api.as_(who).post(f"/attempts/{attempt_id}/submit", json={} if answers is None else
                                 {"answers": answers})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def take(api, who, quiz_id, correct: int, **body) -> dict:
    """Start, answer the first `correct` questions right and the rest wrong, submit."""
    attempt = started(api, who, quiz_id, **body)
    answers = {str(q["id"]): right_keys(q, index < correct) for index, q in enumerate(attempt["questions"])}
    return submit(api, who, attempt["id"], answers)


def set_duration(app, attempt_id: int, seconds: float) -> None:
    """Make a finished attempt have taken `seconds` (the leaderboard's time), via the DB row."""
    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        attempt.duration_ms = int(seconds * 1000)
        db.session.commit()
        from app.quizzes.services import _refresh_best

        _refresh_best(attempt.quiz_id, attempt.user_id)
        db.session.commit()


def expire(app, attempt_id: int, seconds_ago: int = 60) -> None:
    with app.app_context():
        past = datetime.now(UTC) - timedelta(seconds=seconds_ago)
        db.session.execute(update(Attempt).where(Attempt.id == attempt_id)
                           .values(deadline=past, started_at=past - timedelta(seconds=600)))
        db.session.commit()


# --- creating quizzes -----------------------------------------------------------------------


def test_create_a_quiz_with_defaults_and_points(api, world, setup):
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank,
                     draw=[{"count": 3, "type": "single"},
                           {"count": 2, "category": " 个人信息保护法 ", "type": "multiple"}],  # pasted with spaces
                     points={"multiple": 10})
    assert quiz["question_count"] == 5 and quiz["leveled"] is False and len(quiz["levels"]) == 1
    assert quiz["levels"][0]["draw"][1]["category"] == "个人信息保护法"
    assert quiz["points"] == {"single": 5, "multiple": 10, "true_false": 5}
    assert quiz["status"] == "open" and quiz["multiple_partial"] is False
    assert quiz["pass_score"] == 15  # given; left out it would be 60% of 3 × 5 + 2 × 10
    minimal = api.as_(world.city_admin).post(f"/campaigns/{setup.campaign}/quizzes",
                                             json={"title": "最小竞赛", "bank_id": setup.bank, "draw": [{"count": 10}]})
    assert minimal.status_code == 201, minimal.get_json()
    body = minimal.get_json()
    assert (body["time_limit_s"], body["max_attempts"], body["pass_score"]) == (1200, 3, 30)  # 60% of 10 × 5
    listed = api.as_(world.s_a1).get(f"/campaigns/{setup.campaign}/quizzes").get_json()
    assert [q["id"] for q in listed["items"]] == [quiz["id"], body["id"]]
    mine = api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}").get_json()
    assert mine["me"] == {"open_attempt_id": None, "certificate_serial": None, "levels": [
        {"level": 1, "attempts_used": 0, "best_score": None, "passed": False, "unlocked": True}]}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"draw": [{"count": 7, "type": "single"}]}, "draw.0.count"),
        ({"draw": [{"count": 1, "category": "不存在的分类"}]}, "draw.0.count"),
        ({"draw": [{"count": 6, "type": "single"}, {"count": 2, "category": "网络安全法"}]}, "draw"),
        ({"draw": [{"count": 0}]}, "draw.0.count"),
        ({"draw": []}, "draw"),
        ({"draw": None}, "draw"),
        ({"draw": [{"count": 1, "type": "essay"}]}, "draw.0.type"),
        ({"draw": [{"count": 201}]}, "draw.0.count"),
        ({"time_limit_s": 5}, "time_limit_s"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"pass_score": -1}, "pass_score"),
        ({"pass_score": 26}, "pass_score"),  # 5 questions × 5 points: nobody could pass
        ({"levels": [{"draw": [{"count": 2}], "pass_score": 10}, {"draw": [{"count": 2}], "pass_score": 11}]},
         "levels.1.pass_score"),
        ({"opens_at": "2030-05-01T00:00:00Z", "closes_at": "2030-04-01T00:00:00Z"}, "closes_at"),
        ({"bank_id": 999_999}, "bank_id"),
        ({"title": ""}, "title"),
        ({"levels": [{"draw": [{"count": 20}]}]}, "levels.0.draw.0.count"),
        ({"points": {"single": 1000}}, "points.single"),
        # Worth nothing: a blank paper would pass (pass score 0) and earn a certificate.
        ({"points": {"single": 0, "multiple": 0, "true_false": 0}}, "points"),
        ({"draw": [{"count": 3, "type": "single"}], "points": {"single": 0}}, "points"),
    ],
)
def test_bad_quiz_bodies_are_422(api, world, setup, fields, field):
    body = {"title": "网络安全知识竞赛", "bank_id": setup.bank, "draw": [{"count": 5}], **fields}
    body = {key: value for key, value in body.items() if value is not None}
    error = assert_error(api.as_(world.city_admin).post(f"/campaigns/{setup.campaign}/quizzes", json=body), 422)
    assert field in error["errors"], error


def test_points_per_type_need_typed_draw_rules_and_score_exactly(api, world, setup):
    """With different points per type, a rule without a type would give students different full
    scores (one draws more multiple choice than another): refused, naming the rule. Typed rules
    score exactly, and the default pass score is 60% of the full score."""
    points = {"single": 2, "multiple": 10, "true_false": 1}
    error = assert_error(create_quiz(api, world.city_admin, setup.campaign, setup.bank, points=points,
                                     draw=[{"count": 2, "type": "single"}, {"count": 3}]), 422, "draw_type_required")
    assert list(error["errors"]) == ["draw.1.type"]
    assert "第 2 条抽题规则" in error["message"] and "必须指定题型" in error["message"]
    leveled = assert_error(create_quiz(api, world.city_admin, setup.campaign, setup.bank, points={"multiple": 10},
                                       draw=None, levels=[{"draw": [{"count": 1, "type": "single"}]},
                                                          {"draw": [{"count": 2, "category": "网络安全法"}]}]),
                           422, "draw_type_required")
    assert list(leveled["errors"]) == ["levels.1.draw.0.type"] and "第2关的第 1 条抽题规则" in leveled["message"]
    # Equal points for every type: an untyped rule is fine, every draw is worth the same.
    same = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 5}], pass_score=None,
                     points={"single": 4, "multiple": 4, "true_false": 4})
    assert same["pass_score"] == 12  # 60% of 5 × 4

    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, points=points, pass_score=None,
                     draw=[{"count": 2, "type": "single"}, {"count": 1, "type": "multiple"},
                           {"count": 2, "type": "true_false"}])
    assert quiz["pass_score"] == 10  # ⌈60% of 2 × 2 + 10 + 2 × 1 = 16⌉
    for who in (world.s_a1, world.s_b1):
        attempt = started(api, who, quiz["id"])
        assert sorted(q["points"] for q in attempt["questions"]) == [1, 1, 2, 2, 10]
        first_single = next(q["id"] for q in attempt["questions"] if q["type"] == "single")
        answers = {str(q["id"]): right_keys(q, q["id"] != first_single) for q in attempt["questions"]}
        result = submit(api, who, attempt["id"], answers)
        assert (result["score"], result["max_score"], result["passed"]) == (14, 16, True)
        assert sorted(q["earned"] for q in result["questions"]) == [0, 1, 1, 2, 10]


def test_overlapping_draw_rules_give_every_student_a_full_draw_or_are_refused(api, app, world, setup):
    """"10 of any type plus 4 true/false" from a bank with exactly 4 true/false questions: drawn
    rule after rule, the first would take true/false questions the second needs, and a student's
    start would fail on a quiz that was accepted. Every student gets a full draw; rules that can
    never be met together are refused when the quiz is set, even if the bank is big enough."""
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank,
                     draw=[{"count": 10}, {"count": 4, "type": "true_false"}], pass_score=None)
    partial = make_quiz(api, world.city_admin, setup.campaign, setup.bank,
                        draw=[{"count": 9}, {"count": 4, "type": "multiple"}], pass_score=None)
    students = [world.s_a1, world.s_b1] + [add_student(app, world.class_a2.id, f"学生{i}") for i in range(6)]
    for who in students:
        drawn = started(api, who, quiz["id"])["questions"]
        assert len({q["id"] for q in drawn}) == 14 and sum(q["type"] == "true_false" for q in drawn) == 4
        drawn = started(api, who, partial["id"])["questions"]
        assert len({q["id"] for q in drawn}) == 13 and sum(q["type"] == "multiple" for q in drawn) == 4
    # 3 multiple choice and 2 of 个人信息保护法 (the same four questions) cannot both be met; the bank
    # as a whole has the 14 the three rules ask for.
    error = assert_error(create_quiz(api, world.city_admin, setup.campaign, setup.bank, pass_score=None, draw=[
        {"count": 3, "type": "multiple"}, {"count": 2, "category": "个人信息保护法"}, {"count": 9}]),
        422, "not_enough_questions")
    assert list(error["errors"]) == ["draw"] and "重叠" in error["errors"]["draw"][0]


def test_who_may_create_quizzes_and_with_which_bank(api, world, setup):
    school_campaign = make_campaign(api, world.sa_a, world.school_a.id)
    school_b_bank = make_bank(api, world.sa_b, world.school_b.id, rows=BANK[:5])
    # The school uses the city's bank in its own campaign.
    make_quiz(api, world.sa_a, school_campaign, setup.bank)
    assert_error(create_quiz(api, world.sa_a, school_campaign, school_b_bank), 422, "bank_not_found")
    school_a_bank = make_bank(api, world.sa_a, world.school_a.id, rows=BANK[:5])
    # A school's bank cannot serve the city's campaign (it is usable only in the school's subtree).
    assert_error(create_quiz(api, world.city_admin, setup.campaign, school_a_bank), 422, "bank_out_of_scope")
    assert_error(create_quiz(api, world.t_a, school_campaign, setup.bank), 403, "forbidden")
    assert_error(create_quiz(api, world.s_a1, setup.campaign, setup.bank), 403, "forbidden")
    assert_error(create_quiz(api, world.sa_b, school_campaign, setup.bank), 404, "campaign_not_found")
    assert_error(api.as_(world.s_b1).get(f"/campaigns/{school_campaign}/quizzes"), 404, "campaign_not_found")


# --- window, attempt limits, levels ---------------------------------------------------------


def test_window_and_attempt_limits_have_clear_codes(api, app, world, setup):
    now = datetime.now(UTC)
    later = make_quiz(api, world.city_admin, setup.campaign, setup.bank,
                      opens_at=(now + timedelta(days=1)).isoformat())
    assert later["status"] == "upcoming"
    assert_error(start(api, world.s_a1, later["id"]), 409, "quiz_not_open")
    over = make_quiz(api, world.city_admin, setup.campaign, setup.bank, opens_at=(now - timedelta(days=2)).isoformat(),
                     closes_at=(now - timedelta(days=1)).isoformat())
    assert_error(start(api, world.s_a1, over["id"]), 409, "quiz_closed")

    closing = make_quiz(api, world.city_admin, setup.campaign, setup.bank, max_attempts=2,
                        closes_at=(now + timedelta(seconds=120)).isoformat())
    first = started(api, world.s_a1, closing["id"])
    deadline = datetime.fromisoformat(first["deadline"])
    assert deadline <= now + timedelta(seconds=121), "no deadline after the quiz closes"
    submit(api, world.s_a1, first["id"])
    second = started(api, world.s_a1, closing["id"])
    assert second["number"] == 2 and second["id"] != first["id"]
    submit(api, world.s_a1, second["id"])
    exhausted = assert_error(start(api, world.s_a1, closing["id"]), 409, "attempts_exhausted")
    assert exhausted["message"] == "答题次数已用完（最多 2 次）"  # no 每关: this quiz has no levels
    # Another student has their own count; strangers do not see the quiz at all.
    started(api, world.s_b1, closing["id"])
    stranger = add_student(app, world.class_a1.id, "王五")
    assert start(api, stranger, closing["id"]).status_code == 201
    assert_error(start(api, world.s_a1, 999_999), 404, "quiz_not_found")


def test_admins_correct_a_quiz_window_and_attempts_but_never_its_rules(api, app, world, setup):
    """PATCH /quizzes/{id}: the window and the number of attempts move at any time and apply to
    the next start; the title is fixed once anyone has started; the draw, time and scoring rules
    are never edited (every student answers under the same ones). A refusal changes nothing."""
    now = datetime.now(UTC)
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, title="网络安全知试竞赛", max_attempts=1,
                     closes_at=(now + timedelta(days=3)).isoformat())
    path = f"/quizzes/{quiz['id']}"
    for who in (world.t_a, world.sa_a, world.s_a1):
        assert_error(api.as_(who).patch(path, json={"max_attempts": 5}), 403, "forbidden")
    assert_error(api.as_(world.sa_b).patch("/quizzes/999999", json={"max_attempts": 5}), 404, "quiz_not_found")
    rules = assert_error(api.as_(world.city_admin).patch(path, json={
        "title": "新名字", "draw": [{"count": 3}], "time_limit_s": 60, "pass_score": 0}), 422, "validation_error")
    assert set(rules["errors"]) == {"draw", "time_limit_s", "pass_score"}
    assert "_schema" in assert_error(api.as_(world.city_admin).patch(path, json={}), 422)["errors"]
    backwards = assert_error(api.as_(world.city_admin).patch(path, json={
        "opens_at": (now + timedelta(days=4)).isoformat()}), 422, "validation_error")
    assert "closes_at" in backwards["errors"]
    assert api.as_(world.s_a1).get(path).get_json()["title"] == "网络安全知试竞赛"  # nothing changed so far

    renamed = api.as_(world.city_admin).patch(path, json={"title": "网络安全知识竞赛"})
    assert renamed.status_code == 200 and renamed.get_json()["title"] == "网络安全知识竞赛"
    take(api, world.s_a1, quiz["id"], correct=5)
    assert_error(start(api, world.s_a1, quiz["id"]), 409, "attempts_exhausted")
    assert api.as_(world.city_admin).patch(path, json={"max_attempts": 2}).get_json()["max_attempts"] == 2
    second = started(api, world.s_a1, quiz["id"])
    assert second["number"] == 2

    locked = assert_error(api.as_(world.city_admin).patch(path, json={
        "title": "改名", "closes_at": (now + timedelta(days=1)).isoformat()}), 409, "quiz_title_locked")
    assert list(locked["errors"]) == ["title"]
    assert api.as_(world.s_a1).get(path).get_json()["closes_at"] == quiz["closes_at"]
    closed = api.as_(world.city_admin).patch(path, json={"closes_at": (now - timedelta(minutes=1)).isoformat()})
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert_error(start(api, world.s_b1, quiz["id"]), 409, "quiz_closed")
    reopened = api.as_(world.city_admin).patch(path, json={"title": "网络安全知识竞赛", "closes_at": None}).get_json()
    assert (reopened["closes_at"], reopened["status"]) == (None, "open")
    mine = started(api, world.s_b1, quiz["id"])
    assert mine["number"] == 1

    # Open attempts follow a moved close: cut short, given their time back, ended early.
    def deadline() -> datetime:
        return datetime.fromisoformat(api.as_(world.s_b1).get(f"/attempts/{mine['id']}").get_json()["deadline"])

    full = deadline()
    soon = datetime.now(UTC) + timedelta(seconds=60)
    api.as_(world.city_admin).patch(path, json={"closes_at": soon.isoformat()})
    assert abs((deadline() - soon).total_seconds()) < 0.01
    api.as_(world.city_admin).patch(path, json={"closes_at": None})
    assert deadline() == full  # the 600 s of its time limit again
    api.as_(world.city_admin).patch(path, json={"closes_at": (datetime.now(UTC) - timedelta(seconds=30)).isoformat()})
    answers = {str(q["id"]): right_keys(q) for q in mine["questions"]}
    ended = submit(api, world.s_b1, mine["id"], answers)
    assert (ended["score"], ended["late_answers_ignored"]) == (0, True)


def test_a_quiz_lies_within_its_campaign(api, world, setup):
    """Nobody takes a quiz before its campaign begins or after it has ended (when the awards are
    decided): a bound left open or cleared takes the campaign's, a bound outside it is refused."""
    now = datetime.now(UTC)
    starts, ends = now - timedelta(days=10), now + timedelta(days=10)
    campaign = make_campaign(api, world.city_admin, world.city.id, starts, ends)
    quiz = make_quiz(api, world.city_admin, campaign, setup.bank)
    assert (datetime.fromisoformat(quiz["opens_at"]), datetime.fromisoformat(quiz["closes_at"])) == (starts, ends)
    path = f"/quizzes/{quiz['id']}"
    late = assert_error(create_quiz(api, world.city_admin, campaign, setup.bank,
                                    closes_at=(ends + timedelta(days=1)).isoformat()), 422, "outside_campaign_period")
    assert list(late["errors"]) == ["closes_at"] and "活动结束时间" in late["errors"]["closes_at"][0]
    early = assert_error(api.as_(world.city_admin).patch(
        path, json={"opens_at": (starts - timedelta(hours=1)).isoformat()}), 422, "outside_campaign_period")
    assert list(early["errors"]) == ["opens_at"]
    sooner = now + timedelta(days=1)
    shorter = api.as_(world.city_admin).patch(path, json={"closes_at": sooner.isoformat()}).get_json()
    assert datetime.fromisoformat(shorter["closes_at"]) == sooner
    cleared = api.as_(world.city_admin).patch(path, json={"closes_at": None}).get_json()
    assert datetime.fromisoformat(cleared["closes_at"]) == ends, "cleared: back to the campaign's end"

    over = make_campaign(api, world.city_admin, world.city.id, now - timedelta(days=30), now - timedelta(days=1))
    finished = make_quiz(api, world.city_admin, over, setup.bank)
    assert finished["status"] == "closed"
    assert_error(start(api, world.s_a1, finished["id"]), 409, "quiz_closed")


def test_levels_open_one_after_another(api, world, setup):
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, max_attempts=2, pass_score=None, levels=[
        {"title": "入门", "draw": [{"count": 3, "type": "true_false"}], "pass_score": 15},
        {"title": "进阶", "draw": [{"count": 3, "type": "single"}], "pass_score": 10, "time_limit_s": 300},
        {"draw": [{"count": 2, "type": "multiple"}]},
    ])
    assert quiz["leveled"] is True
    assert [(lv["level"], lv["title"], lv["pass_score"], lv["time_limit_s"]) for lv in quiz["levels"]] == [
        (1, "入门", 15, 600), (2, "进阶", 10, 300), (3, "第3关", 6, 600)]
    assert_error(start(api, world.s_a1, quiz["id"], level=2), 409, "level_locked")
    assert_error(start(api, world.s_a1, quiz["id"], level=4), 422)

    failed = take(api, world.s_a1, quiz["id"], correct=2)
    assert failed["level"] == 1 and failed["passed"] is False and failed["next_level"] is None
    assert_error(start(api, world.s_a1, quiz["id"], level=2), 409, "level_locked")
    passed = take(api, world.s_a1, quiz["id"], correct=3)
    assert passed["passed"] is True and passed["next_level"] == 2
    # One level of three is not a passed 闯关 (no certificate either); 满分 is the whole quiz's.
    midway = _sheets(api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/results.xlsx"))
    header, (line,) = midway["成绩明细"][1], [r for r in midway["成绩明细"][2:] if "张小三" in r]
    assert {k: v for k, v in zip(header, line, strict=True) if k in ("通过关数", "是否及格", "最好成绩", "满分")} == {
        "通过关数": "1/3", "是否及格": "否", "最好成绩": 15, "满分": 40}
    assert midway["汇总"][2][6] == 0  # pass rate of the city: nobody has passed every level yet
    board = f"/quizzes/{quiz['id']}/leaderboard?org_id={world.city.id}"
    me = api.as_(world.s_a1).get(board).get_json()["me"]
    assert (me["levels_passed"], me["passed"]) == (1, False)
    assert (me["score"], me["max_score"]) == (15, 40), "the board's 满分 is the export's: not 15 of 15"
    exhausted = assert_error(start(api, world.s_a1, quiz["id"], level=1), 409, "attempts_exhausted")
    assert exhausted["message"] == "答题次数已用完（每关最多 2 次）"
    level_two = started(api, world.s_a1, quiz["id"])  # the first level not yet passed
    assert level_two["level"] == 2 and level_two["time_limit_s"] == 300
    assert {q["type"] for q in level_two["questions"]} == {"single"}
    progress = api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}").get_json()["me"]
    assert progress["open_attempt_id"] == level_two["id"]
    assert [(p["level"], p["attempts_used"], p["best_score"], p["passed"], p["unlocked"])
            for p in progress["levels"]] == [(1, 2, 15, True, True), (2, 1, None, False, True),
                                            (3, 0, None, False, False)]
    answers = {str(q["id"]): right_keys(q) for q in level_two["questions"]}
    assert submit(api, world.s_a1, level_two["id"], answers)["next_level"] == 3
    last = take(api, world.s_a1, quiz["id"], correct=2)
    assert (last["level"], last["passed"], last["next_level"]) == (3, True, None)  # no level after the last
    # The results export says how far each student got.
    sheets = _sheets(api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/results.xlsx"))
    header = sheets["成绩明细"][1]
    rows = {line["姓名"]: line for line in (dict(zip(header, row, strict=True)) for row in sheets["成绩明细"][2:])}
    assert (rows["张小三"]["通过关数"], rows["张小三"]["是否及格"], rows["张小三"]["作答次数"]) == ("3/3", "是", 4)
    me = api.as_(world.s_a1).get(board).get_json()["me"]
    assert (me["levels_passed"], me["passed"], me["max_score"]) == (3, True, 40)
    assert rows["刘小四"]["状态"] == "未参加" and rows["刘小四"]["通过关数"] is None


# --- leaderboard ---------------------------------------------------------------------------


@pytest.mark.parametrize("sample_every", [None, 1, 2, 3])
def test_leaderboard_order_ties_masking_and_org_rankings(api, app, world, setup, monkeypatch, sample_every):
    """Ranks off the first page come from an index count in small scopes; in big ones (a city)
    from a cached sample of the ranking plus an index count up to the sampled key above. Every
    sample spacing must give the same ranks, ties included."""
    if sample_every is not None:
        from app.quizzes import services as quiz_services

        monkeypatch.setattr(quiz_services, "BIG_SCOPE", 1)
        monkeypatch.setattr(quiz_services, "RANK_SAMPLE_EVERY", sample_every)
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 4, "type": "single"}],
                     max_attempts=2, pass_score=10)
    a1_second = add_student(app, world.class_a1.id, "欧阳小明")
    a2_student = add_student(app, world.class_a2.id, "陈大文")
    add_student(app, world.class_a2.id, "没来答题")
    b1_second = add_student(app, world.class_b1.id, "李四")

    runs = [  # who, correct answers, seconds
        (world.s_a1, 3, 100), (a1_second, 4, 200), (a2_student, 3, 90), (world.s_b1, 3, 100), (b1_second, 1, 30),
    ]
    for who, correct, seconds in runs:
        result = take(api, who, quiz["id"], correct)
        set_duration(app, result["id"], seconds)
    # s_a1 tries again and does worse: the best attempt counts.
    worse = take(api, world.s_a1, quiz["id"], 0)
    # Scored as it was handed in (nothing recomputed by hand yet): the board keeps the better first attempt.
    me = api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/leaderboard").get_json()["me"]
    assert (me["score"], me["duration_s"]) == (15, 100.0)
    set_duration(app, worse["id"], 10)

    board = api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/leaderboard")
    assert board.status_code == 200, board.get_json()
    body = board.get_json()
    assert body["org_id"] == world.city.id and body["total"] == 5
    ranking = [(e["rank"], e["name"], e["score"], e["duration_s"]) for e in body["items"]]
    assert ranking == [
        (1, "欧阳小明", 20, 200.0),  # same class as the viewer: full name
        (2, "陈*文", 15, 90.0),  # faster wins among equal scores
        (3, "张小三", 15, 100.0),  # the viewer
        (3, "刘*四", 15, 100.0),  # a true tie shares the rank
        (5, "李*", 5, 30.0),
    ]
    assert body["me"]["rank"] == 3 and body["me"]["is_me"] is True and body["me"]["score"] == 15
    assert [e["is_me"] for e in body["items"]] == [False, False, True, False, False]
    # The second page continues the ranks.
    page_two = api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/leaderboard",
                                       query_string={"page": 2, "page_size": 2}).get_json()
    assert [(e["rank"], e["score"]) for e in page_two["items"]] == [(3, 15), (3, 15)]
    # One row a page: each rank is computed off the first page (page 1 is rank 1 by definition).
    pages = [api.as_(world.s_b1).get(f"/quizzes/{quiz['id']}/leaderboard", query_string={"page": page, "page_size": 1})
             .get_json() for page in range(1, 6)]
    assert [p["items"][0]["rank"] for p in pages] == [1, 2, 3, 3, 5]
    assert pages[0]["me"]["rank"] == 3 and pages[0]["me"]["name"] == "刘小四"  # the viewer, off the page
    last = api.as_(b1_second).get(f"/quizzes/{quiz['id']}/leaderboard", query_string={"page_size": 1}).get_json()
    assert last["me"]["rank"] == 5
    # Past the last page: no rows, and the total stays the real count.
    beyond = api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/leaderboard",
                                     query_string={"page": 1000, "page_size": 100}).get_json()
    assert beyond["items"] == [] and beyond["total"] == 5

    # A parent sees their own child's name, and only that one, in full.
    from tests.pledge_helpers import add_adult, link_family

    parent = add_adult(app, "张大山")
    link_family(app, parent.id, world.s_b1.id)
    seen = api.as_(parent).get(f"/quizzes/{quiz['id']}/leaderboard").get_json()
    assert {e["name"] for e in seen["items"]} == {"欧**明", "陈*文", "张*三", "刘小四", "李*"}

    # Staff over the school see real names; school scope lists only that school.
    school = api.as_(world.t_a).get(f"/quizzes/{quiz['id']}/leaderboard",
                                    query_string={"org_id": world.school_a.id}).get_json()
    assert [e["name"] for e in school["items"]] == ["欧阳小明", "陈大文", "张小三"]
    orgs = {o["name"]: o for o in school["orgs"]}
    assert orgs["一年级一班"]["enrolled"] == 2 and orgs["一年级一班"]["took"] == 2
    assert orgs["一年级一班"]["average_score"] == 17.5 and orgs["一年级一班"]["participation_rate"] == 1.0
    assert orgs["一年级二班"]["enrolled"] == 2 and orgs["一年级二班"]["took"] == 1
    assert orgs["一年级二班"]["participation_rate"] == 0.5 and orgs["一年级二班"]["average_score"] == 15.0
    assert [o["name"] for o in school["orgs"]] == ["一年级一班", "一年级二班"]

    district = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/leaderboard",
                                             query_string={"org_id": world.district.id}).get_json()
    schools = {o["name"]: o for o in district["orgs"]}
    assert (schools["第一小学"]["took"], schools["第一小学"]["enrolled"]) == (3, 4)
    assert (schools["第二小学"]["took"], schools["第二小学"]["enrolled"]) == (2, 2)
    assert schools["第一小学"]["average_score"] == round(50 / 3, 2) and schools["第二小学"]["average_score"] == 10.0
    assert schools["第一小学"]["rank_by_score"] == 1 and schools["第二小学"]["rank_by_participation"] == 1
    # A student of school B does not see school A's board; org ids beyond sight are 404.
    assert_error(api.as_(world.s_b1).get(f"/quizzes/{quiz['id']}/leaderboard",
                                         query_string={"org_id": world.school_a.id}), 404, "org_not_found")


def test_org_rankings_share_a_rank_on_equal_figures(api, app, world, setup):
    """Two schools with the same participation and average share rank 1 on both (the second
    used to be 2 by its id, which a bureau reads as worse); a school where nobody took part ranks
    3rd, not 2nd. The results export's summary carries the same ranks."""
    from openpyxl import load_workbook

    from app.orgs.models import Org
    from app.orgs.services import add_org

    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 4, "type": "single"}])
    with app.app_context():
        school_c = add_org("第三小学", "school", db.session.get(Org, world.district.id))
        class_c = add_org("三年级一班", "class", school_c)
        school_c_id, class_c_id = school_c.id, class_c.id
        db.session.commit()
    add_student(app, class_c_id, "没来答题")
    for who in (world.s_a1, add_student(app, world.class_a2.id, "陈大文"), world.s_b1,
                add_student(app, world.class_b1.id, "李四")):
        take(api, who, quiz["id"], 3)
    board = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/leaderboard",
                                          query_string={"org_id": world.district.id}).get_json()
    ranks = {o["org_id"]: (o["rank_by_score"], o["rank_by_participation"], o["average_score"],
                           o["participation_rate"]) for o in board["orgs"]}
    assert ranks == {world.school_a.id: (1, 1, 15.0, 1.0), world.school_b.id: (1, 1, 15.0, 1.0),
                     school_c_id: (3, 3, None, 0.0)}

    export = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/results.xlsx",
                                           query_string={"org_id": world.district.id})
    assert export.status_code == 200, export.get_json()
    summary = load_workbook(io.BytesIO(export.data), read_only=True)["汇总"]
    lines = [[cell for cell in line if cell is not None] for line in summary.iter_rows(values_only=True)]
    assert [line for line in lines if line and line[0] == "第二小学"][0][-2:] == [1, 1]
    assert [line for line in lines if line and line[0] == "第三小学"][0][-2:] == [3, 3]


def test_an_abandoned_attempt_counts_on_the_leaderboard_when_its_time_is_up(api, app, world, setup):
    """Leaderboard readers close abandoned attempts (at most every QUIZ_READER_CLOSE_EVERY_S per
    quiz and process; 0 here, so the read right after the expiry does it; cron does it anyway)."""
    app.config["QUIZ_READER_CLOSE_EVERY_S"] = 0
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 3, "type": "single"}])
    attempt = started(api, world.s_a1, quiz["id"])
    question = attempt["questions"][0]
    saved = api.as_(world.s_a1).put(f"/attempts/{attempt['id']}/answers/{question['id']}",
                                    json={"choice": right_keys(question)})
    assert saved.status_code == 200
    assert api.as_(world.s_b1).get(f"/quizzes/{quiz['id']}/leaderboard").get_json()["total"] == 0
    expire(app, attempt["id"])
    board = api.as_(world.s_b1).get(f"/quizzes/{quiz['id']}/leaderboard").get_json()
    assert board["total"] == 1 and board["items"][0]["score"] == 5 and board["items"][0]["name"] == "张*三"
    assert board["items"][0]["duration_s"] == 600.0


# --- statistics and flags ------------------------------------------------------------------


def test_item_statistics_on_a_known_data_set(api, app, world, setup):
    """Four students answer the same two questions (one single, one multiple) in known ways."""
    bank = make_bank(api, world.city_admin, world.city.id, rows=[BANK[0], BANK[6]])
    quiz = make_quiz(api, world.city_admin, setup.campaign, bank, draw=[{"count": 2}], pass_score=5)
    students = [world.s_a1, world.s_b1, add_student(app, world.class_a2.id, "王一"),
                add_student(app, world.class_a1.id, "王二")]
    # single: right, right, wrong (错误一), unanswered; multiple: right, wrong (错一), wrong (错一), right
    plans = [(True, True), (True, False), (False, False), (None, True)]
    for who, (single_ok, multiple_ok) in zip(students, plans, strict=True):
        attempt = started(api, who, quiz["id"])
        answers = {}
        for question in attempt["questions"]:
            ok = single_ok if question["type"] == "single" else multiple_ok
            if ok is not None:
                answers[str(question["id"])] = right_keys(question, ok)
        submit(api, who, attempt["id"], answers)

    response = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/stats")
    assert response.status_code == 200, response.get_json()
    stats = response.get_json()
    assert (stats["attempts"], stats["students"]) == (4, 4)
    assert stats["average_score"] == 5.0 and stats["pass_rate"] == 0.75
    by_type = {q["type"]: q for q in stats["questions"]}
    single = by_type["single"]
    assert (single["attempts"], single["answered"], single["correct"], single["correct_rate"]) == (4, 3, 2, 0.5)
    assert single["options"] == {"A": 2, "B": 1, "C": 0, "D": 0} and single["answer"] == ["A"]
    assert single["distribution"] == [  # the texts next to the counts, in the bank's order
        {"key": "A", "text": "正确的选项", "count": 2}, {"key": "B", "text": "错误一", "count": 1},
        {"key": "C", "text": "错误二", "count": 0}, {"key": "D", "text": "错误三", "count": 0}]
    multiple = by_type["multiple"]
    assert (multiple["answered"], multiple["correct"], multiple["correct_rate"]) == (4, 2, 0.5)
    assert multiple["options"] == {"A": 2, "B": 2, "C": 2, "D": 0} and multiple["answer"] == ["A", "C"]
    assert [(o["text"], o["count"]) for o in multiple["distribution"]] == [("对一", 2), ("错一", 2), ("对二", 2),
                                                                           ("错二", 0)]
    # 27% of 4 → one attempt per group: the top one (10 points) and the bottom one (0 points).
    assert single["discrimination"] == 1.0 and multiple["discrimination"] == 1.0
    categories = {c["category"]: c for c in stats["categories"]}
    assert categories["网络安全法"]["correct_rate"] == 0.5 and categories["个人信息保护法"]["answers"] == 4

    school = api.as_(world.t_a).get(f"/quizzes/{quiz['id']}/stats", query_string={"org_id": world.school_a.id})
    assert school.get_json()["attempts"] == 3
    # A teacher who works in one place of the campaign's org gets that place without asking.
    own = api.as_(world.t_a).get(f"/quizzes/{quiz['id']}/stats")
    assert own.status_code == 200, own.get_json()
    assert (own.get_json()["org_id"], own.get_json()["attempts"]) == (world.school_a.id, 3)
    klass = api.as_(world.t_a1).get(f"/quizzes/{quiz['id']}/stats").get_json()
    assert (klass["org_id"], klass["attempts"]) == (world.class_a1.id, 2)
    flags = api.as_(world.t_a1).get(f"/quizzes/{quiz['id']}/flags")
    assert flags.status_code == 200 and flags.get_json()["org_id"] == world.class_a1.id
    # Teaching in two schools: they must say which.
    with app.app_context():
        db.session.add(Membership(user_id=world.t_b.id, org_id=world.school_a.id, role="teacher"))
        db.session.commit()
    for path in ("stats", "flags"):
        body = assert_error(api.as_(world.t_b).get(f"/quizzes/{quiz['id']}/{path}"), 403, "forbidden")
        assert body["message"] == "请选择你负责的学校或班级查看统计"
    assert api.as_(world.t_b).get(f"/quizzes/{quiz['id']}/stats",
                                  query_string={"org_id": world.school_b.id}).get_json()["attempts"] == 1
    for path in ("stats", "flags", "results.xlsx"):  # a student is told who may, not to choose a school
        body = assert_error(api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/{path}"), 403, "forbidden")
        assert body["message"] == "只有本次活动范围内的教师和管理员可以查看统计和导出成绩"
    assert_error(api.as_(world.t_a).get(f"/quizzes/{quiz['id']}/stats", query_string={"org_id": world.school_b.id}),
                 404, "org_not_found")


def test_option_counts_follow_the_text_when_options_are_reordered(api, app, world, setup):
    """Teachers reorder options mid-contest (to move the right one off A). Each choice counts for
    the option with its text in the latest order, so the distribution shows what students chose,
    not what now sits at the letter they chose under the old order."""
    bank = make_bank(api, world.city_admin, world.city.id, rows=[])
    question = api.as_(world.city_admin).post(f"/question-banks/{bank}/questions", json={
        "type": "single", "stem": "哪个是对的？", "options": ["对的", "错一", "错二", "错三"], "answer": "A"})
    assert question.status_code == 201, question.get_json()
    quiz = make_quiz(api, world.city_admin, setup.campaign, bank, draw=[{"count": 1}], pass_score=5)

    def answer(who, text):
        attempt = started(api, who, quiz["id"])
        [shown] = attempt["questions"]
        key = next(o["key"] for o in shown["options"] if o["text"] == text)
        return submit(api, who, attempt["id"], {str(shown["id"]): [key]})

    assert answer(world.s_a1, "对的")["score"] == 5
    answer(add_student(app, world.class_a1.id, "王一"), "错二")
    moved = api.as_(world.city_admin).put(f"/questions/{question.get_json()['id']}",
                                          json={"options": ["错一", "对的", "错二", "错三"], "answer": "B"})
    assert moved.status_code == 200, moved.get_json()
    assert answer(add_student(app, world.class_a1.id, "王二"), "对的")["score"] == 5
    answer(add_student(app, world.class_a1.id, "王三"), "错一")

    [item] = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/stats").get_json()["questions"]
    assert item["distribution"] == [
        {"key": "A", "text": "错一", "count": 1}, {"key": "B", "text": "对的", "count": 2},
        {"key": "C", "text": "错二", "count": 1}, {"key": "D", "text": "错三", "count": 0}]
    assert (item["correct"], item["answer"]) == (2, ["B"])


def test_headline_figures_are_per_student_as_on_the_leaderboard_and_the_export(api, app, world, setup):
    """A student who failed twice and then passed: the class's average and pass rate are those of
    best results (20 and 100 %), as the leaderboard's org table and the export report them; the
    per-attempt figures (retakes included) sit beside them under their own names."""
    from openpyxl import load_workbook

    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 4, "type": "single"}],
                     pass_score=15, max_attempts=3)
    for correct in (1, 1, 4):
        take(api, world.s_a1, quiz["id"], correct)
    stats = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/stats",
                                    query_string={"org_id": world.class_a1.id}).get_json()
    board = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/leaderboard",
                                    query_string={"org_id": world.school_a.id}).get_json()
    [klass] = [o for o in board["orgs"] if o["org_id"] == world.class_a1.id]
    export = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/results.xlsx", query_string={"org_id": world.class_a1.id})
    total = list(load_workbook(io.BytesIO(export.data), read_only=True)["汇总"].iter_rows(values_only=True))[2]
    assert (klass["average_score"], klass["pass_rate"]) == (20.0, 1.0) and tuple(total[5:7]) == (20, 1)
    assert (stats["average_score"], stats["pass_rate"]) == (20.0, 1.0)
    assert (stats["attempt_average_score"], stats["attempt_pass_rate"], stats["attempts"]) == (10.0, 0.3333, 3)


def test_a_city_s_statistics_sample_and_cache_its_item_analysis(api, app, world, setup, monkeypatch):
    """A city's million attempts took 50 s and 2.8 GB to analyse on each request. Above
    STATS_LIVE_MAX attempts the statistics are shared for a while (the same answer as counted
    live) and their item analysis reads an even sample of STATS_ITEM_SAMPLE attempts (the totals
    stay exact); smaller scopes stay live. Flags cover at most FLAGS_MAX_ATTEMPTS attempts."""
    from app.quizzes import services

    bank = make_bank(api, world.city_admin, world.city.id, rows=[BANK[0], BANK[6]])  # every sheet: both
    quiz = make_quiz(api, world.city_admin, setup.campaign, bank, draw=[{"count": 2}], pass_score=10)
    path = f"/quizzes/{quiz['id']}/stats"
    students = [world.s_a1, world.s_b1] + [add_student(app, world.class_a1.id, f"王{n}") for n in range(3)]
    add_student(app, world.class_a1.id, "赵五")  # never takes it
    for index, who in enumerate(students):  # three sheets right (10 points), two wrong (0)
        attempt = started(api, who, quiz["id"])
        submit(api, who, attempt["id"], {str(q["id"]): right_keys(q, index < 3) for q in attempt["questions"]})

    monkeypatch.setattr(services, "STATS_LIVE_MAX", 100)
    live = api.as_(world.city_admin).get(path).get_json()
    monkeypatch.setattr(services, "STATS_LIVE_MAX", 4)
    cached = api.as_(world.city_admin).get(path).get_json()
    assert cached == live and "not_taken" not in cached, "the shared answer is the one counted live"
    assert (live["attempts"], live["analysed_attempts"], live["average_score"], live["pass_rate"]) == (5, 5, 6.0, 0.6)

    monkeypatch.setattr(services, "STATS_ITEM_SAMPLE", 4)
    district = api.as_(world.city_admin).get(path, query_string={"org_id": world.district.id}).get_json()
    assert (district["attempts"], district["students"], district["average_score"]) == (5, 5, 6.0), "exact totals"
    assert district["analysed_attempts"] == 4
    assert [q["attempts"] for q in district["questions"]] == [4, 4], "each sampled sheet, both its questions"
    # 27 % of four: the best sheet against the worst, right against wrong on both questions.
    assert [q["discrimination"] for q in district["questions"]] == [1.0, 1.0]
    klass = api.as_(world.t_a1).get(path).get_json()
    assert (klass["attempts"], klass["analysed_attempts"]) == (4, 4), "four in the class: live, in full"

    late = add_student(app, world.class_a1.id, "李四")
    attempt = started(api, late, quiz["id"])
    submit(api, late, attempt["id"], {str(q["id"]): right_keys(q) for q in attempt["questions"]})
    assert api.as_(world.city_admin).get(path).get_json()["attempts"] == 5, "the city's answer is shared a while"
    # Past its period and the two minutes a stale answer may stand in, it is counted again before
    # it is shown: statistics opened after a quiet night are not the evening's.
    from app.common import aggregates
    with monkeypatch.context() as later:
        later.setattr(aggregates, "time", SimpleNamespace(
            time=lambda: time.time() + 200, monotonic=lambda: time.monotonic() + 200, sleep=time.sleep))
        assert api.as_(world.city_admin).get(path).get_json()["attempts"] == 6, "a stale answer has a limit"
    klass = api.as_(world.t_a1).get(path).get_json()
    assert (klass["org_id"], klass["attempts"], klass["analysed_attempts"]) == (world.class_a1.id, 5, 4)
    assert [who["real_name"] for who in klass["not_taken"]] == ["赵五"], "a class still lists who has not taken it"

    monkeypatch.setattr(services, "FLAGS_MAX_ATTEMPTS", 4)
    too_many = assert_error(api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/flags"), 422, "scope_too_large")
    assert "超过 4 份" in too_many["message"] and "org_id" in too_many["errors"]
    assert api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/flags",
                                         query_string={"org_id": world.school_b.id}).status_code == 200


def test_discrimination_is_ranked_within_each_level(api, app, world, setup):
    """闯关: level 1 (two single choices) is worth 10, level 2 (one true/false) 5. Ranked across
    levels, the top 27% would hold only level-1 attempts and level 2's question would get no
    discrimination at all; ranked within each level, every question gets its own."""
    bank = make_bank(api, world.city_admin, world.city.id, rows=[BANK[0], BANK[1], BANK[10]])
    quiz = make_quiz(api, world.city_admin, setup.campaign, bank, pass_score=None, levels=[
        {"draw": [{"count": 2, "type": "single"}], "pass_score": 5},
        {"draw": [{"count": 1, "type": "true_false"}], "pass_score": 5},
    ])
    first_single = BANK[0][1]
    students = [add_student(app, world.class_a1.id, name) for name in ("甲", "乙", "丙", "丁")]
    # level 1: 甲 and 乙 both right (10), 丙 only the first single (5), 丁 none (0);
    # level 2 (甲, 乙, 丙 passed level 1): 甲 and 乙 right (5), 丙 wrong (0).
    right_in_level_one = {"甲": {BANK[0][1], BANK[1][1]}, "乙": {BANK[0][1], BANK[1][1]}, "丙": {first_single},
                          "丁": set()}
    for who in students:
        attempt = started(api, who, quiz["id"], level=1)
        answers = {str(q["id"]): right_keys(q, q["stem"] in right_in_level_one[who.real_name])
                   for q in attempt["questions"]}
        submit(api, who, attempt["id"], answers)
    for who in students[:3]:
        attempt = started(api, who, quiz["id"], level=2)
        submit(api, who, attempt["id"], {str(q["id"]): right_keys(q, who.real_name != "丙")
                                         for q in attempt["questions"]})

    stats = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/stats").get_json()
    assert stats["attempts"] == 7
    by_stem = {q["stem"]: q for q in stats["questions"]}
    # Level 1, 4 attempts → one per group: top 10 points (both right), bottom 0 (both wrong).
    assert by_stem[BANK[0][1]]["discrimination"] == 1.0 and by_stem[BANK[1][1]]["discrimination"] == 1.0
    # Level 2, 3 attempts → one per group: top 5 (right), bottom 0 (丙, wrong).
    true_false = by_stem[BANK[10][1]]
    assert (true_false["attempts"], true_false["correct_rate"], true_false["discrimination"]) == (3, 0.6667, 1.0)


def test_suspicion_flags_for_staff(api, app, world, setup):
    """Same wrong answers on enough shared questions flag a pair of classmates, whatever else
    they drew; students who simply know the answers are not flagged, nor ones whose mistakes
    differ, nor the same mistakes across classes."""
    # 12 of 14 each: all 6 single choices, 3 of the 4 multiple and 3 of the 4 true/false, so
    # classmates share at least 8 of the questions that count (true/false ones do not).
    draw = [{"count": 6, "type": "single"}, {"count": 3, "type": "multiple"}, {"count": 3, "type": "true_false"}]
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=draw, max_attempts=3)
    honest = [add_student(app, world.class_a2.id, name) for name in ("赵甲", "赵乙", "赵丙")]
    for who in honest:  # all right, on one phone
        attempt = api.as_(who).post(f"/quizzes/{quiz['id']}/attempts", json={},
                                    headers={"X-Device-Id": "one-phone"}).get_json()
        submit(api, who, attempt["id"], {str(q["id"]): right_keys(q) for q in attempt["questions"]})

    def wrong_keys(question, other_mistake: bool) -> list[str]:
        texts = {o["text"]: o["key"] for o in question["options"]}
        if other_mistake and question["type"] != "true_false":
            return [texts["错误二" if question["type"] == "single" else "错二"]]
        return right_keys(question, False)

    copiers = [add_student(app, world.class_a2.id, name) for name in ("钱一", "钱二")]
    weak = add_student(app, world.class_a2.id, "孙三")  # wrong everywhere, but in their own way
    elsewhere = add_student(app, world.class_b1.id, "李四")  # the copiers' mistakes, in another class
    drawn = {}
    for who in [*copiers, weak, elsewhere]:
        attempt = started(api, who, quiz["id"])
        drawn[who.real_name] = {q["id"] for q in attempt["questions"]}
        answers = {str(q["id"]): wrong_keys(q, who is weak) for q in attempt["questions"]}
        if who is copiers[1]:  # one right answer of their own
            answers[str(attempt["questions"][0]["id"])] = right_keys(attempt["questions"][0])
        submit(api, who, attempt["id"], answers)
    assert len(drawn["钱一"] & drawn["钱二"]) >= 10  # they share most, not all

    flags = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/flags", query_string={"org_id": world.school_a.id})
    assert flags.status_code == 200, flags.get_json()
    found = flags.get_json()["flags"]
    assert {f["kind"] for f in found} == {"too_fast", "identical_answers", "shared_device"}
    [copied] = [f for f in found if f["kind"] == "identical_answers"]
    assert copied["users"] == ["钱一", "钱二"] and len(copied["attempt_ids"]) == 2
    assert "相同的错误答案" in copied["detail"]
    [device] = [f for f in found if f["kind"] == "shared_device"]
    assert len(device["attempt_ids"]) == 3 and sorted(device["users"]) == ["赵丙", "赵乙", "赵甲"]
    city = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/flags").get_json()["flags"]
    assert [f["users"] for f in city if f["kind"] == "identical_answers"] == [["钱一", "钱二"]]
    assert_error(api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/flags"), 403, "forbidden")


def test_copying_is_judged_on_each_students_best_attempt(api, app, world, setup):
    """Retakes are not compared with each other: two classmates whose first attempts made the
    same mistakes and who then both got everything right are judged on the attempts that count
    (with three attempts each, independent classmates agreed somewhere by chance)."""
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 14}], max_attempts=2)
    pair = [add_student(app, world.class_a2.id, name) for name in ("周一", "周二")]
    for who in pair:
        first = started(api, who, quiz["id"])
        submit(api, who, first["id"], {str(q["id"]): right_keys(q, False) for q in first["questions"]})
    flags = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/flags", query_string={"org_id": world.school_a.id})
    assert [f["users"] for f in flags.get_json()["flags"] if f["kind"] == "identical_answers"] == [["周一", "周二"]]
    for who in pair:
        second = started(api, who, quiz["id"])
        submit(api, who, second["id"], {str(q["id"]): right_keys(q) for q in second["questions"]})
    flags = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/flags", query_string={"org_id": world.school_a.id})
    assert [f for f in flags.get_json()["flags"] if f["kind"] == "identical_answers"] == []


def test_certificate_for_a_passed_quiz_and_its_public_check(api, world, setup):
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 3, "type": "single"}],
                     pass_score=10)
    assert_error(api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/certificate"), 409, "quiz_not_passed")
    take(api, world.s_a1, quiz["id"], correct=1)
    assert_error(api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/certificate"), 409, "quiz_not_passed")
    take(api, world.s_a1, quiz["id"], correct=3)
    image = api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/certificate")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert_error(api.as_(world.s_b1).get(f"/quizzes/{quiz['id']}/certificate"), 409, "quiz_not_passed")

    serial = api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}").get_json()["me"]["certificate_serial"]
    assert serial.startswith("QZ")
    assert api.as_(world.s_b1).get(f"/quizzes/{quiz['id']}").get_json()["me"]["certificate_serial"] is None
    check = api.get(f"/quiz-certificates/{serial}")
    assert check.status_code == 200, check.get_json()
    assert "Accept" in check.headers["Vary"]  # the same URL is a page for browsers
    body = check.get_json()
    assert (body["name_masked"], body["score"], body["valid"]) == ("张*三", 15, True)
    assert body["school"] == "第一小学 一年级一班" and body["title"] == "网络安全知识竞赛"
    assert_error(api.get(f"/quiz-certificates/{serial[:-1]}0"), 404, "certificate_not_found")
    assert_error(api.get("/quiz-certificates/QZ0000001AAAAAAAA"), 404, "certificate_not_found")
    # An id beyond the database's integer range is simply unknown (not a database error).
    assert_error(api.get("/quiz-certificates/QZ9999999999AAAAAAAA"), 404, "certificate_not_found")
    assert_error(api.get("/certificates/AB%00CD"), 404, "certificate_not_found")

    # The poster is public by its serial too (a share opened from Moments has no login): the
    # same picture the student gets, drawn once, whose QR code opens the verification.
    public = api.get(f"/quiz-certificates/{serial}/image")
    assert public.status_code == 200 and public.mimetype == "image/png"
    assert public.data == image.data
    assert decode_qr(public.data) == [f"http://localhost/api/v1/quiz-certificates/{serial}"]
    assert_error(api.get(f"/quiz-certificates/{serial[:-1]}0/image"), 404, "certificate_not_found")

    # Its QR code opened in a browser: the same, as a Chinese page; an unknown serial says so.
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = api.get(f"/quiz-certificates/{serial}", headers=browser)
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    for shown in ("知识竞赛证书", "有效证书", "张*三", "第一小学 一年级一班", "网络安全知识竞赛", "15 / 15 分", serial):
        assert shown in text, shown
    assert "张小三" not in text
    missing = api.get(f"/quiz-certificates/{serial[:-1]}0", headers=browser)
    assert missing.status_code == 404 and "证书不存在" in missing.get_data(as_text=True)


def test_the_certificate_of_the_longest_titles_keeps_its_body_inside_the_frame_above_the_footer(
        api, app, world, setup):
    """A quiz title wrapping onto two lines once drew the last line of the body (成绩合格，特发此证。)
    over the date, and a long school line ran out of the frame. Checked by the poster's pixels
    (`body_lines`: one band of ink per line, none reaching the date line, nothing outside the
    frame): a short certificate is drawn as before, at full size; a realistic title (29
    characters) wraps and adds one line; the longest texts (a 20-character name, an 80-character
    school and class, a 120-character campaign and quiz title) shrink the body to fit, and its QR
    code still opens the verification."""
    def certificate(who, campaign: int, title: str) -> tuple[bytes, str]:
        quiz = make_quiz(api, world.city_admin, campaign, setup.bank, title=title,
                         draw=[{"count": 3, "type": "single"}], pass_score=10)
        take(api, who, quiz["id"], correct=3)
        response = api.as_(who).get(f"/quizzes/{quiz['id']}/certificate")
        assert response.status_code == 200, response.get_data()[:300]
        return response.data, api.as_(who).get(f"/quizzes/{quiz['id']}").get_json()["me"]["certificate_serial"]

    # The name, the school, 在, the campaign, the quiz title, the score and 成绩合格，特发此证。
    short = body_lines(certificate(world.s_a1, setup.campaign, "网络安全知识竞赛")[0])
    assert len(short) == 7 and short[0] == (256, 297), short  # the name at 44 px, 60 px below the header
    realistic = "2026年“清朗校园”网络安全知识竞赛（初中组）决赛第一场"
    assert len(body_lines(certificate(world.s_a1, setup.campaign, realistic)[0])) == 7 + 1

    admin = api.as_(world.city_admin)
    school = admin.post("/orgs", json={"name": "青山县实验学校第一分校附属" * 6 + "小学", "kind": "school",
                                       "parent_id": world.district.id}).get_json()
    klass = admin.post("/orgs", json={"name": "一年级" + "实验" * 38 + "班", "kind": "class",
                                      "parent_id": school["id"]}).get_json()
    assert len(school["name"]) == len(klass["name"]) == 80
    student = add_student(app, klass["id"], "欧阳" + "小" * 17 + "娜")  # 20 characters, the most allowed
    title = ("全国青少年网络安全知识竞赛" * 10)[:120]  # the longest a title may be, a campaign's too
    campaign = admin.post("/campaigns", json={"title": ("全国青少年网络安全宣传周活动" * 9)[:120],
                                              "org_id": world.city.id})
    assert campaign.status_code == 201, campaign.get_json()
    data, serial = certificate(student, campaign.get_json()["id"], title)
    # The school line on 2 lines (cut), the campaign on 2 and the quiz title on 3 (cut to fit).
    assert len(body_lines(data)) == 7 + 1 + 1 + 2
    assert decode_qr(data) == [f"http://localhost/api/v1/quiz-certificates/{serial}"]


def test_the_demo_seed_loads_the_starter_bank_and_a_quiz(app, api):
    """At least 100 questions over the six topics, each with an explanation and a legal basis,
    and a 20-question quiz in the demo campaign that a seeded student can start."""
    from app.demo.seed import demo_password
    from tests.conftest import wechat_login

    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    admin = api.post("/auth/password-login", json={"username": "city_admin", "password": demo_password()})
    token = admin.get_json()["access_token"]
    [bank] = api.as_(token).get("/question-banks").get_json()["items"]
    assert bank["question_count"] >= 100
    items = []
    for page in (1, 2):
        items += api.as_(token).get(f"/question-banks/{bank['id']}/questions",
                                    query_string={"page": page, "page_size": 100}).get_json()["items"]
    assert len(items) == bank["question_count"]
    topics = {"网络安全法", "个人信息保护法", "未成年人网络保护", "防范电信网络诈骗", "防沉迷", "网络文明"}
    assert {q["category"] for q in items} == topics
    assert all(q["explanation"] and q["legal_basis"] for q in items)
    assert {q["type"] for q in items} == {"single", "multiple", "true_false"}

    student = wechat_login(api, "s01")["access_token"]
    [campaign] = api.as_(student).get("/campaigns").get_json()["items"]
    [quiz] = api.as_(student).get(f"/campaigns/{campaign['id']}/quizzes").get_json()["items"]
    assert quiz["question_count"] == 20 and quiz["status"] == "open"
    attempt = started(api, student, quiz["id"])
    assert len(attempt["questions"]) == 20


def test_the_cron_job_scores_attempts_left_open_past_the_deadline(api, app, world, setup):
    """`flask quizzes close-expired` scores abandoned attempts with what was saved, so results
    do not wait for someone to open the leaderboard; attempts still running are left alone."""
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 3, "type": "single"}])
    abandoned = started(api, world.s_a1, quiz["id"])
    question = abandoned["questions"][0]
    api.as_(world.s_a1).put(f"/attempts/{abandoned['id']}/answers/{question['id']}",
                            json={"choice": right_keys(question)})
    running = started(api, world.s_b1, quiz["id"])
    expire(app, abandoned["id"])
    result = app.test_cli_runner().invoke(args=["quizzes", "close-expired"])
    assert result.exit_code == 0 and "Scored 1 attempts" in result.output
    with app.app_context():
        statuses = dict(db.session.execute(select(Attempt.id, Attempt.status)).all())
    assert statuses[running["id"]] == "open" and statuses[abandoned["id"]] != "open"
    mine = api.as_(world.s_a1).get(f"/attempts/{abandoned['id']}").get_json()
    assert mine["score"] == 5


def test_class_stats_list_who_has_not_taken_the_quiz(api, app, world, setup):
    """The teachers' class view: a class's students without a scored attempt, by name, in one
    query however many there are; only staff over the class may ask."""
    from sqlalchemy import event

    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 3, "type": "single"}])
    took = add_student(app, world.class_a1.id, "阿强")
    open_only = add_student(app, world.class_a1.id, "钱七")
    missing = add_student(app, world.class_a1.id, "赵六")
    moved = add_student(app, world.class_b1.id, "孙八")
    add_student(app, world.class_a2.id, "别班的")
    take(api, world.s_a1, quiz["id"], 0)
    take(api, took, quiz["id"], 3)
    started(api, open_only, quiz["id"])  # started, never submitted: not taken yet
    take(api, moved, quiz["id"], 2)  # took it in B1, then moved to A1: taken
    with app.app_context():
        db.session.execute(update(Membership).where(Membership.user_id == moved.id).values(org_id=world.class_a1.id))
        db.session.commit()

    def class_stats(who):
        return api.as_(who).get(f"/quizzes/{quiz['id']}/stats", query_string={"org_id": world.class_a1.id})

    def statements(who) -> int:
        seen = []
        with app.app_context():
            engine = db.engine

        def listener(_conn, _cursor, statement, *_rest):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert class_stats(who).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    for who in (world.t_a1, world.t_a, world.city_admin):
        response = class_stats(who)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["students"] == 2 and body["org_id"] == world.class_a1.id  # 孙八 counts in B1
        # 孙八 is enrolled here now and took it (in B1): counted in took, not in students
        assert (body["enrolled"], body["took"], body["not_taken_count"]) == (5, 3, 2)
        assert sorted((s["id"], s["real_name"]) for s in body["not_taken"]) == sorted(
            [(open_only.id, "钱七"), (missing.id, "赵六")])
    # The school's statistics carry no name list.
    school = api.as_(world.t_a).get(f"/quizzes/{quiz['id']}/stats", query_string={"org_id": world.school_a.id})
    assert school.status_code == 200 and "not_taken" not in school.get_json()
    assert [school.get_json()[key] for key in ("students", "enrolled", "took", "not_taken_count")] == [2, 6, 3, 3]
    # No query per student: three more absent students cost no more statements.
    before = statements(world.t_a1)
    for name in ("周一", "吴二", "郑三"):
        add_student(app, world.class_a1.id, name)
    assert before > 0 and statements(world.t_a1) == before
    assert len(class_stats(world.t_a1).get_json()["not_taken"]) == 5
    # Once 赵六 takes it, the list shrinks.
    take(api, missing, quiz["id"], 1)
    assert "赵六" not in {s["real_name"] for s in class_stats(world.t_a1).get_json()["not_taken"]}

    assert_error(class_stats(world.s_a1), 403, "forbidden")
    assert_error(class_stats(world.t_b), 404, "org_not_found")


def _sheets(response) -> dict[str, list[list]]:
    from openpyxl import load_workbook

    assert response.status_code == 200, response.get_data()[:300]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.get_data()))
    return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets}


def test_results_export_lists_every_student_with_summary_per_org(api, app, world, setup):
    """What a school reports upwards: per child org enrolled / took / participation / average /
    pass rate, and per student enrolled now the best result or 未参加 (started but never
    submitted counts as not taken), by district, school, class and rank with shared ranks for
    equal results. A student who took it and then moved class counts where they are now, in
    the summary and the list alike. Real names for staff, each seeing their own subtree."""
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 3, "type": "single"}],
                     pass_score=10)
    strong = add_student(app, world.class_a1.id, "阿强")
    open_only = add_student(app, world.class_a1.id, "钱七")
    add_student(app, world.class_a1.id, "赵六")
    add_student(app, world.class_a2.id, "别班的")
    mover = add_student(app, world.class_b1.id, "周转")
    for who, correct, seconds in ((world.s_a1, 1, 30), (strong, 3, 40), (world.s_b1, 3, 40), (mover, 2, 50)):
        set_duration(app, take(api, who, quiz["id"], correct)["id"], seconds)
    started(api, open_only, quiz["id"])
    with app.app_context():  # 周转 took it in B1, then moved to A2
        db.session.execute(update(Membership).where(Membership.user_id == mover.id)
                           .values(org_id=world.class_a2.id))
        db.session.commit()

    response = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/results.xlsx")
    named = quote(f"网络安全知识竞赛-{world.city.name}-成绩.xlsx", safe="")
    assert f"filename*=UTF-8''{named}" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "private, no-store"
    sheets = _sheets(response)
    assert list(sheets) == ["汇总", "成绩明细"]
    summary = sheets["汇总"]
    assert summary[1][:7] == ["单位", "类型", "在册学生", "参加人数", "参与率", "平均分", "及格率"]
    assert summary[2][:7] == ["测试市（合计）", "区域", 7, 4, pytest.approx(0.5714), 11.25, 0.75]
    assert [row[:4] for row in summary[3:]] == [["测试区", "区域", 7, 4]]
    detail = sheets["成绩明细"]
    assert detail[1][:10] == ["序号", "所属地区", "学校", "班级", "姓名", "状态", "名次", "最好成绩", "满分",
                              "是否及格"]
    where_a1, where_a2 = ["测试区", "第一小学", "一年级一班"], ["测试区", "第一小学", "一年级二班"]
    assert [row[1:11] for row in detail[2:]] == [
        [*where_a1, "阿强", "已参加", 1, 15, 15, "是", 40],
        [*where_a1, "张小三", "已参加", 4, 5, 15, "否", 30],
        [*where_a1, "赵六", "未参加", None, None, 15, None, None],
        [*where_a1, "钱七", "未参加", None, None, 15, None, None],
        [*where_a2, "周转", "已参加", 3, 10, 15, "是", 50],
        [*where_a2, "别班的", "未参加", None, None, 15, None, None],
        ["测试区", "第二小学", "二年级一班", "刘小四", "已参加", 1, 15, 15, "是", 40],
    ]
    assert [row[0] for row in detail[2:]] == list(range(1, 8))
    assert isinstance(detail[2][12], datetime) and detail[2][11] == 1  # when, and how many attempts

    # A school admin gets the school: its classes in the summary (the mover counted in A2, where
    # the leaderboard's org table counts them too), none of school B's students.
    school = _sheets(api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/results.xlsx"))
    assert school["汇总"][2][:4] == ["第一小学（合计）", "学校", 6, 3]
    assert [row[:7] for row in school["汇总"][3:]] == [["一年级一班", "班级", 4, 2, 0.5, 10, 0.5],
                                                      ["一年级二班", "班级", 2, 1, 0.5, 10, 1]]
    assert school["成绩明细"][1][1:4] == ["学校", "班级", "姓名"]  # no district column below a region
    assert "刘小四" not in {row[3] for row in school["成绩明细"][2:]}
    board = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/leaderboard",
                                    query_string={"org_id": world.school_a.id}).get_json()
    assert {o["name"]: (o["enrolled"], o["took"], o["pass_rate"]) for o in board["orgs"]} == {
        "一年级一班": (4, 2, 0.5), "一年级二班": (2, 1, 1.0)}
    b_board = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/leaderboard",
                                            query_string={"org_id": world.school_b.id}).get_json()
    assert [(o["enrolled"], o["took"]) for o in b_board["orgs"]] == [(1, 1)]  # never more takers than pupils
    # The class teacher: the class; nobody else may have it.
    own = _sheets(api.as_(world.t_a1).get(f"/quizzes/{quiz['id']}/results.xlsx"))
    assert [row[3] for row in own["成绩明细"][2:]] == ["阿强", "张小三", "赵六", "钱七"]
    assert_error(api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/results.xlsx"), 403, "forbidden")
    assert_error(api.as_(world.t_b).get(f"/quizzes/{quiz['id']}/results.xlsx",
                                        query_string={"org_id": world.class_a1.id}), 404, "org_not_found")
    # Longer than one export may hold (7 students): refused with the way out.
    app.config["EXPORT_MAX_ROWS"] = 6
    too_long = assert_error(api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/results.xlsx"),
                            422, "export_too_large")
    assert "下级单位" in too_long["message"]
    assert api.as_(world.t_a1).get(f"/quizzes/{quiz['id']}/results.xlsx").status_code == 200


@pytest.mark.parametrize(("title", "shown"), [
    ("网络安全\x0b知识竞赛", "网络安全\n知识竞赛"),  # Word's manual line break: Excel cannot store it
    ('=HYPERLINK("http://example.com","点我")', '=HYPERLINK("http://example.com","点我")'),  # text, not a formula
])
def test_results_export_writes_typed_text_as_text(api, app, world, setup, title, shown):
    """Text anyone may type reaches Excel as the same text: a control character pasted from Word
    does not fail the export, and a leading "=" is not turned into a formula Excel would run."""
    from openpyxl import load_workbook

    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 3, "type": "single"}],
                     title=title)
    take(api, world.s_a1, quiz["id"], 3)
    response = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/results.xlsx")
    assert response.status_code == 200, response.get_data()[:300]
    cell = load_workbook(io.BytesIO(response.get_data()))["汇总"]["A1"]
    assert (cell.value, cell.data_type) == (f"{shown}（测试市）成绩汇总", "s")


def test_a_school_campaign_counts_only_that_school_higher_up(api, app, world, setup):
    """A quiz of school A's campaign seen from the city: participation is taken over school A's
    students, not the whole district's (which would put every other school in as 0 %), the
    export lists no one outside school A, and an org beside the campaign is refused."""
    campaign = make_campaign(api, world.sa_a, world.school_a.id)
    quiz = make_quiz(api, world.sa_a, campaign, setup.bank, draw=[{"count": 3, "type": "single"}])
    add_student(app, world.class_b1.id, "乙校学生")
    take(api, world.s_a1, quiz["id"], 3)

    board = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/leaderboard",
                                          query_string={"org_id": world.city.id}).get_json()
    assert [(o["name"], o["enrolled"], o["took"], o["participation_rate"]) for o in board["orgs"]] == [
        ("测试区", 1, 1, 1.0)]
    district = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/leaderboard",
                                             query_string={"org_id": world.district.id}).get_json()
    assert [o["name"] for o in district["orgs"]] == ["第一小学"]  # 第二小学 is not in the campaign

    sheets = _sheets(api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/results.xlsx",
                                                   query_string={"org_id": world.city.id}))
    assert sheets["汇总"][2][:4] == ["测试市（合计）", "区域", 1, 1]
    assert [row[4] for row in sheets["成绩明细"][2:]] == ["张小三"]  # 所属地区, 学校, 班级, 姓名
    for path in ("results.xlsx", "stats", "flags", "leaderboard"):
        assert_error(api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/{path}",
                                                   query_string={"org_id": world.class_b1.id}),
                     422, "org_outside_campaign")


def test_ranking_cache_recomputes_once_and_serves_stale_meanwhile(app):
    """When a leaderboard aggregate goes stale under load, one background refresh recomputes it
    and every request keeps answering the previous value meanwhile, instead of all running the
    same GROUP BY (or one of them waiting seconds for a city-wide count)."""
    import threading
    import time as clock

    from app.quizzes import services

    calls = []
    refreshed = threading.Event()

    def slow_compute():
        calls.append(1)
        if len(calls) > 1:
            assert refreshed.wait(10), "the refresh must not hold up readers: they all finished first"
        return len(calls)

    app.config["QUIZ_RANKING_CACHE_S"] = 0.1
    with app.app_context():
        assert services._cached(("t",), slow_compute) == 1
    clock.sleep(0.15)  # stale now
    answers = []

    def read():
        with app.app_context():
            answers.append(services._cached(("t",), slow_compute))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [1] * 8, "everyone got the stale value while the refresh is still running"
    app.config["QUIZ_RANKING_CACHE_S"] = 60  # the refreshed value stays fresh while we look for it
    refreshed.set()  # let the background refresh finish
    for _ in range(200):
        with app.app_context():
            if services._cached(("t",), slow_compute) == 2:
                break
        clock.sleep(0.02)
    else:
        raise AssertionError("the refreshed value never arrived")
    assert len(calls) == 2, "exactly one refresh"


def test_admins_void_a_checked_attempt_and_it_counts_for_nothing(api, app, world, setup):
    """After checking a flag, a school (or region) admin declares an attempt void: it leaves the
    leaderboard, the statistics and the best result, the certificate it earned is no longer
    valid, and it still used a try. Teachers see flags but do not decide; other schools' admins
    and students cannot even see the attempt."""
    from openpyxl import load_workbook

    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 4, "type": "single"}],
                     pass_score=15, max_attempts=2)
    cheated = take(api, world.s_a1, quiz["id"], 4)  # 20, passes
    honest = take(api, world.s_a1, quiz["id"], 1)  # 5, fails
    classmate = add_student(app, world.class_a1.id, "王小五")
    only = take(api, classmate, quiz["id"], 3)  # 15, passes: their only attempt
    serial = api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}").get_json()["me"]["certificate_serial"]
    classmate_serial = api.as_(classmate).get(f"/quizzes/{quiz['id']}").get_json()["me"]["certificate_serial"]
    assert api.get(f"/quiz-certificates/{serial}").get_json()["valid"] is True
    assert api.get(f"/quiz-certificates/{serial}/image").status_code == 200

    reason = {"reason": "与同班同学答案雷同，经核实"}
    void = f"/attempts/{cheated['id']}/void"
    assert_error(api.as_(world.t_a1).post(void, json=reason), 403, "forbidden")  # the class teacher
    for outsider in (world.sa_b, world.s_a1, world.s_b1):
        assert_error(api.as_(outsider).post(void, json=reason), 404, "attempt_not_found")
    for body in ({}, {"reason": " "}, {"reason": "x" * 201}):
        assert "reason" in assert_error(api.as_(world.sa_a).post(void, json=body), 422)["errors"]
    assert api.get(f"/quiz-certificates/{serial}").get_json()["valid"] is True, "a refused void changes nothing"

    done = api.as_(world.sa_a).post(void, json=reason)
    assert done.status_code == 200, done.get_json()
    assert (done.get_json()["status"], done.get_json()["void_reason"]) == ("voided", "与同班同学答案雷同，经核实")
    again = api.as_(world.sa_a).post(void, json={"reason": "再次提交"})
    assert (again.status_code, again.get_json()["void_reason"]) == (200, "与同班同学答案雷同，经核实")

    board = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/leaderboard",
                                    query_string={"org_id": world.school_a.id}).get_json()
    assert [(e["name"], e["score"]) for e in board["items"]] == [("王小五", 15), ("张小三", 5)]
    stats = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/stats", query_string={"org_id": world.class_a1.id})
    assert (stats.get_json()["attempts"], stats.get_json()["pass_rate"]) == (2, 0.5)
    certificate = api.get(f"/quiz-certificates/{serial}").get_json()
    assert (certificate["valid"], certificate["score"]) == (False, 5)
    assert_error(api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}/certificate"), 409, "quiz_not_passed")
    assert_error(api.get(f"/quiz-certificates/{serial}/image"), 409, "certificate_not_valid")
    mine = api.as_(world.s_a1).get(f"/attempts/{cheated['id']}").get_json()
    assert (mine["status"], mine["void_reason"]) == ("voided", "与同班同学答案雷同，经核实")
    assert api.as_(world.s_a1).get(f"/attempts/{honest['id']}").get_json()["void_reason"] is None
    assert_error(api.as_(world.s_a1).post(f"/quizzes/{quiz['id']}/attempts", json={}), 409, "attempts_exhausted")

    # A region admin above the school may too; a student left with no attempt drops off the board,
    # the statistics and the export (not taken), and their certificate says it was revoked, also
    # after the next student's best row is written (on SQLite a deleted row's id came back).
    assert api.as_(world.city_admin).post(f"/attempts/{only['id']}/void", json=reason).status_code == 200
    board = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/leaderboard",
                                    query_string={"org_id": world.school_a.id}).get_json()
    assert [e["name"] for e in board["items"]] == ["张小三"]  # (its total and org table lag by their cache)
    export = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/results.xlsx", query_string={"org_id": world.class_a1.id})
    rows = list(load_workbook(io.BytesIO(export.data), read_only=True).worksheets[1].iter_rows(values_only=True))
    assert [row for row in rows if "王小五" in row][0][3:5] == ("王小五", "未参加")
    stats = api.as_(world.sa_a).get(f"/quizzes/{quiz['id']}/stats", query_string={"org_id": world.class_a1.id})
    assert [who["real_name"] for who in stats.get_json()["not_taken"]] == ["王小五"]
    take(api, add_student(app, world.class_a1.id, "李大同"), quiz["id"], 4)
    revoked = api.get(f"/quiz-certificates/{classmate_serial}").get_json()
    assert (revoked["name_masked"], revoked["valid"], revoked["revoked"]) == ("王*五", False, True)
    assert (revoked["score"], revoked["max_score"], revoked["passed_at"]) == (None, None, None)
    page = api.get(f"/quiz-certificates/{classmate_serial}", headers={"Accept": "text/html"})
    assert "该证书已撤销" in page.get_data(as_text=True) and "0 / 0 分" not in page.get_data(as_text=True)

    opened = started(api, classmate, quiz["id"])
    assert_error(api.as_(world.sa_a).post(f"/attempts/{opened['id']}/void", json=reason), 409, "attempt_open")


def test_a_question_a_running_quiz_still_needs_is_not_edited_or_deleted_away(api, app, world, setup):
    """A quiz drawing all 6 single-choice questions: deleting one, or turning one into a true/false
    question, would make every later start fail (not_enough_questions). Both are refused with a
    409 naming the quiz and change nothing; once the quiz has closed they go through."""
    quiz = make_quiz(api, world.city_admin, setup.campaign, setup.bank, draw=[{"count": 6, "type": "single"}])
    listed = api.as_(world.city_admin).get(f"/question-banks/{setup.bank}/questions",
                                           query_string={"type": "single", "page_size": 100})
    singles = [q["id"] for q in listed.get_json()["items"]]
    assert len(singles) == 6
    refused = assert_error(api.as_(world.city_admin).delete(f"/questions/{singles[0]}"), 409, "quiz_needs_question")
    assert "网络安全知识竞赛" in refused["message"]
    assert_error(api.as_(world.city_admin).put(f"/questions/{singles[1]}", json={"type": "true_false", "answer": "对"}),
                 409, "quiz_needs_question")
    assert api.as_(world.city_admin).get(f"/questions/{singles[0]}").status_code == 200
    assert api.as_(world.city_admin).get(f"/questions/{singles[1]}").get_json()["type"] == "single"
    # Changes that leave the draw whole still go through, and students still start.
    reworded = api.as_(world.city_admin).put(f"/questions/{singles[1]}", json={"explanation": "新的解析"})
    assert reworded.status_code == 200, reworded.get_json()
    assert len(started(api, world.s_a1, quiz["id"])["questions"]) == 6

    with app.app_context():
        db.session.execute(update(Quiz).where(Quiz.id == quiz["id"]).values(
            closes_at=datetime.now(UTC) - timedelta(minutes=1)))
        db.session.commit()
    assert api.as_(world.city_admin).delete(f"/questions/{singles[0]}").status_code == 204
