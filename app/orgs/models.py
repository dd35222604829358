from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.common.db_types import UTCDateTime
from app.common.time import utcnow
from app.extensions import db

ORG_KINDS = ("region", "school", "class")
ROLES = ("student", "teacher", "judge", "school_admin", "region_admin")
STAFF_ROLES = ("teacher", "school_admin", "region_admin")


class Org(db.Model):
    """A node of the tree. `path` is the materialised path `/1/5/23/` (ids from the root),
    so "everything under X" is `path LIKE '/1/5/%'` on an index."""

    __tablename__ = "orgs"
    __table_args__ = (
        Index("ix_orgs_path", "path", postgresql_ops={"path": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    path: Mapped[str] = mapped_column(String(255), default="")
    depth: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Org | None] = relationship(remote_side=[id])

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to and including this org."""
        return [int(part) for part in self.path.strip("/").split("/") if part]

    def is_within(self, other: Org) -> bool:
        return self.path.startswith(other.path)


class Membership(db.Model):
    """A role held by a user in one org; staff roles reach the org's whole subtree."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "org_id", "role"),
        # A student is in one class: two class invites accepted at the same moment cannot leave two
        # (every count per class would count them twice).
        Index("uq_memberships_one_class", "user_id", unique=True,
              postgresql_where=text("role = 'student'"), sqlite_where=text("role = 'student'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship(lazy="joined")


class Invite(db.Model):
    """A short code that grants `role` in `org` when accepted; limited uses, expiry."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    max_uses: Mapped[int] = mapped_column()
    uses: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship(lazy="joined")
