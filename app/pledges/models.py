"""Pledges (承诺/公约) and their signatures.

Signing only ever inserts a row (and a guardian's co-sign updates that one row): there is no
counter row that every signature bumps. Progress comes from an indexed GROUP BY over the
signature's snapshot of where the signer was (`class_path`), cached for a few seconds.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.campaigns.models import Campaign
from app.common.db_types import UTCDateTime
from app.common.time import utcnow
from app.extensions import db

PLEDGE_MODES = ("individual", "family")
CONTENT_FIELDS = ("title", "body", "mode", "requires_handwriting")  # what a signer agreed to: fixed once signed
SIGNATURE_STATUSES = ("awaiting_guardian", "complete")


class Pledge(db.Model):
    __tablename__ = "pledges"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(12), default="individual")
    requires_handwriting: Mapped[bool] = mapped_column(default=False)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship(lazy="joined")


class Signature(db.Model):
    """One person's signature of one pledge (unique: signing is idempotent per person).

    In family mode the row is the child's; a linked guardian's co-sign completes it and is the
    recorded guardian consent (for children under 14 it doubles as that consent; birthdates are
    not stored, so every co-sign records it). `class_id`/`school_id`/`region_id`/`class_path`
    snapshot where the signer was at signing time: a later class move does not rewrite history.
    `class_path` is set for students only; progress counts students.
    """

    __tablename__ = "signatures"
    __table_args__ = (
        UniqueConstraint("pledge_id", "user_id"),
        Index("ix_signatures_progress", "pledge_id", "class_path", "status", "revoked",
              postgresql_ops={"class_path": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="complete")
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handwriting_media_id: Mapped[str | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))

    class_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id", ondelete="SET NULL"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id", ondelete="SET NULL"))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id", ondelete="SET NULL"))
    class_path: Mapped[str | None] = mapped_column(String(255))

    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    guardian_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    guardian_handwriting_media_id: Mapped[str | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    guardian_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    revoked: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str | None] = mapped_column(String(200))

    pledge: Mapped[Pledge] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
