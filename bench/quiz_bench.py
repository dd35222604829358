"""The quiz part of `make bench` (issue 5), driven from bench/bench.py in the same run as signing.

Data is built with SQL, not through the API: the 5,000-question bank with one executemany,
the extra open attempts by copying drawn snapshots, the leaderboard's attempts and best rows
with `INSERT … SELECT` from the enrolled students (the same statement on SQLite and PostgreSQL).
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path
from types import SimpleNamespace

BANK_SIZE = 5000
DRAW = 20
SAVE_BLOCK = 64  # attempts whose autosaves interleave (see request_lists)
TYPES = ("single", "multiple", "true_false")


def setup(app, city_id: int) -> dict:
    """A city bank of 5,000 questions and two quizzes of the seeded campaign drawing 20 each:
    `live` for start / autosave / submit, `loaded` for the leaderboard with its million rows,
    `warm` for the short start run that fills each worker's draw caches before `live` is measured."""
    from sqlalchemy import insert, select

    from app.campaigns.models import Campaign
    from app.extensions import db
    from app.quizzes import importers
    from app.quizzes.models import Question, QuestionBank, Quiz

    with app.app_context():
        campaign = db.session.scalar(select(Campaign).where(Campaign.org_id == city_id).order_by(Campaign.id.desc()))
        bank = QuestionBank(org_id=city_id, name="基准题库")
        db.session.add(bank)
        db.session.flush()
        rows = []
        for i in range(BANK_SIZE):
            kind = TYPES[i % 3]
            stem = f"第{i + 1}题：以下关于网络文明的说法，哪一项正确？（基准 {i}）"
            options = list(importers.TRUE_FALSE_OPTIONS) if kind == "true_false" else [
                "不随意转发未经证实的消息", "在网上公开同学的隐私", "用侮辱性语言评论他人", "沉迷网络游戏"]
            rows.append({
                "bank_id": bank.id, "type": kind, "stem": stem, "stem_key": importers.stem_key(stem, options),
                "options": options,
                "answer": [0, 3] if kind == "multiple" else [i % 2 if kind == "true_false" else 0],
                "explanation": "依据《未成年人网络保护条例》。", "category": f"类别{i % 5}",
                "difficulty": 1 + i % 3, "legal_basis": "未成年人网络保护条例",
            })
        db.session.execute(insert(Question), rows)
        quizzes = {}
        for name in ("live", "loaded", "warm"):
            quiz = Quiz(campaign_id=campaign.id, bank_id=bank.id, title=f"基准竞赛（{name}）", leveled=False,
                        levels=[{"level": 1, "title": "第1关", "draw": [{"count": DRAW}], "pass_score": 60,
                                 "time_limit_s": 1200}],
                        points={"single": 5, "multiple": 5, "true_false": 5}, max_attempts=3,
                        time_limit_s=1200, pass_score=60)
            db.session.add(quiz)
            db.session.flush()
            quizzes[name] = quiz.id
        db.session.commit()
        return quizzes


def _tokens(user_ids) -> dict[int, str]:
    from flask_jwt_extended import create_access_token

    return {uid: create_access_token(identity=str(uid)) for uid in user_ids}


def top_up_open_attempts(app, quiz_id: int, want: int) -> int:
    """Give seeded students who have no attempt yet an open one, copying snapshots that the
    start run drew (questions, permutation, points): the autosave and submit runs then never
    run out of distinct open attempts. Returns how many open attempts there are."""
    from sqlalchemy import func, select

    from app.common.time import utcnow
    from app.extensions import db
    from app.orgs.models import Membership, Org
    from app.quizzes.models import Attempt

    with app.app_context():
        open_now = db.session.scalar(select(func.count()).where(Attempt.quiz_id == quiz_id,
                                                                Attempt.status == "open"))
        if open_now >= want:
            return open_now
        templates = db.session.execute(select(Attempt.questions, Attempt.max_score).where(
            Attempt.quiz_id == quiz_id).limit(200)).all()
        taken = select(Attempt.user_id).where(Attempt.quiz_id == quiz_id)
        students = db.session.execute(
            select(Membership.user_id, Membership.org_id, Org.path).join(Org, Org.id == Membership.org_id)
            .where(Membership.role == "student", Membership.user_id.not_in(taken))
            .order_by(Membership.user_id).limit(want - open_now)).all()
        now = utcnow()
        rng = random.Random(5)
        rows = []
        for n, (uid, org_id, path) in enumerate(students):
            questions, max_score = templates[n % len(templates)]
            rows.append({"quiz_id": quiz_id, "user_id": uid, "level": 1, "number": 1, "open_key": f"{quiz_id}:{uid}",
                         "seed": rng.getrandbits(31), "status": "open", "org_id": org_id, "org_path": path,
                         "questions": questions, "answers": {}, "time_limit_s": 1200, "pass_score": 60,
                         "max_score": max_score, "started_at": now, "deadline": now.replace(year=now.year + 1),
                         "updated_at": now})
        if rows:
            # Starts still in the server's queue when wrk stopped may land meanwhile: skip those students.
            from sqlalchemy.dialects import postgresql, sqlite

            dialect = {"postgresql": postgresql, "sqlite": sqlite}[db.engine.dialect.name]
            db.session.execute(dialect.insert(Attempt).on_conflict_do_nothing(), rows)
            db.session.commit()
        return db.session.scalar(select(func.count()).where(Attempt.quiz_id == quiz_id, Attempt.status == "open"))


def request_lists(app, quiz_id: int, work: Path) -> tuple[Path, Path, int]:
    """The autosave list and the submit list (each open attempt once).

    Autosave: every open attempt's 20 answers, as students answer — each attempt's saves within
    a second or two, interleaved with the other attempts of its block of `SAVE_BLOCK`, so that
    the 32 connections touch different rows at any moment and an attempt's saves reach the
    same two workers repeatedly (as a student's do over a 10-minute quiz). Until session 3 the
    list took the first question of every attempt, then the second, …: in a 10-second run each
    attempt got one save, so every save found both per-worker caches (verified token, attempt
    facts) cold — a load no student makes."""
    from sqlalchemy import select

    from app.extensions import db
    from app.quizzes.models import Attempt
    from app.quizzes.services import attempt_questions

    with app.app_context():
        rows = db.session.execute(select(Attempt.id, Attempt.user_id, Attempt.questions).where(
            Attempt.quiz_id == quiz_id, Attempt.status == "open").order_by(Attempt.id)).all()
        attempts = [SimpleNamespace(id=row.id, user_id=row.user_id, questions=attempt_questions(row.questions))
                    for row in rows]
        tokens = _tokens({a.user_id for a in attempts})
    saves, submits = work / "autosave.txt", work / "submit.txt"
    with saves.open("w") as out:
        for block in range(0, len(attempts), SAVE_BLOCK):
            for position in range(DRAW):
                for a in attempts[block:block + SAVE_BLOCK]:
                    q = a.questions[position % len(a.questions)]
                    choice = ["A", "C"] if q["type"] == "multiple" else [("A", "B")[position % 2]]
                    out.write(f"PUT\t/api/v1/attempts/{a.id}/answers/{q['id']}\t{tokens[a.user_id]}\t"
                              f"{json.dumps({'choice': choice})}\n")
    with submits.open("w") as out:
        for a in attempts:
            out.write(f"POST\t/api/v1/attempts/{a.id}/submit\t{tokens[a.user_id]}\t{{}}\n")
    return saves, submits, len(attempts)


def counts(app, quiz_id: int) -> dict:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.quizzes.models import Attempt

    with app.app_context():
        return dict(db.session.execute(select(Attempt.status, func.count()).where(Attempt.quiz_id == quiz_id)
                                       .group_by(Attempt.status)).all())


def _add_students(classes: list[tuple[int, str]], n: int, prefix: str) -> None:
    from sqlalchemy import insert, select

    from app.auth.models import User
    from app.extensions import db
    from app.orgs.models import Membership

    batch = 50_000
    for offset in range(0, n, batch):
        size = min(batch, n - offset)
        first = (db.session.scalar(select(User.id).order_by(User.id.desc()).limit(1)) or 0) + 1
        db.session.execute(insert(User), [{"openid": f"{prefix}_{offset + i}"} for i in range(size)])
        ids = list(db.session.scalars(select(User.id).where(User.id >= first).order_by(User.id)))
        db.session.execute(insert(Membership), [
            {"user_id": uid, "org_id": classes[(offset + i) % len(classes)][0], "role": "student"}
            for i, uid in enumerate(ids)])
        db.session.commit()


def load_leaderboard(app, quiz_id: int, classes: list[tuple[int, str]], rows: int, first_student: int) -> dict:
    """`rows` scored attempts of `rows` different students and their best rows, in two
    `INSERT … SELECT` statements. Students are those enrolled after the seed (the stats step's
    million when it ran), topped up when there are fewer. Returns the timings and a viewer."""
    from sqlalchemy import bindparam, func, select, text

    from app.common.db_types import UTCDateTime
    from app.common.time import utcnow
    from app.extensions import db
    from app.orgs.models import Membership

    started = time.monotonic()
    with app.app_context():
        have = db.session.scalar(select(func.count()).where(Membership.user_id >= first_student,
                                                            Membership.role == "student"))
        if have < rows:
            _add_students(classes, rows - have, f"quiz_{int(time.time())}")
        students_s = time.monotonic() - started
        now = utcnow()
        # Scores in steps of 5 (20 questions × 5 points), times 60-600 s to the millisecond (as the server
        # records them): many ties on score, few on both.
        db.session.execute(text("""
            INSERT INTO quiz_attempts (quiz_id, user_id, level, number, seed, status, ended_by, org_id, org_path,
                questions, answers, marks, time_limit_s, pass_score, score, max_score, passed, duration_ms,
                started_at, deadline, finished_at, updated_at)
            SELECT :quiz, m.user_id, 1, 1, 0, 'scored', 'submit', m.org_id, o.path, '[]', '{}', '{}', 1200, 60,
                   5 * ((m.user_id * 7) % 21), 100, 5 * ((m.user_id * 7) % 21) >= 60,
                   60000 + (CAST(m.user_id AS BIGINT) * 7919) % 540000, :now, :now, :now, :now
            FROM memberships m JOIN orgs o ON o.id = m.org_id
            WHERE m.user_id >= :first AND m.role = 'student'
            ORDER BY m.user_id LIMIT :rows""").bindparams(
            bindparam("now", now, type_=UTCDateTime), quiz=quiz_id, first=first_student, rows=rows))
        db.session.execute(text("""
            INSERT INTO quiz_bests (quiz_id, user_id, org_id, org_path, rank_key, levels_passed, score, max_score,
                duration_ms, passed, attempts, achieved_at)
            SELECT quiz_id, user_id, org_id, org_path,
                   (CAST(CASE WHEN passed THEN 1 ELSE 0 END AS BIGINT) * 1000000 + score) * 1000000000
                       + (999999999 - duration_ms),
                   CASE WHEN passed THEN 1 ELSE 0 END, score, max_score, duration_ms, passed, 1, finished_at
            FROM quiz_attempts WHERE quiz_id = :quiz"""), {"quiz": quiz_id})
        db.session.commit()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        loaded = db.session.scalar(text("SELECT count(*) FROM quiz_bests WHERE quiz_id = :q"), {"q": quiz_id})
        # A viewer from the middle of the table: their own rank is computed on every request.
        viewer = db.session.scalar(text(
            "SELECT user_id FROM quiz_bests WHERE quiz_id = :q ORDER BY rank_key LIMIT 1 OFFSET :o"),
            {"q": quiz_id, "o": loaded // 2})
        token = _tokens([viewer])[viewer]
    return {"rows": loaded, "seconds": time.monotonic() - started, "students_s": students_s, "token": token}
