"""Campaigns and who sees them.

A campaign owned by an org is visible to everyone in that org's subtree (the participants
below, through their own memberships or their children's) and to staff above it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from app.auth.models import User
from app.campaigns.models import Campaign
from app.campaigns.schemas import DEFAULT_PHASES
from app.common.pagination import paginate
from app.common.time import BEIJING, utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.orgs.models import Org
from app.orgs.permissions import memberships_of, org_with_authority, participant_org_ids, staff_paths


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def create_campaign(actor: User, data: dict) -> dict:
    org = org_with_authority(actor, data["org_id"], "school_admin")
    if org.kind == "class":
        raise ValidationFailed({"org_id": ["活动应由学校或教育局发起"]}, code="invalid_org_kind")
    phases = data.get("phases")
    if phases is None:
        phases = [{"name": name} for name in DEFAULT_PHASES]
    campaign = Campaign(
        org_id=org.id, title=data["title"].strip(), theme=data.get("theme"),
        starts_at=data.get("starts_at"), ends_at=data.get("ends_at"),
        phases=[{"name": p["name"], "starts_at": _iso(p.get("starts_at")), "ends_at": _iso(p.get("ends_at"))}
                for p in phases],
        created_by_id=actor.id,
    )
    db.session.add(campaign)
    db.session.commit()
    return describe(campaign)


def check_inside_period(campaign: Campaign, opens_at: datetime | None, closes_at: datetime | None,
                        message: str) -> None:
    """A pledge's or quiz's window lies within its campaign's period: 422 `outside_campaign_period`
    naming the bound that does not, with the campaign's time in Beijing time."""
    errors = {}
    shown = "%Y-%m-%d %H:%M"
    if campaign.starts_at and opens_at and opens_at < campaign.starts_at:
        errors["opens_at"] = [f"不能早于活动开始时间（{campaign.starts_at.astimezone(BEIJING):{shown}}）"]
    if campaign.ends_at and opens_at and opens_at >= campaign.ends_at:
        errors["opens_at"] = [f"必须早于活动结束时间（{campaign.ends_at.astimezone(BEIJING):{shown}}）"]
    if campaign.starts_at and closes_at and closes_at <= campaign.starts_at:
        errors["closes_at"] = [f"必须晚于活动开始时间（{campaign.starts_at.astimezone(BEIJING):{shown}}）"]
    if campaign.ends_at and closes_at and closes_at > campaign.ends_at:
        errors["closes_at"] = [f"不能晚于活动结束时间（{campaign.ends_at.astimezone(BEIJING):{shown}}）"]
    if errors:
        raise ValidationFailed(errors, message, code="outside_campaign_period")


def describe(campaign: Campaign, now: datetime | None = None) -> dict:
    """The campaign as the API shows it, with its derived `status` and `current_phase`."""
    now = now or utcnow()
    if campaign.starts_at and now < campaign.starts_at:
        status = "upcoming"
    elif campaign.ends_at and now >= campaign.ends_at:
        status = "ended"
    else:
        status = "active"
    phases = [
        {"name": p["name"], "starts_at": _parse(p.get("starts_at")), "ends_at": _parse(p.get("ends_at"))}
        for p in campaign.phases or []
    ]
    current_phase = None
    for phase in phases:
        starts, ends = phase["starts_at"], phase["ends_at"]
        if (starts or ends) and (starts is None or starts <= now) and (ends is None or now < ends):
            current_phase = phase["name"]
    return {
        "id": campaign.id, "title": campaign.title, "org_id": campaign.org_id, "org": campaign.org,
        "theme": campaign.theme, "starts_at": campaign.starts_at, "ends_at": campaign.ends_at,
        "phases": phases, "status": status, "current_phase": current_phase, "created_at": campaign.created_at,
    }


def visible_campaigns_query(user: User):
    query = select(Campaign).join(Org, Campaign.org_id == Org.id)
    if user.is_platform_admin:
        return query
    conditions = []
    org_ids = participant_org_ids(user)
    if org_ids:
        conditions.append(Campaign.org_id.in_(org_ids))
    conditions += [Org.path.startswith(path, autoescape=True) for path in staff_paths(user)]
    if not conditions:
        return query.where(False)
    return query.where(or_(*conditions))


def list_campaigns(user: User, page: int, page_size: int, status: str | None = None) -> dict:
    query = visible_campaigns_query(user)
    now = utcnow()
    if status == "upcoming":
        query = query.where(Campaign.starts_at > now)
    elif status == "ended":
        query = query.where(Campaign.ends_at <= now)
    elif status == "active":
        query = query.where(or_(Campaign.starts_at.is_(None), Campaign.starts_at <= now),
                            or_(Campaign.ends_at.is_(None), Campaign.ends_at > now))
    result = paginate(query.order_by(Campaign.id.desc()), page, page_size)
    result["items"] = [describe(c, now) for c in result["items"]]
    return result


def can_see_campaign(user: User, campaign: Campaign) -> bool:
    """The rule of `visible_campaigns_query` for one loaded campaign, checked in memory (hot
    paths such as signing use it). Keep the two in step."""
    if sees_campaign_itself(user, campaign):
        return True
    return campaign.org_id in participant_org_ids(user)  # through their children (one more query)


def sees_campaign_itself(user: User, campaign: Campaign) -> bool:
    """The user sees the campaign through a role of their own (a class or school they belong to
    lies under its org, staff above it, a platform admin), not only as a child's guardian."""
    if user.is_platform_admin:
        return True
    if any(campaign.org_id in m.org.ancestor_ids for m in memberships_of(user)):  # own orgs and above
        return True
    return any(campaign.org.path.startswith(path) for path in staff_paths(user))


def visible_campaign(user: User, campaign_id: int) -> Campaign:
    """The campaign, or 404 when it does not exist or the user cannot see it."""
    campaign = db.session.scalar(visible_campaigns_query(user).where(Campaign.id == campaign_id))
    if campaign is None:
        raise NotFound("campaign_not_found", "活动不存在或无权查看")
    return campaign


def get_campaign(user: User, campaign_id: int) -> dict:
    return describe(visible_campaign(user, campaign_id))


def campaign_reach(org: Org, campaign: Campaign) -> str:
    """The path prefix of the part of `org`'s subtree that `campaign` reaches: the org's own
    subtree when it lies inside the campaign's org, the campaign org's subtree when `org` is
    above it (a city asked about a school's campaign counts that school's students, not the
    city's). An org beside the campaign is refused: every count there would be zero."""
    if org.path.startswith(campaign.org.path):
        return org.path
    if campaign.org.path.startswith(org.path):
        return campaign.org.path
    raise ValidationFailed({"org_id": ["该组织不在此活动范围内"]}, "该组织不在此活动范围内",
                           code="org_outside_campaign")
