"""Run a select for one page and count the whole result, in the API's list shape."""
from sqlalchemy import Select, func, select

from app.extensions import db


def paginate(query: Select, page: int, page_size: int) -> dict:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = db.session.scalars(query.limit(page_size).offset((page - 1) * page_size)).all()
    return {"items": items, "total": total or 0, "page": page, "page_size": page_size}
