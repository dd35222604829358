"""`make bench` builds its data with SQL, not through the API (bench/bench.py, bench/quiz_bench.py),
and writes the requests wrk replays. No CI runs the bench (it needs wrk and minutes of load), so a
model change those statements miss broke only the bench, unseen (session 17's `stem_key` did).
Here they run at a small size against the test database, and the API must read what they built
and take the requests they wrote."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.auth.models import User
from app.extensions import db
from app.orgs.models import Membership, Org
from tests.pledge_helpers import make_pledge
from tests.test_quizzes import make_campaign, started

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench_modules():
    sys.path.insert(0, str(BENCH))  # bench.py imports quiz_bench and cpu_meter as the script does
    try:
        spec = importlib.util.spec_from_file_location("bench_script", BENCH / "bench.py")
        script = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(script)
        yield script, script.quiz_bench
    finally:
        sys.path.remove(str(BENCH))


def test_the_benchs_data_and_requests_are_what_the_api_takes(app, api, world, bench_modules, monkeypatch, tmp_path):
    script, quiz_bench = bench_modules
    campaign = make_campaign(api, world.city_admin, world.city.id)
    monkeypatch.setattr(quiz_bench, "BANK_SIZE", 60)
    quizzes = quiz_bench.setup(app, world.city.id)

    # A start draws the bench's 20 questions; the top-up copies its snapshot for other students.
    first = started(api, world.s_a1, quizzes["live"])
    assert len(first["questions"]) == quiz_bench.DRAW
    with app.app_context():
        students = db.session.scalar(select(func.count(func.distinct(Membership.user_id)))
                                     .where(Membership.role == "student"))
    assert quiz_bench.top_up_open_attempts(app, quizzes["live"], students) == students > 1
    saves, submits, listed = quiz_bench.request_lists(app, quizzes["live"], tmp_path)
    assert listed == students
    for line in [*saves.read_text().splitlines(), *submits.read_text().splitlines()]:
        method, path, token, body = line.split("\t")
        response = api.as_(token).request(method, path.removeprefix("/api/v1"), data=body,
                                          content_type="application/json")
        assert response.status_code == 200, (path, response.get_json())
    assert quiz_bench.counts(app, quizzes["live"]) == {"scored": students}

    with app.app_context():
        next_user = db.session.scalar(select(func.max(User.id))) + 1
        classes = [(org.id, org.path) for org in db.session.scalars(select(Org).where(Org.kind == "class"))]
    board = quiz_bench.load_leaderboard(app, quizzes["loaded"], classes, 12, next_user)
    assert board["rows"] == 12
    ranked = api.as_(board["token"]).get(f"/quizzes/{quizzes['loaded']}/leaderboard",
                                         query_string={"org_id": world.city.id})
    assert ranked.status_code == 200 and ranked.get_json()["total"] == 12, ranked.get_json()

    pledge = make_pledge(api, world.city_admin, campaign)
    script.load_signatures(app, pledge["id"], classes, 10)
    city = api.as_(world.city_admin).get(f"/pledges/{pledge['id']}/stats", query_string={"org_id": world.city.id})
    assert city.status_code == 200 and city.get_json()["signed"] == 10, city.get_json()
