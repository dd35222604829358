"""`flask demo seed`: a city with two districts, schools, classes, staff, ~60 students with
parents, and one campaign. Idempotent: a second run changes nothing.

Staff log in with a password (`DEMO_PASSWORD`, default below); students and parents log in
through the WeChat stand-in with the code `test:<label>` (e.g. `test:s01`, `test:p01`).
"""
from __future__ import annotations

import os
from datetime import timedelta

from sqlalchemy import select

from app.auth.models import User
from app.auth.services import hash_password
from app.campaigns.models import Campaign
from app.common.time import utcnow
from app.extensions import db
from app.family.models import FamilyLink
from app.orgs.models import Membership, Org
from app.orgs.services import add_org
from app.pledges.models import Pledge
from app.quizzes.services import seed_starter_quiz

DEMO_PASSWORD_DEFAULT = "qinglang-demo"  # noqa: S105 - demo data only, printed by make run
CITY_NAME = "示范市"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["子涵", "欣怡", "浩然", "梓萱", "宇轩", "雨桐", "俊熙", "思彤", "一诺", "子墨",
         "佳怡", "明轩", "诗涵", "晨阳", "可馨", "博文", "语嫣", "天佑", "若曦", "嘉懿"]

TREE = {
    "东城区": {
        "东城第一实验小学": ["五年级一班", "五年级二班"],
        "育才中学": ["初一(1)班", "初一(2)班"],
    },
    "西城区": {
        "西城实验小学": ["四年级一班", "四年级二班"],
    },
}
STUDENTS_PER_CLASS = 10
CONVENTION = ("要善于网上学习，不浏览不良信息；要诚实友好交流，不侮辱欺诈他人；要增强自护意识，不随意约会网友；"
              "要维护网络安全，不破坏网络秩序；要有益身心健康，不沉溺虚拟时空。")
FAMILY_PLEDGE = ("我们全家承诺：文明上网，不传谣、不信谣；保护个人信息，不随意透露家庭住址和电话；"
                 "合理安排上网时间，孩子每天上网不超过一小时；遇到网络诈骗及时告诉家人并报警；"
                 "父母做好榜样，和孩子一起争做中国好网民。")


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD") or DEMO_PASSWORD_DEFAULT


def _staff(username: str, real_name: str, password_hash: str, *, admin: bool = False) -> User:
    user = User(username=username, real_name=real_name, password_hash=password_hash, is_platform_admin=admin)
    db.session.add(user)
    return user


def _member(user: User, org: Org, role: str) -> None:
    db.session.flush()
    db.session.add(Membership(user_id=user.id, org_id=org.id, role=role))


def seed_demo() -> dict | None:
    """Create the demo data; returns a summary, or None when it is already there."""
    if db.session.scalar(select(Org).where(Org.name == CITY_NAME, Org.parent_id.is_(None))):
        return None
    pw = hash_password(demo_password())
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    if admin is None:
        _staff("admin", "平台管理员", pw, admin=True)

    city = add_org(CITY_NAME, "region", None)
    _member(_staff("city_admin", "市教育局管理员", pw), city, "region_admin")
    _member(_staff("judge01", "评审专家甲", pw), city, "judge")

    student_no = 0
    school_no = 0
    class_no = 0
    for district_no, (district_name, schools) in enumerate(TREE.items(), start=1):
        district = add_org(district_name, "region", city)
        _member(_staff(f"district{district_no}_admin", f"{district_name}教育局管理员", pw), district, "region_admin")
        for school_name, classes in schools.items():
            school_no += 1
            school = add_org(school_name, "school", district)
            _member(_staff(f"school{school_no}_admin", f"{school_name}管理员", pw), school, "school_admin")
            for class_name in classes:
                class_no += 1
                klass = add_org(class_name, "class", school)
                teacher = _staff(f"teacher{class_no:02d}", f"{SURNAMES[class_no]}老师", pw)
                teacher.openid = f"test_t{class_no:02d}"
                _member(teacher, klass, "teacher")
                for _ in range(STUDENTS_PER_CLASS):
                    student_no += 1
                    surname = SURNAMES[student_no % len(SURNAMES)]
                    given = GIVEN[(student_no * 7) % len(GIVEN)]
                    student = User(openid=f"test_s{student_no:02d}", real_name=surname + given)
                    parent = User(openid=f"test_p{student_no:02d}", real_name=surname + "家长")
                    db.session.add_all([student, parent])
                    _member(student, klass, "student")
                    db.session.add(FamilyLink(parent_id=parent.id, child_id=student.id))

    now = utcnow()
    phase_len = timedelta(days=30)
    start = now - timedelta(days=7)
    campaign = Campaign(
        org_id=city.id, title="2026年“争做中国好网民”主题教育活动",
        theme="网聚青春正能量，争做中国好网民：文明上网承诺、网络安全知识竞赛、作品征集",
        starts_at=start, ends_at=start + 3 * phase_len,
        phases=[
            {"name": name, "starts_at": (start + i * phase_len).isoformat(),
             "ends_at": (start + (i + 1) * phase_len).isoformat()}
            for i, name in enumerate(("启动", "实施", "评估总结"))
        ],
    )
    db.session.add(campaign)
    db.session.flush()
    seed_starter_quiz(city, campaign)
    db.session.add_all([
        Pledge(campaign_id=campaign.id, title="全国青少年网络文明公约", body=CONVENTION, mode="individual",
               requires_handwriting=False),
        Pledge(campaign_id=campaign.id, title="小手牵大手·家庭文明上网承诺书", body=FAMILY_PLEDGE, mode="family",
               requires_handwriting=True),
    ])
    db.session.commit()
    return {"students": student_no, "classes": class_no, "schools": school_no}
