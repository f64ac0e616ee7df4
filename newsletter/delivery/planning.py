"""What a send would meet: its audience per receiving domain, and the forecast at the
relays' limits and what their quotas hold now (Redis). For `send N --dry-run` and the
send page; the arithmetic itself is `forecast.forecast` (pure)."""

from __future__ import annotations

import datetime as dt

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from newsletter.delivery import audience
from newsletter.delivery.forecast import Forecast, RelayCapacity, forecast
from newsletter.delivery.relaypool import RelayPool
from newsletter.delivery.relays import domain_of, load
from newsletter.timeutil import utcnow


def audience_by_domain(session: Session, group_codes: list[str]) -> dict[tuple[str, str], int]:
    """(edition, domain) -> recipients, by the same rules a send uses (audience.recipients)."""
    out: dict[tuple[str, str], int] = {}
    for r in audience.recipients(session, group_codes):
        key = ("priority" if r.priority else "regular", domain_of(r.email))
        out[key] = out.get(key, 0) + 1
    return out


def relay_capacities(pool: RelayPool) -> list[RelayCapacity]:
    """Each relay's limits and what its day window holds now; an empty window when Redis
    cannot be asked (the forecast then assumes fresh quotas)."""
    out = []
    for relay in pool.config.relays:
        used, frees_in = 0, None
        try:
            limiter = pool.limiter(relay.name)
            day = [u for u in limiter.usage() if u.window.seconds >= 86400]
            if day:
                used = day[0].used
                if day[0].frees_at_ms:
                    frees_in = max((day[0].frees_at_ms - limiter.now_ms()) / 1000, 0.0)
        except RedisError:
            pass
        out.append(RelayCapacity(relay.name, relay.limits, used, frees_in, relay.order))
    return out


def forecast_for(
    session: Session, config, redis: Redis, group_codes: list[str], now: dt.datetime | None = None
) -> Forecast:
    pool = RelayPool(redis, config["QUEUE_PREFIX"], load(config))
    return forecast(
        audience_by_domain(session, group_codes),
        relay_capacities(pool),
        pool.config.paces,
        now or utcnow(),
        timezone=config["BABEL_DEFAULT_TIMEZONE"],
    )


def forecast_or_none(session: Session, config, redis: Redis, group_codes: list[str]):
    """For a page: the forecast, or None when the relays file is wrong or Redis is away
    (the page still works; `relays check` says what is wrong)."""
    from newsletter.delivery.relays import RelayConfigError

    try:
        return forecast_for(session, config, redis, group_codes)
    except (RelayConfigError, RedisError):
        return None
