"""Findings: 500s on over-long ids (public /archive/<n> too), NUL bytes in query strings on
PostgreSQL, deeply nested JSON. Every malformed id or parameter gets 400 or 404. The public
pages are fuzzed too (hypothesis over their URL map entries, path and query)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.bulletin.models import IssueStatus
from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from tests.security.test_route_matrix import PUBLIC

HUGE = "9" * 40


@pytest.fixture
def sent_sample(app, sample_text):
    issue, _ = import_issue(db.session, sample_text)
    issue.status = IssueStatus.SENT
    db.session.commit()
    return issue


@pytest.mark.parametrize(
    "path",
    [
        f"/archive/{HUGE}",
        f"/archive/{2**31}",
        f"/archive/{2**63}",
        f"/archive?page={HUGE}",
        "/archive?page=-1",
        f"/t/c/x/{HUGE}",
        f"/t/r/x/{HUGE}",
    ],
)
def test_over_long_public_ids_are_404_not_500(app, client, sent_sample, path):
    assert client.get(path).status_code in (400, 404)


@pytest.mark.parametrize(
    "path",
    [
        f"/issues/{HUGE}",
        f"/issues/{HUGE}/edit",
        f"/reports/sends/{HUGE}",
        f"/reports/sends/{HUGE}.csv",
        f"/reports/subscribers/{HUGE}",
        f"/sends/{HUGE}",
        f"/staff/subscribers/{HUGE}",
        f"/staff/accounts/{HUGE}",
    ],
)
def test_over_long_staff_ids_are_404_not_500(app, staff_client, path):
    assert staff_client("admin").get(path).status_code in (400, 404), path


@pytest.mark.parametrize(
    "path",
    [
        "/reports/subscribers?email=a%00b@example.org",
        "/staff/subscribers/?q=%00",
        "/staff/subscribers/?q=abc%00def&group=media",
        "/staff/audit?actor=%00",
        "/archive?page=1%00",
    ],
)
def test_nul_bytes_in_query_strings_are_400(app, staff_client, path):
    response = staff_client("admin").get(path)
    assert response.status_code == 400, (path, response.status_code)


def test_nul_bytes_in_forms_are_400(app, client):
    page = client.get("/subscribe").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/subscribe",
        data={
            "csrf_token": token,
            "email": "a\x00@example.org",
            "groups": ["media"],
            "name": "x\x00",
        },
    )
    assert response.status_code == 400


def test_deeply_nested_json_is_400(app, api):
    client, headers = api("admin")
    body = "[" * 100_000 + "]" * 100_000
    for path in ("/api/v1/issues", "/api/v1/subscribers"):
        response = client.post(
            path, data=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, path
        assert response.get_json()["error"]["status"] == 400
    nested = '{"text": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client.post(
        "/api/v1/issues", data=nested, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400


def _public_get_rules(app):
    return [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint in PUBLIC and r.endpoint != "static" and "GET" in r.methods
    ]


_odd_text = st.one_of(
    st.text(max_size=60),
    st.just("\x00"),
    st.just(HUGE),
    st.just("-1"),
    st.text(alphabet="0123456789", min_size=1, max_size=30),
    st.just("%00"),
    st.just("x" * 5000),
)


def test_public_pages_never_answer_500(app, sent_sample, capsys):
    """Hypothesis: every public GET route, its path values and query strings fuzzed."""
    rules = _public_get_rules(app)
    client = app.test_client()
    seen: dict[int, int] = {}

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        derandomize=os.environ.get("FUZZ_RANDOM") != "1",
        suppress_health_check=list(HealthCheck),
    )
    @given(
        rule_i=st.integers(0, len(rules) - 1),
        values=st.lists(_odd_text, min_size=3, max_size=3),
        query=st.dictionaries(
            st.sampled_from(["page", "email", "n", "edition", "q", "x"]), _odd_text, max_size=3
        ),
    )
    def run(rule_i, values, query):
        rule = rules[rule_i]
        args = dict(zip(rule.arguments, values))
        from werkzeug.urls import quote

        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<{name}>", quote(args[name], safe="")).replace(
                f"<int:{name}>", quote(args[name], safe="")
            )
        response = client.get(path, query_string=query)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (path, query, response.status_code)
        assert b"Traceback" not in response.get_data()

    run()
    with capsys.disabled():
        print(
            f"\npublic pages fuzzed: {sum(seen.values())} requests over {len(rules)} "
            f"routes; statuses {dict(sorted(seen.items()))}"
        )
    assert sum(seen.values()) >= 300
