"""The send forecast: a pure function of audience, relay limits and quotas, and the time;
and `send N --dry-run`, which prints it and writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from newsletter.bulletin.service import import_issue
from newsletter.delivery.forecast import RelayCapacity, duration_zh, forecast, when_zh
from newsletter.delivery.models import Send
from newsletter.delivery.relays import DEFAULT_PACES, Limits
from newsletter.extensions import db
from tests.conftest import approve_for_tests

# 08:00 in Beijing.
MORNING = dt.datetime(2026, 12, 1, 0, 0)
AUDIENCE = {
    ("priority", "qq.com"): 49,
    ("regular", "qq.com"): 1000,
    ("regular", "163.com"): 1000,
    ("regular", "example.org"): 951,
}


def test_one_enterprise_mailbox_spills_into_the_next_day_and_says_when():
    f = forecast(
        AUDIENCE,
        [RelayCapacity("exmail", Limits(per_minute=30, per_day=1500))],
        DEFAULT_PACES,
        MORNING,
    )
    assert (f.total, f.priority) == (3000, 49)
    assert f.priority_seconds == pytest.approx(49 * 2, abs=2)  # 30/min: leadership first
    # 1,500 today at 30/min (50 min), the rest when the day window reopens, 50 min more.
    assert f.seconds == pytest.approx(86400 + 3000, abs=5)
    assert f.quota_remaining == 1500 and f.spills_next_day
    assert f.quota_resumes_at == MORNING + dt.timedelta(days=1)
    assert "剩余 1,500 封将于明日 08:00 配额恢复后继续。" in f.summary()
    assert f.bottleneck == "quota"


def test_a_quota_half_used_already_opens_when_its_oldest_messages_age_out():
    used = RelayCapacity(
        "dm", Limits(per_second=10, per_day=2000), day_used=1500, day_frees_in=5 * 3600
    )
    f = forecast({("regular", "example.org"): 1000}, [used], {}, MORNING)
    assert f.quota_remaining == 500
    assert f.quota_resumes_at == MORNING + dt.timedelta(hours=5)
    assert f.seconds == pytest.approx(5 * 3600 + 50, abs=5)
    assert not f.spills_next_day  # 13:00 the same day


def test_the_slowest_domain_sets_the_pace_when_relays_have_room():
    f = forecast(AUDIENCE, [RelayCapacity("own", Limits(per_second=10))], DEFAULT_PACES, MORNING)
    qq = DEFAULT_PACES["qq.com"].per_minute
    assert f.seconds == pytest.approx(1049 / qq * 60, rel=0.02)
    assert f.bottleneck == "domain qq.com" and not f.spills_next_day
    assert "最慢的是收件域 qq.com 的限速。" in f.summary()
    # The same audience without pacing: the relay's 10/s decides.
    assert forecast(
        AUDIENCE, [RelayCapacity("own", Limits(per_second=10))], {}, MORNING
    ).seconds == pytest.approx(300, abs=2)


def test_relays_add_up_and_a_second_one_takes_over_when_the_first_quota_is_gone():
    relays = [
        RelayCapacity("a", Limits(per_second=5, per_day=1000)),
        RelayCapacity("b", Limits(per_second=5), order=1),
    ]
    f = forecast({("regular", "example.org"): 3000}, relays, {}, MORNING)
    # 10/s together for 200 s (a's 1,000 and b's 1,000), then b alone at 5/s for 200 s.
    assert f.seconds == pytest.approx(400, abs=2) and f.quota_remaining == 0


def test_our_pipeline_is_the_ceiling_of_unlimited_relays():
    f = forecast(
        {("regular", "example.org"): 20000},
        [RelayCapacity("sink", Limits())],
        {},
        MORNING,
        pipeline_per_second=200,
    )
    assert f.seconds == pytest.approx(100, abs=1) and f.bottleneck == "pipeline"


def test_an_evening_send_that_runs_past_midnight_spills():
    evening = dt.datetime(2026, 12, 1, 15, 0)  # 23:00 Beijing
    f = forecast(
        {("regular", "example.org"): 7200}, [RelayCapacity("r", Limits(per_second=1))], {}, evening
    )
    assert f.spills_next_day and f.quota_remaining == 0
    assert when_zh(f.done_at, evening, "Asia/Shanghai") == "明日 01:00"


def test_nothing_to_send_takes_no_time():
    f = forecast({}, [RelayCapacity("r", Limits(per_second=1))], {}, MORNING)
    assert (f.seconds, f.total, f.spills_next_day) == (0, 0, False)


def test_durations_read_in_chinese():
    assert duration_zh(45) == "45 秒"
    assert duration_zh(3 * 3600 + 5 * 60) == "3 小时 5 分"
    assert duration_zh(86400 + 60) == "1 天 1 分"
    assert when_zh(MORNING + dt.timedelta(days=3), MORNING, "Asia/Shanghai") == "2026-12-04 08:00"


def test_dry_run_prints_the_forecast_and_writes_nothing(app, runner, sample_text, tmp_path):
    from tests.delivery.support import bulk_subscribers

    approve_for_tests(import_issue(db.session, sample_text)[0])
    bulk_subscribers(30, "media")
    relays = tmp_path / "relays.toml"
    relays.write_text(
        "[[relay]]\nname = 'mailbox'\nhost = '127.0.0.1'\nper_minute = 10\nper_day = 20\n", "utf-8"
    )
    app.config["RELAYS_FILE"] = str(relays)
    result = runner.invoke(args=["send", "396", "--group", "media", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "共 30 封" in result.output
    assert "剩余 10 封将于明日" in result.output and "配额恢复后继续" in result.output
    assert db.session.scalar(select(func.count(Send.id))) == 0
