"""How long a send will take at the relays' limits and quotas: a pure function.

    forecast(audience, relays, paces, now) -> Forecast

`audience` counts recipients per (edition, receiving domain); `relays` gives each relay's
limits and what its daily window already holds; `paces` the per-domain pacing. The model
follows the workers (`relaypool.RelayPool`): each relay sends at the steady rate of its windows
until its daily quota is used up, then waits until that window opens again; relays fill in
order; a paced domain never goes faster than its pace; our own pipeline has a ceiling
(`PIPELINE_PER_SECOND`, measured by bench/send.py). The priority edition goes first, so
leadership's last copy leaves when the priority audience is through. It is an estimate: a relay's secret limits, deferrals and retries make a real send slower.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from newsletter.delivery.relays import Limits, Pace
from newsletter.phrase import N_, P, Phrase

# End-to-end rate of two workers on this kind of machine (README, "Send throughput").
PIPELINE_PER_SECOND = 200.0
DAY = 86400.0
_HORIZON = 400 * DAY


@dataclass(frozen=True)
class RelayCapacity:
    name: str
    limits: Limits
    day_used: int = 0  # messages in its day window now
    day_frees_in: float | None = None  # seconds until the oldest of them leaves it
    order: int = 0


@dataclass(frozen=True)
class Forecast:
    total: int
    priority: int
    starts_at: dt.datetime  # naive UTC, like the database
    seconds: float
    priority_seconds: float
    spills_next_day: bool
    quota_remaining: int  # messages beyond today's quotas (0: none)
    quota_resumes_at: dt.datetime | None  # when the first daily quota opens again
    bottleneck: str  # relays | pipeline | quota | domain qq.com
    timezone: str = "Asia/Shanghai"

    @property
    def done_at(self) -> dt.datetime:
        return self.starts_at + dt.timedelta(seconds=self.seconds)

    @property
    def priority_done_at(self) -> dt.datetime:
        return self.starts_at + dt.timedelta(seconds=self.priority_seconds)

    def to_json(self) -> dict:
        local = lambda v: _local(v, self.timezone).isoformat() if v else None  # noqa: E731
        return {
            "total": self.total,
            "priority": self.priority,
            "seconds": round(self.seconds),
            "priority_seconds": round(self.priority_seconds),
            "starts_at": local(self.starts_at),
            "done_at": local(self.done_at),
            "priority_done_at": local(self.priority_done_at),
            "spills_next_day": self.spills_next_day,
            "quota_remaining": self.quota_remaining,
            "quota_resumes_at": local(self.quota_resumes_at),
            "bottleneck": self.bottleneck,
            "summary": self.summary(),
        }

    def summary(self) -> list[str]:
        """Plain Chinese, for `send N --dry-run` and the JSON (the page says `phrases`)."""
        return [p.text() for p in self.phrases()]

    def phrases(self) -> list[Phrase]:
        """The forecast's sentences as data, said in the reader's language by the page."""
        tz, start = self.timezone, self.starts_at
        lines = [
            P(
                N_(
                    "共 %(total)s 封（领导版 %(priority)s 封），预计用时 %(duration)s，约 %(done)s 发完。"
                ),
                total=self.total,
                priority=self.priority,
                duration=duration_phrase(self.seconds),
                done=when_phrase(self.done_at, start, tz),
            )
        ]
        if self.priority:
            lines.append(
                P(
                    N_("领导版最后一封约 %(done)s 发出（%(duration)s后）。"),
                    done=when_phrase(self.priority_done_at, start, tz),
                    duration=duration_phrase(self.priority_seconds),
                )
            )
        if self.quota_remaining:
            quota = quota_phrase(self.quota_remaining, self.quota_resumes_at, start, tz)
            lines.append(P(N_("%(sentence)s。"), sentence=quota))
        if self.spills_next_day:
            lines.append(P(N_("发送将跨到次日。")))
        if self.bottleneck.startswith("domain "):
            lines.append(P(N_("最慢的是收件域 %(domain)s 的限速。"), domain=self.bottleneck[7:]))
        return lines


def forecast(
    audience: dict[tuple[str, str], int],
    relays: list[RelayCapacity],
    paces: dict[str, Pace],
    now: dt.datetime,
    *,
    timezone: str = "Asia/Shanghai",
    pipeline_per_second: float = PIPELINE_PER_SECOND,
) -> Forecast:
    """The forecast of sending `audience` ((edition, domain) -> count) starting at `now`."""
    phases: dict[str, dict[str, int]] = {"priority": {}, "regular": {}}
    for (edition, domain), n in audience.items():
        phase = phases["priority" if edition == "priority" else "regular"]
        phase[domain] = phase.get(domain, 0) + n
    total = sum(audience.values())
    priority = sum(phases["priority"].values())
    sim = _Simulation(relays, paces, pipeline_per_second)
    priority_seconds = sim.run(phases["priority"])
    seconds = sim.run(phases["regular"])
    end = now + dt.timedelta(seconds=seconds)
    spills = _local(end, timezone).date() != _local(now, timezone).date()
    resumes = (
        now + dt.timedelta(seconds=sim.first_reopen)
        if sim.quota_remaining and sim.first_reopen is not None
        else None
    )
    return Forecast(
        total,
        priority,
        now,
        seconds,
        priority_seconds,
        spills,
        sim.quota_remaining,
        resumes,
        sim.bottleneck,
        timezone,
    )


class _Simulation:
    """Fluid model, event to event: between events (a domain done, a quota used up or
    reopened) every rate is constant. Relays fill in order, as the pool picks them; bursts
    the windows would allow are ignored (the estimate errs on the slow side)."""

    def __init__(self, relays: list[RelayCapacity], paces: dict[str, Pace], pipeline: float):
        self.relays = relays or [RelayCapacity("default", Limits())]
        self.paces = {d: p.per_minute / 60.0 for d, p in paces.items() if p.per_minute}
        self.pipeline = pipeline if pipeline > 0 else math.inf
        self.rate = [r.limits.sustained_per_second() or math.inf for r in self.relays]
        self.left = [
            max(r.limits.per_day - r.day_used, 0) if r.limits.per_day else math.inf
            for r in self.relays
        ]
        self.reopen: list[float | None] = [None] * len(self.relays)
        self.started: list[float | None] = [None] * len(self.relays)
        self.t = 0.0
        self.quota_remaining = 0
        self.first_reopen: float | None = None
        self.bottleneck = "pipeline"

    def run(self, by_domain: dict[str, int]) -> float:
        remaining = {d: float(n) for d, n in by_domain.items() if n > 0}
        while sum(remaining.values()) > 0.5 and self.t < _HORIZON:
            self._reopen_due()
            active = [i for i, q in enumerate(self.left) if q > 0.5]
            if not active:  # every quota used up: wait for the first to open again
                waiting = [o for o in self.reopen if o is not None]
                if self.first_reopen is None:
                    self.first_reopen = min(waiting)
                    self.quota_remaining = round(sum(remaining.values()))
                self.t = max(min(waiting), self.t)
                continue
            cap = min(sum(self.rate[i] for i in active), self.pipeline)
            rates = self._domain_rates(remaining, cap)
            flow = sum(rates.values())
            use = self._relay_use(active, flow)
            steps = [remaining[d] / x for d, x in rates.items() if x > 0]
            steps += [self.left[i] / c for i, c in use.items() if c > 0 and self.left[i] < math.inf]
            steps += [o - self.t for o in self.reopen if o is not None and o > self.t]
            step = max(min(steps), 1e-3)
            self._note_bottleneck(remaining, cap, flow)
            for d, x in rates.items():
                remaining[d] = max(remaining[d] - x * step, 0.0)
                if remaining[d] <= 0.5:
                    remaining.pop(d)
            for i, c in use.items():
                if self.started[i] is None and c > 0:
                    self.started[i] = self.t
                if self.left[i] < math.inf:
                    self.left[i] = max(self.left[i] - c * step, 0.0)
                    if self.left[i] <= 0.5:
                        self._exhausted(i)
            self.t += step
        return self.t

    def _domain_rates(self, remaining: dict[str, float], cap: float) -> dict[str, float]:
        paced = {d: self.paces[d] for d in remaining if d in self.paces}
        unpaced = [d for d in remaining if d not in self.paces]
        scale = min(1.0, cap / sum(paced.values())) if paced else 1.0
        rates = {d: r * scale for d, r in paced.items()}
        rest = cap - sum(rates.values())
        if unpaced and rest > 0:
            total = sum(remaining[d] for d in unpaced)
            rates.update({d: rest * remaining[d] / total for d in unpaced})
        return rates

    def _relay_use(self, active: list[int], flow: float) -> dict[int, float]:
        use: dict[int, float] = {}
        for i in sorted(active, key=lambda i: self.relays[i].order):
            use[i] = min(self.rate[i], flow)
            flow -= use[i]
        return use

    def _exhausted(self, i: int) -> None:
        r, started = self.relays[i], self.started[i]
        if (
            r.day_used
            and r.day_frees_in is not None
            and self.reopen[i] is None
            and started is not None
            and r.day_frees_in > self.t
        ):
            self.reopen[i] = r.day_frees_in
        else:
            self.reopen[i] = (self.t if started is None else started) + DAY
        self.left[i] = 0.0

    def _reopen_due(self) -> None:
        for i, o in enumerate(self.reopen):
            if o is not None and o <= self.t + 1e-6:
                self.left[i], self.reopen[i] = float(self.relays[i].limits.per_day), None
                self.started[i] = None

    def _note_bottleneck(self, remaining: dict[str, float], cap: float, flow: float) -> None:
        if self.quota_remaining:
            self.bottleneck = "quota"
        elif flow < cap * 0.99 and remaining:
            slowest = max(remaining, key=lambda d: remaining[d] / self.paces.get(d, math.inf))
            self.bottleneck = f"domain {slowest}" if slowest in self.paces else "relays"
        else:
            self.bottleneck = "pipeline" if cap >= self.pipeline else "relays"


def _local(value: dt.datetime, tz: str) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz))


def duration_phrase(seconds: float) -> tuple[Phrase, ...]:
    """'3 小时 5 分' as phrases (days, hours, minutes; seconds only under a minute)."""
    seconds = round(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        P(N_("%(n)s 天"), n=days) if days else None,
        P(N_("%(n)s 小时"), n=hours) if hours else None,
        P(N_("%(n)s 分"), n=minutes) if minutes else None,
    ]
    return tuple(p for p in parts if p) or (P(N_("%(n)s 秒"), n=secs),)


def when_phrase(value: dt.datetime | None, now: dt.datetime, tz: str) -> Phrase:
    """'今日 14:05', '明日 08:00' or '2026-12-03 08:00' (local time)."""
    if value is None:
        return P(N_("未知时间"))
    local, today = _local(value, tz), _local(now, tz).date()
    days = (local.date() - today).days
    prefix = {0: N_("今日 %(time)s"), 1: N_("明日 %(time)s"), 2: N_("后天 %(time)s")}.get(days)
    if prefix:
        return P(prefix, time=f"{local:%H:%M}")
    return P("%(time)s", time=f"{local:%Y-%m-%d %H:%M}")


def quota_phrase(left: int, opens: dt.datetime | None, now: dt.datetime, tz: str) -> Phrase:
    """What waits for the daily quotas: the forecast says it, and so does a paused send."""
    return P(
        N_("剩余 %(left)s 封将于%(when)s 配额恢复后继续"),
        left=left,
        when=when_phrase(opens, now, tz),
    )


def duration_zh(seconds: float) -> str:
    return " ".join(p.text() for p in duration_phrase(seconds))


def when_zh(value: dt.datetime | None, now: dt.datetime, tz: str) -> str:
    return when_phrase(value, now, tz).text() if value is not None else ""
