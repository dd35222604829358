"""Run a select for one page and count the whole result, in the API's list shape."""
from sqlalchemy import Select, func, select

from app.extensions import db


def count_rows(query: Select) -> int:
    """How many rows `query` returns, counted by the database (its ORDER BY left out)."""
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def paginate(query: Select, page: int, page_size: int) -> dict:
    total = count_rows(query)
    items = db.session.scalars(query.limit(page_size).offset((page - 1) * page_size)).all()
    return {"items": items, "total": total, "page": page, "page_size": page_size}
