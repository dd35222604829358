"""Pledges, signing, progress, certificates. Each public function owns its transaction.

Signing inserts one row, guarded by the unique (pledge, person) constraint: many taps at once
race on the insert, one wins, the others read the winner back. No counter row is updated per
signature; progress is an indexed GROUP BY over the signatures' snapshot paths, cached for a
few seconds (in Redis when REDIS_URL is set, else in the process), so it may lag that long.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import BigInteger, String, and_, bindparam, case, func, insert, literal, null, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import Exists

from app.auth.models import User
from app.campaigns.models import Campaign
from app.campaigns.services import (
    campaign_reach,
    can_see_campaign,
    check_inside_period,
    sees_campaign_itself,
    visible_campaign,
)
from app.common.aggregates import AggregateCache
from app.common.db_types import UTCDateTime
from app.common.downloads import check_export_size, excel_row, file_name_part
from app.common.editing import changes, lock_for_edit, moved_window, refuse_locked
from app.common.group_commit import answer_each, first_of_each, group_commit
from app.common.masking import mask_name
from app.common.pagination import paginate
from app.common.poster import cached_poster
from app.common.sql import built_once_per_dialect, conflict_insert, execute_committed, json_batch, json_batch_params
from app.common.time import beijing_cell, beijing_day, utcnow
from app.common.urls import public_url
from app.errors import ApiError, Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db, storage
from app.family.models import FamilyLink
from app.media.models import Media, Upload
from app.orgs.models import Membership, Org
from app.orgs.permissions import (
    authority_rank,
    has_authority,
    is_student,
    memberships_of,
    org_with_authority,
    staff_paths,
)
from app.orgs.queries import Place, places_below, student_class, under
from app.orgs.services import INVITE_ALPHABET, random_code
from app.pledges.models import CONTENT_FIELDS, Pledge, Signature

log = logging.getLogger(__name__)

SERIAL_LENGTH = 20  # 32 symbols ** 20 = 100 bits: unguessable, still readable off a poster


class PledgeNotFound(NotFound):
    code, message = "pledge_not_found", "承诺书不存在或无权查看"


# --- pledges ----------------------------------------------------------------------------------

PLEDGE_OUTSIDE_CAMPAIGN = "承诺的签署时间需在活动时间之内"


def create_pledge(actor: User, campaign_id: int, data: dict) -> dict:
    """Region and school admins over the campaign's org add pledges to it."""
    visible_campaign(actor, campaign_id)  # 404 when the campaign is not visible
    campaign = db.session.get(Campaign, campaign_id)
    org_with_authority(actor, campaign.org_id, "school_admin")
    check_inside_period(campaign, data.get("opens_at"), data.get("closes_at"), PLEDGE_OUTSIDE_CAMPAIGN)
    pledge = Pledge(
        campaign_id=campaign.id, title=data["title"], body=data["body"], mode=data["mode"],
        requires_handwriting=data["requires_handwriting"], opens_at=data.get("opens_at"),
        closes_at=data.get("closes_at"), created_by_id=actor.id,
    )
    db.session.add(pledge)
    db.session.commit()
    return describe_pledge(pledge, actor)


def update_pledge(actor: User, pledge_id: int, data: dict) -> dict:
    """Region and school admins over the campaign's org correct a pledge. The window may move at
    any time (signing checks it on every request, in SQL); the text, mode and handwriting rule
    only until the first signature, because certificates already issued carry them.

    The pledge row is locked first, so an edit waits for a signing whose row is already inserted
    and then sees it (409). A signing whose statement read the pledge a moment before the edit
    and had not yet inserted still commits under what it read (milliseconds, and only while the
    first signatures arrive: an admin can revoke such a signature). Closing that gap would put a
    row lock on every signing, the hot path."""
    pledge = _visible_pledge(actor, pledge_id)
    org_with_authority(actor, pledge.campaign.org_id, "school_admin")
    lock_for_edit(pledge)
    changed = changes(pledge, data)
    if any(name in changed for name in CONTENT_FIELDS) and db.session.scalar(
            select(Signature.id).where(Signature.pledge_id == pledge.id).limit(1)) is not None:
        refuse_locked(changed, CONTENT_FIELDS, "pledge_content_locked",
                      "已有人签署，承诺的标题、正文、签署方式和手写要求不能再修改（签署时间仍可调整）")
    opens_at, closes_at = moved_window(pledge, data)
    if {"opens_at", "closes_at"} & changed.keys():
        check_inside_period(pledge.campaign, opens_at, closes_at, PLEDGE_OUTSIDE_CAMPAIGN)
    for name, value in changed.items():
        setattr(pledge, name, value)
    db.session.commit()
    return describe_pledge(pledge, actor)


def _visible_pledge(user: User, pledge_id: int) -> Pledge:
    """The pledge when its campaign is visible to the user (the rule of
    `visible_campaigns_query`, checked in memory: signing is the hot path), else 404."""
    pledge = db.session.get(Pledge, pledge_id)
    if pledge is None or not can_see_campaign(user, pledge.campaign):
        raise PledgeNotFound()
    return pledge


def _window_status(pledge: Pledge, now: datetime) -> str:
    """Signing is open inside the pledge's own window and its campaign's period (the fast
    signing statement checks the same four bounds in SQL)."""
    campaign = pledge.campaign
    if (pledge.opens_at and now < pledge.opens_at) or (campaign.starts_at and now < campaign.starts_at):
        return "upcoming"
    if (pledge.closes_at and now >= pledge.closes_at) or (campaign.ends_at and now >= campaign.ends_at):
        return "closed"
    return "open"


def describe_pledge(pledge: Pledge, user: User | None = None, now: datetime | None = None,
                    mine: Signature | None = None, guardian_only: bool | None = None) -> dict:
    now = now or utcnow()
    children = None
    if user is not None:
        guardian_only = not sees_campaign_itself(user, pledge.campaign)
        if mine is None:
            mine = _signature_of(pledge.id, user.id)
        if pledge.mode == "family":
            children = [] if is_student(user) else _children_states(pledge, user)
    return {
        "id": pledge.id, "campaign_id": pledge.campaign_id, "campaign": pledge.campaign, "title": pledge.title,
        "body": pledge.body, "mode": pledge.mode, "requires_handwriting": pledge.requires_handwriting,
        "opens_at": pledge.opens_at, "closes_at": pledge.closes_at, "status": _window_status(pledge, now),
        "created_at": pledge.created_at, "my_signature": signature_answer(mine) if mine else None,
        "children": children, "guardian_only": guardian_only,
    }


def _children_states(pledge: Pledge, guardian: User) -> list[dict]:
    """A guardian's linked children whom this family pledge reaches, and where each stands.

    A parent of children in two schools sees a school's pledge through either child; the other
    child can neither see nor sign it, so offering them would lead to a co-sign that cannot
    succeed (`_cosign` refuses the same children)."""
    return _children_states_of([pledge], guardian)[pledge.id]


def _children_states_of(pledges: list[Pledge], guardian: User) -> dict[int, list[dict]]:
    """`_children_states` of each pledge of one campaign (a list page): two queries, whatever
    the number of pledges."""
    if not pledges:
        return {}
    children = db.session.execute(
        select(User.id, User.real_name).join(FamilyLink, FamilyLink.child_id == User.id)
        .where(FamilyLink.parent_id == guardian.id, _takes_part(pledges[0], User.id)).order_by(User.id)
    ).all()
    signatures = {}
    if children:
        signatures = {(s.pledge_id, s.user_id): s for s in db.session.execute(
            select(Signature.pledge_id, Signature.user_id, Signature.status, Signature.revoked, Signature.serial)
            .where(Signature.pledge_id.in_([p.id for p in pledges]),
                   Signature.user_id.in_([child.id for child in children])))}
    states = {}
    for pledge in pledges:
        states[pledge.id] = []
        for child in children:
            signature = signatures.get((pledge.id, child.id))
            status = signature.status if signature else None
            states[pledge.id].append({
                "id": child.id, "real_name": child.real_name, "status": status,
                "revoked": bool(signature and signature.revoked),
                "serial": signature.serial if status == "complete" else None})
    return states


def _takes_part(pledge: Pledge, user_id) -> Exists:
    """The user (a column or an id) is a student inside the campaign's org subtree: whom the
    pledge reaches (the rule `can_see_campaign` and the signing statement apply to a student)."""
    return (select(Membership.id).join(Org, Org.id == Membership.org_id)
            .where(Membership.user_id == user_id, Membership.role == "student",
                   under(Org.path, pledge.campaign.org.path))
            .exists())


def get_pledge(user: User, pledge_id: int) -> dict:
    return describe_pledge(_visible_pledge(user, pledge_id), user)


def list_pledges(user: User, campaign_id: int, page: int, page_size: int) -> dict:
    campaign = visible_campaign(user, campaign_id)
    guardian_only = not sees_campaign_itself(user, campaign)
    result = paginate(select(Pledge).where(Pledge.campaign_id == campaign_id).order_by(Pledge.id.desc()),
                      page, page_size)
    mine = {}
    ids = [p.id for p in result["items"]]
    if ids:
        mine = {s.pledge_id: s for s in db.session.scalars(
            select(Signature).where(Signature.pledge_id.in_(ids), Signature.user_id == user.id))}
    now = utcnow()
    # A parent's home shows where each child stands on the family pledges (a student has none).
    family = [] if is_student(user) else [p for p in result["items"] if p.mode == "family"]
    children = _children_states_of(family, user)
    result["items"] = [describe_pledge(p, None, now, mine.get(p.id), guardian_only)
                       | ({"children": children[p.id]} if p.id in children else {})
                       for p in result["items"]]
    return result


# --- signing ----------------------------------------------------------------------------------

def _signature_of(pledge_id: int, user_id: int) -> Signature | None:
    return db.session.scalar(select(Signature).where(Signature.pledge_id == pledge_id, Signature.user_id == user_id))


def signature_answer(signature: Signature | Row) -> dict:
    base = "/api/v1/certificates/" + signature.serial
    return {
        "id": signature.id, "pledge_id": signature.pledge_id, "serial": signature.serial,
        "status": signature.status, "signed_at": signature.signed_at, "completed_at": signature.completed_at,
        "guardian_signed_at": signature.guardian_signed_at, "revoked": signature.revoked,
        "certificate_url": base, "image_url": base + "/image",
    }


def _check_window(pledge: Pledge) -> None:
    status = _window_status(pledge, utcnow())
    if status == "upcoming":
        raise Conflict("pledge_not_open", "承诺签署尚未开始，请在开放时间内签署")
    if status == "closed":
        raise Conflict("pledge_closed", "承诺签署已结束")


def _handwriting(user: User, pledge: Pledge, upload_id: str | None) -> str | None:
    """The media id of the signer's own, ready handwriting upload (or None when optional)."""
    field = "handwriting_upload_id"
    if not upload_id:
        if pledge.requires_handwriting:
            raise ValidationFailed({field: ["请先手写签名再提交"]}, "该承诺需要手写签名",
                                   code="handwriting_required")
        return None
    upload = db.session.get(Upload, upload_id) if len(upload_id) <= 32 else None
    if upload is None or upload.owner_id != user.id:
        raise ValidationFailed({field: ["签名图片不存在，请重新上传"]}, "签名图片无效", code="invalid_handwriting")
    media = db.session.get(Media, upload.media_id) if upload.status == "ready" and upload.media_id else None
    if media is None:
        raise ValidationFailed({field: ["签名图片尚未上传完成"]}, "签名图片尚未上传完成",
                               code="handwriting_not_ready")
    if media.mime != "image/png":  # what the mini-program's signature canvas exports; not a photo
        raise ValidationFailed({field: ["手写签名应为签名板导出的 PNG 图片"]}, "签名图片无效",
                               code="invalid_handwriting")
    return media.id


def _snapshot(user: User) -> dict:
    """Where the signer is now: a student's class, school and region; staff's own org."""
    memberships = memberships_of(user)
    student = next((m for m in memberships if m.role == "student"), None)
    if student is not None:
        org = student.org
        ids = org.ancestor_ids
        return {"class_id": org.id, "school_id": org.parent_id, "region_id": ids[-3] if len(ids) >= 3 else None,
                "class_path": org.path}
    for membership in memberships:
        org = membership.org
        ids = org.ancestor_ids
        if org.kind == "class":
            return {"class_id": org.id, "school_id": org.parent_id,
                    "region_id": ids[-3] if len(ids) >= 3 else None}
        if org.kind == "school":
            return {"school_id": org.id, "region_id": org.parent_id}
        return {"region_id": org.id}
    return {}


@built_once_per_dialect
def _student_sign_statement(dialect: str):
    """`INSERT … SELECT … ON CONFLICT DO NOTHING` for a batch of students' signings, bound with
    `now` and the batch's [pledge, user, serial] rows (`json_batch`)."""
    table = Signature.__table__  # Core, not ORM: the ORM would read the parameters as rows to insert
    statement = conflict_insert(table)
    source = json_batch(dialect, "batch", {"pledge_id": BigInteger(), "user_id": BigInteger(), "serial": String()})
    if statement is None or source is None:
        return None
    campaign_org = aliased(Org)
    now = bindparam("now", type_=UTCDateTime())
    klass = student_class(dialect, source.c.user_id)  # the membership `_snapshot` takes
    individual = Pledge.mode == "individual"
    rows = (
        select(Pledge.id, source.c.user_id, case((individual, "complete"), else_="awaiting_guardian"), now,
               case((individual, now), else_=null()), literal(False), source.c.serial,
               klass.id, klass.school_id, klass.region_id, klass.path)
        .select_from(source)
        .join(Pledge, Pledge.id == source.c.pledge_id)
        .join(Campaign, Campaign.id == Pledge.campaign_id)
        .join(campaign_org, campaign_org.id == Campaign.org_id)
    )
    rows = klass.joined_to(rows).where(Pledge.requires_handwriting.is_(False),
                                       or_(Pledge.opens_at.is_(None), Pledge.opens_at <= now),
                                       or_(Pledge.closes_at.is_(None), Pledge.closes_at > now),
                                       or_(Campaign.starts_at.is_(None), Campaign.starts_at <= now),
                                       or_(Campaign.ends_at.is_(None), Campaign.ends_at > now),
                                       klass.path.startswith(campaign_org.path))
    columns = ["pledge_id", "user_id", "status", "signed_at", "completed_at", "revoked", "serial",
               "class_id", "school_id", "region_id", "class_path"]
    statement = (statement.from_select(columns, rows)
                 .on_conflict_do_nothing(index_elements=["pledge_id", "user_id"])
                 .returning(table.c.id, table.c.pledge_id, table.c.user_id, table.c.serial, table.c.status,
                            table.c.signed_at, table.c.completed_at, table.c.guardian_signed_at,
                            table.c.revoked))
    return statement


def _write_student_signatures(triples: list[tuple]) -> list:
    """One batch of (pledge, user, serial): one statement, one commit. The result per triple is
    the new row, or None where nothing was inserted (already signed, a second tap in the same
    batch, outside the window, not visible, not a student …) — `sign` then decides. A database
    error (a serial clash, once in 2^100) sends the whole batch there (GroupCommit's fallback)."""
    statement = _student_sign_statement()
    key = _pledge_and_user
    first = first_of_each(triples, key)
    # In key order: two processes' batches then wait on each other's keys in the same order (no deadlock).
    unique = sorted(triples[index] for index in first.values())
    rows = execute_committed(statement, {"now": utcnow(), **json_batch_params(unique)})
    return answer_each(triples, key, first, {(row.pledge_id, row.user_id): row for row in rows})


def _pledge_and_user(triple: tuple) -> tuple:
    return triple[0], triple[1]


def sign_pledge(user_id: int, load_user: Callable[[], User], pledge_id: int, data: dict) -> tuple[dict, bool]:
    """Sign (or co-sign). Returns (signature, created). The common case — a student, in the
    window, no handwriting — never reads the user row (`sign_as_student`); everything else
    loads the user and goes through the full rules (`sign`)."""
    answer = sign_as_student(user_id, pledge_id, data)
    if answer is not None:
        return answer, True
    return sign(load_user(), pledge_id, data)


def sign_as_student(user_id: int, pledge_id: int, data: dict) -> dict | None:
    """The common case: a student signs, in the window, without handwriting.

    The signing joins the process's group commit (`app.common.group_commit`): one
    `INSERT … SELECT` for every signing waiting at that moment takes each class snapshot from the
    student's membership and checks the window and visibility (the class lies inside the
    campaign's org) in SQL; ON CONFLICT leaves an earlier signature alone. Nothing of the user
    row is read. Returns the new signature, or None when this path does not apply (already
    signed, a guardian, handwriting, outside the window, not visible, …): `sign` then decides
    with the full rules and answers the right status."""
    if data.get("child_id") is not None or data.get("handwriting_upload_id"):
        return None
    if _student_sign_statement() is None:
        return None
    serial = random_code(SERIAL_LENGTH, INVITE_ALPHABET)
    created = group_commit("pledge_signings", _write_student_signatures).submit((pledge_id, user_id, serial))
    if created is None:
        return None
    return signature_answer(created)  # the RETURNING row has every field the answer shows


def sign(user: User, pledge_id: int, data: dict) -> tuple[dict, bool]:
    """Sign (or, with `child_id`, co-sign as a guardian). Returns (signature, created).

    The hot path is one INSERT: the unique (pledge, person) constraint decides between many
    taps at once, and the loser reads the winner back. Only a request that would be refused
    first looks for an earlier signature, which is answered instead (200)."""
    pledge = _visible_pledge(user, pledge_id)
    if data.get("child_id") is not None:
        return _cosign(user, pledge, data["child_id"], data.get("handwriting_upload_id"))
    try:
        if pledge.mode == "family" and not is_student(user):
            raise ValidationFailed({"child_id": ["家庭承诺由孩子先签署，家长签署时请选择孩子"]},
                                   "家庭承诺需由孩子先签署，家长再共同签署", code="child_id_required")
        if pledge.mode == "individual" and not sees_campaign_itself(user, pledge.campaign):
            # Seen only through a child (also by staff of another school): the signature would
            # count nowhere and its certificate would name nobody, or another school.
            raise Forbidden("guardians_cosign_only", "个人承诺由学生本人签署，请让孩子在自己的微信中签署；"
                                                     "家庭承诺可在孩子签署后由家长共同签署")
        _check_window(pledge)
        media_id = _handwriting(user, pledge, data.get("handwriting_upload_id"))
    except ApiError:
        existing = _signature_of(pledge.id, user.id)
        if existing is not None:
            return signature_answer(existing), False
        raise
    now = utcnow()
    complete = pledge.mode == "individual"
    values = {
        "pledge_id": pledge.id, "user_id": user.id, "status": "complete" if complete else "awaiting_guardian",
        "signed_at": now, "completed_at": now if complete else None, "handwriting_media_id": media_id,
        "revoked": False, **_snapshot(user),
    }
    for _ in range(3):
        values["serial"] = random_code(SERIAL_LENGTH, INVITE_ALPHABET)
        try:
            new_id = db.session.execute(insert(Signature).values(**values).returning(Signature.id)).scalar_one()
            db.session.commit()
        except IntegrityError:
            # Another tap of the same person won the race (or, once in 2^100, a serial clash).
            db.session.rollback()
            existing = _signature_of(pledge.id, user.id)
            if existing is not None:
                return signature_answer(existing), False
            continue
        return signature_answer(Signature(id=new_id, **values)), True
    raise ApiError("serial_exhausted", "暂时无法生成证书编号，请重试", status=503)


def _cosign(guardian: User, pledge: Pledge, child_id: int, upload_id: str | None) -> tuple[dict, bool]:
    """A linked guardian completes the child's family signature; this is the guardian consent."""
    if pledge.mode != "family":
        raise ValidationFailed({"child_id": ["个人承诺无需家长共同签署"]}, "该承诺不是家庭承诺",
                               code="not_family_pledge")
    if is_student(guardian):
        # Links are checked when made, but an account may join a class afterwards (a classmate who
        # typed a friend's code before accepting the class invite): a child never signs as guardian.
        raise Forbidden("students_cannot_be_guardians", "学生账号不能作为家长共同签署，请使用家长本人的微信")
    link = db.session.execute(
        select(FamilyLink.id, _takes_part(pledge, child_id))
        .where(FamilyLink.parent_id == guardian.id, FamilyLink.child_id == child_id)
    ).first()
    if link is None:
        raise NotFound("child_not_found", "未找到已绑定的孩子，请先通过家庭码绑定")
    if not link[1]:
        # Linked, but the campaign does not reach the child (another school): the child cannot
        # see the pledge, so "have the child sign first" could never be followed.
        raise NotFound("child_not_found", "该孩子不在本次活动范围内，无需签署此承诺")
    signature = _signature_of(pledge.id, child_id)
    if signature is None:
        raise Conflict("child_not_signed", "孩子还没有签署，请让孩子先签署后再共同签署")
    if signature.status == "complete" or signature.revoked:
        return signature_answer(signature), False
    _check_window(pledge)
    media_id = _handwriting(guardian, pledge, upload_id)
    now = utcnow()
    done = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.status == "awaiting_guardian")
        .values(status="complete", completed_at=now, guardian_id=guardian.id, guardian_signed_at=now,
                guardian_consent_at=now, guardian_handwriting_media_id=media_id)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(signature)
    return signature_answer(signature), done.rowcount == 1


def revoke(actor: User, signature_id: int, reason: str | None) -> dict:
    """School admins over the signer's school, or admins over the campaign, revoke a signature;
    its certificate then says so and the poster is drawn again with the mark."""
    signature = db.session.get(Signature, signature_id)
    if signature is None:
        raise NotFound("signature_not_found", "签名记录不存在")
    orgs = [db.session.get(Org, org_id) for org_id in (signature.class_id, signature.school_id) if org_id]
    orgs.append(signature.pledge.campaign.org)
    if max((authority_rank(actor, org) for org in orgs), default=0) == 0:
        raise NotFound("signature_not_found", "签名记录不存在")
    if not any(has_authority(actor, org, "school_admin") for org in orgs):
        raise Forbidden("forbidden", "只有学校或教育局管理员可以撤销签名")
    if not signature.revoked:
        signature.revoked, signature.revoked_at = True, utcnow()
        signature.revoked_by_id, signature.revoke_reason = actor.id, reason
        db.session.commit()
        storage.backend.delete_prefix(f"certificates/{signature.serial}/")
        _stats_cache.forget(signature.pledge_id)
    return signature_answer(signature)


# --- progress ---------------------------------------------------------------------------------

def _scope(user: User, pledge: Pledge, org_id: int | None) -> tuple[Org, str]:
    """The org asked about (staff over it only) and the subtree path the counts cover: the
    part of the org's subtree that the campaign reaches."""
    campaign_org = pledge.campaign.org
    if org_id is None:
        if has_authority(user, campaign_org, "teacher"):
            org = campaign_org
        else:
            inside = sorted((p for p in staff_paths(user) if p.startswith(campaign_org.path)), key=len)
            if not inside:
                raise Forbidden("forbidden", "只有教师和管理员可以查看签署进度")
            org = db.session.scalar(select(Org).where(Org.path == inside[0]))
    else:
        org = org_with_authority(user, org_id, "teacher")
    return org, campaign_reach(org, pledge.campaign)


def _child_id(path: str, depth: int) -> int | None:
    parts = path.strip("/").split("/")
    return int(parts[depth + 1]) if len(parts) > depth + 1 else None


def _count(pledge: Pledge, org: Org, scope: str) -> dict:
    """Signed / awaiting / enrolled for the org and each child org, by indexed GROUP BYs."""
    per_child: dict[int, dict] = {}

    def bucket(path: str) -> dict | None:
        child = _child_id(path, org.depth)
        return per_child.setdefault(child, {"signed": 0, "awaiting_guardian": 0, "enrolled": 0}) if child else None

    total = {"signed": 0, "awaiting_guardian": 0, "enrolled": 0}
    rows = db.session.execute(
        select(Signature.class_path, Signature.status, func.count())
        .where(Signature.pledge_id == pledge.id, under(Signature.class_path, scope),
               Signature.revoked.is_(False))
        .group_by(Signature.class_path, Signature.status)
    )
    for path, status, n in rows:
        key = "signed" if status == "complete" else "awaiting_guardian"
        total[key] += n
        if (target := bucket(path)) is not None:
            target[key] += n
    rows = db.session.execute(
        select(Org.path, func.count(Membership.id))
        .join(Membership, Membership.org_id == Org.id)
        .where(Membership.role == "student", under(Org.path, scope))
        .group_by(Org.path)
    )
    for path, n in rows:
        total["enrolled"] += n
        if (target := bucket(path)) is not None:
            target["enrolled"] += n
    children = db.session.scalars(select(Org).where(Org.parent_id == org.id).order_by(Org.name, Org.id)).all()
    zero = {"signed": 0, "awaiting_guardian": 0, "enrolled": 0}
    total["children"] = [
        {"org_id": child.id, "name": child.name, "kind": child.kind, **per_child.get(child.id, zero)}
        for child in children if child.path.startswith(scope) or scope.startswith(child.path)
    ]
    total["computed_at"] = utcnow().isoformat()
    return total


def _unsigned(pledge: Pledge, klass: Org) -> list[dict]:
    """Students now in the class without a complete signature (any class they signed in)."""
    students = db.session.execute(
        select(User.id, User.real_name).join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == klass.id, Membership.role == "student").order_by(User.real_name, User.id)
    ).all()
    if not students:
        return []
    # A revoked signature is listed as such: the student cannot sign that pledge again, so a
    # reminder to sign would lead nowhere (the export says 签名已撤销 too).
    states = {row.user_id: "revoked" if row.revoked else row.status for row in db.session.execute(
        select(Signature.user_id, Signature.status, Signature.revoked)
        .where(Signature.pledge_id == pledge.id, Signature.user_id.in_([s.id for s in students])))}
    return [{"id": s.id, "real_name": s.real_name, "status": states.get(s.id)}
            for s in students if states.get(s.id) != "complete"]


def pledge_stats(user: User, pledge_id: int, org_id: int | None) -> dict:
    pledge = _visible_pledge(user, pledge_id)
    org, scope = _scope(user, pledge, org_id)
    counts = _cached_counts(pledge, org, scope)
    answer = {"org_id": org.id, "name": org.name, "kind": org.kind, **counts,
              "computed_at": datetime.fromisoformat(counts["computed_at"])}
    if org.kind == "class":
        answer["unsigned"] = _unsigned(pledge, org)
    return answer


def _cached_counts(pledge: Pledge, org: Org, scope: str) -> dict:
    """Counts shared by every worker for `PLEDGE_STATS_CACHE_S` (`AggregateCache`): fresh ones at
    once; stale ones answered while one background thread counts again; with none yet, one
    request counts and the others wait for it. No stampede of identical GROUP BYs under load, no
    request waits for a recount."""
    pledge_id, org_id = pledge.id, org.id
    return _stats_cache.get((pledge_id, org_id), lambda: _count(
        db.session.get(Pledge, pledge_id), db.session.get(Org, org_id), scope))


_stats_cache = AggregateCache("pledge-stats", "PLEDGE_STATS_CACHE_S", 5.0)


# --- export -----------------------------------------------------------------------------------

STATUS_NAMES = {"complete": "已完成", "awaiting_guardian": "待家长签署"}


def export_signatures(user: User, pledge_id: int, org_id: int | None) -> tuple[bytes, str, str]:
    """The signatures of students in the subtree as an .xlsx workbook (real names: staff only),
    with a second sheet of the students enrolled there now who have not completed it (never
    signed, waiting for a parent, revoked), its file name (pledge title and org) and an ASCII
    name for browsers that need one."""
    from openpyxl import Workbook

    pledge = _visible_pledge(user, pledge_id)
    org, scope = _scope(user, pledge, org_id)
    in_scope = (Signature.pledge_id == pledge.id, under(Signature.class_path, scope))
    # Students enrolled in the scope now without a valid complete signature: one row each (one
    # class per student, one signature per student and pledge).
    missing = (
        select(Membership.user_id, Org.path, Signature.status, Signature.revoked)
        .join(Org, Org.id == Membership.org_id)
        .outerjoin(Signature, and_(Signature.pledge_id == pledge.id, Signature.user_id == Membership.user_id))
        .where(Membership.role == "student", under(Org.path, scope),
               or_(Signature.id.is_(None), Signature.status != "complete", Signature.revoked.is_(True)))
    ).subquery()
    check_export_size(db.session.scalar(select(func.count()).select_from(Signature).where(*in_scope))
                      + db.session.scalar(select(func.count()).select_from(missing)))
    guardian = aliased(User)
    signatures = db.session.execute(
        select(Signature, User.real_name, guardian.real_name)
        .join(User, User.id == Signature.user_id)
        .outerjoin(guardian, guardian.id == Signature.guardian_id)
        .where(*in_scope)
    ).all()
    unsigned = db.session.execute(
        select(User.real_name, User.id, missing.c.path, missing.c.status, missing.c.revoked)
        .select_from(missing).join(User, User.id == missing.c.user_id)
    ).all()
    # Where each class lies: above a school with the regions between (a city has several 第一小学),
    # sorted by names then ids so same-named schools never interleave.
    places = places_below(org, [row.Signature.class_path for row in signatures] + [row.path for row in unsigned])
    nowhere = Place("", "", "", ())
    with_regions = any(place.regions for place in places.values())

    def place(path: str | None) -> list[str]:
        found = places.get(path, nowhere)
        return ([found.regions] if with_regions else []) + [found.school, found.klass]

    place_header = (["所属地区"] if with_regions else []) + ["学校", "班级"]
    book = Workbook(write_only=True)
    sheet = book.create_sheet("签名名单")
    sheet.append(excel_row(sheet, [f"{pledge.title}（{org.name}）"]))
    header = ["序号", "姓名", *place_header, "状态", "签署时间（北京时间）"]
    if pledge.mode == "family":
        header += ["家长", "家长签署时间（北京时间）"]
    sheet.append(header + ["证书编号", "是否撤销"])
    signatures.sort(key=lambda row: (places.get(row.Signature.class_path, nowhere).key, row[1] or "", row.Signature.id))
    for number, (signature, name, guardian_name) in enumerate(signatures, start=1):
        line = [number, name or "", *place(signature.class_path), STATUS_NAMES.get(signature.status, ""),
                beijing_cell(signature.signed_at)]
        if pledge.mode == "family":
            guardian_shown = guardian_name or ("已签署" if signature.guardian_id else "")
            line += [guardian_shown, beijing_cell(signature.guardian_signed_at)]
        line += [signature.serial, "已撤销" if signature.revoked else ""]
        sheet.append(excel_row(sheet, line))
    sheet = book.create_sheet("未完成名单")
    sheet.append(excel_row(sheet, [f"{pledge.title}（{org.name}）尚未完成签署的学生"]))
    sheet.append(["序号", "姓名", *place_header, "状态"])
    unsigned.sort(key=lambda row: (places.get(row.path, nowhere).key, row.real_name or "", row.id))
    for number, (name, _user_id, path, status, revoked) in enumerate(unsigned, start=1):
        shown = "签名已撤销" if revoked else STATUS_NAMES.get(status, "未签署")
        sheet.append(excel_row(sheet, [number, name or "", *place(path), shown]))
    out = io.BytesIO()
    book.save(out)
    name = f"{file_name_part(pledge.title)}-{file_name_part(org.name)}-签名名单.xlsx"
    return out.getvalue(), name, f"signatures-pledge{pledge.id}-org{org.id}.xlsx"


# --- certificates -----------------------------------------------------------------------------

def _certificate_signature(serial: str) -> Signature:
    serial = (serial or "").strip().upper()
    signature = None
    if 0 < len(serial) <= 32 and serial.isalnum() and serial.isascii():
        signature = db.session.scalar(select(Signature).where(Signature.serial == serial))
    if signature is None:
        raise NotFound("certificate_not_found", "证书不存在，请核对证书编号")
    return signature


def _school_name(signature: Signature) -> str | None:
    if signature.school_id is None:
        return None
    return db.session.scalar(select(Org.name).where(Org.id == signature.school_id))


def certificate(serial: str) -> dict:
    """The public verification: masked name, school, title, date, validity. No login."""
    return _certificate_of(_certificate_signature(serial))


def _certificate_of(signature: Signature) -> dict:
    base = "/api/v1/certificates/" + signature.serial
    return {
        "serial": signature.serial, "name_masked": mask_name(signature.user.real_name),
        "title": signature.pledge.title, "mode": signature.pledge.mode,
        "signed_at": signature.completed_at or signature.signed_at, "school": _school_name(signature),
        "valid": signature.status == "complete" and not signature.revoked, "status": signature.status,
        "revoked": signature.revoked, "revoked_at": signature.revoked_at,
        "guardian_signed": signature.guardian_signed_at is not None, "image_url": base + "/image",
    }


def certificate_page(serial: str) -> dict:
    """The verification page's details (app/common/verification.py)."""
    cert = certificate(serial)
    if cert["valid"]:
        state, text = "valid", "✓ 有效证书"
    elif cert["revoked"]:
        state, text = "invalid", "该证书已被撤销，不再有效"
    else:
        state, text = "waiting", "等待家长共同签署，证书尚未生效"
    rows = [("签署人", cert["name_masked"] + ("（及家长）" if cert["guardian_signed"] else ""))]
    if cert["school"]:
        rows.append(("学校", cert["school"]))
    rows += [("承诺", f"《{cert['title']}》"), ("签署日期", beijing_day(cert["signed_at"])),
             ("证书编号", cert["serial"])]
    return {"heading": "文明上网承诺证书", "state": state, "state_text": text, "rows": rows,
            "image_url": cert["image_url"] if cert["status"] == "complete" or cert["revoked"] else None}


# Raise when the poster's drawing changes (2: no handwriting, 同学 for students only; 3: long
# names and schools shrink and wrap inside the frame; 4: the body shrinks to stay above the footer,
# a long title shown whole instead of cut at 3 lines, lines broken the Chinese way, no emoji boxes).
POSTER_VERSION = 4


def verification_url(serial: str) -> str:
    return public_url("/api/v1/certificates/" + serial)


def _poster_details(signature: Signature, url: str) -> dict:
    """What the poster shows: the public verification's own details (the two never differ), so
    the cache key made of them changes when a student or school is renamed."""
    cert = _certificate_of(signature)
    return {
        "name_masked": cert["name_masked"], "title": cert["title"], "school": cert["school"],
        "signed_on": beijing_day(cert["signed_at"]), "serial": cert["serial"], "url": url,
        "revoked": cert["revoked"], "student": is_student(signature.user),
        "family": cert["guardian_signed"],  # 及家长 only once a parent signed (a revoked one may never have)
    }


def certificate_image(serial: str) -> bytes:
    """The PNG poster, rendered once per (state, what it shows) and kept in storage.

    A revoked signature's poster is the one with the revoked mark, whatever its status: a family
    signature revoked while awaiting the parent will never be completed, so "wait for the
    parent" (certificate_not_ready) would be untrue."""
    from app.pledges.certificate import render_poster

    signature = _certificate_signature(serial)
    if signature.status != "complete" and not signature.revoked:
        raise Conflict("certificate_not_ready", "家长共同签署后才会生成证书")
    url = verification_url(signature.serial)
    state = "revoked" if signature.revoked else "valid"
    # Everything drawn is in the key, and so is the drawing's version: a poster drawn by an older
    # renderer (one that still carried the handwriting) is never served again.
    return cached_poster(f"certificates/{signature.serial}/v{POSTER_VERSION}-{state}",
                         _poster_details(signature, url), render_poster)
