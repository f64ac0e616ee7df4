"""The per-recipient headers message.py writes itself: the To value and the Date value are
exactly what `email.utils.formataddr` and `email.utils.format_datetime` give."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery.message import MessageTemplate, address_header

_NAMES = st.text(alphabet="王小明欧阳 Zoëé<>\"',.;:\\()aZ09-!*+/=?_\u00a0\U0001f600", max_size=30)
_ADDRESSES = st.sampled_from(["reader@example.org", "a.b+c@例子.cn", "x@y", ""])


@settings(max_examples=500, deadline=None)
@given(name=_NAMES, address=_ADDRESSES)
def test_the_to_value_is_formataddrs(name, address):
    try:
        expected = email.utils.formataddr((name, address), charset="utf-8")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            address_header(name, address)
        return
    assert address_header(name, address) == expected


@pytest.mark.parametrize("name", ["王", "欧阳小明", "读者12345", "Zoë", "Zoë Smith-Jones", "é"])
def test_common_names_are_formataddrs(name):
    assert address_header(name, "r@example.org") == email.utils.formataddr(
        (name, "r@example.org"), charset="utf-8"
    )


@settings(max_examples=300, deadline=None)
@given(
    second=st.integers(0, 4_102_444_800),
    zone=st.sampled_from(["Asia/Shanghai", "Europe/London", "America/New_York", "UTC"]),
)
def test_the_date_value_is_format_datetimes(second, zone):
    template = MessageTemplate("周报 <w@n.example>", "s", "l.n.example", timezone=zone)
    now = dt.datetime.fromtimestamp(second, ZoneInfo(zone))
    assert template.date_value(now) == email.utils.format_datetime(now)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(time, "time", lambda: second + 0.999)
        assert template.date_value() == email.utils.format_datetime(now)  # made
        assert template.date_value() == email.utils.format_datetime(now)  # kept


_READER = {"to_email": "r@example.org", "to_name": "王小明", "message_id": "<1@n>"}
_READER |= {"html": None, "text": "正文", "list_unsubscribe": []}


def test_a_built_message_is_dated_now():
    template = MessageTemplate("周报 <w@n.example>", "s", "l.n.example")
    dates = []
    for _ in range(3):
        before = dt.datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0)
        message = template.build(**_READER)
        after = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
        parsed = message_from_bytes(message, policy=policy.default)
        date = parsed["Date"].datetime
        assert before <= date <= after
        assert str(parsed["Date"]) == email.utils.format_datetime(date)
        assert parsed["To"].addresses[0].display_name == "王小明"
        dates.append(date)
        time.sleep(0.6)
    assert dates[0] < dates[-1]  # a new second, a new Date
