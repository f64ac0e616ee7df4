"""The subscriber groups named at the bulletin's foot, and demo subscribers for development."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.timeutil import utcnow
from subscribers.models import (
    Distribution,
    Group,
    Membership,
    Subscriber,
    SubscriberStatus,
    normalise_email,
)

# (code, 中文名, distribution, priority edition, self-service)
GROUPS: list[tuple[str, str, Distribution, bool, bool]] = [
    ("leadership", "协会领导", Distribution.BAO, True, False),
    ("members", "协会会员单位", Distribution.FA, False, True),
    ("societies", "社团", Distribution.FA, False, True),
    ("media", "媒体", Distribution.FA, False, True),
    ("producers", "制作机构", Distribution.FA, False, True),
    ("investors", "投资机构", Distribution.FA, False, True),
    ("tech", "技术公司", Distribution.FA, False, True),
    ("research", "研究机构", Distribution.FA, False, True),
    ("universities", "高校", Distribution.FA, False, True),
]

DEMO_SUBSCRIBERS = [
    ("leader@example.org", "张会长", "中国网络视听协会", ["leadership"]),
    ("vice@example.org", "李副会长", "中国网络视听协会", ["leadership", "members"]),
    ("editor@media.example.com", "王编辑", "某某日报", ["media"]),
    ("ops@studio.example.com", "赵制片", "某某影视制作公司", ["producers", "members"]),
    ("ir@fund.example.com", "钱经理", "某某投资", ["investors"]),
    ("lab@uni.example.edu", "孙教授", "某某大学", ["universities", "research"]),
]


def seed_groups(session: Session) -> int:
    """Create the missing groups; existing ones are left as staff changed them."""
    existing = set(session.scalars(select(Group.code)))
    created = 0
    for position, (code, name, dist, priority, self_service) in enumerate(GROUPS):
        if code not in existing:
            session.add(
                Group(
                    code=code,
                    name=name,
                    distribution=dist,
                    is_priority=priority,
                    self_service=self_service,
                    position=position,
                )
            )
            created += 1
    session.commit()
    return created


def seed_demo_subscribers(session: Session) -> int:
    groups = {g.code: g for g in session.scalars(select(Group))}
    created = 0
    for email, name, org, codes in DEMO_SUBSCRIBERS:
        email = normalise_email(email)
        if session.scalar(select(Subscriber.id).where(Subscriber.email == email)):
            continue
        sub = Subscriber(
            email=email,
            name=name,
            organisation=org,
            status=SubscriberStatus.ACTIVE,
            confirmed_at=utcnow(),
        )
        sub.memberships = [Membership(group=groups[c]) for c in codes]
        session.add(sub)
        created += 1
    session.commit()
    return created
