"""Helpers shared by the pledge and certificate tests: campaigns and pledges through the API,
students made in bulk, handwriting uploads, and requests fired from many threads at once."""
from __future__ import annotations

import io
import itertools
from types import SimpleNamespace

from flask_jwt_extended import create_access_token
from PIL import Image, ImageDraw

from app.auth.models import User
from app.extensions import db
from app.family.models import FamilyLink
from app.orgs.models import Membership

_label = itertools.count(1)


def make_campaign(api, who, org_id: int, title: str = "争做中国好网民主题活动") -> int:
    response = api.as_(who).post("/campaigns", json={"title": title, "org_id": org_id})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def make_pledge(api, who, campaign_id: int, **fields) -> dict:
    body = {"title": "全国青少年网络文明公约", "body": "要善于网上学习，不浏览不良信息……", **fields}
    response = api.as_(who).post(f"/campaigns/{campaign_id}/pledges", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def sign(api, who, pledge_id: int, **body):
    return api.as_(who).post(f"/pledges/{pledge_id}/signatures", json=body)


def signed(api, who, pledge_id: int, status: int = 201, **body) -> dict:
    response = sign(api, who, pledge_id, **body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def stats(api, who, pledge_id: int, org_id: int | None = None) -> dict:
    query = {"org_id": org_id} if org_id else {}
    response = api.as_(who).get(f"/pledges/{pledge_id}/stats", query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def add_students(app, org_id: int, names: list[str]) -> list[SimpleNamespace]:
    """Students in a class (straight into the database: the invite flow has its own tests)."""
    people = []
    with app.app_context():
        users = []
        for name in names:
            user = User(openid=f"test_pledge_student_{next(_label)}", real_name=name)
            db.session.add(user)
            db.session.flush()
            db.session.add(Membership(user_id=user.id, org_id=org_id, role="student"))
            users.append(user)
        db.session.commit()
        for user in users:
            people.append(SimpleNamespace(id=user.id, real_name=user.real_name,
                                          token=create_access_token(identity=str(user.id))))
    return people


def add_adult(app, real_name: str | None = None) -> SimpleNamespace:
    with app.app_context():
        user = User(openid=f"test_pledge_adult_{next(_label)}", real_name=real_name)
        db.session.add(user)
        db.session.commit()
        return SimpleNamespace(id=user.id, real_name=real_name, token=create_access_token(identity=str(user.id)))


def link_family(app, parent_id: int, child_id: int) -> None:
    with app.app_context():
        db.session.add(FamilyLink(parent_id=parent_id, child_id=child_id))
        db.session.commit()


def signature_png(color=(20, 20, 20)) -> bytes:
    image = Image.new("RGBA", (300, 120), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.line([(20, 90), (80, 30), (140, 95), (200, 25), (280, 80)], fill=color, width=6)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def upload_handwriting(api, who) -> str:
    response = api.as_(who).post("/uploads/direct", data={"file": (io.BytesIO(signature_png()), "sign.png")},
                                 content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]

