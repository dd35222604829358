"""Family links: a student shows a short code, a parent types it in.

Codes are short-lived and single-use, so a code seen over a shoulder cannot link a stranger
later; each further guardian needs a fresh code from the child.

Why 8 digits, 2 hours and a cap on every attempt: a stranger who types random codes links to a
child with probability (live codes ÷ code space) per attempt, so what they can expect is
    live codes ÷ 10^8 × attempts allowed.
Six digits from "23456789" were 262,144 values living 24 h and issued to every student who opened
「我的」: 26,000 live codes (a city's students in a day) made every tenth guess a child, and only
wrong guesses were capped, so right ones came free. Now:
- the space is 10^8 (8 digits, 0–9: still easy to read out and type on a phone's number pad);
- a code lives FAMILY_CODE_TTL_S (2 h by default) and the app only asks for one when the child
  taps 「显示家庭码」, so few are live at once;
- the cap (FAMILY_LINK_RATE_LIMIT, app/family/routes.py) counts every attempt that links or is
  wrong, so an account has a few dozen attempts a day, right ones included.
Even at 100,000 live codes that is 10^-3 per attempt, ~0.03 links a day for an account at the
default cap. Values are never issued twice (the column is unique and used or expired rows are
kept), so a stale code answers 410, never another child; at 10^8 values the retry below only
matters once millions of codes have been issued. Codes of another shape (the six-character codes
of before) are refused as expired, and a student holding one is given a new code.
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
from app.orgs.permissions import is_student
from app.orgs.services import random_code

FAMILY_CODE_ALPHABET = "0123456789"  # digits only: easy for a child to read out and a parent to type
FAMILY_CODE_LENGTH = 8


def _current_shape(code: str) -> bool:
    """Issued under the rules above (not one of the short codes from before)."""
    return len(code) == FAMILY_CODE_LENGTH and all(ch in FAMILY_CODE_ALPHABET for ch in code)


def family_code(student: User) -> FamilyCode:
    """The student's current code, or a new one when none is valid."""
    if not is_student(student):
        raise Forbidden("not_a_student", "只有已加入班级的学生才有家庭码")
    now = utcnow()
    current = db.session.scalar(
        select(FamilyCode).where(FamilyCode.student_id == student.id, FamilyCode.used_at.is_(None),
                                 FamilyCode.expires_at > now).order_by(FamilyCode.id.desc()).limit(1)
    )
    if current is not None and _current_shape(current.code):
        return current
    ttl = timedelta(seconds=current_app.config["FAMILY_CODE_TTL_S"])
    for _ in range(10):
        value = random_code(FAMILY_CODE_LENGTH, FAMILY_CODE_ALPHABET)
        # A value taken before (live, used or expired) is not issued again: the unique column
        # refuses it and another is drawn.
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
    if not _current_shape(record.code):
        raise ApiError("family_code_expired", "家庭码已失效，请让孩子刷新后重新获取", status=410)
    if record.student_id == parent.id:
        raise ApiError("cannot_link_self", "不能绑定自己", status=422)
    if is_student(parent):
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


def my_links(user: User) -> dict:
    """The caller's family links both ways: the children they are a guardian of, and (for a
    student) who is linked as their guardian, so a child sees every account that may co-sign for
    them and can remove one they do not know."""
    rows = db.session.execute(
        select(FamilyLink, User).join(User, User.id == FamilyLink.child_id).where(FamilyLink.parent_id == user.id)
        .order_by(FamilyLink.id)).all()
    guardians = db.session.execute(
        select(FamilyLink, User).join(User, User.id == FamilyLink.parent_id).where(FamilyLink.child_id == user.id)
        .order_by(FamilyLink.id)).all()
    return {
        "children": [{"id": link.id, "person": {"id": child.id, "real_name": child.real_name},
                      "created_at": link.created_at} for link, child in rows],
        "guardians": [{"id": link.id, "person": {"id": parent.id, "real_name": parent.real_name},
                       "created_at": link.created_at} for link, parent in guardians],
    }


def remove_link(user: User, link_id: int) -> None:
    """Either side ends a link: a parent who linked the wrong child, a child who sees a guardian
    they do not know. The removed guardian can no longer co-sign or see the child's class;
    family pledges they already co-signed stay signed (that consent was given). Anyone else's
    link is "not found"."""
    removed = db.session.execute(
        delete(FamilyLink).where(FamilyLink.id == link_id,
                                 or_(FamilyLink.parent_id == user.id, FamilyLink.child_id == user.id))
        .execution_options(synchronize_session=False))
    if removed.rowcount != 1:
        db.session.rollback()
        raise NotFound("family_link_not_found", "未找到该家庭绑定")
    db.session.commit()

