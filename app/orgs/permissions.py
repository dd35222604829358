"""Who may do what where.

A staff role granted at an org reaches that org's whole subtree (materialised path prefix).
Participants (students, and parents through their children) see their own orgs and the orgs
above them, nothing beside them. Existence is private: an org you cannot see is a 404; an
org you can see but not act on is a 403.
"""
from __future__ import annotations

from flask import g
from sqlalchemy import select

from app.auth.models import User
from app.errors import Forbidden, NotFound
from app.extensions import db
from app.orgs.models import STAFF_ROLES, Membership, Org

ROLE_RANK = {"student": 10, "teacher": 30, "judge": 35, "school_admin": 40, "region_admin": 50}
PLATFORM_ADMIN_RANK = 100
# Which kinds of org each role can be held in.
ROLE_ORG_KINDS = {
    "student": ("class",),
    "teacher": ("school", "class"),
    "judge": ("region", "school"),
    "school_admin": ("school",),
    "region_admin": ("region",),
}


def memberships_of(user: User) -> list[Membership]:
    """The user's memberships with their orgs, loaded once per request."""
    cache = g.setdefault("_memberships", {})
    if user.id not in cache:
        cache[user.id] = list(
            db.session.scalars(select(Membership).where(Membership.user_id == user.id).order_by(Membership.id))
        )
    return cache[user.id]


def is_student(user: User) -> bool:
    """A student somewhere: students take part (sign, answer) and never act as a guardian."""
    return any(m.role == "student" for m in memberships_of(user))


def forget_memberships(user: User) -> None:
    g.setdefault("_memberships", {}).pop(user.id, None)


def authority_rank(user: User, org: Org) -> int:
    """The highest staff rank the user holds over `org` (0 when none)."""
    if user.is_platform_admin:
        return PLATFORM_ADMIN_RANK
    ranks = [
        ROLE_RANK[m.role]
        for m in memberships_of(user)
        if m.role in STAFF_ROLES and org.path.startswith(m.org.path)
    ]
    return max(ranks, default=0)


def has_authority(user: User, org: Org, min_role: str = "teacher") -> bool:
    return authority_rank(user, org) >= ROLE_RANK[min_role]


def staff_paths(user: User, min_role: str = "teacher") -> list[str]:
    """Roots of the subtrees where the user holds at least `min_role`."""
    return [
        m.org.path for m in memberships_of(user) if m.role in STAFF_ROLES and ROLE_RANK[m.role] >= ROLE_RANK[min_role]
    ]


def participant_org_ids(user: User) -> set[int]:
    """Orgs a person belongs to, and the ones above: their own, and their children's."""
    from app.family.models import FamilyLink

    orgs = [m.org for m in memberships_of(user)]
    child_ids = db.session.scalars(select(FamilyLink.child_id).where(FamilyLink.parent_id == user.id)).all()
    if child_ids:
        orgs += db.session.scalars(
            select(Org).join(Membership, Membership.org_id == Org.id).where(Membership.user_id.in_(child_ids))
        ).all()
    return {org_id for org in orgs for org_id in org.ancestor_ids}


def can_see_org(user: User, org: Org) -> bool:
    return authority_rank(user, org) > 0 or org.id in participant_org_ids(user)


def visible_org(user: User, org_id: int) -> Org:
    org = db.session.get(Org, org_id)
    if org is None or not can_see_org(user, org):
        raise NotFound("org_not_found", "组织不存在或无权查看")
    return org


def org_with_authority(user: User, org_id: int, min_role: str = "teacher") -> Org:
    """The org, when the user holds at least `min_role` over it: 404 if unseen, 403 if seen."""
    org = visible_org(user, org_id)
    if not has_authority(user, org, min_role):
        raise Forbidden("forbidden", "你没有管理该组织的权限")
    return org
