"""SQL pieces about orgs that hot batch statements (signing, quiz start) build on, where a
class lies below an org for the lists staff export, and the subtree condition of counts."""
from __future__ import annotations

import re
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, String, func, literal, select, true
from sqlalchemy.orm import aliased

from app.extensions import db
from app.orgs.models import Membership, Org

_ORG_PATH = re.compile(r"/(?:\d+/)*")


def under(path_column, path: str) -> ColumnElement[bool]:
    """`path_column LIKE 'path%'`: the rows of the subtree at `path` (a materialised org path).
    The prefix is written into the statement at execution, not bound: psycopg prepares a
    statement that ran five times on a connection, and PostgreSQL's generic plan for `LIKE $1`
    cannot use the prefix on an index, so a class's count would read its whole city once the
    connection had counted the city often enough. An org path holds digits and slashes only,
    nothing LIKE reads as a pattern (checked: anything else is a bug, not input)."""
    if not _ORG_PATH.fullmatch(path):
        raise ValueError(f"not an org path: {path!r}")
    return path_column.like(literal(path + "%", String, literal_execute=True))


class StudentClass(NamedTuple):
    """Columns of the class found by `student_class`, and the joins that find it."""

    id: Any
    school_id: Any  # the class's parent
    region_id: Any  # the school's parent
    path: Any
    joins: list  # (target, on) pairs that find it

    def joined_to(self, rows):
        """`rows` (a select over the batch) with the joins that find the class added."""
        for target, on in self.joins:
            rows = rows.join(target, on)
        return rows


def student_class(dialect: str, user_id, inside_path=None) -> StudentClass:
    """The class of a student named by the column `user_id` of a batch: their first student
    membership (lowest id — the one the full paths take), only among classes under
    `inside_path` when given.

    PostgreSQL: a LATERAL lookup per batch row that the planner cannot turn around — the
    student's memberships by user (index), and for each its class by key, in scalar subqueries.
    Written as joins, the planner (misled by json_array_elements' 100-row guess, by a LIKE on a
    computed pattern that it guesses matches one org, and, before ANALYZE, by bulk-loaded
    students it has not seen) scanned the org tree or hashed every membership in it for each
    batch: milliseconds per statement, growing with the region. SQLite has no LATERAL; its
    nested loops run the correlated form below row by row."""
    school = aliased(Org)
    if dialect == "postgresql":
        def of_class(column):
            return select(column).where(Org.id == Membership.org_id).scalar_subquery()

        region = (select(school.parent_id).join(Org, Org.parent_id == school.id).where(Org.id == Membership.org_id)
                  .scalar_subquery())
        lookup = (select(Membership.org_id.label("id"), of_class(Org.parent_id).label("school_id"),
                         region.label("region_id"), of_class(Org.path).label("path"))
                  .where(Membership.user_id == user_id, Membership.role == "student"))
        if inside_path is not None:
            lookup = lookup.where(of_class(Org.path).startswith(inside_path))
        klass = lookup.order_by(Membership.id).limit(1).lateral("klass")
        return StudentClass(klass.c.id, klass.c.school_id, klass.c.region_id, klass.c.path, [(klass, true())])
    klass = Org.__table__.alias("klass")
    member, member_org = aliased(Membership), aliased(Org)
    first = (select(func.min(member.id)).join(member_org, member_org.id == member.org_id)
             .where(member.user_id == user_id, member.role == "student"))
    if inside_path is not None:
        first = first.where(member_org.path.startswith(inside_path))
    region = select(school.parent_id).where(school.id == klass.c.parent_id).scalar_subquery()
    return StudentClass(klass.c.id, klass.c.parent_id, region, klass.c.path,
                        [(Membership, Membership.id == first.scalar_subquery()),
                         (klass, klass.c.id == Membership.org_id)])


class Place(NamedTuple):
    """Where a class lies below an exported org, as a list of students reads it."""

    regions: str  # the regions between the exported org and the school ("甲县 / 城关镇"), or ""
    school: str
    klass: str
    key: tuple  # names then ids at every level: same-named schools never interleave


def places_below(scope: Org, class_paths) -> dict[str, Place]:
    """Each class path's Place below `scope`, from one query. A region level below the scope
    is named (two counties may each have a 城关镇 / 中心小学 / 一年级一班); the scope itself not."""
    paths = {path for path in class_paths if path}
    ids = {int(part) for path in paths for part in path.strip("/").split("/") if part}
    orgs = {org.id: org for org in db.session.scalars(select(Org).where(Org.id.in_(ids)))} if ids else {}
    places = {}
    for path in paths:
        chain = [orgs[int(part)] for part in path.strip("/").split("/") if part and int(part) in orgs]
        regions = [org for org in chain if org.kind == "region" and org.depth > scope.depth]
        school = next((org for org in chain if org.kind == "school"), None)
        klass = next((org for org in reversed(chain) if org.kind == "class"), None)
        key = tuple((org.name, org.id) for org in regions) + tuple(
            (org.name, org.id) if org else ("", 0) for org in (school, klass))
        places[path] = Place(" / ".join(org.name for org in regions), school.name if school else "",
                             klass.name if klass else "", key)
    return places
