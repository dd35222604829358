"""Partial updates (PATCH) of things with an open/close window (pledges and quizzes), and the row
lock that edits and imports take."""
from __future__ import annotations

from sqlalchemy import select, text

from app.errors import Conflict, ValidationFailed
from app.extensions import db


def lock_for_edit(row) -> None:
    """Lock the row until the commit (FOR UPDATE: a child row's foreign-key check, such as a new
    signature's or attempt's, waits for the edit) and reload it. Locked by id alone: FOR UPDATE
    cannot apply to the outer joins a mapper's eager loads add.

    SQLite has no row locks: a write that changes nothing takes the database's write lock instead
    (waiting for another writer's commit), so what is read after it is the latest and stays so."""
    model = type(row)
    if db.session.get_bind().dialect.name == "sqlite":
        # Plain SQL: a Core update() would also set the table's onupdate columns (updated_at).
        statement = f"UPDATE {model.__tablename__} SET id = id WHERE id = :id"  # noqa: S608 - a model's own name
        db.session.execute(text(statement), {"id": row.id})
    else:
        db.session.execute(select(model.id).where(model.id == row.id).with_for_update())
    db.session.refresh(row)


def changes(row, data: dict) -> dict:
    """The fields of `data` whose value differs from the row's: sending a value unchanged is
    not an edit (so it is never refused by a lock on that field)."""
    return {name: value for name, value in data.items() if getattr(row, name) != value}


def moved_window(row, data: dict) -> tuple:
    """(opens_at, closes_at) after the edit: a bound sent replaces the row's, `null` clears it.
    Refused when the window would close before it opens."""
    opens_at, closes_at = data.get("opens_at", row.opens_at), data.get("closes_at", row.closes_at)
    if opens_at and closes_at and closes_at <= opens_at:
        raise ValidationFailed({"closes_at": ["结束时间必须晚于开始时间"]}, "结束时间必须晚于开始时间")
    return opens_at, closes_at


def refuse_locked(changed: dict, locked_fields: tuple, code: str, message: str) -> None:
    """409 naming each locked field the edit would change."""
    locked = [name for name in locked_fields if name in changed]
    if locked:
        raise Conflict(code, message, errors={name: [message] for name in locked})
