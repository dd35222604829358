"""Question banks, quizzes and attempts: the rules. Each public function owns its transaction.

Scoring rule: a single-choice or true/false question earns its points when the chosen key is the
answer; a multiple-choice question is all-or-nothing, unless the quiz sets `multiple_partial`,
in which case a choice of only correct keys that misses some earns half the points (rounded
down) and any wrong key earns nothing. Scores are whole points.

Time is the server's: an attempt's deadline is fixed when it starts (never after the quiz
closes; when an admin moves the close, open attempts follow it); answers arriving more than
`QUIZ_GRACE_S` seconds (default 5) after it are refused, and an attempt left open past it is
closed and scored with what was saved, lazily, whenever the attempt, the student's next start,
the leaderboard or the statistics touch it.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import logging
import math
import random
import re
import secrets
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import partial
from types import SimpleNamespace

from flask import current_app, g
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Select,
    String,
    and_,
    bindparam,
    cast,
    distinct,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError

from app.auth.models import User
from app.campaigns.models import Campaign
from app.campaigns.services import campaign_reach, can_see_campaign, check_inside_period, visible_campaign
from app.common.aggregates import AggregateCache
from app.common.db_types import UTCDateTime
from app.common.downloads import check_export_size, excel_row, file_name_part
from app.common.editing import changes, lock_for_edit, moved_window, refuse_locked
from app.common.group_commit import answer_each, first_of_each, group_commit
from app.common.masking import mask_name
from app.common.pagination import count_rows, paginate
from app.common.poster import cached_poster
from app.common.process_cache import process_cache, remember
from app.common.schemas import MAX_ID
from app.common.sql import (
    built_once_per_dialect,
    conflict_insert,
    execute_committed,
    json_batch,
    json_batch_params,
    release_read_transaction,
    writer_engine,
)
from app.common.time import beijing_cell, beijing_day, utcnow
from app.common.urls import public_url
from app.errors import ApiError, Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.family.models import FamilyLink
from app.orgs.models import STAFF_ROLES, Membership, Org
from app.orgs.permissions import has_authority, memberships_of, org_with_authority, staff_paths, visible_org
from app.orgs.queries import places_below, student_class, under
from app.orgs.services import KIND_NAMES
from app.quizzes import importers
from app.quizzes.models import Attempt, Question, QuestionBank, QuestionVersion, Quiz, QuizBest

log = logging.getLogger(__name__)

LETTERS = importers.LETTERS
DEFAULT_POINTS = {"single": 5, "multiple": 5, "true_false": 5}
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
FAST_MS_PER_QUESTION = 2000  # an attempt faster than this per answered question is flagged
COPY_MIN_SHARED = 8  # questions two students both drew, for their answers to be compared
COPY_MIN_SAME_WRONG = 5  # identical wrong answers among them
COPY_MIN_WRONG_SHARE = 0.6  # … and at least this share of the shared questions either got wrong
SHARED_DEVICE_MIN_USERS = 3


def _grace() -> timedelta:
    return timedelta(seconds=current_app.config.get("QUIZ_GRACE_S", 5))


# --- banks --------------------------------------------------------------------------------


def _ancestor_ids(paths: list[str]) -> set[int]:
    return {int(part) for path in paths for part in path.strip("/").split("/") if part}


def _bank_visible(user: User, bank: QuestionBank) -> bool:
    """Staff see a bank held at or below where they work (they may edit it) and the banks of
    the orgs above them (usable in their subtree)."""
    if user.is_platform_admin:
        return True
    return any(bank.org.path.startswith(path) or path.startswith(bank.org.path) for path in staff_paths(user))


def _bank(user: User, bank_id: int, *, edit: bool = False) -> QuestionBank:
    bank = db.session.get(QuestionBank, bank_id)
    if bank is None or not _bank_visible(user, bank):
        raise NotFound("bank_not_found", "题库不存在或无权查看")
    if edit and not has_authority(user, bank.org, "teacher"):
        raise Forbidden("forbidden", "这个题库属于上级单位，你可以使用但不能修改")
    return bank


def _question_counts(bank_ids: list[int]) -> dict[int, int]:
    if not bank_ids:
        return {}
    rows = db.session.execute(
        select(Question.bank_id, func.count()).where(Question.bank_id.in_(bank_ids)).group_by(Question.bank_id)
    )
    return dict(rows.all())


def describe_bank(user: User, bank: QuestionBank, count: int | None = None) -> dict:
    if count is None:
        count = _question_counts([bank.id]).get(bank.id, 0)
    return {"id": bank.id, "name": bank.name, "org_id": bank.org_id, "org_name": bank.org.name,
            "question_count": count, "can_edit": has_authority(user, bank.org, "teacher"),
            "created_at": bank.created_at}


def create_bank(actor: User, data: dict) -> dict:
    org = org_with_authority(actor, data["org_id"], "teacher")
    bank = QuestionBank(org_id=org.id, name=data["name"], created_by_id=actor.id)
    db.session.add(bank)
    db.session.commit()
    return describe_bank(actor, bank, 0)


def list_banks(actor: User, page: int, page_size: int, org_id: int | None = None) -> dict:
    query = select(QuestionBank).join(Org, QuestionBank.org_id == Org.id)
    if org_id is not None:
        org = org_with_authority(actor, org_id, "teacher")
        query = query.where(QuestionBank.org_id.in_(org.ancestor_ids))
    elif not actor.is_platform_admin:
        paths = staff_paths(actor)
        if not paths:
            raise Forbidden("forbidden", "只有教师和管理员可以查看题库")
        query = query.where(or_(QuestionBank.org_id.in_(_ancestor_ids(paths)),
                                *[Org.path.startswith(path, autoescape=True) for path in paths]))
    result = paginate(query.order_by(QuestionBank.id.desc()), page, page_size)
    counts = _question_counts([bank.id for bank in result["items"]])
    result["items"] = [describe_bank(actor, bank, counts.get(bank.id, 0)) for bank in result["items"]]
    return result


def get_bank(actor: User, bank_id: int) -> dict:
    return describe_bank(actor, _bank(actor, bank_id))


def _bump(bank: QuestionBank) -> None:
    db.session.execute(update(QuestionBank).where(QuestionBank.id == bank.id)
                       .values(revision=QuestionBank.revision + 1))


def import_questions(actor: User, bank_id: int, upload, fmt: str | None = None) -> dict:
    bank = _bank(actor, bank_id, edit=True)
    data = upload.stream.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError("file_too_large", "文件不能超过 10 MB", status=413)
    try:
        parsed = importers.parse_file(upload.filename or "", data, fmt)
    except importers.ImportFormatError as error:
        raise ValidationFailed({"file": [error.message]}, message=error.message, code=error.code) from error
    # Two imports into one bank at once (a double tap, two teachers sharing it): the second waits
    # here and then skips what the first added.
    lock_for_edit(bank)
    seen = set(db.session.scalars(select(Question.stem_key).where(Question.bank_id == bank.id)))
    imported, skipped = [], []
    for item in parsed.questions:
        key = importers.stem_key(item["stem"], item["options"])
        if key in seen:
            skipped.append(item)
            continue
        seen.add(key)
        db.session.add(_new_question(bank, item, key))
        imported.append(item)
    try:
        if imported:
            _bump(bank)  # its UPDATE flushes the new questions
        db.session.commit()
    except IntegrityError as error:  # a question added by hand in the meantime
        db.session.rollback()
        raise Conflict("import_conflict", "题库正在被同时修改，请稍后重试") from error
    result = {"imported": len(imported), "skipped": len(skipped), "skipped_rows": [item["row"] for item in skipped],
              "errors": parsed.errors, "format": parsed.format}
    if parsed.sheets:  # several sheets (one per 题型): what each did, so a teacher sees where to look
        result["sheets"] = [{
            "name": name, "imported": sum(item["sheet"] == name for item in imported),
            "skipped": sum(item["sheet"] == name for item in skipped),
            "skipped_rows": [item["row"] for item in skipped if item["sheet"] == name],
            "errors": sum(error["sheet"] == name for error in parsed.errors),
        } for name in parsed.sheets]
    return result


def _new_question(bank: QuestionBank, item: dict, key: str) -> Question:
    return Question(bank_id=bank.id, type=item["type"], stem=item["stem"], stem_key=key, options=item["options"],
                    answer=item["answer"], explanation=item.get("explanation"), category=item.get("category"),
                    difficulty=item.get("difficulty") or 2, legal_basis=item.get("legal_basis"))


def add_questions(bank: QuestionBank, items: list[dict]) -> int:
    """Insert already-normalised questions, skipping stems the bank has (no commit; the seed uses it)."""
    seen = set(db.session.scalars(select(Question.stem_key).where(Question.bank_id == bank.id)))
    added = 0
    for item in items:
        key = importers.stem_key(item["stem"], item["options"])
        if key not in seen:
            seen.add(key)
            db.session.add(_new_question(bank, item, key))
            added += 1
    if added:
        _bump(bank)
    return added


def template_file() -> bytes:
    return importers.template_workbook()


def export_bank(actor: User, bank_id: int) -> tuple[bytes, str, str]:
    """The bank in the template's layout, its file name (safe on every system, whatever the bank's
    name holds) and an ASCII name for clients that cannot read the UTF-8 one."""
    bank = _bank(actor, bank_id)
    rows = db.session.scalars(select(Question).where(Question.bank_id == bank.id).order_by(Question.id))
    questions = [{"type": q.type, "stem": q.stem, "options": q.options, "answer": q.answer,
                  "explanation": q.explanation, "category": q.category, "difficulty": q.difficulty,
                  "legal_basis": q.legal_basis} for q in rows]
    return importers.build_workbook(f"{bank.name}（共 {len(questions)} 题）", questions), \
        f"{file_name_part(bank.name)}.xlsx", f"question-bank-{bank.id}.xlsx"


# --- questions ----------------------------------------------------------------------------


def describe_question(question: Question) -> dict:
    options = (list(importers.TRUE_FALSE_OPTIONS) if question.type == "true_false" else question.options)
    return {
        "id": question.id, "bank_id": question.bank_id, "type": question.type, "stem": question.stem,
        "options": [{"key": LETTERS[i], "text": text} for i, text in enumerate(options)],
        "answer": [LETTERS[i] for i in question.answer], "explanation": question.explanation,
        "category": question.category, "difficulty": question.difficulty, "legal_basis": question.legal_basis,
        "created_at": question.created_at, "updated_at": question.updated_at,
    }


def list_questions(actor: User, bank_id: int, args: dict) -> dict:
    bank = _bank(actor, bank_id)
    query = select(Question).where(Question.bank_id == bank.id)
    for name in ("category", "type", "difficulty"):
        if args.get(name) not in (None, ""):
            query = query.where(getattr(Question, name) == args[name])
    if args.get("q"):
        query = query.where(Question.stem.contains(args["q"], autoescape=True))
    result = paginate(query.order_by(Question.id), args["page"], args["page_size"])
    result["items"] = [describe_question(q) for q in result["items"]]
    return result


def _normalized(data: dict) -> dict:
    raw = dict(data)
    if raw.get("type") == "true_false" and isinstance(raw.get("answer"), list) and raw["answer"] in (["A"], ["B"]):
        raw["answer"] = "正确" if raw["answer"] == ["A"] else "错误"
    try:
        return importers.normalize_question(raw)
    except importers.QuestionError as error:
        raise ValidationFailed({error.field or "question": [str(error)]}, message=str(error),
                               code="invalid_question") from error


EDITABLE = ("type", "stem", "options", "answer", "explanation", "category", "difficulty", "legal_basis")
CONTENT = ("type", "stem", "options", "answer", "explanation", "category", "legal_basis")  # QuestionTexts


class QuestionChanged(Conflict):
    code, message = "question_changed", "这道题刚刚被其他人修改或删除，请刷新后重试"


def _kept_version(question: Question) -> QuestionVersion:
    """The texts of the question's current version, to keep for the attempts that drew it (read
    before an edit replaces them or the question is deleted). Added to the session only after the
    question's own UPDATE or DELETE is flushed: that takes the row lock and checks the version
    first, in the same order in every path (an edit and a deletion at once: one waits, then gets
    `question_changed` — not a deadlock, not a clash on the kept version's key)."""
    return QuestionVersion(question_id=question.id, version=question.version, bank_id=question.bank_id,
                           **{name: getattr(question, name) for name in CONTENT})


def _save_question(bank: QuestionBank, question: Question, item: dict) -> None:
    lock_for_edit(bank)  # every writer to a bank locks it first (as the import does): no deadlock on the key
    key = importers.stem_key(item["stem"], item["options"])
    clash = db.session.scalar(select(Question.id).where(Question.bank_id == bank.id, Question.stem_key == key,
                                                        Question.id != (question.id or 0)))
    if clash:
        raise Conflict("duplicate_question", "题库中已有题干和选项都相同的题目")
    kept = None
    if question.id is not None:
        if all(getattr(question, name) == item[name] for name in EDITABLE):
            return  # nothing changed: no new version
        kept = _kept_version(question)  # the update below makes the next version (Question.version)
    for name in EDITABLE:
        setattr(question, name, item[name])
    question.stem_key = key
    db.session.add(question)
    try:
        db.session.flush()
        if kept is not None:
            db.session.add(kept)
            _refuse_if_quizzes_fall_short(bank)
        _bump(bank)
        db.session.commit()
    except StaleDataError as error:  # another edit or a deletion of this question got there first
        db.session.rollback()
        raise QuestionChanged() from error
    except IntegrityError as error:
        db.session.rollback()
        raise Conflict("duplicate_question", "题库中已有题干和选项都相同的题目") from error


def create_question(actor: User, bank_id: int, data: dict) -> dict:
    bank = _bank(actor, bank_id, edit=True)
    question = Question(bank_id=bank.id)
    _save_question(bank, question, _normalized(data))
    return describe_question(question)


def _question(actor: User, question_id: int, *, edit: bool = False) -> tuple[Question, QuestionBank]:
    question = db.session.get(Question, question_id)
    if question is None:
        raise NotFound("question_not_found", "题目不存在或无权查看")
    try:
        bank = _bank(actor, question.bank_id, edit=edit)
    except NotFound as error:
        raise NotFound("question_not_found", "题目不存在或无权查看") from error
    return question, bank


def get_question(actor: User, question_id: int) -> dict:
    return describe_question(_question(actor, question_id)[0])


def update_question(actor: User, question_id: int, data: dict) -> dict:
    """Attempts keep their snapshot: a change here reaches only attempts started later."""
    question, bank = _question(actor, question_id, edit=True)
    current = describe_question(question)
    merged = {
        "type": question.type, "stem": question.stem, "explanation": question.explanation,
        "category": question.category, "difficulty": question.difficulty, "legal_basis": question.legal_basis,
        "options": question.options if question.type != "true_false" else [],
        "answer": current["answer"] if question.type != "true_false" else
        importers.TRUE_FALSE_OPTIONS[question.answer[0]],
    }
    merged.update(data)
    if data.get("type") == "true_false" and "answer" not in data and question.type != "true_false":
        raise ValidationFailed({"answer": ["改为判断题时请同时填写答案"]})
    _save_question(bank, question, _normalized(merged))
    return describe_question(question)


def delete_question(actor: User, question_id: int) -> None:
    """Gone from the bank; attempts that drew it keep showing and scoring it (its last version is kept)."""
    question, bank = _question(actor, question_id, edit=True)
    lock_for_edit(bank)  # every writer to a bank locks it first: an import beside it waits, no deadlock
    kept = _kept_version(question)
    db.session.delete(question)
    try:
        db.session.flush()
        db.session.add(kept)
        _refuse_if_quizzes_fall_short(bank)
        _bump(bank)
        db.session.commit()
    except (StaleDataError, IntegrityError) as error:  # edited or deleted by someone else meanwhile
        db.session.rollback()
        raise QuestionChanged() from error


def _refuse_if_quizzes_fall_short(bank: QuestionBank) -> None:
    """With a question's edit or deletion flushed (not committed): every quiz of the bank that has
    not closed must still be able to draw each level, or the change is refused (409) and rolled
    back. Otherwise every later start of that quiz would fail with not_enough_questions. Pools are
    read afresh, not from the cache (a rolled-back revision number is used again)."""
    now = utcnow()
    quizzes = db.session.scalars(select(Quiz).where(
        Quiz.bank_id == bank.id, or_(Quiz.closes_at.is_(None), Quiz.closes_at > now)).order_by(Quiz.id))
    pools: dict[tuple, list[int]] = {}  # one query per distinct rule, however many quizzes share it

    def pool(rule: dict) -> list[int]:
        key = _rule_key(rule)
        if key not in pools:
            pools[key] = _pool_ids(bank.id, rule)
        return pools[key]

    for quiz in quizzes:
        for level in quiz.levels:
            if _draw_errors([pool(rule) for rule in level["draw"]], level["draw"], "draw"):
                db.session.rollback()
                where = f"第{level['level']}关" if quiz.leveled else ""
                raise Conflict("quiz_needs_question", f"竞赛「{quiz.title}」{where}还要从题库抽题，改动后符合抽题条件的"
                                                      "题目就不够了，请先补充题目，或修改这道题的内容")


# --- quizzes ------------------------------------------------------------------------------


def _rule_key(rule: dict) -> tuple:
    """What a draw rule selects by (a blank category selects nothing, like none)."""
    return rule.get("category") or None, rule.get("difficulty"), rule.get("type")


def _pool(bank: QuestionBank, rule: dict) -> list[int]:
    """Ids of the bank's questions matching a draw rule, cached per bank revision so starting an
    attempt does not scan the bank."""
    cache = process_cache("quiz_pools")
    key = (bank.id, bank.revision, *_rule_key(rule))
    ids = cache.get(key)
    if ids is None:
        ids = remember(cache, key, _pool_ids(bank.id, rule), 1000)
    return ids


def _pool_ids(bank_id: int, rule: dict) -> list[int]:
    query = select(Question.id).where(Question.bank_id == bank_id)
    for name in ("category", "difficulty", "type"):
        if rule.get(name):
            query = query.where(getattr(Question, name) == rule[name])
    return list(db.session.scalars(query.order_by(Question.id)))


def _check_draw(bank: QuestionBank, draw: list[dict], field: str) -> dict:
    """Each rule's own pool must hold its count, and the rules together must be satisfiable with
    distinct questions (`_assign_draw`), so that no student's start fails on a quiz that was accepted."""
    return _draw_errors([_pool(bank, rule) for rule in draw], draw, field)


def _draw_errors(pools: list[list[int]], draw: list[dict], field: str) -> dict:
    errors: dict = {}
    for index, (rule, ids) in enumerate(zip(draw, pools, strict=True)):
        if len(ids) < rule["count"]:
            errors[f"{field}.{index}.count"] = [f"题库中符合条件的题目只有 {len(ids)} 道"]
    if errors:
        return errors
    union = len(set().union(*pools))
    if union < sum(rule["count"] for rule in draw):
        errors[field] = [f"题库中符合这些条件的题目一共只有 {union} 道"]
    elif _assign_draw(pools, [rule["count"] for rule in draw], random.Random(0)) is None:
        errors[field] = ["这几条抽题规则的范围互相重叠，题库中的题目不够同时满足它们"]
    return errors


def _assign_draw(pools: list[list[int]], counts: list[int], rng: random.Random) -> list[list[int]] | None:
    """Distinct questions for each draw rule: `counts[i]` of `pools[i]`, none twice; None when no
    such choice exists.

    Rules may overlap (20 of any type plus 5 true/false): drawn one after another at random, an
    earlier rule can take questions a later one has no other source for. So the rules draw at
    random with the smallest pool first, and a rule still short borrows along an augmenting path
    (it takes a question another rule holds, which takes a free one of its own in exchange: a
    bipartite matching), which finds a choice whenever one exists. The common draw (rules that do
    not overlap) never takes the second step."""
    picked: list[list[int]] = [[] for _ in pools]
    holder: dict[int, int] = {}  # question → the rule it was drawn for
    for index in sorted(range(len(pools)), key=lambda i: len(pools[i])):
        pool = pools[index]
        candidates = [qid for qid in pool if qid not in holder] if holder else pool
        for qid in rng.sample(candidates, min(counts[index], len(candidates))):
            picked[index].append(qid)
            holder[qid] = index
    for index, count in enumerate(counts):
        while len(picked[index]) < count:
            if not _borrow(index, pools, picked, holder):
                return None
    return picked


def _borrow(short: int, pools: list[list[int]], picked: list[list[int]], holder: dict[int, int]) -> bool:
    """One more question for rule `short`: a breadth-first search from it through questions other
    rules hold to a rule with a free question in its pool, then every rule on the path passes one
    question back toward `short`. False when no path exists (the rules cannot all be satisfied)."""
    came_from: dict[int, tuple[int, int] | None] = {short: None}  # rule → (rule that wants its question, question)
    queue = [short]
    for rule in queue:
        for qid in pools[rule]:
            owner = holder.get(qid)
            if owner is None:  # free: take it, then hand questions back along the path
                while True:
                    holder[qid] = rule
                    picked[rule].append(qid)
                    link = came_from[rule]
                    if link is None:
                        return True
                    rule, qid = link[0], link[1]
                    picked[holder[qid]].remove(qid)
            if owner not in came_from:
                came_from[owner] = (rule, qid)
                queue.append(owner)
    return False


def _rule(rule: dict) -> dict:
    return {key: rule[key] for key in ("count", "category", "difficulty", "type") if rule.get(key) is not None}


def _expected_max(draw: list[dict], points: dict) -> int:
    """The full score of a draw (`_untyped_rules` has made sure an untyped rule's questions are
    all worth the same, whatever their type)."""
    return sum(rule["count"] * points[rule.get("type") or "single"] for rule in draw)


def _full_score(quiz: Quiz) -> int:
    """The whole quiz's full score: every level's (a 闯关 student who stopped after level 1 has
    not scored 10 of 10, but 10 of 20)."""
    return sum(_expected_max(level["draw"], quiz.points) for level in quiz.levels)


def _untyped_rules(draw: list[dict], points: dict, field: str, level_name: str | None) -> dict:
    """When question types carry different points, a rule without a type would give students
    different full scores (one draws more multiple choice than another): each rule must name
    its type then."""
    if len({points[name] for name in DEFAULT_POINTS}) == 1:
        return {}
    where = f"{level_name}的" if level_name else ""
    return {f"{field}.{index}.type": [f"{where}第 {index + 1} 条抽题规则没有指定题型：各题型分值不同时，"
                                      "每条抽题规则都必须指定题型"]
            for index, rule in enumerate(draw) if not rule.get("type")}


def create_quiz(actor: User, campaign_id: int, data: dict) -> dict:
    campaign = visible_campaign(actor, campaign_id)
    if not has_authority(actor, campaign.org, "school_admin"):
        raise Forbidden("forbidden", "只有活动所属单位的管理员可以创建竞赛")
    bank = db.session.get(QuestionBank, data["bank_id"])
    if bank is None or not _bank_visible(actor, bank):
        raise ValidationFailed({"bank_id": ["题库不存在或无权使用"]}, code="bank_not_found")
    if not campaign.org.path.startswith(bank.org.path):
        raise ValidationFailed({"bank_id": ["该题库不属于活动所在单位或其上级，不能在这里使用"]},
                               code="bank_out_of_scope")
    points = DEFAULT_POINTS | (data.get("points") or {})
    raw_levels = data.get("levels") or [{"draw": data["draw"]}]
    untyped: dict = {}
    for index, level in enumerate(raw_levels, start=1):
        field = f"levels.{index - 1}.draw" if data.get("levels") else "draw"
        untyped |= _untyped_rules(level["draw"], points, field, f"第{index}关" if data.get("levels") else None)
    if untyped:
        raise ValidationFailed(untyped, message=next(iter(untyped.values()))[0], code="draw_type_required")
    errors: dict = {}
    too_high: dict = {}
    levels = []
    for index, level in enumerate(raw_levels, start=1):
        draw = [_rule(rule) for rule in level["draw"]]
        field = f"levels.{index - 1}.draw" if data.get("levels") else "draw"
        errors |= _check_draw(bank, draw, field)
        own = level.get("pass_score") is not None
        pass_score = level.get("pass_score", data.get("pass_score"))
        full = _expected_max(draw, points)
        if full == 0:  # every drawn type worth 0: a blank paper would pass and earn a certificate
            where = f"第{index}关" if data.get("levels") else "本竞赛"
            too_high["points"] = [f"{where}抽到的题型分值都是 0，满分为 0 分，请为题型设置分值"]
        elif pass_score is None:
            pass_score = math.ceil(0.6 * full)
        elif pass_score > full:  # nobody could pass: the next level and the certificate never come
            where = f"第{index}关" if data.get("levels") else ""
            too_high[f"levels.{index - 1}.pass_score" if own else "pass_score"] = [
                f"{where}及格分 {pass_score} 分高于{where}满分 {full} 分"]
        levels.append({"level": index, "title": level.get("title") or f"第{index}关", "draw": draw,
                       "pass_score": pass_score, "time_limit_s": level.get("time_limit_s") or data["time_limit_s"]})
    if errors:
        raise ValidationFailed(errors, message="题库中的题目不够抽取", code="not_enough_questions")
    if too_high:
        raise ValidationFailed(too_high, message=next(iter(too_high.values()))[0])
    opens_at, closes_at = _campaign_bounds(campaign, data.get("opens_at"), data.get("closes_at"))
    check_inside_period(campaign, opens_at, closes_at, QUIZ_OUTSIDE_CAMPAIGN)
    quiz = Quiz(
        campaign_id=campaign.id, bank_id=bank.id, title=data["title"], levels=levels,
        leveled=bool(data.get("levels")), points=points, multiple_partial=data["multiple_partial"],
        time_limit_s=data["time_limit_s"], max_attempts=data["max_attempts"], pass_score=levels[0]["pass_score"],
        opens_at=opens_at, closes_at=closes_at, created_by_id=actor.id,
    )
    db.session.add(quiz)
    db.session.commit()
    return describe_quiz(quiz)


def update_quiz(actor: User, quiz_id: int, data: dict) -> dict:
    """School and region admins over the campaign's org correct a quiz: the window and the number
    of attempts may change at any time (starts check both on every request, in SQL); the title
    only until the first attempt, because certificates show it. A moved close moves the open
    attempts' deadlines with it (`_follow_moved_close`).

    The quiz row is locked first, so an edit waits for a start whose row is already inserted and
    then sees it. A start whose statement read the quiz a moment before the edit and had not yet
    inserted still goes through under the rules it read (milliseconds: a start just before an
    edit)."""
    quiz = _quiz(actor, quiz_id)
    campaign = db.session.get(Campaign, quiz.campaign_id)
    if not has_authority(actor, campaign.org, "school_admin"):
        raise Forbidden("forbidden", "只有活动所属单位的管理员可以修改竞赛")
    lock_for_edit(quiz)
    data = data | {bound: value for bound, value in zip(("opens_at", "closes_at"), _campaign_bounds(
        campaign, data.get("opens_at"), data.get("closes_at")), strict=True) if bound in data}
    changed = changes(quiz, data)
    if "title" in changed and db.session.scalar(
            select(Attempt.id).where(Attempt.quiz_id == quiz.id).limit(1)) is not None:
        refuse_locked(changed, ("title",), "quiz_title_locked", "已有人开始答题，竞赛名称不能再修改")
    opens_at, closes_at = moved_window(quiz, data)
    if {"opens_at", "closes_at"} & changed.keys():
        check_inside_period(campaign, opens_at, closes_at, QUIZ_OUTSIDE_CAMPAIGN)
    for name, value in changed.items():
        setattr(quiz, name, value)
    if "closes_at" in changed:
        _follow_moved_close(quiz.id, quiz.closes_at)
    db.session.commit()
    return describe_quiz(quiz)


QUIZ_OUTSIDE_CAMPAIGN = "竞赛的答题时间需在活动时间之内"


def _campaign_bounds(campaign: Campaign, opens_at: datetime | None,
                     closes_at: datetime | None) -> tuple[datetime | None, datetime | None]:
    """A quiz's window with a bound left open (or cleared) taking the campaign's: nobody starts
    a quiz before its campaign begins or after it ends, when the awards are being decided. Starts
    check only the quiz's own window (in SQL, on the hot path), so the campaign's period is
    written into it; a campaign's period cannot be edited. Bounds sent must lie within it
    (`check_inside_period`)."""
    return opens_at or campaign.starts_at, closes_at or campaign.ends_at


def attempt_deadline(started_at: datetime, time_limit_s: int, closes_at: datetime | None) -> datetime:
    """An attempt ends at its time limit or when the quiz closes, whichever comes first."""
    deadline = started_at + timedelta(seconds=time_limit_s)
    return closes_at if closes_at is not None and closes_at < deadline else deadline


def _follow_moved_close(quiz_id: int, closes_at: datetime | None) -> None:
    """Open attempts get the deadline they would have had under the new close: one cut short by
    the old close gets its time back when the quiz is extended (up to its own time limit), and
    closing early ends open attempts at the new close, scored with what was saved by then. An
    attempt past its own time limit stays past it. Only rows still open are written (one that a
    submit or a reader closes meanwhile keeps its result)."""
    attempts = Attempt.__table__
    moved = []
    for row in db.session.execute(select(Attempt.id, Attempt.started_at, Attempt.time_limit_s, Attempt.deadline)
                                  .where(Attempt.quiz_id == quiz_id, Attempt.status == "open")):
        deadline = attempt_deadline(row.started_at, row.time_limit_s, closes_at)
        if deadline != row.deadline:
            moved.append({"attempt_id": row.id, "new_deadline": deadline})
    if moved:
        db.session.execute(update(attempts).where(attempts.c.id == bindparam("attempt_id"), attempts.c.status == "open")
                           .values(deadline=bindparam("new_deadline", type_=attempts.c.deadline.type)), moved)


def _status(quiz: Quiz, now: datetime) -> str:
    if quiz.opens_at and now < quiz.opens_at:
        return "upcoming"
    if quiz.closes_at and now >= quiz.closes_at:
        return "closed"
    return "open"


def describe_quiz(quiz: Quiz, me: dict | None = None) -> dict:
    levels = [level | {"question_count": sum(rule["count"] for rule in level["draw"])} for level in quiz.levels]
    return {
        "id": quiz.id, "campaign_id": quiz.campaign_id, "bank_id": quiz.bank_id, "title": quiz.title,
        "draw": quiz.levels[0]["draw"], "leveled": quiz.leveled, "levels": levels, "points": quiz.points,
        "multiple_partial": quiz.multiple_partial, "question_count": levels[0]["question_count"],
        "time_limit_s": quiz.time_limit_s, "max_attempts": quiz.max_attempts, "pass_score": quiz.pass_score,
        "opens_at": quiz.opens_at, "closes_at": quiz.closes_at, "status": _status(quiz, utcnow()),
        "created_at": quiz.created_at, "me": me,
    }


def _quiz(user: User, quiz_id: int) -> Quiz:
    """The quiz when its campaign is visible to the user. One query by id (quiz, bank — its
    revision keys the draw caches — and campaign with its org); visibility is checked in memory
    on the memberships the request loads anyway (`can_see_campaign`, the rule of
    `visible_campaigns_query`)."""
    row = db.session.execute(
        select(Quiz, QuestionBank, Campaign)
        .join(QuestionBank, QuestionBank.id == Quiz.bank_id)
        .join(Campaign, Campaign.id == Quiz.campaign_id)
        .where(Quiz.id == quiz_id)
    ).first()
    if row is None or not can_see_campaign(user, row.Campaign):
        raise NotFound("quiz_not_found", "竞赛不存在或无权查看")
    # The session's identity map holds objects weakly: keep the bank and campaign alive for the
    # request, so later `db.session.get` calls for them are answered from memory, not the database.
    g.setdefault("_quiz_rows", []).append(row)
    return row.Quiz


def list_quizzes(actor: User, campaign_id: int, page: int, page_size: int) -> dict:
    campaign = visible_campaign(actor, campaign_id)
    result = paginate(select(Quiz).where(Quiz.campaign_id == campaign.id).order_by(Quiz.id), page, page_size)
    quizzes = result["items"]
    result["items"] = [describe_quiz(quiz, me) for quiz, me in zip(quizzes, _my_progress(actor, quizzes),
                                                                     strict=True)]
    return result


def _my_progress(user: User, quizzes: list[Quiz]) -> list[dict]:
    """The caller's `me` of each quiz on a list page, as `get_quiz` gives it for one (the
    mini-program's 活动 and 我的 show progress from the list): two queries for the page, after
    the caller's attempts whose time ran out are scored."""
    if not quizzes:
        return []
    ids = [quiz.id for quiz in quizzes]
    _close_expired(select(Attempt).where(Attempt.quiz_id.in_(ids), Attempt.user_id == user.id))
    rows: dict[int, list] = {quiz_id: [] for quiz_id in ids}
    for row in db.session.execute(select(*_PROGRESS_COLUMNS)
                                  .where(Attempt.quiz_id.in_(ids), Attempt.user_id == user.id).order_by(Attempt.id)):
        rows[row.quiz_id].append(row)
    bests = {best.quiz_id: best for best in db.session.scalars(
        select(QuizBest).where(QuizBest.quiz_id.in_(ids), QuizBest.user_id == user.id))}
    return [_progress(quiz, user, rows[quiz.id]) | {"certificate_serial": _certificate_serial(bests.get(quiz.id), quiz)}
            for quiz in quizzes]


def _progress(quiz: Quiz, user: User, rows: list | None = None) -> dict:
    if rows is None:
        rows = _my_attempt_rows(quiz, user)
    levels = []
    previous_passed = True
    for level in quiz.levels:
        mine = [row for row in rows if row.level == level["level"]]
        counted = [row for row in mine if row.status != "voided"]  # a voided one still used a try
        scores = [row.score for row in counted if row.score is not None]
        passed = any(row.passed for row in counted)
        levels.append({"level": level["level"], "attempts_used": len(mine), "best_score": max(scores, default=None),
                       "passed": passed, "unlocked": previous_passed})
        previous_passed = passed
    open_ids = [row.id for row in rows if row.status == "open"]
    return {"open_attempt_id": open_ids[0] if open_ids else None, "levels": levels}


# What `_progress` reads of a student's attempts.
_PROGRESS_COLUMNS = (Attempt.quiz_id, Attempt.level, Attempt.status, Attempt.score, Attempt.passed, Attempt.id,
                     Attempt.deadline)


def _my_attempt_rows(quiz: Quiz, user: User) -> list:
    return db.session.execute(
        select(*_PROGRESS_COLUMNS).where(Attempt.quiz_id == quiz.id, Attempt.user_id == user.id)
    ).all()


def get_quiz(actor: User, quiz_id: int) -> dict:
    quiz = _quiz(actor, quiz_id)
    _close_expired(select(Attempt).where(Attempt.quiz_id == quiz.id, Attempt.user_id == actor.id))
    me = _progress(quiz, actor)
    best = db.session.scalar(select(QuizBest).where(QuizBest.quiz_id == quiz.id, QuizBest.user_id == actor.id))
    me["certificate_serial"] = _certificate_serial(best, quiz)
    return describe_quiz(quiz, me)


def _certificate_serial(best: QuizBest | None, quiz: Quiz) -> str | None:
    return _serial(best) if _certified(best, quiz) else None


# --- attempts -----------------------------------------------------------------------------


def _student_org(user: User, campaign: Campaign) -> Org | None:
    """The class the student takes the quiz for: their student membership inside the campaign's org."""
    for membership in memberships_of(user):
        if membership.role == "student" and membership.org.path.startswith(campaign.org.path):
            return membership.org
    return None


def _draw(bank, points: dict, multiple_partial: bool, level: dict, rng: random.Random) -> list[dict]:
    """The attempt's snapshot: questions drawn by the level's rules and shuffled with `rng`.
    `bank` needs only `id` and `revision` (they key the caches of pools and question texts)."""
    rules = level["draw"]
    picked = _assign_draw([_pool(bank, rule) for rule in rules], [rule["count"] for rule in rules], rng)
    if picked is None:  # the bank lost questions since the quiz was set
        raise Conflict("not_enough_questions", "题库中的题目不够抽取，请联系老师")
    chosen = [qid for ids in picked for qid in ids]
    rng.shuffle(chosen)
    rows = _question_data(bank, chosen)
    if len(rows) != len(chosen):  # a question vanished since the pool was cached
        raise Conflict("bank_changed", "题库刚刚被修改，请重试")
    snapshot = []
    for qid in chosen:
        q = rows[qid]
        perm = list(range(len(q["options"])))
        if q["type"] != "true_false":  # 正确 / 错误 keep their order
            rng.shuffle(perm)
            keep = q.get("shuffled", len(perm))  # 以上都是, A和B都对 …: importers.shuffled_prefix
            if keep < len(perm):
                perm = [index for index in perm if index < keep] + list(range(keep, len(perm)))
        snapshot.append(q | {"perm": perm, "points": points.get(q["type"], 5),
                             "partial": bool(multiple_partial and q["type"] == "multiple")})
    return snapshot


STORED = ("id", "v", "perm", "points", "partial")  # per question in `Attempt.questions`
MAX_VERSIONS = 20_000  # ~1 KB each
VERSION_READ_CHUNK = 500


def _texts(row) -> dict:
    """A question version as attempts use it: `{id, v, type, stem, options, answer, explanation,
    legal_basis, category}` (`row`: the columns of a question or of a kept version)."""
    options = list(importers.TRUE_FALSE_OPTIONS) if row.type == "true_false" else list(row.options)
    return {"id": row.id, "v": row.version, "type": row.type, "stem": row.stem, "options": options,
            "answer": list(row.answer), "explanation": row.explanation, "legal_basis": row.legal_basis,
            "category": row.category,
            "shuffled": len(options) if row.type == "true_false" else importers.shuffled_prefix(options)}


def _question_data(bank: QuestionBank, ids: list[int]) -> dict[int, dict]:
    """The questions' current versions for a snapshot, cached per bank revision (an edit bumps
    it), so a start reads only the questions this process has not seen yet. What it reads also
    serves `attempt_questions` (an autosave or submit of an attempt another worker started)."""
    cache = process_cache("quiz_questions")
    key = (bank.id, bank.revision)
    known = cache.get(key)
    if known is None:
        for old in [k for k in cache if k[0] == bank.id]:
            del cache[old]
        known = remember(cache, key, {}, 50)
    missing = [qid for qid in ids if qid not in known]
    if missing:
        query = select(Question.id, Question.version, *[getattr(Question, name) for name in CONTENT]
                       ).where(Question.bank_id == bank.id)
        if known:  # a warm cache fetches what it lacks; a cold one loads the bank once
            query = query.where(Question.id.in_(missing))
        versions = process_cache("question_versions")  # what `attempt_questions` reads: the same texts
        for row in db.session.execute(query):
            known[row.id] = remember(versions, (row.id, row.version), _texts(row), MAX_VERSIONS)
    return {qid: known[qid] for qid in ids if qid in known}


def _stored(snapshot: list[dict]) -> list[dict]:
    """What an attempt stores of its drawn questions: which version, shown how, worth what."""
    return [{name: q[name] for name in STORED} for q in snapshot]


def attempt_questions(stored: list[dict], texts: dict | None = None) -> list[dict]:
    """An attempt's questions with their texts, in display order (`texts`: from `version_texts`
    for many attempts at once). Entries that hold their texts (attempts from before versions were
    kept, a snapshot just drawn) are used as they are."""
    if texts is None:
        texts = version_texts(stored)
    return [q if "stem" in q else texts[(q["id"], q["v"])] | q for q in stored]


def version_texts(stored: list[dict]) -> dict[tuple[int, int], dict]:
    """(question id, version) → texts for the entries of `stored` (one or many attempts' stored
    questions). A version never changes, so each worker keeps those it has read."""
    cache = process_cache("question_versions")
    wanted = {(q["id"], q["v"]) for q in stored if "stem" not in q}
    texts = {key: cache.get(key) for key in wanted}
    missing = sorted(key for key, found in texts.items() if found is None)
    for start in range(0, len(missing), VERSION_READ_CHUNK):
        chunk = missing[start:start + VERSION_READ_CHUNK]
        ids = sorted({qid for qid, _v in chunk})
        columns = [getattr(Question, name) for name in CONTENT]
        kept = [getattr(QuestionVersion, name) for name in CONTENT]
        # One statement, so one snapshot of both tables: an edit committing in between moves a
        # version from the first to the second as a whole.
        rows = db.session.execute(union_all(
            select(Question.id, Question.version, *columns).where(Question.id.in_(ids)),
            select(QuestionVersion.question_id, QuestionVersion.version, *kept)
            .where(QuestionVersion.question_id.in_(ids)),
        ))
        for row in rows:
            if (row.id, row.version) in texts:
                texts[(row.id, row.version)] = remember(cache, (row.id, row.version), _texts(row), MAX_VERSIONS)
    gone = [key for key, found in texts.items() if found is None]
    if gone:
        raise RuntimeError(f"question versions missing for an attempt: {gone[:5]}")
    return texts


def _open_payload(attempt) -> dict:
    """What the student sees while answering: no answer, no explanation, no correctness.
    `attempt` is an Attempt or anything with its attributes (the fast start passes values)."""
    return {
        "id": attempt.id, "quiz_id": attempt.quiz_id, "level": attempt.level, "number": attempt.number,
        "status": attempt.status, "started_at": attempt.started_at, "deadline": attempt.deadline,
        "time_limit_s": attempt.time_limit_s, "server_time": utcnow(),
        "questions": [
            {"id": q["id"], "type": q["type"], "stem": q["stem"], "points": q["points"],
             "options": [{"key": LETTERS[i], "text": q["options"][orig]} for i, orig in enumerate(q["perm"])]}
            for q in attempt_questions(attempt.questions)
        ],
        "saved": dict(attempt.answers or {}),
    }


def _expired(attempt: Attempt, now: datetime) -> bool:
    return now > attempt.deadline + _grace()


MAX_START_FACTS = 1000


def _remember_start_facts(quiz: Quiz) -> None:
    """What a start needs of a one-level quiz that never changes once the quiz exists (its bank,
    draw rules, points, time limit), kept per process for `start_as_student`. The bank's
    revision is kept too and re-checked by the insert itself: an edited bank makes the fast
    insert find nothing, and the full path then remembers the new revision."""
    if len(quiz.levels) != 1:
        return
    known = process_cache("quiz_start_facts")
    bank = db.session.get(QuestionBank, quiz.bank_id)
    current = known.get(quiz.id)
    if current is not None and (current.id, current.revision) == (bank.id, bank.revision):
        return  # unchanged: keep the object the fast starts in flight drew with
    remember(known, quiz.id, _StartFacts(quiz.id, bank.id, bank.revision, quiz.levels[0], dict(quiz.points),
                                         quiz.multiple_partial), MAX_START_FACTS)


class _StartFacts:
    __slots__ = ("quiz_id", "id", "revision", "level", "points", "multiple_partial")

    def __init__(self, quiz_id, bank_id, revision, level, points, multiple_partial) -> None:
        # `id` and `revision` are the bank's: this object stands in for it in `_draw`.
        self.quiz_id, self.id, self.revision = quiz_id, bank_id, revision
        self.level, self.points, self.multiple_partial = level, points, multiple_partial


@built_once_per_dialect
def _fast_start_statement(dialect: str):
    """`INSERT … SELECT … ON CONFLICT DO NOTHING` of the new attempts of one quiz, one row per
    student of the batch (`json_batch`): the quiz's window, the bank's revision, the attempts
    used and the student's class inside the campaign's org are checked in SQL; the unique open
    key and attempt number refuse a second open attempt and a race. None on other databases."""
    table = Attempt.__table__
    statement = conflict_insert(table)
    batch = json_batch(dialect, "batch", {"user_id": BigInteger(), "open_key": String(), "seed": BigInteger(),
                                          "device": String(), "questions": JSON(), "max_score": BigInteger()})
    if statement is None or batch is None:
        return None
    empty = literal("{}", String())
    if dialect == "postgresql":
        empty = cast(empty, JSON)
    campaign_org, earlier = aliased(Org), Attempt.__table__.alias("earlier")
    quiz_id, now = bindparam("quiz_id"), bindparam("now", type_=UTCDateTime())
    deadline = bindparam("deadline", type_=UTCDateTime())
    # The membership `_student_org` takes: the student's first class inside the campaign's org.
    klass = student_class(dialect, batch.c.user_id, inside_path=campaign_org.path)
    used = (select(func.count()).select_from(earlier)
            .where(earlier.c.quiz_id == quiz_id, earlier.c.user_id == batch.c.user_id, earlier.c.level == 1)
            .scalar_subquery())
    earliest = func.least if dialect == "postgresql" else func.min
    rows = (
        select(Quiz.id, batch.c.user_id, literal(1), used + 1, batch.c.open_key, batch.c.seed, literal("open"),
               klass.id, klass.path, batch.c.device, batch.c.questions, empty, bindparam("time_limit_s"),
               bindparam("pass_score"), batch.c.max_score, now, earliest(deadline, func.coalesce(Quiz.closes_at,
                                                                                                  deadline)), now)
        .select_from(batch)
        .join(Quiz, Quiz.id == quiz_id)
        .join(QuestionBank, QuestionBank.id == Quiz.bank_id)
        .join(Campaign, Campaign.id == Quiz.campaign_id)
        .join(campaign_org, campaign_org.id == Campaign.org_id)
    )
    rows = klass.joined_to(rows).where(Quiz.bank_id == bindparam("bank_id"),
                                       QuestionBank.revision == bindparam("revision"),
                                       used < Quiz.max_attempts,
                                       or_(Quiz.opens_at.is_(None), Quiz.opens_at <= now),
                                       or_(Quiz.closes_at.is_(None), Quiz.closes_at > now))
    columns = ["quiz_id", "user_id", "level", "number", "open_key", "seed", "status", "org_id", "org_path", "device",
               "questions", "answers", "time_limit_s", "pass_score", "max_score", "started_at", "deadline",
               "updated_at"]
    statement = (statement.from_select(columns, rows).on_conflict_do_nothing()
                 .returning(table.c.id, table.c.user_id, table.c.number, table.c.started_at, table.c.deadline))
    return statement


def _write_starts(starts: list[tuple]) -> list:
    """One batch of starts of one quiz ((facts, user, seed, device, snapshot) each): one statement,
    one commit. The new attempt's row per start, or None (full path) where nothing was inserted
    or the start was drawn from other facts than the batch's first (a bank edited meanwhile)."""
    facts = starts[0][0]
    first = first_of_each(starts, _sender, keep=lambda start: (start[0].id, start[0].revision)
                          == (facts.id, facts.revision))
    statement = _fast_start_statement()
    now = utcnow()
    level = facts.level
    rows = []
    for index in sorted(first.values(), key=lambda i: starts[i][1]):  # by user: the same key order as others
        _same_facts, user_id, seed, device, snapshot = starts[index]
        rows.append((user_id, f"{facts.quiz_id}:{user_id}", seed, device, _stored(snapshot),
                     sum(q["points"] for q in snapshot)))
    created = execute_committed(statement, {
        "quiz_id": facts.quiz_id, "bank_id": facts.id, "revision": facts.revision, "now": now,
        "deadline": now + timedelta(seconds=level["time_limit_s"]), "time_limit_s": level["time_limit_s"],
        "pass_score": level["pass_score"], **json_batch_params(rows)})
    return answer_each(starts, _sender, first, {row.user_id: row for row in created})


def _sender(start: tuple) -> int:
    return start[1]


def start_as_student(user_id: int, quiz_id: int, level_no: int | None, device: str | None) -> dict | None:
    """The common start: a student in the campaign's org opens a one-level quiz this process has
    started before, in its window, with attempts left and none open. Nothing is read first: the
    questions are drawn from the cached pool, and the insert (group-committed with the other
    starts of this quiz at this moment) checks everything else. None when this path does not
    apply or inserted nothing: `start_attempt` then decides with the full rules (resume,
    refusals, levels, staff)."""
    facts = process_cache("quiz_start_facts").get(quiz_id)
    if facts is None or level_no not in (None, 1) or _fast_start_statement() is None:
        return None
    seed = secrets.randbits(31)
    try:
        snapshot = _draw(facts, facts.points, facts.multiple_partial, facts.level, random.Random(seed))
    except ApiError:
        return None
    release_read_transaction()  # the draw may have read questions
    row = group_commit(f"quiz_starts:{quiz_id}", _write_starts).submit((facts, user_id, seed, device, snapshot))
    if row is None:
        return None
    _remember_facts(row.id, user_id, snapshot)  # this worker will likely get the student's autosaves
    return _open_payload(SimpleNamespace(
        id=row.id, quiz_id=quiz_id, level=1, number=row.number, status="open", started_at=row.started_at,
        deadline=row.deadline, time_limit_s=facts.level["time_limit_s"], questions=snapshot, answers={}))


def start_quiz(user_id: int, load_user, quiz_id: int, level_no: int | None = None, device: str | None = None
               ) -> tuple[dict, bool]:
    """Start (or resume) an attempt: the fast path when it applies, else the full rules. The
    answer says `resumed: true` when it is the student's attempt that was still open."""
    payload = start_as_student(user_id, quiz_id, level_no, device)
    created = payload is not None
    if not created:
        payload, created = start_attempt(load_user(), quiz_id, level_no, device)
    payload["resumed"] = not created
    return payload, created


def start_attempt(user: User, quiz_id: int, level_no: int | None = None, device: str | None = None
                  ) -> tuple[dict, bool]:
    """A new attempt (created=True), or the open one so a reinstalled app resumes (False)."""
    quiz = _quiz(user, quiz_id)
    _remember_start_facts(quiz)
    now = utcnow()
    open_key = f"{quiz.id}:{user.id}"
    rows = _my_attempt_rows(quiz, user)
    open_row = next((row for row in rows if row.status == "open"), None)
    if open_row is not None:
        current = db.session.get(Attempt, open_row.id)
        if not _expired(current, now):
            return _open_payload(current), False
        _score(current, now, "deadline")
        db.session.commit()
        rows = _my_attempt_rows(quiz, user)
    status = _status(quiz, now)
    if status == "upcoming":
        raise Conflict("quiz_not_open", "竞赛还没有开始")
    if status == "closed":
        raise Conflict("quiz_closed", "竞赛已经结束")
    progress = _progress(quiz, user, rows)["levels"]
    if level_no is None:
        level_no = next((p["level"] for p in progress if not p["passed"]), len(progress))
    if level_no > len(quiz.levels):
        raise ValidationFailed({"level": [f"本竞赛只有 {len(quiz.levels)} 关"]})
    mine = progress[level_no - 1]
    if not mine["unlocked"]:
        raise Conflict("level_locked", f"请先通过第 {level_no - 1} 关")
    if mine["attempts_used"] >= quiz.max_attempts:
        per = "每关" if quiz.leveled else ""
        raise Conflict("attempts_exhausted", f"答题次数已用完（{per}最多 {quiz.max_attempts} 次）")
    level = quiz.levels[level_no - 1]
    seed = secrets.randbits(31)
    campaign = db.session.get(Campaign, quiz.campaign_id)
    org = _student_org(user, campaign)
    deadline = attempt_deadline(now, level["time_limit_s"], quiz.closes_at)
    drawn = _draw(db.session.get(QuestionBank, quiz.bank_id), quiz.points, quiz.multiple_partial, level,
                  random.Random(seed))
    attempt = Attempt(
        quiz_id=quiz.id, user_id=user.id, level=level_no, number=mine["attempts_used"] + 1, open_key=open_key,
        seed=seed, status="open", org_id=org.id if org else None, org_path=org.path if org else None,
        device=device, questions=_stored(drawn), answers={}, max_score=sum(q["points"] for q in drawn),
        time_limit_s=level["time_limit_s"], pass_score=level["pass_score"], started_at=now, deadline=deadline,
    )
    db.session.add(attempt)
    try:
        db.session.flush()
        payload = _open_payload(attempt)  # before the commit expires the attempt's attributes
        facts = (attempt.id, user.id, drawn)
        db.session.commit()
        _remember_facts(*facts)  # this worker will likely get the student's autosaves
    except IntegrityError:
        # Two starts at once: the other one won; answer with its attempt.
        db.session.rollback()
        current = db.session.scalar(select(Attempt).where(Attempt.open_key == open_key))
        if current is None:
            raise Conflict("attempts_exhausted", "答题次数已用完") from None
        return _open_payload(current), False
    return payload, True


def _owned(user_id: int, attempt_id: int, *, lock: bool = False) -> Attempt:
    query = select(Attempt).where(Attempt.id == attempt_id)
    if lock:
        query = query.with_for_update()
    attempt = db.session.scalar(query)
    if attempt is None or attempt.user_id != user_id:
        raise NotFound("attempt_not_found", "答题记录不存在")
    return attempt


def _original(q: dict, keys: list[str]) -> list[int]:
    return sorted(q["perm"][LETTERS.index(key)] for key in keys)


def _earned(q: dict, keys: list[str]) -> int:
    chosen = _original(q, keys)
    if chosen == sorted(q["answer"]):
        return q["points"]
    if q.get("partial") and chosen and set(chosen) < set(q["answer"]):
        return q["points"] // 2
    return 0


def _scoring(attempt, now: datetime) -> dict:
    """Marks, score, pass and time of an open attempt (an Attempt or a row with its columns)
    scored at `now` with the answers it holds."""
    answers = attempt.answers or {}
    marks = {str(q["id"]): _earned(q, answers.get(str(q["id"]), [])) for q in attempt_questions(attempt.questions)}
    score = sum(marks.values())
    finished_at = min(now, attempt.deadline)
    return {"marks": marks, "score": score, "passed": score >= attempt.pass_score, "finished_at": finished_at,
            "duration_ms": max(0, int((finished_at - attempt.started_at).total_seconds() * 1000))}


def _score(attempt: Attempt, now: datetime, ended_by: str) -> None:
    if attempt.status != "open":
        return
    for name, value in _scoring(attempt, now).items():
        setattr(attempt, name, value)
    attempt.status = "scored"
    attempt.ended_by = ended_by
    _forget_facts(attempt.id)
    attempt.open_key = None
    db.session.flush()
    _refresh_best(attempt.quiz_id, attempt.user_id)


MAX_RANKED_MS = 10**9 - 1  # ~11.5 days; longer durations rank as equal


def rank_key(levels_passed: int, score: int, duration_ms: int) -> int:
    """Higher is better: levels passed, then score, then the shorter time (to the millisecond).
    Scores stay below 10**6 (at most 100 points × 200 questions × 20 levels)."""
    return (levels_passed * 10**6 + score) * 10**9 + (MAX_RANKED_MS - min(duration_ms, MAX_RANKED_MS))


_BEST_COLUMNS = ("org_id", "org_path", "levels_passed", "score", "max_score", "duration_ms", "passed", "attempts",
                 "achieved_at", "rank_key")


@built_once_per_dialect
def _best_upsert(_dialect: str):
    """`INSERT … ON CONFLICT (quiz_id, user_id) DO UPDATE` of a leaderboard row (Core, bound per
    call); None where the database has no such clause."""
    statement = conflict_insert(QuizBest.__table__)
    if statement is None:
        return None
    return statement.on_conflict_do_update(
        index_elements=["quiz_id", "user_id"], set_={name: statement.excluded[name] for name in _BEST_COLUMNS})


_BEST_SOURCE = (Attempt.id, Attempt.quiz_id, Attempt.user_id, Attempt.level, Attempt.score, Attempt.max_score,
                Attempt.duration_ms, Attempt.passed, Attempt.finished_at, Attempt.org_id, Attempt.org_path,
                Attempt.status)


def _students_attempts(quiz_condition, user_condition):
    """Every attempt (any status) of the students `user_condition` names in the quizzes
    `quiz_condition` names, in id order, found through the unique (quiz, user, level, number)
    index. Callers keep the scored ones in Python: with `status = 'scored'` in the SQL, the
    planner (before ANALYZE has seen the table) took the index on (quiz, status, deadline) and read
    every scored attempt of the quiz for each submit — a scan that grows with every hand-in."""
    return select(*_BEST_SOURCE).where(quiz_condition, user_condition).order_by(Attempt.id)


def _best_values(attempts: list) -> dict:
    """A student's leaderboard row from their scored attempts of a quiz (in id order): the best
    attempt per level (score, then the shorter time) counts; the class is the latest attempt's."""
    best_per_level: dict = {}
    for attempt in attempts:
        best = best_per_level.get(attempt.level)
        if best is None or (attempt.score, -attempt.duration_ms) > (best.score, -best.duration_ms):
            best_per_level[attempt.level] = attempt
    bests = list(best_per_level.values())
    latest = attempts[-1]
    values = {
        "org_id": latest.org_id, "org_path": latest.org_path,
        "levels_passed": len({a.level for a in attempts if a.passed}),
        "score": sum(a.score for a in bests), "max_score": sum(a.max_score for a in bests),
        "duration_ms": sum(a.duration_ms for a in bests), "passed": any(a.passed for a in attempts),
        "attempts": len(attempts), "achieved_at": max(a.finished_at for a in bests),
    }
    values["rank_key"] = rank_key(values["levels_passed"], values["score"], values["duration_ms"])
    return values


# Every attempt of the student voided: the row stays (deleted, its id — the certificate's serial —
# could be handed to the next student on SQLite, and the serial would answer "not found" instead
# of "revoked") with no place in any subtree and no attempts, which every reader of results
# leaves out (`_HAS_RESULT`; the leaderboard's subtree condition cannot match a NULL path).
_NO_RESULT = {"org_id": None, "org_path": None, "levels_passed": 0, "score": 0, "max_score": 0, "duration_ms": 0,
              "passed": False, "attempts": 0, "rank_key": 0}
_HAS_RESULT = QuizBest.attempts > 0


def _refresh_best(quiz_id: int, user_id: int) -> None:
    """Rewrite the student's leaderboard row from their scored attempts (a handful)."""
    attempts = [row for row in db.session.execute(
        _students_attempts(Attempt.quiz_id == quiz_id, Attempt.user_id == user_id)) if row.status == "scored"]
    values = _best_values(attempts) if attempts else _NO_RESULT | {"achieved_at": utcnow()}
    statement = _best_upsert()
    if statement is not None:  # one statement, safe against a concurrent first insert
        db.session.execute(statement, {"quiz_id": quiz_id, "user_id": user_id, **values})
        return
    row = db.session.scalar(select(QuizBest).where(QuizBest.quiz_id == quiz_id, QuizBest.user_id == user_id))
    if row is None:
        row = QuizBest(quiz_id=quiz_id, user_id=user_id)
        db.session.add(row)
    for key, value in values.items():
        setattr(row, key, value)


def _close_expired(query, limit: int | None = None) -> int:
    """Score the open attempts of `query` whose deadline (plus grace) has passed.

    Quiz-wide readers (leaderboard, stats) pass a `limit`, so a city-wide quiz closing with
    thousands of unsubmitted attempts never lands on one request; concurrent requests skip rows
    another one is scoring (PostgreSQL), and `flask quizzes close-expired` (cron) does the rest."""
    now = utcnow()
    stale_query = (query.where(Attempt.status == "open", Attempt.deadline < now - _grace())
                   .order_by(Attempt.deadline).with_for_update(skip_locked=True))
    if limit:
        stale_query = stale_query.limit(limit)
    stale = db.session.scalars(stale_query).all()
    for attempt in stale:
        _score(attempt, now, "deadline")
    if stale:
        db.session.commit()
    return len(stale)


READER_CLOSE_LIMIT = 100


def _close_expired_for_readers(quiz_id: int) -> None:
    """Before a quiz-wide read (leaderboard, statistics): close up to READER_CLOSE_LIMIT abandoned
    attempts, at most every `QUIZ_READER_CLOSE_EVERY_S` seconds (default 5) per quiz and process,
    so a busy leaderboard does not run the same search on every request."""
    every = current_app.config.get("QUIZ_READER_CLOSE_EVERY_S", 5)
    last_run = process_cache("quiz_reader_close")
    now = time.monotonic()
    if now - last_run.get(quiz_id, -every) < every:
        return
    last_run[quiz_id] = now
    _close_expired(select(Attempt).where(Attempt.quiz_id == quiz_id), limit=READER_CLOSE_LIMIT)


def close_all_expired(batch: int = 500) -> int:
    """Score every attempt left open past its deadline, in batches (the cron job)."""
    closed = 0
    while count := _close_expired(select(Attempt), limit=batch):
        closed += count
    return closed


def _level_count(quiz_id: int) -> int:
    """How many levels a quiz has, read once per process: a quiz's levels never change once it
    is created (there is no way to edit them)."""
    known = process_cache("quiz_level_counts")
    count = known.get(quiz_id)
    if count is None:
        levels = db.session.scalar(select(Quiz.levels).where(Quiz.id == quiz_id))
        count = remember(known, quiz_id, len(levels), MAX_START_FACTS)
    return count


def _result(attempt) -> dict:
    """The scored attempt with the answers and explanations (an Attempt, or its values)."""
    answers = attempt.answers or {}
    questions = []
    for q in attempt_questions(attempt.questions):
        keys = answers.get(str(q["id"]), [])
        earned = (attempt.marks or {}).get(str(q["id"]), 0)
        display_of = {orig: LETTERS[i] for i, orig in enumerate(q["perm"])}
        questions.append({
            "id": q["id"], "type": q["type"], "stem": q["stem"],
            "options": [{"key": LETTERS[i], "text": q["options"][orig]} for i, orig in enumerate(q["perm"])],
            "choice": keys, "correct": _original(q, keys) == sorted(q["answer"]),
            "points": q["points"], "earned": earned, "answer": sorted(display_of[i] for i in q["answer"]),
            "explanation": q["explanation"], "legal_basis": q["legal_basis"],
        })
    voided = attempt.status == "voided"
    next_level = (attempt.level + 1 if attempt.passed and not voided and attempt.level < _level_count(attempt.quiz_id)
                  else None)
    return {
        "id": attempt.id, "quiz_id": attempt.quiz_id, "level": attempt.level, "status": attempt.status,
        "ended_by": attempt.ended_by, "score": attempt.score, "max_score": attempt.max_score,
        "pass_score": attempt.pass_score, "passed": attempt.passed, "duration_s": attempt.duration_ms / 1000,
        "started_at": attempt.started_at, "finished_at": attempt.finished_at, "next_level": next_level,
        "late_answers_ignored": False, "questions": questions,
        "void_reason": getattr(attempt, "void_reason", None) if voided else None,
    }


def void_attempt(actor: User, attempt_id: int, reason: str) -> dict:
    """A school or region admin over the attempt's class declares a scored attempt void: what
    the suspicion flags point at (copying, a proxy taker) once staff have checked. It leaves the
    leaderboard, the statistics and the student's best result; a certificate it earned is no
    longer valid unless another attempt passes. It still counts against the attempt limit (no
    fresh try for cheating). Teachers see the flags but do not decide (403); voiding again
    answers the same."""
    attempt = db.session.get(Attempt, attempt_id)
    org = None
    if attempt is not None:  # the class it was taken in; for staff and parents, the campaign's org
        org = db.session.get(Org, attempt.org_id) if attempt.org_id else None
        org = org or db.session.get(Campaign, db.session.get(Quiz, attempt.quiz_id).campaign_id).org
    if org is None or not has_authority(actor, org, "teacher"):
        raise NotFound("attempt_not_found", "作答记录不存在或无权查看")
    if not has_authority(actor, org, "school_admin"):
        raise Forbidden("forbidden", "只有学校或上级教育局的管理员可以判定作答无效")
    # Every attempt of the student in this quiz, locked in id order: a submit of another of them
    # (it locks that one) or a second void then waits, and the best row is rewritten from what
    # both committed, never from a read of the other's half.
    db.session.execute(select(Attempt.id).where(Attempt.quiz_id == attempt.quiz_id,
                                                Attempt.user_id == attempt.user_id)
                       .order_by(Attempt.id).with_for_update())
    db.session.refresh(attempt)
    if attempt.status == "open" and _expired(attempt, utcnow()):  # time is up: scored with what was saved
        _score(attempt, utcnow(), "deadline")
    if attempt.status == "open":
        raise Conflict("attempt_open", "该次作答尚未结束，结束后才能判定无效")
    if attempt.status == "scored":
        attempt.status = "voided"
        attempt.voided_at = utcnow()
        attempt.voided_by = actor.id
        attempt.void_reason = reason
        db.session.flush()
        _refresh_best(attempt.quiz_id, attempt.user_id)
        db.session.commit()
        log.info("quiz attempt %s voided by user %s", attempt.id, actor.id)
    return {"id": attempt.id, "quiz_id": attempt.quiz_id, "level": attempt.level, "status": attempt.status,
            "score": attempt.score, "max_score": attempt.max_score, "passed": attempt.passed,
            "voided_at": attempt.voided_at, "void_reason": attempt.void_reason}


def get_attempt(user_id: int, attempt_id: int) -> dict:
    """The open attempt (to resume), or its result once scored."""
    attempt = _owned(user_id, attempt_id)
    if attempt.status == "open" and _expired(attempt, utcnow()):
        _score(attempt, utcnow(), "deadline")
        db.session.commit()
    return _open_payload(attempt) if attempt.status == "open" else _result(attempt)


def _clean_choice(q: dict, keys: list[str], field: str) -> list[str]:
    return _clean_keys(q["type"], len(q["options"]), keys, field)


def _clean_keys(question_type: str, option_count: int, keys: list[str], field: str) -> list[str]:
    valid = LETTERS[:option_count]
    cleaned = list(dict.fromkeys(key.strip().upper() for key in keys))
    bad = [key for key in cleaned if len(key) != 1 or key not in valid]
    if bad:
        raise ValidationFailed({field: [f"选项「{'、'.join(bad)}」不存在"]}, code="invalid_choice")
    if question_type != "multiple" and len(cleaned) > 1:
        raise ValidationFailed({field: ["这道题只能选一个答案"]}, code="invalid_choice")
    return sorted(cleaned)


def _question_in(questions: list[dict], question_id: str) -> dict:
    """The attempt's question `question_id` (`questions`: `attempt_questions` of the attempt)."""
    for q in questions:
        if str(q["id"]) == question_id:
            return q
    raise NotFound("question_not_in_attempt", "这道题不在本次答题中")


MAX_ATTEMPT_FACTS = 20_000  # ~2 KB each (20 questions); entries also leave when the attempt is scored


def _facts(attempt_id: int) -> tuple | None:
    """What an autosave checks that never changes once an attempt exists (its owner, the
    questions' types and options), read once per process instead of loading the whole attempt."""
    facts = process_cache("quiz_attempt_facts").get(attempt_id)
    if facts is None:
        row = db.session.execute(select(Attempt.user_id, Attempt.questions).where(Attempt.id == attempt_id)).first()
        if row is None:
            return None
        facts = _remember_facts(attempt_id, row.user_id, attempt_questions(row.questions))
    return facts


def _remember_facts(attempt_id: int, user_id: int, questions: list[dict]) -> tuple:
    """Kept per app: attempt id → (owner id, {question id: (type, number of options)})."""
    facts = (user_id, {str(q["id"]): (q["type"], len(q["options"])) for q in questions})
    return remember(process_cache("quiz_attempt_facts"), attempt_id, facts, MAX_ATTEMPT_FACTS)


def _forget_facts(attempt_id: int) -> None:
    process_cache("quiz_attempt_facts").pop(attempt_id, None)


@built_once_per_dialect
def _save_statement(dialect: str):
    """`UPDATE … SET answers = answers merged with the batch's patch FROM batch WHERE` each attempt
    is its sender's, open and inside its deadline: the database merges the answers (no
    read-modify-write race) for every autosave of a group commit at once, and returns the ids of
    the attempts it changed (with their owners). The batch arrives as [attempt, user, patch] rows
    (`json_batch`).
    None where the database has no JSON merge we use."""
    table = Attempt.__table__
    empty = literal("{}", String())
    batch = json_batch(dialect, "batch", {"attempt_id": BigInteger(), "user_id": BigInteger(), "patch": JSON()})
    if dialect == "postgresql":
        merged = cast(func.coalesce(cast(table.c.answers, JSONB), cast(empty, JSONB))
                      .op("||")(cast(batch.c.patch, JSONB)), JSON)
    elif dialect == "sqlite":
        merged = func.json_patch(func.coalesce(table.c.answers, empty), batch.c.patch)
    else:
        return None
    statement = (update(table)
                 .where(table.c.id == batch.c.attempt_id, table.c.user_id == batch.c.user_id,
                        table.c.status == "open", table.c.deadline >= bindparam("cutoff", type_=UTCDateTime()))
                 .values(answers=merged)
                 .returning(table.c.id, table.c.user_id))
    return statement


def _write_saves(saves: list[tuple]) -> list[bool]:
    """One batch of autosaves (attempt, user, question, choice): one UPDATE, one commit. Saves of
    the same attempt are merged into one patch in arrival order (a later answer to the same
    question wins, as it would one after the other). True where the attempt took the answer."""
    statement = _save_statement()
    patches: dict[tuple, dict] = {}  # (attempt, sender) → {question: choice}
    for attempt_id, user_id, question_id, choice in saves:
        patches.setdefault((attempt_id, user_id), {})[question_id] = choice
    # In id order: two processes' batches then lock shared attempts in the same order (no deadlock).
    rows = [(attempt_id, user_id, patches[(attempt_id, user_id)]) for attempt_id, user_id in sorted(patches)]
    written = execute_committed(statement, {"cutoff": utcnow() - _grace(), **json_batch_params(rows)})
    saved = {(row.id, row.user_id) for row in written}  # a stranger's save matches no row
    return [(attempt_id, user_id) in saved for attempt_id, user_id, *_ in saves]


def _save_directly(user_id: int, attempt_id: int, question_id: int, keys: list[str], now: datetime) -> dict | None:
    """The common autosave: checked against the attempt's cached facts, then merged into the
    open attempt's answers by the database, with the deadline checked in the same statement,
    together with the other autosaves of this moment (group commit). None when anything is
    unusual (not found, not the owner, deadline passed, submitted, a bad choice): `save_answer`
    then answers with the full rules."""
    facts = _facts(attempt_id)
    if facts is None or facts[0] != user_id:
        return None
    question = facts[1].get(str(question_id))
    if question is None:
        return None
    try:
        choice = _clean_keys(*question, keys, "choice")
    except ApiError:
        return None
    if _save_statement() is None:
        return None
    release_read_transaction()  # a worker new to this attempt read its facts
    saves = group_commit("quiz_autosaves", _write_saves, fallback=False)
    if not saves.submit((attempt_id, user_id, str(question_id), choice)):
        return None  # submitted, closed or past the deadline meanwhile
    return {"question_id": question_id, "choice": choice, "saved_at": now}


def save_answer(user_id: int, attempt_id: int, question_id: int, keys: list[str]) -> dict:
    now = utcnow()
    saved = _save_directly(user_id, attempt_id, question_id, keys, now)
    if saved is not None:
        return saved
    attempt = _owned(user_id, attempt_id, lock=True)
    if attempt.status != "open":
        raise Conflict("attempt_submitted", "本次答题已经交卷")
    if _expired(attempt, now):
        _score(attempt, now, "deadline")
        db.session.commit()
        raise Conflict("attempt_deadline_passed", "答题时间已到，已按保存的答案自动交卷")
    q = _question_in(attempt_questions(attempt.questions), str(question_id))
    choice = _clean_choice(q, keys, "choice")
    answers = dict(attempt.answers or {})
    answers[str(question_id)] = choice
    attempt.answers = answers
    db.session.commit()
    return {"question_id": question_id, "choice": choice, "saved_at": now}


_SUBMIT_READ = ("id", "user_id", "quiz_id", "level", "number", "status", "deadline", "started_at", "questions",
                "answers", "pass_score", "max_score", "org_id", "org_path")


@built_once_per_dialect
def _submit_statements(dialect: str):
    """For a batch of submits: read the attempts (locked, in id order), write their scores with
    one `UPDATE … FROM batch`, read the students' attempts of the quiz for their best rows. None where
    the database lacks what they need."""
    table = Attempt.__table__
    batch = json_batch(dialect, "batch", {
        "id": BigInteger(), "answers": JSON(), "marks": JSON(), "score": BigInteger(), "passed": Boolean(),
        "finished_at": DateTime(), "duration_ms": BigInteger(), "ended_by": String()})
    if batch is None or _best_upsert() is None:
        return None
    read = (select(*[table.c[name] for name in _SUBMIT_READ]).where(table.c.id.in_(bindparam("ids", expanding=True)))
            .order_by(table.c.id).with_for_update())
    write = (update(table).where(table.c.id == batch.c.id, table.c.status == "open")
             .values(answers=batch.c.answers, marks=batch.c.marks, score=batch.c.score, passed=batch.c.passed,
                     finished_at=batch.c.finished_at, duration_ms=batch.c.duration_ms, status="scored",
                     ended_by=batch.c.ended_by, open_key=None)
             .returning(table.c.id))
    scored = _students_attempts(Attempt.quiz_id.in_(bindparam("quiz_ids", expanding=True)),
                                Attempt.user_id.in_(bindparam("user_ids", expanding=True)))
    return read, write, scored


def _stored_time(value: datetime) -> str:
    """A UTC time as both databases take it from JSON text (naive, as UTCDateTime stores it)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sent_answers(attempt, answers: dict) -> dict:
    """The answers sent with a submit, as {question id: displayed keys}: each must be a question of
    the attempt (404) and a valid choice (422)."""
    questions = attempt_questions(attempt.questions)  # texts joined once, not per answer
    cleaned = {}
    for question_id, keys in answers.items():
        q = _question_in(questions, str(question_id).strip())
        cleaned[str(q["id"])] = _clean_choice(q, keys, f"answers.{question_id}")
    return cleaned


def _write_submits(submits: list[tuple]) -> list:
    """One batch of submits ((attempt, user, answers sent) each) in one transaction: the
    attempts read `FOR UPDATE`, scored here exactly as `submit_attempt` scores (answers after
    the deadline are not counted), written with one UPDATE, and the students' best rows rewritten
    with one upsert. The scored attempt's values per submit, or None (full path) for anything
    else: not found, not the owner, already scored, a bad answer, a second submit of one attempt
    in the batch."""
    read, write, scored = _submit_statements()
    first = first_of_each(submits, _attempt_and_sender)
    done: dict[int, SimpleNamespace] = {}
    with writer_engine().begin() as connection:
        rows = connection.execute(read, {"ids": sorted({attempt_id for attempt_id, _user in first})}).all()
        now = utcnow()  # once the rows are ours, as `submit_attempt` reads the clock after its lock
        for row in rows:
            if (row.id, row.user_id) not in first or row.status != "open":
                continue  # only the owner's submit counts; a stranger's gets the full rules' 404
            extra = submits[first[(row.id, row.user_id)]][2]
            attempt = SimpleNamespace(**row._mapping)
            attempt.questions = attempt_questions(attempt.questions)  # once, for checking, scoring and the result
            if _expired(attempt, now):
                attempt.ended_by = "deadline"  # only what was saved in time counts; what was sent is ignored
                attempt.late_answers_ignored = _ignored(attempt.answers, extra)
            else:
                try:
                    sent = _sent_answers(attempt, extra)
                except ApiError:
                    continue  # the full rules answer with the same error
                attempt.answers = {**(attempt.answers or {}), **sent}
                attempt.ended_by = "submit"
            attempt.__dict__.update(_scoring(attempt, now), status="scored")
            done[row.id] = attempt
        if done:
            written = set(connection.scalars(write, json_batch_params([
                (a.id, a.answers or {}, a.marks, a.score, a.passed, _stored_time(a.finished_at), a.duration_ms,
                 a.ended_by) for a in done.values()])))
            # Without row locks (SQLite) another process may have scored one meanwhile: its full path
            # then answers with what was stored.
            done = {attempt_id: a for attempt_id, a in done.items() if attempt_id in written}
        if done:
            mine: dict[tuple, list] = defaultdict(list)
            # A first attempt at level 1 is the student's only scored attempt of the quiz (this one was
            # open, so no other could be started, and higher levels open only after level 1 is passed):
            # its best row needs no read. The others' rows come from all their scored attempts.
            for a in done.values():
                if a.level == 1 and a.number == 1:
                    mine[(a.quiz_id, a.user_id)] = [a]
            pairs = {(a.quiz_id, a.user_id) for a in done.values()} - mine.keys()
            if pairs:
                for row in connection.execute(scored, {"quiz_ids": sorted({q for q, _ in pairs}),
                                                       "user_ids": sorted({u for _, u in pairs})}):
                    if (row.quiz_id, row.user_id) in pairs and row.status == "scored":
                        mine[(row.quiz_id, row.user_id)].append(row)
            connection.execute(_best_upsert(), [{"quiz_id": quiz_id, "user_id": user_id, **_best_values(theirs)}
                                                for (quiz_id, user_id), theirs in sorted(mine.items())])
    for attempt_id in done:
        _forget_facts(attempt_id)
    return answer_each(submits, _attempt_and_sender, first, {(a.id, a.user_id): a for a in done.values()})


def _attempt_and_sender(submit: tuple) -> tuple:
    return submit[0], submit[1]


def _submit_directly(user_id: int, attempt_id: int, answers: dict | None) -> dict | None:
    """The common submit, group-committed with the others of this moment (`_write_submits`
    checks owner, status, deadline and the answers sent). None when anything is unusual (not
    found, not the owner, already scored, a question not in the attempt, a bad choice):
    `submit_attempt`'s full rules then answer."""
    if _submit_statements() is None:
        return None
    attempt = group_commit("quiz_submits", _write_submits).submit((attempt_id, user_id, dict(answers or {})))
    if attempt is None:
        return None
    return _result(attempt) | {"late_answers_ignored": getattr(attempt, "late_answers_ignored", False)}


def _ignored(saved: dict | None, sent: dict | None) -> bool:
    """Whether answers sent with a submit after the deadline (plus grace) differ from what was
    saved in time, so that the result tells the app they were not counted. Compared as keys,
    not validated: a late submit is scored with what was saved whatever it carries."""
    saved = saved or {}
    for question_id, keys in (sent or {}).items():
        given = sorted({str(key).strip().upper() for key in keys})
        if given != sorted(saved.get(str(question_id).strip(), [])):
            return True
    return False


def submit_attempt(user_id: int, attempt_id: int, answers: dict | None = None) -> dict:
    """Score once; later calls return the same result. Answers sent after the deadline (plus
    grace) are not counted: the attempt is scored with what was saved in time."""
    result = _submit_directly(user_id, attempt_id, answers)
    if result is not None:
        return result
    attempt = _owned(user_id, attempt_id, lock=True)
    now = utcnow()
    if attempt.status == "open":
        late = _expired(attempt, now)
        if late:
            _score(attempt, now, "deadline")
        else:
            attempt.answers = {**(attempt.answers or {}), **_sent_answers(attempt, answers or {})}
            _score(attempt, now, "submit")
        result = _result(attempt)  # before the commit expires the attempt's attributes
        db.session.commit()
    else:
        # Closed already: by the deadline (the answers sent come too late) or by an earlier
        # submit (this one repeats it and gets the same result).
        result = _result(attempt)
        late = attempt.ended_by == "deadline"
    result["late_answers_ignored"] = late and _ignored(_result_answers(result), answers)
    return result


def _result_answers(result: dict) -> dict:
    """The displayed keys counted per question id, from a result."""
    return {str(q["id"]): q["choice"] for q in result["questions"]}


# --- leaderboard --------------------------------------------------------------------------


def _scope_org(user: User, quiz: Quiz, org_id: int | None) -> Org:
    if org_id is not None:
        return visible_org(user, org_id)
    return db.session.get(Campaign, quiz.campaign_id).org


_RANK_ORDER = (QuizBest.rank_key.desc(), QuizBest.achieved_at, QuizBest.id)


BIG_SCOPE = 5000  # above this many ranked students, ranks start from a cached sample of the ranking
RANK_SAMPLE_EVERY = 1000


def _rank(scoped, row: QuizBest, scope: tuple, total: int) -> int:
    """1 + how many in scope did better (equal results share a rank), counted on the index. In a
    big scope (a whole city) that count would read up to a million index entries on every request:
    it starts instead from a cached sample of the ranking (every RANK_SAMPLE_EVERY-th rank key with
    how many in scope have that key or a better one, refreshed like the total) and counts on the
    index only those between the student and the sampled key just above them. Like the total,
    such a rank lags: results that passed the sampled key since the last refresh (at most
    `QUIZ_RANKING_CACHE_S` seconds ago) are not yet counted, so two ranks computed off the first
    page may disagree by that many places until the refresh."""
    better = scoped.where(QuizBest.rank_key > row.rank_key)
    if total > BIG_SCOPE:
        keys, at_least = _cached(("sample", *scope), partial(_rank_sample, scoped))
        above = bisect_right(keys, row.rank_key)
        if above < len(keys):
            better = better.where(QuizBest.rank_key < keys[above])
            return 1 + at_least[above] + count_rows(better)
    return 1 + count_rows(better)


def _rank_sample(scoped) -> tuple[list[int], list[int]]:
    """Every RANK_SAMPLE_EVERY-th rank key of a scope (ascending) and, for each, how many in the
    scope have that key or a better one (a window count includes the key's ties). The database
    walks the rank index once; only the sample (a thousand rows for a million) reaches Python,
    so a refresh no longer holds the GIL for seconds while other threads serve requests."""
    descending = QuizBest.rank_key.desc()
    ranked = scoped.with_only_columns(
        QuizBest.rank_key, func.row_number().over(order_by=descending).label("position"),
        func.count().over(order_by=descending).label("at_least")).subquery()
    sample = sorted(db.session.execute(select(ranked.c.rank_key, ranked.c.at_least).where(
        (ranked.c.position - 1) % RANK_SAMPLE_EVERY == 0)).all())
    return [key for key, _ in sample], [count for _, count in sample]


def leaderboard(user: User, quiz_id: int, org_id: int | None, page: int, page_size: int) -> dict:
    """Best result per student, ranked by levels passed, score (desc), then time (asc); equal
    results share a rank. Real names only inside the viewer's own class or for their staff.
    The total is counted at most every `QUIZ_RANKING_CACHE_S` seconds per scope."""
    quiz = _quiz(user, quiz_id)
    _close_expired_for_readers(quiz.id)
    org = _scope_org(user, quiz, org_id)
    reach = campaign_reach(org, db.session.get(Campaign, quiz.campaign_id))
    scoped = select(QuizBest).where(QuizBest.quiz_id == quiz.id,
                                    under(QuizBest.org_path, reach))
    rows: list[QuizBest] = list(db.session.scalars(
        scoped.order_by(*_RANK_ORDER).limit(page_size).offset((page - 1) * page_size)))
    total = _cached(("total", quiz.id, org.id), partial(count_rows, scoped))
    own_classes = {m.org_id for m in memberships_of(user)}
    own_children = set(db.session.scalars(select(FamilyLink.child_id).where(FamilyLink.parent_id == user.id)))
    whole = _full_score(quiz) if quiz.leveled else None  # a plain quiz: the attempt's own (the same)
    names = dict(db.session.execute(select(User.id, User.real_name).where(
        User.id.in_([r.user_id for r in rows] + [user.id]))).all())
    orgs = {o.id: o for o in db.session.scalars(select(Org).where(Org.id.in_({r.org_id for r in rows} - {None})))}

    def entry(row: QuizBest, rank: int) -> dict:
        row_org = orgs.get(row.org_id) if row.org_id else None
        if row.org_id and row_org is None:
            row_org = db.session.get(Org, row.org_id)
        full = (row.user_id == user.id or row.user_id in own_children or row.org_id in own_classes
                or (row_org is not None and has_authority(user, row_org, "teacher")))
        name = names.get(row.user_id)
        return {"rank": rank, "name": (name or "匿名") if full else mask_name(name), "org_id": row.org_id,
                "org_name": row_org.name if row_org else None, "score": row.score, "max_score": whole or row.max_score,
                "duration_s": row.duration_ms / 1000, "levels_passed": row.levels_passed,
                "passed": _certified(row, quiz),  # 闯关: every level, as the certificate and org table count
                "is_me": row.user_id == user.id}

    items = []
    rank = previous = None
    for position, row in enumerate(rows):
        if rank is None:
            rank = 1 if page == 1 else _rank(scoped, row, (quiz.id, org.id), total)
        elif row.rank_key != previous:
            rank = (page - 1) * page_size + position + 1
        previous = row.rank_key
        items.append(entry(row, rank))
    mine = next((row for row in rows if row.user_id == user.id), None)
    if mine is None:
        mine = db.session.scalar(scoped.where(QuizBest.user_id == user.id))
    me = None
    if mine is not None:
        me = next((item for item in items if item["is_me"]), None) or entry(
            mine, _rank(scoped, mine, (quiz.id, org.id), total))
    # The count may lag a few seconds behind the page just read; never report fewer than shown.
    shown_until = (page - 1) * page_size + len(rows) if rows else 0
    return {"items": items, "total": max(total, shown_until), "page": page,
            "page_size": page_size, "me": me, "quiz_id": quiz.id, "org_id": org.id,
            "orgs": _cached(("orgs", quiz.id, org.id), partial(_org_rankings, quiz.id, org.id, org.path, reach,
                                                                       _all_levels(quiz)))}


# Each worker keeps its copy while fresh (read on every leaderboard request), and a stale one a
# day long: an idle leaderboard's first viewer never waits for a city-wide count.
_rankings = AggregateCache("quiz-rankings", "QUIZ_RANKING_CACHE_S", 15.0, stale_s=86400.0, local_copy=True)


def _cached(key: tuple, compute):
    """Aggregates over a whole subtree (a scope's total, its rank sample, its org table), shared
    by every worker for `QUIZ_RANKING_CACHE_S` seconds and refreshed by one of them in the
    background while the others answer the previous value (`AggregateCache`). So a busy
    leaderboard runs each count once per period for the whole deployment, and no request waits
    seconds for a city-wide refill. `compute` may run in another thread: it must close over plain
    values and statements, never over ORM instances of the request's session."""
    return _rankings.get(key, compute)


def _child_of(parent_path: str, path: str | None) -> int | None:
    if not path or not path.startswith(parent_path) or path == parent_path:
        return None
    return int(path[len(parent_path):].split("/", 1)[0])


def _passed_all(all_levels: int):
    """The SQL condition of `_certified`: every level passed (闯关), else the pass score reached."""
    return QuizBest.levels_passed >= all_levels if all_levels else QuizBest.passed.is_(True)


def _all_levels(quiz: Quiz) -> int:
    """How many levels a student must pass to have passed the quiz (0: not a 闯关 quiz)."""
    return len(quiz.levels) if quiz.leveled else 0


def _org_rankings(quiz_id: int, parent_id: int, parent_path: str, reach: str, all_levels: int) -> list[dict]:
    """Each child org the campaign reaches (`reach`: campaigns.services.campaign_reach): its
    students enrolled now (student memberships in its part of the reach), how many of them took
    the quiz (wherever they took it), participation rate, their average best score and pass rate;
    what bureaus compare schools on. All from the same students, so a class never shows more
    takers than pupils after students moved. Plain arguments: it may run in a background thread
    (`_cached`)."""
    children = [child for child in db.session.scalars(select(Org).where(Org.parent_id == parent_id))
                if child.path.startswith(reach) or reach.startswith(child.path)]
    if not children:
        return []
    enrolled: Counter = Counter()
    took: Counter = Counter()
    total: Counter = Counter()
    passed: Counter = Counter()
    # One student membership per (user, org) and one best row per (quiz, user): plain counts per
    # org are distinct already (COUNT(DISTINCT …) sorted a million rows to disk: 1.7 s against 0.7).
    for path, students, takers, score, passes in db.session.execute(
        select(Org.path, func.count(), func.count(QuizBest.id), func.sum(QuizBest.score),
               func.count(QuizBest.id).filter(_passed_all(all_levels)))
        .select_from(Membership).join(Org, Org.id == Membership.org_id)
        .outerjoin(QuizBest, and_(QuizBest.quiz_id == quiz_id, QuizBest.user_id == Membership.user_id, _HAS_RESULT))
        .where(Membership.role == "student", under(Org.path, reach))
        .group_by(Org.path)
    ):
        child = _child_of(parent_path, path)
        if child is not None:
            enrolled[child] += students
            took[child] += takers
            total[child] += score or 0
            passed[child] += passes
    rows = []
    for child in children:
        rows.append({
            "org_id": child.id, "name": child.name, "kind": child.kind, "enrolled": enrolled[child.id],
            "took": took[child.id],
            "participation_rate": round(took[child.id] / enrolled[child.id], 4) if enrolled[child.id] else 0.0,
            "average_score": round(total[child.id] / took[child.id], 2) if took[child.id] else None,
            "pass_rate": _rate(passed[child.id], took[child.id]),
        })
    _share_ranks(sorted(rows, key=lambda r: (-r["participation_rate"], r["org_id"])),
                 "participation_rate", "rank_by_participation")
    rows.sort(key=lambda r: (r["average_score"] is None, -(r["average_score"] or 0), r["org_id"]))
    _share_ranks(rows, "average_score", "rank_by_score")
    return rows


def _share_ranks(ordered: list[dict], value: str, rank: str) -> None:
    """1, 1, 3: orgs showing the same figure share the better rank, as students do (orgs where
    nobody took the quiz, average None, share the last)."""
    for position, row in enumerate(ordered, start=1):
        before = ordered[position - 2] if position > 1 else None
        row[rank] = before[rank] if before is not None and before[value] == row[value] else position


# --- statistics and flags -----------------------------------------------------------------


def _staff_scope(user: User, quiz: Quiz, org_id: int | None) -> tuple[Org, str]:
    """The org statistics, flags and exports cover, and the path of the part of it the campaign
    reaches (`campaign_reach`; an org beside the campaign's is refused): the org asked for, else
    the campaign's org for its staff, else the viewer's own when all their staff roles inside
    the campaign's org lie in one subtree (a teacher of one school or class); with several,
    they must choose."""
    campaign = db.session.get(Campaign, quiz.campaign_id)
    if org_id is not None:
        org = org_with_authority(user, org_id, "teacher")
        return org, campaign_reach(org, campaign)
    org = campaign.org
    if has_authority(user, org, "teacher"):
        return org, org.path
    inside = {m.org.id: m.org for m in memberships_of(user)
              if m.role in STAFF_ROLES and m.org.path.startswith(org.path)}
    tops = [o for o in inside.values()
            if not any(o.path.startswith(other.path) and other.id != o.id for other in inside.values())]
    if len(tops) == 1:
        return tops[0], tops[0].path
    if not tops:  # a student, a parent, or staff of somewhere else
        raise Forbidden("forbidden", "只有本次活动范围内的教师和管理员可以查看统计和导出成绩")
    raise Forbidden("forbidden", "请选择你负责的学校或班级查看统计")


STATS_LIVE_MAX = 5000  # above this many scored attempts in scope, statistics come from a cache
STATS_ITEM_SAMPLE = 20_000  # item analysis reads at most this many attempts (an even sample)
FLAGS_MAX_ATTEMPTS = 20_000  # suspicion flags cover at most this many attempts: choose a smaller org


def _scored(quiz_id: int, path: str) -> Select:
    """The scored attempts taken in the subtree at `path` (ix_quiz_attempts_scored). The status is
    written into the statement, not bound, as the path is (`under`): psycopg prepares a statement
    run five times on a connection, and PostgreSQL's generic plan for `status = $2` cannot use
    the partial index (it read every scored attempt of the quiz for a class)."""
    return select(Attempt).where(Attempt.quiz_id == quiz_id, Attempt.status == literal_column("'scored'"),
                                 under(Attempt.org_path, path))


def _scored_beyond(quiz_id: int, path: str, limit: int) -> bool:
    """Whether the subtree has more than `limit` scored attempts, reading at most limit + 1 index
    entries: counting a city's million on every request cost 125 ms of PostgreSQL."""
    return count_rows(_scored(quiz_id, path).with_only_columns(Attempt.id).limit(limit + 1)) > limit


def _scored_in(quiz_id: int, path: str, sample: int | None = None) -> list[Attempt]:
    """The scored attempts in the subtree, or `sample` of them spread evenly: the first by a hash
    of their id (ids follow the order of starts, a student's levels one after another and a class
    at a time, so every n-th id would not do). The ids are chosen first, from the index (a top-N
    sort of ids in memory; sorting whole rows spilled 150 MB to disk for a city), then only those
    attempts are read."""
    query = _scored(quiz_id, path)
    if sample:
        spread = cast(Attempt.id, BigInteger) * 2654435761 % 4294967311
        chosen = query.with_only_columns(Attempt.id).order_by(spread, Attempt.id).limit(sample)
        query = select(Attempt).where(Attempt.id.in_(chosen))
    return list(db.session.scalars(query.order_by(Attempt.id)))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _enrolled_students(reach: str):
    """The students enrolled now in the subtree at `reach` (user_id, their class): one row each,
    as a student has one class (`uq_memberships_one_class`)."""
    return (select(Membership.user_id, Membership.org_id).join(Org, Org.id == Membership.org_id)
            .where(Membership.role == "student", under(Org.path, reach)))


def _enrolment(quiz_id: int, reach: str, all_levels: int) -> tuple[int, int, int, int]:
    """(students enrolled now in the subtree at `reach`, how many of them took the quiz, the sum
    of their best scores, how many passed): the students and figures of the leaderboard's org
    table and the export."""
    students = _enrolled_students(reach).subquery()
    row = db.session.execute(
        select(func.count(), func.count(QuizBest.id), func.sum(QuizBest.score),
               func.count(QuizBest.id).filter(_passed_all(all_levels))).select_from(students)
        .outerjoin(QuizBest, and_(QuizBest.quiz_id == quiz_id, QuizBest.user_id == students.c.user_id, _HAS_RESULT))
    ).one()
    return row[0], row[1], row[2] or 0, row[3]


def _not_taken(quiz: Quiz, klass: Org) -> list[dict]:
    """Students now in the class without a scored attempt (taken in any class), in one query:
    no best row, the rule `_enrolment` counts by."""
    taken = select(QuizBest.id).where(QuizBest.quiz_id == quiz.id, QuizBest.user_id == User.id, _HAS_RESULT)
    rows = db.session.execute(
        select(User.id, User.real_name).join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == klass.id, Membership.role == "student", ~taken.exists())
        .order_by(User.real_name, User.id)
    ).all()
    return [{"id": row.id, "real_name": row.real_name} for row in rows]


def _discrimination_groups(attempts: list[Attempt]) -> tuple[set[int], set[int]]:
    """Ids of the bottom and top 27% of attempts by score (then the shorter time), ranked within
    each level: the levels of a 闯关 quiz have different full scores, so one ranking across
    them would fill the top group with attempts of the level worth most."""
    per_level: dict[int, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        per_level[attempt.level].append(attempt)
    lower: set[int] = set()
    upper: set[int] = set()
    for level_attempts in per_level.values():
        ranked = sorted(level_attempts, key=_ranked)
        if len(ranked) < 2:
            continue
        group = max(1, round(len(ranked) * 0.27))
        lower.update(a.id for a in ranked[:group])
        upper.update(a.id for a in ranked[len(ranked) - group:])
    return lower, upper


def quiz_stats(user: User, quiz_id: int, org_id: int | None = None) -> dict:
    """Item analysis over the scored attempts in the org's subtree: facility (correct rate),
    how often each authored option was chosen, and the discrimination index (correct rate of
    the top 27% of attempts by score minus that of the bottom 27%). For a class, also who of
    its students has not taken the quiz yet (the teachers' class view).

    Up to STATS_LIVE_MAX scored attempts (a class, most schools) it is counted on every request.
    Above that (a district, a city) the answer is shared for `QUIZ_STATS_CACHE_S` (`AggregateCache`, at least
    five times what counting took) and its item analysis reads an even sample of
    STATS_ITEM_SAMPLE attempts (`analysed_attempts`; the totals are exact): reading a city's
    million attempts took 50 s and 2.8 GB."""
    quiz = _quiz(user, quiz_id)
    org, reach = _staff_scope(user, quiz, org_id)
    _close_expired_for_readers(quiz.id)
    compute = partial(_item_stats, quiz.id, org.id, org.path, reach, _all_levels(quiz))
    big = _scored_beyond(quiz.id, org.path, STATS_LIVE_MAX)
    answer = _stats_cache.get((quiz.id, org.id), compute) if big else compute()
    if org.kind == "class":  # _staff_scope: the caller has staff authority over it
        answer = answer | {"not_taken": _not_taken(quiz, org)}
    return answer


# A stale answer stands in for at most the cache's default two minutes past its period, while one
# worker recounts: the statistics carry no date, so a bureau opening them after a quiet night
# must not be shown the evening's figures (it waits for the count instead: seconds for a city).
_stats_cache = AggregateCache("quiz-stats", "QUIZ_STATS_CACHE_S", 60.0, local_copy=True)


def _item_stats(quiz_id: int, org_id: int, path: str, reach: str, all_levels: int) -> dict:
    """`quiz_stats` without the class's list. Plain arguments: it may run in a background thread."""
    count, students, total, passed = db.session.execute(
        _scored(quiz_id, path).with_only_columns(func.count(), func.count(distinct(Attempt.user_id)),
                                                 func.sum(Attempt.score), func.count().filter(Attempt.passed.is_(True)))
    ).one()
    attempts = _scored_in(quiz_id, path, sample=STATS_ITEM_SAMPLE if count > STATS_ITEM_SAMPLE else None)
    lower, upper = _discrimination_groups(attempts)
    per_question: dict[int, dict] = {}
    groups: dict[int, dict] = defaultdict(lambda: {"upper": [0, 0], "lower": [0, 0]})
    categories: dict = defaultdict(lambda: [0, 0])
    texts = version_texts([q for attempt in attempts for q in attempt.questions])  # read at once
    for attempt in attempts:
        for q in attempt_questions(attempt.questions, texts):
            stat = per_question.get(q["id"])
            if stat is None or q.get("v", 0) > stat["_v"]:  # texts of the latest version seen
                stat = per_question[q["id"]] = {
                    "attempts": 0, "answered": 0, "correct": 0, "_chosen": Counter(), **(stat or {}),
                    "id": q["id"], "type": q["type"], "stem": q["stem"], "category": q.get("category"),
                    "answer": [LETTERS[i] for i in sorted(q["answer"])], "_v": q.get("v", 0),
                    "_texts": list(q["options"]),
                }
            keys = (attempt.answers or {}).get(str(q["id"]), [])
            is_correct = _original(q, keys) == sorted(q["answer"])
            stat["attempts"] += 1
            stat["answered"] += bool(keys)
            stat["correct"] += is_correct
            for orig in _original(q, keys):  # by text: options may have been reordered since
                stat["_chosen"][(q["options"][orig] if orig < len(q["options"]) else None, orig)] += 1
            categories[q.get("category")][0] += 1
            categories[q.get("category")][1] += is_correct
            for name, members in (("upper", upper), ("lower", lower)):
                if attempt.id in members:
                    groups[q["id"]][name][0] += 1
                    groups[q["id"]][name][1] += is_correct
    questions = []
    for qid, stat in per_question.items():
        upper_n, upper_ok = groups[qid]["upper"]
        lower_n, lower_ok = groups[qid]["lower"]
        stat["correct_rate"] = _rate(stat["correct"], stat["attempts"])
        stat["discrimination"] = (round(upper_ok / upper_n - lower_ok / lower_n, 4)
                                  if upper_n and lower_n else None)
        texts_of = stat.pop("_texts")
        del stat["_v"]
        stat["options"] = _option_counts(stat.pop("_chosen"), texts_of)
        # each option's text next to its count, in the (latest) authored order
        stat["distribution"] = [{"key": key, "text": texts_of[LETTERS.index(key)], "count": chosen}
                                for key, chosen in stat["options"].items()]
        questions.append(stat)
    questions.sort(key=lambda s: (s["correct_rate"] if s["correct_rate"] is not None else 2, s["id"]))
    enrolled, enrolled_took, best_total, best_passed = _enrolment(quiz_id, reach, all_levels)
    return {
        "quiz_id": quiz_id, "org_id": org_id, "attempts": count, "students": students,
        "analysed_attempts": len(attempts),
        "enrolled": enrolled, "took": enrolled_took, "not_taken_count": enrolled - enrolled_took,
        # Per student (best result), as the org table and the export report them; per attempt beside.
        "average_score": round(best_total / enrolled_took, 2) if enrolled_took else None,
        "pass_rate": _rate(best_passed, enrolled_took),
        "attempt_average_score": round((total or 0) / count, 2) if count else None,
        "attempt_pass_rate": _rate(passed, count),
        "questions": questions,
        "categories": sorted(({"category": name, "answers": n, "correct_rate": _rate(ok, n)}
                              for name, (n, ok) in categories.items()),
                             key=lambda c: (c["correct_rate"] if c["correct_rate"] is not None else 2)),
    }


def _option_counts(chosen: Counter, texts: list[str]) -> dict[str, int]:
    """How often each option of the question's latest version was chosen, from (text, authored
    index) choices made under any version: a choice counts for the option with its text (options
    reordered to move the right one off A), else for the one at its index (a corrected typo)."""
    counts = dict.fromkeys(LETTERS[: len(texts)], 0)
    where = {text: index for index, text in enumerate(texts)}
    for (text, index), times in chosen.items():
        position = where.get(text, index)
        if position < len(texts):
            counts[LETTERS[position]] += times
    return counts


def _ranked(attempt: Attempt) -> tuple:
    """The leaderboard's order of one student's attempts: score, then the shorter time."""
    return (attempt.score or 0, -(attempt.duration_ms or 0), attempt.id)


def _copied_answers(attempts: list[Attempt], names: dict) -> list[dict]:
    """Pairs of students of one class whose attempts share at least COPY_MIN_SHARED questions
    and give the same wrong answer on at least COPY_MIN_SAME_WRONG of them, that being at least
    COPY_MIN_WRONG_SHARE of the shared questions either of them got wrong. Right answers
    prove nothing (everyone who knows gives them) and draws differ between students, so only
    the questions both drew count. True/false questions are left out: their one wrong answer
    is everyone's wrong answer. Each student is judged by their best attempt of each level (the
    one the leaderboard shows): with every retake compared to every other, independent classmates
    agreed somewhere by chance (a simulated class of 50 with 3 attempts each: 18–35 pairs).
    Per class: the attempts that chose each wrong answer of each question are grouped, so only
    pairs with a wrong answer in common are ever compared."""
    best: dict[tuple, Attempt] = {}  # (student, level) → their best attempt of that level
    for attempt in attempts:
        kept = best.get((attempt.user_id, attempt.level))
        if attempt.org_id is not None and (kept is None or _ranked(attempt) > _ranked(kept)):
            best[(attempt.user_id, attempt.level)] = attempt
    attempts = list(best.values())
    texts = version_texts([q for attempt in attempts for q in attempt.questions])  # read at once
    by_class: dict = defaultdict(list)
    for attempt in attempts:
        by_class[attempt.org_id].append(attempt)
    flags = []
    for class_attempts in by_class.values():
        sheets: dict[int, dict] = {}  # attempt id → {question id: (authored choice, wrong)}
        chose: dict[tuple, list[int]] = defaultdict(list)  # (question, wrong choice) → attempt ids
        for attempt in class_attempts:
            answers = attempt.answers or {}
            sheet = sheets[attempt.id] = {}
            for q in attempt_questions(attempt.questions, texts):
                if q["type"] == "true_false":
                    continue
                chosen = _original(q, answers.get(str(q["id"]), []))
                wrong = bool(chosen) and chosen != sorted(q["answer"])
                # By text: two classmates may have drawn the question before and after its options moved.
                choice = tuple(sorted(q["options"][i] for i in chosen if i < len(q["options"])))
                sheet[q["id"]] = (choice, wrong)
                if wrong:
                    chose[(q["id"], choice)].append(attempt.id)
        owner = {attempt.id: attempt.user_id for attempt in class_attempts}
        same_wrong: Counter = Counter()
        for ids in chose.values():
            for index, first in enumerate(ids):
                for second in ids[index + 1:]:
                    if owner[first] != owner[second]:
                        same_wrong[(first, second)] += 1
        closest: dict[tuple, tuple] = {}  # (user, user) → (same wrong, shared, attempt ids)
        for (first, second), count in same_wrong.items():
            if count < COPY_MIN_SAME_WRONG:
                continue
            one, other = sheets[first], sheets[second]
            shared = one.keys() & other.keys()
            either_wrong = sum(1 for qid in shared if one[qid][1] or other[qid][1])
            if len(shared) < COPY_MIN_SHARED or count < COPY_MIN_WRONG_SHARE * either_wrong:
                continue
            users = tuple(sorted((owner[first], owner[second])))
            if users not in closest or count > closest[users][0]:
                closest[users] = (count, len(shared), sorted((first, second)))
        for users, (count, shared, attempt_ids) in sorted(closest.items()):
            flags.append({"kind": "identical_answers", "attempt_ids": attempt_ids,
                          "users": [names.get(u) or "匿名" for u in users],
                          "detail": f"同班 2 人共同抽到的 {shared} 道题中，有 {count} 道选了相同的错误答案"})
    return flags


def quiz_flags(user: User, quiz_id: int, org_id: int | None = None) -> dict:
    """Things for a teacher to look at, never automatic bans: attempts faster than a person can
    read, students of a class giving the same wrong answers (`_copied_answers`), and one device
    used by many accounts."""
    quiz = _quiz(user, quiz_id)
    org, _reach = _staff_scope(user, quiz, org_id)
    _close_expired_for_readers(quiz.id)
    if _scored_beyond(quiz.id, org.path, FLAGS_MAX_ATTEMPTS):
        message = f"该范围内的答卷超过 {FLAGS_MAX_ATTEMPTS} 份，请选择区县、学校或班级查看可疑记录"
        raise ValidationFailed({"org_id": [message]}, message, code="scope_too_large")
    attempts = _scored_in(quiz.id, org.path)
    names = dict(db.session.execute(select(User.id, User.real_name).where(
        User.id.in_({a.user_id for a in attempts}))).all()) if attempts else {}
    flags = []
    for attempt in attempts:
        answered = sum(1 for keys in (attempt.answers or {}).values() if keys)
        if attempt.ended_by == "submit" and answered and attempt.duration_ms < answered * FAST_MS_PER_QUESTION:
            flags.append({"kind": "too_fast", "attempt_ids": [attempt.id],
                          "users": [names.get(attempt.user_id) or "匿名"],
                          "detail": f"{answered} 道题只用了 {attempt.duration_ms / 1000:.1f} 秒"})
    flags += _copied_answers(attempts, names)
    devices: dict[str, set] = defaultdict(set)
    device_attempts: dict[str, list[int]] = defaultdict(list)
    for attempt in attempts:
        if attempt.device:
            devices[attempt.device].add(attempt.user_id)
            device_attempts[attempt.device].append(attempt.id)
    for device, users in devices.items():
        if len(users) >= SHARED_DEVICE_MIN_USERS:
            flags.append({"kind": "shared_device", "attempt_ids": device_attempts[device],
                          "users": [names.get(u) or "匿名" for u in sorted(users)],
                          "detail": f"同一设备登录了 {len(users)} 个账号答题"})
    return {"quiz_id": quiz.id, "org_id": org.id, "flags": flags}


# --- results export -----------------------------------------------------------------------

PERCENT = "0.0%"


def _cell(sheet, value, number_format: str | None = None):
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    if number_format and value is not None:
        cell.number_format = number_format
    return cell


def export_results(user: User, quiz_id: int, org_id: int | None) -> tuple[bytes, str, str]:
    """The results of an org's students as an .xlsx workbook for staff (real names): a summary
    (the org and each child org: enrolled, took, participation, average, pass rate, both ranks)
    and one row per student enrolled there now, in their current class, with their best result
    wherever they took the quiz or 未参加; the summary counts the same students. Read afresh (not
    the leaderboard's cache): an export is what gets reported upwards. 及格 is the certificate's
    rule (闯关: every level passed); 满分 is the whole quiz's (every level)."""
    from openpyxl import Workbook

    quiz = _quiz(user, quiz_id)
    org, reach = _staff_scope(user, quiz, org_id)
    _close_expired_for_readers(quiz.id)
    students = _enrolled_students(reach).subquery()
    check_export_size(db.session.scalar(select(func.count()).select_from(students)))
    rows = db.session.execute(
        select(students.c.user_id, students.c.org_id, User.real_name, QuizBest)
        .join(User, User.id == students.c.user_id)
        .outerjoin(QuizBest, and_(QuizBest.quiz_id == quiz.id, QuizBest.user_id == students.c.user_id, _HAS_RESULT))
    ).all()
    class_paths = dict(db.session.execute(
        select(Org.id, Org.path).where(Org.id.in_({row.org_id for row in rows}))).all())
    places = places_below(org, class_paths.values())
    with_regions = any(place.regions for place in places.values())  # a city: its counties (and towns)

    def placed(class_id: int) -> tuple[tuple, list[str]]:
        place = places[class_paths[class_id]]
        return place.key, ([place.regions] if with_regions else []) + [place.school, place.klass]

    all_levels = _all_levels(quiz)
    whole = _full_score(quiz)
    ranked = sorted((row.QuizBest.rank_key for row in rows if row.QuizBest is not None), reverse=True)
    rank_of = {}
    for position, key in enumerate(ranked, start=1):
        rank_of.setdefault(key, position)  # equal results share the better rank
    lines = []
    for row in rows:
        key, where = placed(row.org_id)
        best, name = row.QuizBest, row.real_name or ""
        if best is None:
            line = [*where, name, "未参加", None, None, whole, None] + [None] * (bool(all_levels) + 3)
            lines.append(((key, 1, 0, 0.0, name), line))
            continue
        line = [*where, name, "已参加", rank_of[best.rank_key], best.score, whole,
                "是" if _certified(best, quiz) else "否"]
        if all_levels:
            line.append(f"{best.levels_passed}/{all_levels}")
        line += [round(best.duration_ms / 1000, 1), best.attempts, beijing_cell(best.achieved_at)]
        lines.append(((key, 0, -best.rank_key, best.achieved_at.timestamp(), name), line))
    lines.sort(key=lambda pair: pair[0])

    book = Workbook(write_only=True)
    summary = book.create_sheet("汇总")
    summary.append(excel_row(summary, [f"{quiz.title}（{org.name}）成绩汇总"]))
    summary.append(["单位", "类型", "在册学生", "参加人数", "参与率", "平均分", "及格率", "平均分排名", "参与率排名"])
    bests = [row.QuizBest for row in rows if row.QuizBest is not None]
    took = len(bests)
    summary.append(excel_row(summary, [
        f"{org.name}（合计）", KIND_NAMES.get(org.kind, ""), len(rows), took,
        _cell(summary, _rate(took, len(rows)), PERCENT),
        round(sum(best.score for best in bests) / took, 2) if took else None,
        _cell(summary, _rate(sum(1 for best in bests if _certified(best, quiz)), took), PERCENT)]))
    for child in sorted(_org_rankings(quiz.id, org.id, org.path, reach, all_levels), key=lambda r: r["rank_by_score"]):
        summary.append(excel_row(summary, [
            child["name"], KIND_NAMES.get(child["kind"], ""), child["enrolled"], child["took"],
            _cell(summary, child["participation_rate"] if child["enrolled"] else None, PERCENT),
            child["average_score"], _cell(summary, child["pass_rate"], PERCENT),
            child["rank_by_score"], child["rank_by_participation"]]))

    detail = book.create_sheet("成绩明细")
    detail.append(excel_row(detail, [f"{quiz.title}（{org.name}）成绩明细"]))
    header = ["序号", *(["所属地区"] if with_regions else []), "学校", "班级", "姓名", "状态", "名次", "最好成绩",
              "满分", "是否及格", *(["通过关数"] if all_levels else []), "用时（秒）", "作答次数",
              "最好成绩提交时间（北京时间）"]
    detail.append(header)
    for number, (_key, line) in enumerate(lines, start=1):
        detail.append(excel_row(detail, [number, *line]))
    out = io.BytesIO()
    book.save(out)
    name = f"{file_name_part(quiz.title)}-{file_name_part(org.name)}-成绩.xlsx"
    return out.getvalue(), name, f"results-quiz{quiz.id}-org{org.id}.xlsx"


# --- certificates -------------------------------------------------------------------------

_SERIAL = re.compile(r"^QZ(\d{7,10})([0-9A-F]{8})$")


def _serial(best: QuizBest) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"quiz-certificate:{best.id}".encode(), hashlib.sha256).hexdigest()[:8].upper()
    return f"QZ{best.id:07d}{digest}"


def _certified(best: QuizBest | None, quiz: Quiz) -> bool:
    if best is None:
        return False
    return best.levels_passed >= len(quiz.levels) if quiz.leveled else best.passed


def _school_line(org_id: int | None) -> str | None:
    org = db.session.get(Org, org_id) if org_id else None
    if org is None:
        return None
    if org.kind == "class" and org.parent is not None:
        return f"{org.parent.name} {org.name}"
    return org.name


def _verify_url(serial: str) -> str:
    return public_url("/api/v1/quiz-certificates/" + serial)


def quiz_certificate_image(user: User, quiz_id: int) -> bytes:
    """The poster for the student's passed quiz (a 闯关 quiz: every level passed)."""
    quiz = _quiz(user, quiz_id)
    _close_expired(select(Attempt).where(Attempt.quiz_id == quiz.id, Attempt.user_id == user.id))
    best = db.session.scalar(select(QuizBest).where(QuizBest.quiz_id == quiz.id, QuizBest.user_id == user.id))
    if not _certified(best, quiz):
        raise Conflict("quiz_not_passed", "通过竞赛后才能生成证书")
    return _poster(best, quiz, user)


# Raise when the quiz poster's drawing changes (2: the body shrinks to stay above the footer and a
# long school line wraps inside the frame; lines broken the Chinese way, no emoji boxes).
QUIZ_POSTER_VERSION = 2


def _poster(best: QuizBest, quiz: Quiz, user: User) -> bytes:
    """Drawn once per serial and what it shows (`cached_poster`): a share opened by many friends
    is not drawn again for each."""
    from app.quizzes.certificate import render_quiz_certificate

    serial = _serial(best)
    campaign = db.session.get(Campaign, quiz.campaign_id)
    details = {
        "name": mask_name(user.real_name), "quiz_title": quiz.title, "campaign_title": campaign.title,
        "school": _school_line(best.org_id), "score": best.score, "max_score": best.max_score,
        "passed_on": beijing_day(best.achieved_at), "serial": serial, "url": _verify_url(serial),
        "levels": len(quiz.levels) if quiz.leveled else None,
    }
    return cached_poster(f"quiz-certificates/{serial}/v{QUIZ_POSTER_VERSION}", details, render_quiz_certificate)


def _certificate_best(serial: str) -> QuizBest:
    match = _SERIAL.match(serial.strip().upper())
    best = db.session.get(QuizBest, int(match.group(1))) if match and int(match.group(1)) <= MAX_ID else None
    if best is None or not hmac.compare_digest(_serial(best), serial.strip().upper()):
        raise NotFound("certificate_not_found", "证书不存在，请核对证书编号")
    return best


def certificate_image(serial: str) -> bytes:
    """Public, like the verification: the poster of a certificate that holds (the serial is
    unguessable and the poster shows only the masked name). One no longer valid has no poster."""
    best = _certificate_best(serial)
    quiz = db.session.get(Quiz, best.quiz_id)
    if not _certified(best, quiz):
        raise Conflict("certificate_not_valid", "该证书已撤销或已失效，不再提供证书图片")
    return _poster(best, quiz, db.session.get(User, best.user_id))


def verify_certificate(serial: str) -> dict:
    """Public: a masked name, the quiz, the score and whether the certificate holds."""
    best = _certificate_best(serial)
    quiz = db.session.get(Quiz, best.quiz_id)
    user = db.session.get(User, best.user_id)
    revoked = best.attempts == 0  # every attempt voided (`void_attempt`): no result is left to show
    return {"serial": _serial(best), "name_masked": mask_name(user.real_name), "title": quiz.title,
            "school": _school_line(best.org_id), "score": None if revoked else best.score,
            "max_score": None if revoked else best.max_score, "passed_at": None if revoked else best.achieved_at,
            "valid": _certified(best, quiz), "revoked": revoked}


def certificate_page(serial: str) -> dict:
    """The verification page's details (app/common/verification.py)."""
    cert = verify_certificate(serial)
    rows = [("姓名", cert["name_masked"])]
    if cert["school"]:
        rows.append(("学校", cert["school"]))
    rows.append(("竞赛", cert["title"]))
    if not cert["revoked"]:  # a revoked one has no result left to show
        rows += [("成绩", f"{cert['score']} / {cert['max_score']} 分"), ("通过日期", beijing_day(cert["passed_at"]))]
    rows.append(("证书编号", cert["serial"]))
    state, text = ("valid", "✓ 有效证书") if cert["valid"] else (
        ("invalid", "该证书已撤销：成绩已被学校判定无效") if cert["revoked"] else ("invalid", "该证书当前无效"))
    return {"heading": "知识竞赛证书", "state": state, "state_text": text, "rows": rows}


# --- demo ---------------------------------------------------------------------------------


def seed_starter_quiz(org: Org, campaign: Campaign) -> Quiz:
    """The starter bank at `org` and a 20-question quiz in `campaign` (no commit; the demo seed)."""
    from app.quizzes.starter_bank import STARTER_BANK_NAME, STARTER_QUESTIONS

    bank = QuestionBank(org_id=org.id, name=STARTER_BANK_NAME)
    db.session.add(bank)
    db.session.flush()
    add_questions(bank, STARTER_QUESTIONS)
    level = {"level": 1, "title": "第1关", "draw": [{"count": 20}], "pass_score": 60, "time_limit_s": 900}
    quiz = Quiz(campaign_id=campaign.id, bank_id=bank.id, title="网络安全与文明上网知识竞赛", levels=[level],
                leveled=False, points=dict(DEFAULT_POINTS), multiple_partial=False, time_limit_s=900,
                max_attempts=3, pass_score=60, opens_at=campaign.starts_at, closes_at=campaign.ends_at)
    db.session.add(quiz)
    return quiz
