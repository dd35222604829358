from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.common.db_types import UTCDateTime
from app.common.time import utcnow
from app.extensions import db

UPLOAD_STATUSES = ("pending", "assembling", "ready", "failed", "expired")
MODERATION_STATES = ("unchecked", "pending", "pass", "review")


class Upload(db.Model):
    """One file on its way in. Chunks are stored under `uploads/<id>/`; `complete` turns a
    fully received upload into a `Media` or a failure with a reason. Ids are random, and only
    the uploader can see or touch an upload."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    chunk_size: Mapped[int] = mapped_column()
    chunk_count: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    failure_code: Mapped[str | None] = mapped_column(String(40))
    media_id: Mapped[str | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UploadChunk(db.Model):
    """A received chunk; inserting is idempotent, so re-sent chunks are harmless."""

    __tablename__ = "upload_chunks"
    __table_args__ = (UniqueConstraint("upload_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column()
    size: Mapped[int] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Media(db.Model):
    """A checked, immutable file: the cleaned original plus a thumbnail (or a video's poster)."""

    __tablename__ = "media"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    mime: Mapped[str] = mapped_column(String(40))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    duration_s: Mapped[float | None] = mapped_column(Float)
    video_codec: Mapped[str | None] = mapped_column(String(24))
    audio_codec: Mapped[str | None] = mapped_column(String(24))
    filename: Mapped[str] = mapped_column(String(200))
    storage_key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str | None] = mapped_column(String(200))
    # WeChat content security: unchecked (not configured) → pending → pass | review (held for people).
    moderation: Mapped[str] = mapped_column(String(12), default="unchecked")
    moderation_trace_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
