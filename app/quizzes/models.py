"""Question banks, questions, quizzes, attempts and each student's best result.

An attempt is owned by the server: it snapshots which version of each drawn question it got and
the per-attempt permutation of the options. A question's texts (stem, options, answer,
explanation) are versioned: an edit or a deletion keeps the texts it replaces as a
`QuestionVersion`, so editing or deleting a question never changes an attempt already taken,
and an attempt stores ~1.2 KB instead of ~13 KB of copied texts. `QuizBest` keeps one row per (quiz, student) with the
ranking key, so leaderboards read an index instead of scanning attempts.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.common.db_types import UTCDateTime
from app.common.time import utcnow
from app.extensions import db
from app.orgs.models import Org

QUESTION_TYPES = ("single", "multiple", "true_false")
TRUE_FALSE_OPTIONS = ("正确", "错误")


class QuestionBank(db.Model):
    """A bank belongs to an org and is usable anywhere in that org's subtree."""

    __tablename__ = "question_banks"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # Bumped on every change to the bank's questions: cached draw pools are keyed by it.
    revision: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship(lazy="joined")


class QuestionTexts:
    """What an attempt shows and scores by: a question's texts, or a kept version of them."""

    type: Mapped[str] = mapped_column(String(16))
    stem: Mapped[str] = mapped_column(Text)
    options: Mapped[list] = mapped_column(JSON, default=list)
    answer: Mapped[list] = mapped_column(JSON, default=list)
    explanation: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(40))
    legal_basis: Mapped[str | None] = mapped_column(String(200))


class Question(QuestionTexts, db.Model):
    """`options` are the texts in their authored order (true/false: 正确, 错误); `answer` holds
    indexes into them. `stem_key` is the normalised stem and option set used to skip duplicates
    (`importers.stem_key`)."""

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("bank_id", "stem_key"),
        Index("ix_questions_draw", "bank_id", "category", "difficulty", "type"),
        # SQLite would otherwise give a deleted question's id (the highest) to the next new one,
        # and attempts and kept versions name questions by id.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id", ondelete="CASCADE"))
    stem_key: Mapped[str] = mapped_column(String(64))
    difficulty: Mapped[int] = mapped_column(default=2)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # SQLAlchemy's version counter: every UPDATE sets it one higher and requires the value it read,
    # so of two edits at once the later one fails instead of silently overwriting; attempts name
    # the (id, version) they drew.
    version: Mapped[int] = mapped_column(server_default="1")

    __mapper_args__ = {"version_id_col": version}


class QuestionVersion(QuestionTexts, db.Model):
    """The texts of a question as they were before an edit or its deletion, kept for the attempts
    that drew that version. Not tied to `questions` by a key: it outlives a deleted question."""

    __tablename__ = "question_versions"

    question_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id", ondelete="CASCADE"), index=True)
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Quiz(db.Model):
    """A 知识竞赛 in a campaign. `levels` is always a list: a plain quiz is one level; a 闯关
    quiz has several, and level n+1 opens once level n is passed. Each level is
    `{title, draw:[{count, category?, difficulty?, type?}], pass_score, time_limit_s}`."""

    __tablename__ = "quizzes"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    levels: Mapped[list] = mapped_column(JSON, default=list)
    leveled: Mapped[bool] = mapped_column(default=False)
    points: Mapped[dict] = mapped_column(JSON, default=dict)
    multiple_partial: Mapped[bool] = mapped_column(default=False)
    time_limit_s: Mapped[int] = mapped_column(default=1200)
    max_attempts: Mapped[int] = mapped_column(default=3)
    pass_score: Mapped[int] = mapped_column(default=60)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attempt(db.Model):
    """One sitting of one level. `questions` is the snapshot, in display order:
    `[{id, v, perm, points, partial}]` — question id and version (its texts: the question row
    while it is at that version, else its `QuestionVersion`), `perm[i]` the authored index of the
    option shown with key chr(65 + i), the points it is worth and whether a partly right multiple
    choice earns half. Attempts started before versions were kept hold the texts themselves
    (`type, stem, options, answer, explanation, legal_basis, category` in each entry).
    `answers` maps question id (a string) to the displayed keys the student chose.

    `open_key` is `"quiz:user"` while the attempt is open and NULL after: the unique index
    makes "one open attempt per student and quiz" hold under concurrent starts, and
    (quiz, user, level, number) does the same for the attempt limit."""

    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint("quiz_id", "user_id", "level", "number"),
        Index("ix_quiz_attempts_open", "quiz_id", "status", "deadline"),
        # Statistics, flags and exports read the scored attempts of one subtree: without it a
        # class's statistics read every scored attempt of a city-wide quiz (1.2 s at 1 M).
        Index("ix_quiz_attempts_scored", "quiz_id", "org_path", "id",
              postgresql_ops={"org_path": "varchar_pattern_ops"},
              postgresql_where=text("status = 'scored'"), sqlite_where=text("status = 'scored'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    level: Mapped[int] = mapped_column(default=1)
    number: Mapped[int] = mapped_column(default=1)
    open_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    seed: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | scored | voided
    ended_by: Mapped[str | None] = mapped_column(String(12))  # submit | deadline
    org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id", ondelete="SET NULL"))
    org_path: Mapped[str | None] = mapped_column(String(255))
    device: Mapped[str | None] = mapped_column(String(64))
    questions: Mapped[list] = mapped_column(JSON, default=list)
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    marks: Mapped[dict | None] = mapped_column(JSON)  # question id -> points earned, once scored
    time_limit_s: Mapped[int] = mapped_column(default=1200)
    pass_score: Mapped[int] = mapped_column(default=60)
    score: Mapped[int | None] = mapped_column()
    max_score: Mapped[int] = mapped_column(default=0)
    passed: Mapped[bool | None] = mapped_column()
    duration_ms: Mapped[int | None] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An admin declared the scored attempt void (services.void_attempt): who, when and why.
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    void_reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class QuizBest(db.Model):
    """A student's standing in a quiz: levels passed, then score, then time. One row per
    (quiz, user), rewritten whenever one of their attempts is scored."""

    __tablename__ = "quiz_bests"
    __table_args__ = (
        UniqueConstraint("quiz_id", "user_id"),
        # org_path rides along so "better than me within this subtree" is an index-only count
        Index("ix_quiz_bests_rank", "quiz_id", "rank_key", "org_path"),
        Index("ix_quiz_bests_org", "quiz_id", "org_path", postgresql_ops={"org_path": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id", ondelete="SET NULL"))
    org_path: Mapped[str | None] = mapped_column(String(255))
    # levels passed, then score (desc), then time (asc) folded into one integer: one index range
    # gives the order and "how many are better than me" (see services.rank_key).
    rank_key: Mapped[int] = mapped_column(BigInteger, default=0)
    levels_passed: Mapped[int] = mapped_column(default=0)
    score: Mapped[int] = mapped_column(default=0)
    max_score: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[int] = mapped_column(default=0)
    passed: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    achieved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
