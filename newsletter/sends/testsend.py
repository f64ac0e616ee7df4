"""Test sends: one edition, marked [测试], to a few addresses through the normal queue.

Content not yet approved goes only to staff accounts' own addresses; approved content to
any address. Every test send is rate-limited per person (TEST_SEND_RATE) and audited, as
a real send is (newsletter/sends/service.py, whose Started and audit it shares).
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import ratelimit
from newsletter.bulletin.models import Issue
from newsletter.config import AppConfig
from newsletter.delivery import jobs
from newsletter.delivery.models import Send, SendStatus
from newsletter.delivery.pipeline import PipelineSettings, SendError
from newsletter.extensions import redis_store
from newsletter.phrase import N_, P, Phrase
from newsletter.render import Edition
from newsletter.review.service import NotApproved, ensure_sendable
from newsletter.sends import service, writer
from newsletter.staff.models import StaffUser

MAX_TEST_ADDRESSES = 10
_SPLIT_RE = re.compile(r"[\s,，;；、]+")


class TestSendRefused(SendError):
    """A test send was refused (addresses, approval, rate limit); nothing was queued."""


def clean_test_addresses(addresses: str | list[str]) -> list[str]:
    """Split (a typed list) and validate the addresses (syntax only, no DNS)."""
    raw = (
        [a for a in _SPLIT_RE.split(addresses or "") if a]
        if isinstance(addresses, str)
        else [a.strip() for a in addresses if a and a.strip()]
    )
    if not raw:
        raise TestSendRefused(P(N_("请填写至少一个收件地址。")))
    bad: list[str] = []
    good: list[str] = []
    for address in raw:
        try:
            good.append(validate_email(address, check_deliverability=False).normalized)
        except EmailNotValidError:
            bad.append(address)
    if bad:
        listed = "、".join(bad[:5]) + ("……" if len(bad) > 5 else "")
        raise TestSendRefused(P(N_("这些地址无效：%(addresses)s"), addresses=listed))
    good = list(dict.fromkeys(a.lower() for a in good))
    if len(good) > MAX_TEST_ADDRESSES:
        raise TestSendRefused(
            P(
                N_("一次最多发给 %(max)s 个地址（填了 %(n)s 个）。"),
                max=str(MAX_TEST_ADDRESSES),
                n=str(len(good)),
            )
        )
    return good


def send_test(
    session: Session,
    config: AppConfig,
    number: int,
    addresses: str | list[str],
    *,
    edition: str = Edition.REGULAR.value,
    actor: StaffUser | None = None,
    via: str = "web",
) -> service.Started:
    """Mail one edition, marked [测试], to a few addresses through the normal queue."""
    settings = PipelineSettings.from_config(config)
    to = clean_test_addresses(addresses)
    if edition not in {e.value for e in Edition}:
        raise TestSendRefused(P(N_("没有这个版本：%(edition)s"), edition=repr(edition)))
    issue = session.scalar(select(Issue).where(Issue.number == number))
    if issue is None:
        raise service.NoSuchIssue(number)
    try:
        ensure_sendable(session, issue)
    except NotApproved:
        staff = set(
            session.scalars(select(func.lower(StaffUser.email)).where(StaffUser.active.is_(True)))
        )
        outside = [a for a in to if a not in staff]
        if outside:
            raise TestSendRefused(
                P(
                    N_(
                        "第 %(number)s 期尚未通过复核：测试邮件只能发到员工账号自己的邮箱，这些地址不是：%(addresses)s。批准后可以发到任何地址。"
                    ),
                    number=str(number),
                    addresses="、".join(outside),
                )
            ) from None
    _test_rate_limit(config, actor, via)
    send = Send(
        issue_id=issue.id,
        group_codes=[],
        is_test=True,
        status=SendStatus.QUEUED,
        created_by=service.created_by(actor, via),
    )
    try:
        session.add(send)
        session.flush()
        writer.populate(session, settings, send, issue, test_addresses=to, test_edition=edition)
        session.commit()
    except Exception:
        session.rollback()
        raise
    started = service.Started(send, to=to)
    try:
        started.jobs = jobs.enqueue_send(send.id)
    except RedisError as exc:
        started.warning = P(
            N_(
                "测试发送 #%(id)s 已创建，但发送队列暂时不可用（%(error)s）；队列恢复后会自动继续（也可运行 flask send resume %(id)s）。"
            ),
            id=str(send.id),
            error=str(exc),
        )
    service.audit(send, actor, via, recipients=len(to))
    return started


def _test_rate_limit(config: AppConfig, actor: StaffUser | None, via: str) -> None:
    limiter = ratelimit.RateLimiter.from_spec(
        redis_store.client(config),
        f"{config['QUEUE_PREFIX']}:rl:test-send",
        config["TEST_SEND_RATE"],
    )
    try:
        decision = limiter.hit(f"staff:{actor.id}" if actor is not None else via)
    except ratelimit.RateLimitUnavailable as exc:
        raise TestSendRefused(
            P(N_("发送队列暂时不可用（%(error)s），请稍后再试。"), error=str(exc))
        ) from exc
    if not decision.allowed:
        minutes = max(1, round(decision.retry_after / 60))
        raise TestSendRefused(
            P(
                N_(
                    "测试发送太频繁：每人每%(window)s最多 %(limit)s 次，请约 %(minutes)s 分钟后再试。"
                ),
                window=_window(limiter.window),
                limit=str(limiter.limit),
                minutes=str(minutes),
            )
        )


def _window(seconds: float) -> Phrase:
    unit = {3600: N_("小时"), 86400: N_("天"), 60: N_("分钟")}.get(int(seconds))
    return P(unit) if unit else P(N_(" %(n)s 秒"), n=str(int(seconds)))
