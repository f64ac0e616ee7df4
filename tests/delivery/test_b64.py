"""Base64 lines with a variant's fixed runs encoded once (newsletter/delivery/b64.py): the
bytes are exactly those of encoding the whole text, wherever the readers' values fall on
the 57-byte grid, whatever they contain, and when the text is not what the runs say."""

from __future__ import annotations

import base64
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery import b64
from newsletter.delivery.message import MessageTemplate

_TEXT = st.text(alphabet="ab中文.\r\n <>{}=é", max_size=400)


def test_lines_are_rfc2045_lines():
    data = "中文内容".encode() * 100
    out = b64.lines(data)
    assert out == base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    assert {len(line) for line in out.split(b"\r\n")[:-1]} == {76}
    assert b64.lines(b"") == b""


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700))
def test_lines_are_encodebytes_lines_at_any_length(data):
    assert b64.lines(data) == base64.encodebytes(data).replace(b"\n", b"\r\n")[:-2]


@settings(max_examples=300, deadline=None)
@given(
    runs=st.lists(_TEXT, max_size=5),
    values=st.lists(_TEXT, max_size=6),
    budget=st.sampled_from([1, 10**6]),
)
def test_any_text_between_the_runs_gives_the_bytes_of_encoding_it_whole(runs, values, budget):
    fixed = b64.FixedRuns(runs, budget=budget)
    text = "".join(r + (values[i] if i < len(values) else "") for i, r in enumerate(runs))
    for _ in range(2):  # the second time from what was kept
        assert fixed.encode(text) == b64.lines(text.encode())
    other = "".join(values) + text[::-1]  # runs missing, moved or broken
    assert fixed.encode(other) == b64.lines(other.encode())


@settings(max_examples=100, deadline=None)
@given(shift=st.integers(0, 120), value=_TEXT)
def test_a_value_holding_the_start_of_the_next_run(shift, value):
    run = "开头" + "x" * 200 + "中" * 80
    fixed = b64.FixedRuns(["a" * shift, run, "尾" * 60])
    # The value repeats the run's first characters: the run is still found and compared.
    text = "a" * shift + value + run[:60] + "!" + run + "v" + "尾" * 60
    assert fixed.encode(text) == b64.lines(text.encode())


def test_what_is_kept_stays_under_the_budget():
    run = "正文" * 3000
    fixed = b64.FixedRuns(["", run], budget=40_000)
    for n in range(60):  # 57 grid positions and then some
        text = "名" * n + run
        assert fixed.encode(text) == b64.lines(text.encode())
    assert fixed._size <= 40_000 or len(fixed._kept) == 1
    assert len(fixed._kept) < 57


def test_a_sample_bulletin_built_through_its_runs_is_byte_for_byte_the_same(monkeypatch):
    from newsletter.bulletin.parser import parse_issue
    from newsletter.render import Edition, RenderedEdition, personalise, render_edition
    from newsletter.resources import SAMPLE_ISSUE
    from newsletter.tracking.links import rewrite_links

    doc = parse_issue(SAMPLE_ISSUE.read_bytes())
    rendered = render_edition(doc, Edition.REGULAR, archive_url="https://n.example/archive/396")
    html, _ = rewrite_links(rendered.html)
    variant = RenderedEdition.from_stored(rendered.subject, html, rendered.text)
    html_parts, text_parts = variant.token_parts
    # The same MIME boundary for both templates, so that their bytes can be compared.
    monkeypatch.setattr("newsletter.delivery.message.secrets.token_hex", lambda n: "5a" * n)
    plain = MessageTemplate("周报 <w@n.example>", variant.subject, "l.n.example")
    fast = MessageTemplate(
        "周报 <w@n.example>",
        variant.subject,
        "l.n.example",
        runs=(html_parts[0::2], text_parts[0::2]),
    )
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for i, name in enumerate(["", "王", "欧阳小明", "Zoë <x>", "读者12345" * 3]):
        values = {
            "unsubscribe_url": f"https://n.example/unsubscribe/{'t' * (40 + i)}",
            "preferences_url": f"https://n.example/preferences/{'p' * (41 + 3 * i)}",
            "name": name,
            "open_pixel_url": f"https://n.example/t/o/{'o' * i}.gif" if i % 2 else "",
            "click_base_url": f"https://n.example/t/c/{'c' * (i * 7)}",
        }
        h, t = personalise(variant, values)
        for html_part in (h, None):
            kw = dict(
                to_email="r@example.org",
                to_name=name,
                message_id="<1@n>",
                html=html_part,
                text=t,
                list_unsubscribe=[values["unsubscribe_url"]],
                now=now,
            )
            assert fast.build(**kw) == plain.build(**kw)
    assert fast._html_runs._kept  # the runs were found and used
