"""Family links: a student shows a short code, a parent types it in.

Codes are short-lived and single-use, so a code seen over a shoulder cannot link a stranger
later; each further guardian needs a fresh code from the child.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.common.time import utcnow
from app.errors import ApiError, Forbidden, NotFound
from app.extensions import db
from app.family.models import FamilyCode, FamilyLink
from app.orgs.models import Membership
from app.orgs.services import random_code

FAMILY_CODE_ALPHABET = "23456789"  # digits only: easy for a child to read out and a parent to type
FAMILY_CODE_LENGTH = 6


def _is_student(user: User) -> bool:
    return db.session.scalar(
        select(Membership.id).where(Membership.user_id == user.id, Membership.role == "student").limit(1)
    ) is not None


def family_code(student: User) -> FamilyCode:
    """The student's current code, or a new one when none is valid."""
    if not _is_student(student):
        raise Forbidden("not_a_student", "只有已加入班级的学生才有家庭码")
    now = utcnow()
    current = db.session.scalar(
        select(FamilyCode).where(FamilyCode.student_id == student.id, FamilyCode.used_at.is_(None),
                                 FamilyCode.expires_at > now).order_by(FamilyCode.id.desc()).limit(1)
    )
    if current is not None:
        return current
    ttl = timedelta(seconds=current_app.config["FAMILY_CODE_TTL_S"])
    for _ in range(10):
        value = random_code(FAMILY_CODE_LENGTH, FAMILY_CODE_ALPHABET)
        # Six digits are few and codes are issued daily: a value that is used or expired is free
        # again (links do not refer to codes), or the space would run out. Live values stay unique.
        db.session.execute(
            delete(FamilyCode)
            .where(FamilyCode.code == value, or_(FamilyCode.used_at.is_not(None), FamilyCode.expires_at <= now))
            .execution_options(synchronize_session=False)
        )
        code = FamilyCode(student_id=student.id, code=value, expires_at=now + ttl)
        db.session.add(code)
        try:
            db.session.commit()
            return code
        except IntegrityError:
            db.session.rollback()
    raise ApiError("family_code_exhausted", "暂时无法生成家庭码，请重试", status=503)


def link_child(parent: User, code: str) -> tuple[dict, bool]:
    """Link the caller as a guardian of the child whose code this is. Returns (answer, created);
    linking an already linked child is harmless and spends no code."""
    record = db.session.scalar(select(FamilyCode).where(FamilyCode.code == code.strip()))
    if record is None:
        raise NotFound("family_code_not_found", "家庭码不正确，请让孩子在“我的”页面查看")
    if record.student_id == parent.id:
        raise ApiError("cannot_link_self", "不能绑定自己", status=422)
    if _is_student(parent):
        raise Forbidden("students_cannot_be_guardians", "学生账号不能绑定为家长，请使用家长本人的微信")
    child = db.session.get(User, record.student_id)
    existing = db.session.scalar(
        select(FamilyLink).where(FamilyLink.parent_id == parent.id, FamilyLink.child_id == child.id)
    )
    if existing is not None:
        return {"child": child}, False
    now = utcnow()
    used = db.session.execute(
        update(FamilyCode)
        .where(FamilyCode.id == record.id, FamilyCode.used_at.is_(None), FamilyCode.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        db.session.rollback()
        raise ApiError("family_code_expired", "家庭码已失效，请让孩子刷新后重新获取", status=410)
    db.session.add(FamilyLink(parent_id=parent.id, child_id=child.id))
    try:
        db.session.commit()
    except IntegrityError:  # the same parent linking twice at once: the other request won
        db.session.rollback()
        return {"child": child}, False
    return {"child": child}, True
