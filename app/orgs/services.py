"""Org tree, invites and joining. Each public function owns its transaction."""
from __future__ import annotations

import functools
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.common.pagination import paginate
from app.common.time import utcnow
from app.errors import ApiError, Forbidden, NotFound, ValidationFailed
from app.extensions import db, wechat
from app.family.models import FamilyLink
from app.orgs.models import Invite, Membership, Org
from app.orgs.permissions import (
    PLATFORM_ADMIN_RANK,
    ROLE_ORG_KINDS,
    ROLE_RANK,
    authority_rank,
    forget_memberships,
    org_with_authority,
    visible_org,
)
from app.orgs.schemas import clean_real_name

PARENT_KIND = {"region": ("region", None), "school": ("region",), "class": ("school",)}
INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed
INVITE_CODE_LENGTH = 8
KIND_NAMES = {"region": "区域", "school": "学校", "class": "班级"}
# Regions nest (province → city → district → town), then school → class: ten levels is room to
# spare, and keeps the materialised path (String(255), ids of up to 10 digits) far from its limit.
MAX_LEVELS = 10
ROLE_NAMES = {"student": "学生", "teacher": "教师", "judge": "评委", "school_admin": "学校管理员",
              "region_admin": "教育局管理员"}


def random_code(length: int, alphabet: str = INVITE_ALPHABET) -> str:
    """`length` characters drawn uniformly from `alphabet` with the OS's CSPRNG (`secrets`)."""
    table = _byte_table(alphabet)
    if table is None:
        return "".join(secrets.choice(alphabet) for _ in range(length))
    # Each random byte picks a character directly: uniform because the alphabet's size divides 256.
    # Twenty `secrets.choice` calls were ~35 µs of every pledge signing; this is ~1 µs.
    return secrets.token_bytes(length).translate(table).decode("ascii")


@functools.cache
def _byte_table(alphabet: str) -> bytes | None:
    """A 256-byte translation table mapping byte b to alphabet[b % size], or None when the
    alphabet's size does not divide 256 (some characters would come up more often)."""
    if not alphabet.isascii() or 256 % len(alphabet):
        return None
    return bytes(ord(alphabet[b % len(alphabet)]) for b in range(256))


def create_org(actor: User, name: str, kind: str, parent_id: int | None) -> Org:
    """Regions at the top are the platform admin's; below, school admins and up create orgs."""
    name = name.strip()
    if parent_id is None:
        if not actor.is_platform_admin:
            raise Forbidden("forbidden", "只有平台管理员可以创建顶级区域")
        if kind != "region":
            raise ValidationFailed({"parent_id": ["学校和班级必须属于上级组织"]})
        parent = None
    else:
        parent = visible_org(actor, parent_id)
        if authority_rank(actor, parent) < ROLE_RANK["school_admin"]:
            raise Forbidden("forbidden", "你没有在该组织下创建下级组织的权限")
        if parent.kind not in PARENT_KIND[kind]:
            raise ValidationFailed(
                {"kind": [f"{KIND_NAMES[parent.kind]}下不能创建{KIND_NAMES[kind]}"]}, code="invalid_org_kind"
            )
        if kind == "region" and authority_rank(actor, parent) < ROLE_RANK["region_admin"]:
            raise Forbidden("forbidden", "只有教育局管理员可以创建下级区域")
        if parent.depth + 1 >= MAX_LEVELS:
            raise ValidationFailed({"parent_id": [f"组织层级最多 {MAX_LEVELS} 级，不能再往下创建"]},
                                   code="org_too_deep")
    org = add_org(name, kind, parent)
    db.session.commit()
    return org


def add_org(name: str, kind: str, parent: Org | None) -> Org:
    """Insert an org below `parent` with its materialised path (no rules, no commit: callers
    check permissions; the demo seed and tests build trees with it)."""
    org = Org(name=name, kind=kind, parent_id=parent.id if parent else None, depth=(parent.depth + 1) if parent else 0)
    db.session.add(org)
    db.session.flush()  # the path needs the id
    org.path = (parent.path if parent else "/") + f"{org.id}/"
    return org


def get_org(actor: User, org_id: int) -> Org:
    return visible_org(actor, org_id)


def list_children(actor: User, org_id: int, page: int, page_size: int, kind: str | None = None) -> dict:
    org = org_with_authority(actor, org_id, "teacher")
    query = select(Org).where(Org.parent_id == org.id).order_by(Org.name, Org.id)
    if kind:
        query = query.where(Org.kind == kind)
    return paginate(query, page, page_size)


def create_invite(actor: User, org_id: int, role: str, max_uses: int | None, expires_in_s: int | None) -> Invite:
    org = org_with_authority(actor, org_id, "teacher")
    if org.kind not in ROLE_ORG_KINDS[role]:
        allowed = "、".join(KIND_NAMES[k] for k in ROLE_ORG_KINDS[role])
        raise ValidationFailed({"role": [f"{ROLE_NAMES[role]}只能加入{allowed}"]}, code="role_not_allowed_here")
    if ROLE_RANK[role] > authority_rank(actor, org) and authority_rank(actor, org) < PLATFORM_ADMIN_RANK:
        raise Forbidden("role_above_own", "只能邀请与自己同级或更低的角色")
    config = current_app.config
    ttl = expires_in_s or config["INVITE_DEFAULT_TTL_S"]
    if ttl > config["INVITE_MAX_TTL_S"]:
        raise ValidationFailed({"expires_in_s": [f"有效期不能超过 {config['INVITE_MAX_TTL_S'] // 86400} 天"]})
    for _ in range(5):
        invite = Invite(
            code=random_code(INVITE_CODE_LENGTH), org_id=org.id, role=role,
            max_uses=max_uses or config["INVITE_DEFAULT_MAX_USES"],
            expires_at=utcnow() + timedelta(seconds=ttl), created_by_id=actor.id,
        )
        db.session.add(invite)
        try:
            db.session.commit()
            return invite
        except IntegrityError:  # a code collision; draw again
            db.session.rollback()
    raise ApiError("invite_code_exhausted", "暂时无法生成邀请码，请重试", status=503)


def _invite_by_code(code: str) -> Invite:
    invite = db.session.scalar(select(Invite).where(Invite.code == code.strip().upper()))
    if invite is None:
        raise NotFound("invite_not_found", "邀请码不存在，请检查后重新输入")
    return invite


def _check_invite_usable(invite: Invite) -> None:
    if invite.expires_at <= utcnow():
        raise ApiError("invite_expired", "邀请码已过期，请联系老师重新获取", status=410)
    if invite.uses >= invite.max_uses:
        raise ApiError("invite_used_up", "邀请码使用次数已满，请联系老师重新获取", status=410)


def preview_invite(code: str) -> dict:
    invite = _invite_by_code(code)
    _check_invite_usable(invite)
    parents = db.session.scalars(select(Org).where(Org.id.in_(invite.org.ancestor_ids[:-1]))).all()
    parents = sorted(parents, key=lambda o: o.depth)
    return {"code": invite.code, "role": invite.role, "org": invite.org, "parents": parents,
            "expires_at": invite.expires_at}


def invite_qrcode(actor: User, code: str) -> bytes:
    invite = _invite_by_code(code)
    if authority_rank(actor, invite.org) < ROLE_RANK["teacher"]:
        raise NotFound("invite_not_found", "邀请码不存在，请检查后重新输入")
    return wechat.wxa_code_png(scene=invite.code, page=current_app.config["WECHAT_JOIN_PAGE"])


def accept_invite(actor: User, code: str, real_name: str) -> tuple[dict, bool]:
    """Join the org with the invite's role. Returns (membership, created).

    Accepting again is harmless (no use is spent). A student belongs to one class: joining
    another class moves them; their past signatures keep the class they signed in. The database
    holds one class per student (`uq_memberships_one_class`): when two class invites are
    accepted at the same moment, the one that finds the other already committed moves again.
    """
    try:
        return _accept_invite(actor, code, real_name)
    except _JoinedElsewhereMeanwhile:
        return _accept_invite(actor, code, real_name)


class _JoinedElsewhereMeanwhile(Exception):
    """This student joined another class while this accept was being written."""


def _accept_invite(actor: User, code: str, real_name: str) -> tuple[dict, bool]:
    invite = _invite_by_code(code)
    name = clean_real_name(real_name)
    existing = _membership_in(actor, invite)
    if existing is not None:
        return _membership_answer(existing, None), False
    _check_invite_usable(invite)

    spent = db.session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.uses < Invite.max_uses, Invite.expires_at > utcnow())
        .values(uses=Invite.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        db.session.rollback()
        db.session.refresh(invite)
        _check_invite_usable(invite)
        raise ApiError("invite_used_up", "邀请码使用次数已满，请联系老师重新获取", status=410)

    moved_from = None
    if invite.role == "student":
        # A student is never a guardian: links this account made before (a classmate's family code
        # typed on a fresh account) end here, so it neither co-signs nor sees as a parent.
        db.session.execute(delete(FamilyLink).where(FamilyLink.parent_id == actor.id)
                           .execution_options(synchronize_session=False))
        previous = db.session.scalars(
            select(Membership).where(Membership.user_id == actor.id, Membership.role == "student")
        ).all()
        if any(old.org_id == invite.org_id for old in previous):  # this class, joined by an accept meanwhile
            db.session.rollback()  # and the use spent here with it
            return _membership_answer(_membership_in(actor, invite), None), False
        if previous:
            moved_from = previous[-1].org_id
            # One statement, before the insert (a flush would insert first, against one class per
            # student), and without the ORM's row count check: an accept of another class at the
            # same moment may have deleted the same row already.
            db.session.execute(delete(Membership).where(Membership.id.in_([old.id for old in previous]))
                               .execution_options(synchronize_session=False))
            for old in previous:
                db.session.expunge(old)
    membership = Membership(user_id=actor.id, org_id=invite.org_id, role=invite.role)
    db.session.add(membership)
    actor.real_name = name
    try:
        db.session.flush()
        # Read before the commit: a class accepted at the same moment may move the student on (and
        # delete this row) right after it.
        answer = _membership_answer(membership, moved_from)
        db.session.commit()
    except IntegrityError:  # the same person accepting twice at once: the other one won
        db.session.rollback()
        membership = _membership_in(actor, invite)
        if membership is None:
            if invite.role == "student":  # another class's accept committed first: move again
                raise _JoinedElsewhereMeanwhile from None
            raise
        return _membership_answer(membership, None), False
    forget_memberships(actor)
    return answer, True


def _membership_in(actor: User, invite: Invite) -> Membership | None:
    return db.session.scalar(select(Membership).where(
        Membership.user_id == actor.id, Membership.org_id == invite.org_id, Membership.role == invite.role))


def _membership_answer(membership: Membership, moved_from: int | None) -> dict:
    return {"id": membership.id, "org_id": membership.org_id, "org": membership.org, "role": membership.role,
            "moved_from_org_id": moved_from}
