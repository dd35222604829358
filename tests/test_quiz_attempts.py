"""Attempts are the server's: drawn and shuffled per student, no answer or explanation before
submit, autosave, resume, a deadline the server keeps (with a few seconds' grace), idempotent
submit, owner-only access, snapshots that survive editing the bank, and exact scoring of every
type (multiple choice all-or-nothing unless the quiz turns on partial credit).
"""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from app.auth.models import User
from app.extensions import db
from app.quizzes import services as quiz_services
from app.quizzes.models import Attempt, Question, QuestionVersion, Quiz
from tests.concurrency import all_at_once
from tests.conftest import assert_error
from tests.test_quizzes import (
    BANK,
    EXPLANATION,
    add_student,
    expire,
    make_bank,
    make_campaign,
    make_quiz,
    right_keys,
    start,
    started,
    submit,
)

LEAKY_KEYS = {"answer", "explanation", "correct", "legal_basis", "earned", "perm", "seed", "marks"}


def keys_in(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_in(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_in(v)}
    return set()


def assert_no_leak(response) -> None:
    """Neither the answer fields nor any explanation text appear anywhere in the raw JSON."""
    raw = response.get_data(as_text=True)
    assert not keys_in(json.loads(raw)) & LEAKY_KEYS, raw[:500]
    for _type, stem, *_ in BANK:
        assert EXPLANATION.format(stem=stem) not in raw
    assert "《网络安全法》" not in raw  # the legal basis comes with the explanation, after submit


@pytest.fixture
def quiz(api, world):
    bank = make_bank(api, world.city_admin, world.city.id)
    campaign = make_campaign(api, world.city_admin, world.city.id)
    return make_quiz(api, world.city_admin, campaign, bank, draw=[{"count": 14}], max_attempts=3, pass_score=50)


def test_a_whole_attempt(api, world, quiz):
    """Start (201, nothing given away), autosave some answers, submit the rest, exact score,
    then the explanations."""
    response = start(api, world.s_a1, quiz["id"])
    assert response.status_code == 201, response.get_json()
    assert_no_leak(response)
    attempt = response.get_json()
    assert len(attempt["questions"]) == 14 and attempt["saved"] == {} and attempt["resumed"] is False
    deadline = datetime.fromisoformat(attempt["deadline"])
    assert timedelta(seconds=595) < deadline - datetime.now(UTC) <= timedelta(seconds=600)
    for question in attempt["questions"]:
        assert set(question) == {"id", "type", "stem", "options", "points"}
        assert [o["key"] for o in question["options"]] == list("ABCD"[: len(question["options"])])
        if question["type"] == "true_false":
            assert [o["text"] for o in question["options"]] == ["正确", "错误"]

    questions = attempt["questions"]
    wrong = {questions[0]["id"], questions[1]["id"]}
    for question in questions[:7]:  # autosave the first half, two of them wrong
        keys = right_keys(question, question["id"] not in wrong)
        saved = api.as_(world.s_a1).put(f"/attempts/{attempt['id']}/answers/{question['id']}", json={"choice": keys})
        assert saved.status_code == 200, saved.get_json()
        assert saved.get_json()["choice"] == keys
        assert_no_leak(saved)
    rest = {str(q["id"]): right_keys(q) for q in questions[7:13]}  # the last one stays unanswered
    result = submit(api, world.s_a1, attempt["id"], rest)
    assert (result["score"], result["max_score"], result["passed"]) == (55, 70, True)
    assert result["ended_by"] == "submit" and 0 <= result["duration_s"] < 60
    assert result["late_answers_ignored"] is False
    by_id = {q["id"]: q for q in result["questions"]}
    assert [q["id"] for q in result["questions"]] == [q["id"] for q in questions], "display order kept"
    for question in questions:
        shown = by_id[question["id"]]
        assert shown["answer"] == right_keys(question)
        assert shown["explanation"] == EXPLANATION.format(stem=question["stem"])
        assert shown["legal_basis"] == "《网络安全法》"
        expected = question["id"] not in wrong and question["id"] != questions[13]["id"]
        assert shown["correct"] is expected and shown["earned"] == (5 if expected else 0)
    assert by_id[questions[13]["id"]]["choice"] == []
    assert by_id[questions[0]["id"]]["choice"] == right_keys(questions[0], False)


def test_shuffling_differs_between_students_and_scoring_stays_exact(api, app, world, quiz):
    orders, option_orders = set(), set()
    for index in range(4):
        who = world.s_a1 if index == 0 else add_student(app, world.class_a1.id, f"学生{index}")
        attempt = started(api, who, quiz["id"])
        orders.add(tuple(q["id"] for q in attempt["questions"]))
        option_orders.add(tuple(tuple(o["text"] for o in q["options"]) for q in attempt["questions"]))
        result = submit(api, who, attempt["id"], {str(q["id"]): right_keys(q) for q in attempt["questions"]})
        assert result["score"] == 70 == result["max_score"]
    assert len(orders) > 1 and len(option_orders) > 1


def test_options_that_speak_of_the_others_stay_where_the_author_put_them(api, app, world):
    """「以上都是」 shuffled to A reads as nonsense (teachers' banks are full of them): it stays,
    with what follows it, and only the options above it are shuffled. An option naming others by
    letter (「A和B都对」) must still sit below those letters' options: that question is not
    shuffled at all. Scoring follows the texts as always."""
    bank = make_bank(api, world.city_admin, world.city.id, rows=[
        ("single", "下列属于网络违法行为的是？", ["网络诈骗", "网络谣言", "网络暴力", "以上都是", "以上都不是"], ["D"],
         "网络文明"),
        ("multiple", "下列说法正确的有？", ["甲说法", "乙说法", "A和B都对", "丁说法", "以上均不正确"], ["A", "B", "C"],
         "网络文明"),
    ])
    campaign = make_campaign(api, world.city_admin, world.city.id)
    quiz = make_quiz(api, world.city_admin, campaign, bank, draw=[{"count": 1, "type": "single"},
                                                                   {"count": 1, "type": "multiple"}], pass_score=10)
    seen: dict[str, set] = {"single": set(), "multiple": set()}
    for index in range(12):
        who = world.s_a1 if index == 0 else add_student(app, world.class_a1.id, f"学生{index}")
        attempt = started(api, who, quiz["id"])
        for question in attempt["questions"]:
            seen[question["type"]].add(tuple(o["text"] for o in question["options"]))
        right = {"以上都是", "甲说法", "乙说法", "A和B都对"}
        result = submit(api, who, attempt["id"], {str(q["id"]): [o["key"] for o in q["options"] if o["text"] in right]
                                                  for q in attempt["questions"]})
        assert result["score"] == result["max_score"] == 10
    assert len(seen["single"]) > 1, "the options above 以上都是 are still shuffled"
    for texts in seen["single"]:
        assert sorted(texts[:3]) == sorted(["网络诈骗", "网络谣言", "网络暴力"]), texts
        assert texts[3:] == ("以上都是", "以上都不是"), texts
    assert seen["multiple"] == {("甲说法", "乙说法", "A和B都对", "丁说法", "以上均不正确")}


@pytest.mark.parametrize(
    ("partial", "picks", "earned"),
    [
        (False, ["对一", "对二"], 5), (False, ["对一"], 0), (False, ["对一", "对二", "错一"], 0), (False, [], 0),
        (True, ["对一", "对二"], 5), (True, ["对一"], 2), (True, ["对二"], 2), (True, ["对一", "错一"], 0),
        (True, ["错一"], 0), (True, [], 0),
    ],
)
def test_multiple_choice_is_all_or_nothing_unless_partial_credit_is_on(api, world, partial, picks, earned):
    bank = make_bank(api, world.city_admin, world.city.id, rows=[BANK[6]])
    campaign = make_campaign(api, world.city_admin, world.city.id)
    quiz = make_quiz(api, world.city_admin, campaign, bank, draw=[{"count": 1}], pass_score=5,
                     multiple_partial=partial)
    attempt = started(api, world.s_a1, quiz["id"])
    [question] = attempt["questions"]
    texts = {o["text"]: o["key"] for o in question["options"]}
    result = submit(api, world.s_a1, attempt["id"], {str(question["id"]): [texts[t] for t in picks]})
    assert result["score"] == earned and result["questions"][0]["earned"] == earned
    assert result["questions"][0]["correct"] is (earned == 5)


def test_resume_returns_the_open_attempt_with_saved_choices(api, world, quiz):
    first = started(api, world.s_a1, quiz["id"])
    question = first["questions"][3]
    api.as_(world.s_a1).put(f"/attempts/{first['id']}/answers/{question['id']}", json={"choice": right_keys(question)})
    again = start(api, world.s_a1, quiz["id"])  # e.g. the app was reinstalled
    assert again.status_code == 200
    assert_no_leak(again)
    body = again.get_json()
    assert body["id"] == first["id"] and body["questions"] == first["questions"]
    assert (first["resumed"], body["resumed"]) == (False, True)
    assert body["saved"] == {str(question["id"]): right_keys(question)}
    fetched = api.as_(world.s_a1).get(f"/attempts/{first['id']}")
    assert fetched.status_code == 200 and fetched.get_json()["id"] == first["id"]
    assert_no_leak(fetched)
    # Changing a saved answer, and clearing it.
    other = right_keys(question, False)
    assert api.as_(world.s_a1).put(f"/attempts/{first['id']}/answers/{question['id']}",
                                   json={"choice": other}).get_json()["choice"] == other
    api.as_(world.s_a1).put(f"/attempts/{first['id']}/answers/{question['id']}", json={"choice": []})
    assert api.as_(world.s_a1).get(f"/attempts/{first['id']}").get_json()["saved"] == {str(question["id"]): []}


def test_simultaneous_autosaves_of_one_attempt_all_land(api, app, world, quiz):
    """The app saves several answers at the same moment (a retry queue flushing after a network
    gap): every one is kept, none overwrites another, and the score counts them all."""
    first = started(api, world.s_a1, quiz["id"])
    questions = first["questions"][:8]
    results = all_at_once(app, [(world.s_a1.token, f"/attempts/{first['id']}/answers/{q['id']}",
                                 {"choice": right_keys(q)}) for q in questions], method="PUT")
    assert [status for status, _ in results] == [200] * len(questions), results
    saved = api.as_(world.s_a1).get(f"/attempts/{first['id']}").get_json()["saved"]
    assert saved == {str(q["id"]): right_keys(q) for q in questions}
    assert submit(api, world.s_a1, first["id"])["score"] == sum(q["points"] for q in questions)
    late = api.as_(world.s_a1).put(f"/attempts/{first['id']}/answers/{questions[0]['id']}", json={"choice": ["A"]})
    assert_error(late, 409, "attempt_submitted")


def test_autosaves_of_many_students_at_once_each_land_in_their_own_attempt(api, app, world, quiz):
    """Autosaves arriving together are written together (group commit); each still gets its own
    answer: the open attempts take their students' choices, a save to an attempt handed in a
    moment earlier is refused (409), and a stranger's save to someone else's attempt finds
    nothing (404) — in the same burst."""
    students = [add_student(app, world.class_a1.id, f"同时作答{n}") for n in range(6)]
    attempts = [started(api, s, quiz["id"]) for s in students]
    handed_in = started(api, world.s_a1, quiz["id"])
    submit(api, world.s_a1, handed_in["id"])
    burst = [(s.token, f"/attempts/{a['id']}/answers/{q['id']}", {"choice": right_keys(q)})
             for s, a in zip(students, attempts, strict=True) for q in a["questions"][:3]]
    burst.append((world.s_a1.token, f"/attempts/{handed_in['id']}/answers/{handed_in['questions'][0]['id']}",
                  {"choice": ["A"]}))
    burst.append((world.s_b1.token, f"/attempts/{attempts[0]['id']}/answers/{attempts[0]['questions'][5]['id']}",
                  {"choice": ["A"]}))
    results = all_at_once(app, burst, method="PUT")
    assert [status for status, _ in results] == [200] * 18 + [409, 404], results
    assert (results[-2][1]["code"], results[-1][1]["code"]) == ("attempt_submitted", "attempt_not_found")
    for s, a in zip(students, attempts, strict=True):
        saved = api.as_(s).get(f"/attempts/{a['id']}").get_json()["saved"]
        assert saved == {str(q["id"]): right_keys(q) for q in a["questions"][:3]}


def test_starts_after_the_first_still_obey_every_rule(api, app, world, monkeypatch):
    """Once a process has started an attempt of a quiz, it starts the next ones without reading
    the quiz first: questions drawn from its cache, one INSERT that checks window, bank
    revision, attempts used and the student's class, group-committed with the other starts of
    that moment (`services.start_as_student`). The answers must be exactly those of the full
    rules (`start_attempt`), whichever path a request takes."""
    now = datetime.now(UTC)
    bank = make_bank(api, world.city_admin, world.city.id)
    campaign = make_campaign(api, world.sa_a, world.school_a.id)  # school A only
    quiz = make_quiz(api, world.sa_a, campaign, bank, draw=[{"count": 14}], max_attempts=2,
                     closes_at=(now + timedelta(seconds=120)).isoformat())
    warm = started(api, add_student(app, world.class_a2.id, "预热"), quiz["id"])  # the full rules, once
    assert warm["number"] == 1

    first = start(api, world.s_a1, quiz["id"])
    assert first.status_code == 201
    assert_no_leak(first)
    first = first.get_json()
    assert (first["number"], len(first["questions"])) == (1, 14)
    assert datetime.fromisoformat(first["deadline"]) <= now + timedelta(seconds=121), "capped by the quiz's close"
    again = start(api, world.s_a1, quiz["id"])  # an open attempt is resumed, not doubled
    assert again.status_code == 200 and again.get_json()["id"] == first["id"]
    assert (first["resumed"], again.get_json()["resumed"]) == (False, True)
    submit(api, world.s_a1, first["id"])
    second = started(api, world.s_a1, quiz["id"])
    assert second["number"] == 2 and datetime.fromisoformat(second["deadline"]) > now
    submit(api, world.s_a1, second["id"])
    assert_error(start(api, world.s_a1, quiz["id"]), 409, "attempts_exhausted")
    assert_error(start(api, world.s_b1, quiz["id"]), 404, "quiz_not_found")  # school B: not their campaign

    # Many at once: each gets their own attempt, shuffled their own way; ten taps of one student make one.
    crowd = [add_student(app, world.class_a1.id, f"同时开始{n}") for n in range(8)]
    full_rules = []
    monkeypatch.setattr(quiz_services, "start_attempt",
                        lambda *args, _full=quiz_services.start_attempt: full_rules.append(args) or _full(*args))
    results = all_at_once(app, [(s.token, f"/quizzes/{quiz['id']}/attempts", {}) for s in crowd]
                          + [(crowd[0].token, f"/quizzes/{quiz['id']}/attempts", {})] * 9)
    assert sorted(status for status, _ in results) == [200] * 9 + [201] * 8, results
    assert all(body["resumed"] is (status == 200) for status, body in results)
    assert len({body["id"] for _, body in results}) == 8
    orders = {tuple(q["id"] for q in body["questions"]) for _, body in results}
    assert len(orders) > 1 and all(len(order) == 14 for order in orders)
    assert len(full_rules) == 9  # only the repeated taps needed the full rules (to resume)
    monkeypatch.undo()

    # The bank is edited: new starts show the new text at once.
    question = first["questions"][0]
    edited = api.as_(world.city_admin).put(f"/questions/{question['id']}", json={"stem": "刚刚改过的题干"})
    assert edited.status_code == 200, edited.get_json()
    fresh = started(api, add_student(app, world.class_a1.id, "改后开始"), quiz["id"])
    assert "刚刚改过的题干" in {q["stem"] for q in fresh["questions"]}

    # The quiz is closed early (its row changed behind this process's back): refused at once.
    with app.app_context():
        db.session.execute(update(Quiz).where(Quiz.id == quiz["id"]).values(closes_at=now - timedelta(seconds=1)))
        db.session.commit()
    assert_error(start(api, add_student(app, world.class_a1.id, "晚到"), quiz["id"]), 409, "quiz_closed")


def test_submits_arriving_together_are_scored_exactly_as_one_by_one(api, app, world, quiz, monkeypatch):
    """Submits of one moment are scored together (one read, one UPDATE, one best-row upsert per
    batch: `services._write_submits`); each answer must still be what the full rules give: the
    saved and the sent answers count, an attempt past its deadline counts only what was saved, a
    second submit of one attempt answers the same result, a stranger finds nothing, a bad choice
    is refused and loses nothing."""
    students = [add_student(app, world.class_a1.id, f"同时交卷{n}") for n in range(5)]
    attempts = [started(api, s, quiz["id"]) for s in students]
    for s, a in zip(students, attempts, strict=True):  # two right answers saved first
        for q in a["questions"][:2]:
            api.as_(s).put(f"/attempts/{a['id']}/answers/{q['id']}", json={"choice": right_keys(q)})
    sent = [{str(q["id"]): right_keys(q) for q in a["questions"][2:2 + n]} for n, a in enumerate(attempts)]
    expire(app, attempts[4]["id"], seconds_ago=60)  # its sent answers come too late
    burst = [(s.token, f"/attempts/{a['id']}/submit", {"answers": answers})
             for s, a, answers in zip(students, attempts, sent, strict=True)]
    burst.append((students[0].token, f"/attempts/{attempts[0]['id']}/submit", {"answers": sent[0]}))
    burst.append((world.s_b1.token, f"/attempts/{attempts[1]['id']}/submit", {}))
    careless = add_student(app, world.class_a1.id, "选项写错")
    careless_attempt = started(api, careless, quiz["id"])
    burst.append((careless.token, f"/attempts/{careless_attempt['id']}/submit",
                  {"answers": {str(careless_attempt["questions"][0]["id"]): ["Z"]}}))
    full_rules = []
    monkeypatch.setattr(quiz_services, "_owned",
                        lambda *args, _full=quiz_services._owned, **kw: full_rules.append(args) or _full(*args, **kw))
    results = all_at_once(app, burst)
    monkeypatch.undo()

    assert [status for status, _ in results] == [200] * 6 + [404, 422], results
    assert (results[6][1]["code"], results[7][1]["code"]) == ("attempt_not_found", "invalid_choice")
    assert api.as_(careless).get(f"/attempts/{careless_attempt['id']}").get_json()["status"] == "open"
    for n, (_, result) in enumerate(results[:5]):
        points = 5 * (2 + n) if n < 4 else 10
        assert (result["score"], result["status"]) == (points, "scored"), (n, result)
        assert result["ended_by"] == ("submit" if n < 4 else "deadline")
        assert result["late_answers_ignored"] is (n == 4)  # the app is told its answers came too late
        assert sum(q["earned"] for q in result["questions"]) == points
        assert all(q["explanation"] for q in result["questions"])
    assert results[5][1] == results[0][1]  # the same attempt submitted twice
    assert len(full_rules) == 3  # only the repeat, the stranger and the bad choice needed the full rules
    for s, a, (_, result) in zip(students, attempts, results[:5], strict=True):
        # as stored (reading it back carries no answers: none ignored)
        assert api.as_(s).get(f"/attempts/{a['id']}").get_json() == result | {"late_answers_ignored": False}
        me = api.as_(s).get(f"/quizzes/{quiz['id']}").get_json()["me"]
        assert me["levels"][0]["best_score"] == result["score"] and me["open_attempt_id"] is None
    board = api.as_(students[0]).get(f"/quizzes/{quiz['id']}/leaderboard").get_json()
    ranked = {row["score"] for row in board["items"]}
    assert {10, 15, 20, 25}.issubset(ranked), board


def test_one_batch_of_autosaves_merges_each_attempts_answers(api, app, world, quiz):
    """A group-commit batch of autosaves (written here directly, so several always share one
    statement): each attempt takes its own answers, in arrival order (the later answer to one
    question wins); a save to an attempt already handed in, or by someone else, takes nothing."""
    mine, theirs = started(api, world.s_a1, quiz["id"]), started(api, world.s_b1, quiz["id"])
    q1, q2 = mine["questions"][0], mine["questions"][1]
    t1 = theirs["questions"][0]
    done = add_student(app, world.class_a1.id, "已交卷")
    handed_in = started(api, done, quiz["id"])
    submit(api, done, handed_in["id"])
    with app.app_context():
        saved = quiz_services._write_saves([
            (mine["id"], world.s_a1.id, str(q1["id"]), ["A"]),
            (theirs["id"], world.s_b1.id, str(t1["id"]), ["B"]),
            (mine["id"], world.s_a1.id, str(q2["id"]), ["B"]),
            (mine["id"], world.s_a1.id, str(q1["id"]), ["C"]),  # later, same question: wins
            (handed_in["id"], done.id, str(handed_in["questions"][0]["id"]), ["A"]),
            (theirs["id"], world.s_a1.id, str(t1["id"]), ["A"]),  # not their attempt
        ])
    assert saved == [True, True, True, True, False, False]
    assert api.as_(world.s_a1).get(f"/attempts/{mine['id']}").get_json()["saved"] == {
        str(q1["id"]): ["C"], str(q2["id"]): ["B"]}
    assert api.as_(world.s_b1).get(f"/attempts/{theirs['id']}").get_json()["saved"] == {str(t1["id"]): ["B"]}


def test_one_batch_of_submits_answers_only_the_owners_first_submit(api, app, world, quiz):
    """Within one batch (written here directly, in a fixed order): a stranger's submit listed
    before the owner's must not displace it, the owner's repeat and a bad choice are left to the
    full rules (None), and the owner's submit is scored with what was saved and sent."""
    owner = add_student(app, world.class_a1.id, "批内交卷")
    attempt = started(api, owner, quiz["id"])
    saved, sent = attempt["questions"][0], attempt["questions"][1]
    api.as_(owner).put(f"/attempts/{attempt['id']}/answers/{saved['id']}", json={"choice": right_keys(saved)})
    other = started(api, world.s_a1, quiz["id"])
    with app.app_context():
        results = quiz_services._write_submits([
            (attempt["id"], world.s_b1.id, {}),  # a stranger, first in the batch
            (attempt["id"], owner.id, {f" {sent['id']} ": right_keys(sent)}),
            (attempt["id"], owner.id, {}),  # the owner's repeat
            (other["id"], world.s_a1.id, {str(other["questions"][0]["id"]): ["Z"]}),  # a bad choice
        ])
    assert [result is None for result in results] == [True, False, True, True]
    scored = results[1]
    assert (scored.user_id, scored.score, scored.ended_by, scored.status) == (owner.id, 10, "submit", "scored")
    assert scored.answers == {str(saved["id"]): right_keys(saved), str(sent["id"]): right_keys(sent)}
    assert submit(api, owner, attempt["id"])["score"] == 10  # stored as answered
    assert api.as_(world.s_a1).get(f"/attempts/{other['id']}").get_json()["status"] == "open"


def test_submit_twice_gives_the_same_result_and_closes_the_attempt(api, world, quiz):
    attempt = started(api, world.s_a1, quiz["id"])
    answers = {str(q["id"]): right_keys(q) for q in attempt["questions"][:5]}
    first = submit(api, world.s_a1, attempt["id"], answers)
    again = submit(api, world.s_a1, attempt["id"], {str(q["id"]): right_keys(q) for q in attempt["questions"]})
    assert again == first and first["score"] == 25
    assert api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json() == first
    question = attempt["questions"][6]
    assert_error(api.as_(world.s_a1).put(f"/attempts/{attempt['id']}/answers/{question['id']}",
                                         json={"choice": ["A"]}), 409, "attempt_submitted")
    second = start(api, world.s_a1, quiz["id"])
    assert second.status_code == 201 and second.get_json()["id"] != attempt["id"]


def test_a_submit_whose_body_is_not_json_leaves_the_attempt_open(api, world, quiz):
    """`fetch` posting JSON.stringify({answers}) without a header sends text/plain. Read as no body,
    it handed the attempt in with no answers: score 0, the attempt closed for good."""
    attempt = started(api, world.s_a1, quiz["id"])
    answers = {str(q["id"]): right_keys(q) for q in attempt["questions"]}
    sent = api.as_(world.s_a1).post(f"/attempts/{attempt['id']}/submit", data=json.dumps({"answers": answers}),
                                    content_type="text/plain;charset=UTF-8")
    assert_error(sent, 415, "unsupported_media_type")
    assert api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json()["status"] == "open"
    result = submit(api, world.s_a1, attempt["id"], answers)
    assert result["score"] == result["max_score"] == sum(q["points"] for q in attempt["questions"])


def test_only_the_owner_may_touch_an_attempt(api, world, quiz):
    attempt = started(api, world.s_a1, quiz["id"])
    question = attempt["questions"][0]
    for who in (world.s_b1, world.t_a1, world.city_admin):
        assert_error(api.as_(who).get(f"/attempts/{attempt['id']}"), 404, "attempt_not_found")
        assert_error(api.as_(who).put(f"/attempts/{attempt['id']}/answers/{question['id']}",
                                      json={"choice": ["A"]}), 404, "attempt_not_found")
        assert_error(api.as_(who).post(f"/attempts/{attempt['id']}/submit", json={}), 404, "attempt_not_found")
    assert_error(api.get(f"/attempts/{attempt['id']}"), 401)
    assert api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json()["status"] == "open"


@pytest.mark.parametrize(
    ("choice", "status", "code"),
    [
        (["Z"], 422, "invalid_choice"),
        (["E"], 422, "invalid_choice"),
        (["A", "B"], 422, "invalid_choice"),
        ("A", 422, None),
        ([1], 422, None),
        (None, 422, None),
    ],
)
def test_bad_choices_are_refused(api, world, quiz, choice, status, code):
    attempt = started(api, world.s_a1, quiz["id"])
    single = next(q for q in attempt["questions"] if q["type"] == "single")
    response = api.as_(world.s_a1).put(f"/attempts/{attempt['id']}/answers/{single['id']}", json={"choice": choice})
    assert_error(response, status, code)


def test_half_an_emoji_in_a_choice_is_refused_and_nothing_saved(api, world, quiz):
    """A lone surrogate ("\\ud83d") is valid JSON but no UTF-8 text: refused per field before the
    service sees it (its "选项「…」不存在" message would repeat the character back, and the
    answer could not be encoded), and the attempt is as it was."""
    attempt = started(api, world.s_a1, quiz["id"])
    single = next(q for q in attempt["questions"] if q["type"] == "single")
    student = api.as_(world.s_a1)
    body = assert_error(student.put(f"/attempts/{attempt['id']}/answers/{single['id']}",
                                    data='{"choice": ["\\ud83d"]}', content_type="application/json"), 422)
    assert "choice.0" in body["errors"]
    body = assert_error(student.post(f"/attempts/{attempt['id']}/submit",
                                     data=f'{{"answers": {{"{single["id"]}": ["\\udfff"]}}}}',
                                     content_type="application/json"), 422)
    assert f"answers.{single['id']}.0" in body["errors"]
    resumed = student.get(f"/attempts/{attempt['id']}").get_json()
    assert resumed["status"] == "open" and resumed["saved"] == {}


def test_questions_outside_the_attempt_are_refused(api, world, quiz):
    attempt = started(api, world.s_a1, quiz["id"])
    assert_error(api.as_(world.s_a1).put(f"/attempts/{attempt['id']}/answers/999999", json={"choice": ["A"]}),
                 404, "question_not_in_attempt")
    assert_error(api.as_(world.s_a1).post(f"/attempts/{attempt['id']}/submit", json={"answers": {"999999": ["A"]}}),
                 404, "question_not_in_attempt")
    assert api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json()["status"] == "open"


def test_the_deadline_is_the_servers(api, app, world, quiz):
    """Within the grace an answer still counts; past it, autosave is refused, the attempt is
    closed and scored with what was saved, and answers sent with a late submit do not count."""
    attempt = started(api, world.s_a1, quiz["id"])
    questions = attempt["questions"]
    with app.app_context():  # the deadline passed two seconds ago: inside the grace
        db.session.execute(update(Attempt).where(Attempt.id == attempt["id"])
                           .values(deadline=datetime.now(UTC) - timedelta(seconds=2)))
        db.session.commit()
    ok = api.as_(world.s_a1).put(f"/attempts/{attempt['id']}/answers/{questions[0]['id']}",
                                 json={"choice": right_keys(questions[0])})
    assert ok.status_code == 200, ok.get_json()

    expire(app, attempt["id"], seconds_ago=30)
    late = api.as_(world.s_a1).put(f"/attempts/{attempt['id']}/answers/{questions[1]['id']}",
                                   json={"choice": right_keys(questions[1])})
    assert_error(late, 409, "attempt_deadline_passed")
    result = submit(api, world.s_a1, attempt["id"], {str(q["id"]): right_keys(q) for q in questions})
    assert result["ended_by"] == "deadline" and result["score"] == 5
    assert result["duration_s"] == 600.0
    assert [q["choice"] for q in result["questions"]][1:] == [[]] * 13
    assert result["late_answers_ignored"] is True  # said, not silently dropped
    # Submitted again (the app retries): the same score, and the same warning while it sends the lost answers.
    again = submit(api, world.s_a1, attempt["id"], {str(q["id"]): right_keys(q) for q in questions})
    assert again == result
    # Sending nothing, or only what was saved in time, loses nothing: no warning.
    assert submit(api, world.s_a1, attempt["id"])["late_answers_ignored"] is False
    saved_only = {str(questions[0]["id"]): right_keys(questions[0])}
    assert submit(api, world.s_a1, attempt["id"], saved_only)["late_answers_ignored"] is False


def test_a_late_submit_after_the_attempt_was_closed_says_its_answers_were_ignored(api, app, world, quiz):
    """Closed by the deadline before the app's submit arrives (the cron job, a leaderboard
    reader): the submit answers the stored result and says its answers were not counted."""
    attempt = started(api, world.s_a1, quiz["id"])
    questions = attempt["questions"]
    expire(app, attempt["id"], seconds_ago=30)
    assert api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json()["ended_by"] == "deadline"
    result = submit(api, world.s_a1, attempt["id"], {str(q["id"]): right_keys(q) for q in questions[:3]})
    assert (result["score"], result["ended_by"], result["late_answers_ignored"]) == (0, "deadline", True)
    in_time = started(api, world.s_a1, quiz["id"])
    first = submit(api, world.s_a1, in_time["id"], {str(in_time["questions"][0]["id"]): ["A"]})
    repeated = submit(api, world.s_a1, in_time["id"], {str(q["id"]): ["A"] for q in in_time["questions"]})
    assert first["late_answers_ignored"] is False and repeated == first  # a repeat, not a late submit


def test_the_device_id_is_the_apps_own_and_junk_is_ignored(api, app, world, quiz):
    """X-Device-Id is recorded (hashed) when it looks like an id; without one nothing is recorded
    — the address and user agent say nothing about the device (a class on the school's Wi-Fi
    shares both) — and anything odd in it is ignored, never an error."""
    headers = [
        ({"X-Device-Id": "mp-lx2k9f-3fa94c0e1b2d4e6f8a9b0c1d"}, True),
        ({}, False),
        ({"X-Device-Id": "short"}, False),
        ({"X-Device-Id": "x" * 129}, False),
        ({"X-Device-Id": "has spaces in it"}, False),
        ({"X-Device-Id": "café-device-id"}, False),
        ({"X-Device-Id": "id;drop table"}, False),
        ({"X-Device-Id": "   "}, False),
    ]
    recorded = []
    for index, (header, kept) in enumerate(headers):
        who = add_student(app, world.class_a2.id, f"设备{index}")
        response = api.as_(who).post(f"/quizzes/{quiz['id']}/attempts", json={}, headers=header)
        assert response.status_code == 201, response.get_data(as_text=True)[:300]
        with app.app_context():
            device = db.session.get(Attempt, response.get_json()["id"]).device
        assert (device is not None) is kept, (header, device)
        recorded.append(device)
        submit(api, who, response.get_json()["id"])
    assert len(recorded[0]) == 32 and "mp-" not in recorded[0]  # a hash, not the id itself
    # Three classmates without the header, from one address and browser: not one device.
    for name in ("无头一", "无头二", "无头三"):
        who = add_student(app, world.class_a1.id, name)
        attempt = api.as_(who).post(f"/quizzes/{quiz['id']}/attempts", json={},
                                    headers={"User-Agent": "Mozilla/5.0 MicroMessenger"}).get_json()
        submit(api, who, attempt["id"])
    flags = api.as_(world.city_admin).get(f"/quizzes/{quiz['id']}/flags").get_json()["flags"]
    assert "shared_device" not in {f["kind"] for f in flags}


def test_an_attempt_left_open_is_scored_when_touched_again(api, app, world, quiz):
    attempt = started(api, world.s_a1, quiz["id"])
    for question in attempt["questions"][:3]:
        api.as_(world.s_a1).put(f"/attempts/{attempt['id']}/answers/{question['id']}",
                                json={"choice": right_keys(question)})
    expire(app, attempt["id"])
    # Starting again closes the old attempt with what was saved and opens a new one.
    fresh = start(api, world.s_a1, quiz["id"])
    assert fresh.status_code == 201 and fresh.get_json()["id"] != attempt["id"]
    old = api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json()
    assert (old["status"], old["ended_by"], old["score"]) == ("scored", "deadline", 15)
    progress = api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}").get_json()["me"]
    assert progress["levels"][0]["attempts_used"] == 2 and progress["levels"][0]["best_score"] == 15


def test_the_campaigns_quiz_list_shows_each_callers_progress(api, app, world, quiz):
    """The mini-program's 活动 and 我的 read progress from the list: it carries the same `me` as the
    quiz's own page, with an attempt whose time ran out already scored (not offered to resume)."""
    listed = lambda who: api.as_(who).get(f"/campaigns/{quiz['campaign_id']}/quizzes").get_json()["items"]  # noqa: E731
    (fresh,) = listed(world.s_a1)
    assert fresh["me"]["open_attempt_id"] is None and fresh["me"]["levels"][0]["attempts_used"] == 0
    attempt = started(api, world.s_a1, quiz["id"])
    assert listed(world.s_a1)[0]["me"]["open_attempt_id"] == attempt["id"]
    for question in attempt["questions"][:3]:
        api.as_(world.s_a1).put(f"/attempts/{attempt['id']}/answers/{question['id']}",
                                json={"choice": right_keys(question)})
    expire(app, attempt["id"])
    (closed,) = listed(world.s_a1)
    assert closed["me"]["open_attempt_id"] is None
    assert closed["me"]["levels"][0] == {
        "level": 1, "attempts_used": 1, "best_score": 15, "passed": False, "unlocked": True}
    assert closed["me"]["certificate_serial"] is None
    # A pass: the list hands out the certificate serial the quiz's page gives.
    again = started(api, world.s_a1, quiz["id"])
    submit(api, world.s_a1, again["id"], {str(q["id"]): right_keys(q) for q in again["questions"]})
    (passed,) = listed(world.s_a1)
    assert passed["me"] == api.as_(world.s_a1).get(f"/quizzes/{quiz['id']}").get_json()["me"]
    assert passed["me"]["certificate_serial"] and passed["me"]["levels"][0]["passed"] is True
    # Someone else's list shows their own (none).
    assert listed(world.s_b1)[0]["me"]["levels"][0]["attempts_used"] == 0


def forget_process_caches(app) -> None:
    """What a worker that did not serve the earlier requests knows: nothing cached."""
    for name in [name for name in app.extensions if name.startswith("process_cache:")]:
        app.extensions[name].clear()


def test_editing_the_bank_never_changes_an_attempt_already_taken(api, app, world, quiz):
    attempt = started(api, world.s_a1, quiz["id"])
    question = next(q for q in attempt["questions"] if q["type"] == "single")
    # The teacher rewrites the question: new stem, new answer, new explanation, then deletes another.
    changed = api.as_(world.city_admin).put(f"/questions/{question['id']}", json={
        "stem": "改过的题干", "options": ["新A", "新B"], "answer": "B", "explanation": "新的解析"})
    assert changed.status_code == 200, changed.get_json()
    other = next(q for q in attempt["questions"] if q["type"] == "true_false")
    # (the quiz draws the whole bank: another question first, or the deletion is refused)
    added = api.as_(world.city_admin).post(f"/question-banks/{quiz['bank_id']}/questions", json={
        "type": "true_false", "stem": "补充的判断题。", "answer": "对"})
    assert added.status_code == 201, added.get_json()
    assert api.as_(world.city_admin).delete(f"/questions/{other['id']}").status_code == 204

    forget_process_caches(app)  # read back as another worker would: from the database
    assert api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json()["questions"] == attempt["questions"]
    forget_process_caches(app)
    result = submit(api, world.s_a1, attempt["id"], {str(q["id"]): right_keys(q) for q in attempt["questions"]})
    assert result["score"] == 70
    shown = next(q for q in result["questions"] if q["id"] == question["id"])
    assert shown["stem"] == question["stem"] and shown["explanation"] == EXPLANATION.format(stem=question["stem"])
    # New attempts draw from the bank as it is now.
    drawn = {q["id"]: q for q in started(api, world.s_a1, quiz["id"])["questions"]}
    assert added.get_json()["id"] in drawn and other["id"] not in drawn
    assert drawn[question["id"]]["stem"] == "改过的题干"


def test_of_two_edits_of_one_question_at_once_the_later_is_refused(api, app, world, quiz):
    """Two staff save the same question at once: the one that read it before the other's save is
    refused (409 `question_changed`), not written over it — else the version an attempt drew
    would name texts it never showed. Both editors' reads are forced to happen first."""
    attempt = started(api, world.s_a1, quiz["id"])
    question = next(q for q in attempt["questions"] if q["type"] == "single")
    with app.app_context():
        stale = db.session.get(Question, question["id"])  # the second editor's read
        db.session.expunge(stale)
        db.session.commit()
        first = []  # the first editor saves from another thread (its own app context and session)
        editor = threading.Thread(target=lambda: first.append(api.as_(world.city_admin).put(
            f"/questions/{question['id']}", json={"stem": "第一位老师的改法"})))
        editor.start()
        editor.join(timeout=30)
        assert first and first[0].status_code == 200, first and first[0].get_json()
        db.session.add(stale)  # the second editor saves what it read before
        with pytest.raises(quiz_services.QuestionChanged):
            quiz_services.update_question(db.session.get(User, world.city_admin.id), question["id"],
                                          {"stem": "第二位老师的改法"})
    assert api.as_(world.city_admin).get(f"/questions/{question['id']}").get_json()["stem"] == "第一位老师的改法"
    assert api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json()["questions"] == attempt["questions"]


def test_attempts_stored_with_their_texts_are_read_as_stored(api, app, world, quiz):
    """Attempts started before question versions were kept hold each question's texts in their
    snapshot: they resume and score by those texts, whatever the bank holds now."""
    attempt = started(api, world.s_a1, quiz["id"])
    with app.app_context():
        stored = db.session.get(Attempt, attempt["id"]).questions
        legacy = [{k: v for k, v in q.items() if k != "v"} for q in quiz_services.attempt_questions(stored)]
        db.session.execute(update(Attempt).where(Attempt.id == attempt["id"]).values(questions=legacy))
        db.session.commit()
    question = next(q for q in attempt["questions"] if q["type"] == "single")
    assert api.as_(world.city_admin).put(f"/questions/{question['id']}", json={
        "stem": "改过的题干", "options": ["新A", "新B"], "answer": "B"}).status_code == 200
    with app.app_context():  # nothing but the attempt itself remembers the old texts
        db.session.execute(delete(QuestionVersion))
        db.session.commit()

    assert api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json()["questions"] == attempt["questions"]
    result = submit(api, world.s_a1, attempt["id"], {str(q["id"]): right_keys(q) for q in attempt["questions"]})
    assert result["score"] == result["max_score"] == 70
    shown = next(q for q in result["questions"] if q["id"] == question["id"])
    assert shown["stem"] == question["stem"] and shown["correct"]


def test_each_attempt_keeps_the_version_it_drew_through_several_edits(api, world):
    """A question edited twice: the attempt from before the first edit and the one from between
    the edits each show (and explain) the version they were given."""
    bank = make_bank(api, world.city_admin, world.city.id)
    campaign = make_campaign(api, world.city_admin, world.city.id)
    every = make_quiz(api, world.city_admin, campaign, bank, draw=[{"count": len(BANK)}])
    first = started(api, world.s_a1, every["id"])
    question = next(q for q in first["questions"] if q["type"] == "single")

    def edit(stem: str) -> None:
        response = api.as_(world.city_admin).put(f"/questions/{question['id']}",
                                                 json={"stem": stem, "explanation": f"{stem}的解析"})
        assert response.status_code == 200, response.get_json()

    edit("第二版题干")
    second = started(api, world.s_b1, every["id"])
    assert next(q for q in second["questions"] if q["id"] == question["id"])["stem"] == "第二版题干"
    edit("第三版题干")
    for who, attempt, stem, explanation in (
            (world.s_a1, first, question["stem"], EXPLANATION.format(stem=question["stem"])),
            (world.s_b1, second, "第二版题干", "第二版题干的解析")):
        shown = next(q for q in submit(api, who, attempt["id"])["questions"] if q["id"] == question["id"])
        assert (shown["stem"], shown["explanation"]) == (stem, explanation)


def test_a_new_question_never_takes_a_deleted_ones_id(api, app, world, quiz):
    """Attempts and kept versions name questions by id: a question added after the newest one
    was deleted gets an id of its own (SQLite would otherwise reuse the highest), so the attempt
    that drew the deleted one still shows it and the new one can be edited."""
    attempt = started(api, world.s_a1, quiz["id"])
    newest = max(attempt["questions"], key=lambda q: q["id"])
    with app.app_context():
        assert db.session.scalar(select(func.max(Question.id))) == newest["id"]  # the bank's newest
        bank_id = db.session.get(Question, newest["id"]).bank_id
        # The contest is over and the teacher tidies the bank (while it runs, it draws the whole
        # bank and the deletion would be refused: quiz_needs_question).
        db.session.execute(update(Quiz).where(Quiz.id == quiz["id"]).values(closes_at=func.now()))
        db.session.commit()
    assert api.as_(world.city_admin).delete(f"/questions/{newest['id']}").status_code == 204
    added = api.as_(world.city_admin).post(f"/question-banks/{bank_id}/questions", json={
        "type": "single", "stem": "新加的一道题", "options": ["甲", "乙"], "answer": "A"})
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["id"] > newest["id"]
    assert api.as_(world.city_admin).put(f"/questions/{added.get_json()['id']}",
                                         json={"stem": "新加的一道题（改）"}).status_code == 200
    forget_process_caches(app)
    assert api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json()["questions"] == attempt["questions"]


def test_an_autosave_waits_for_its_batch_holding_no_database_connection(api, app, world, quiz):
    """A worker that did not start the attempt reads its facts from the database first. That
    read's transaction (and its pooled connection) is given back before the autosave waits in its
    group commit — under load it waits behind other batches, and 16 waiting requests each holding
    a connection would drain the pool and time out the rest. The autosave is saved as usual."""
    from app.common.group_commit import GroupCommit

    attempt = started(api, world.s_a1, quiz["id"])
    question = next(q for q in attempt["questions"] if q["type"] == "single")
    forget_process_caches(app)  # another worker: the facts come from the database
    holding = []

    def write(saves):  # runs in the request's own thread (a lone request leads its batch)
        holding.append(db.session.registry.has() and db.session().in_transaction())
        return quiz_services._write_saves(saves)

    app.extensions["group_commit:quiz_autosaves"] = GroupCommit(write, fallback=False)
    saved = api.as_(world.s_a1).put(f"/attempts/{attempt['id']}/answers/{question['id']}",
                                    json={"choice": right_keys(question)})
    assert saved.status_code == 200, saved.get_json()
    assert holding == [False]  # the write ran (fast path) and the request held no transaction
    assert api.as_(world.s_a1).get(f"/attempts/{attempt['id']}").get_json()["saved"] == {
        str(question["id"]): right_keys(question)}
