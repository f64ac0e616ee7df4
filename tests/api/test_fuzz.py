"""Schemathesis against the API's own OpenAPI document, through the WSGI app.

For every operation: cases generated from the schema (positive) and cases that break it
(negative), each sent with a valid admin token. Checked by schemathesis's default checks
(no 5xx, documented status code, content type and response schema) and by us: no
traceback text in any answer, and a refused write leaves no row behind.
"""

from __future__ import annotations

import collections
import os

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from sqlalchemy import func, select

from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from newsletter.review import service as review
from subscribers.models import Group, Subscriber

EXAMPLES = {GenerationMode.POSITIVE: 80, GenerationMode.NEGATIVE: 40}
# The same cases on every run (CI must not flake); FUZZ_RANDOM=1 explores new ones.
DERANDOMIZE = os.environ.get("FUZZ_RANDOM") != "1"


def _counts() -> tuple[int, int]:
    db.session.rollback()
    return (
        db.session.scalar(select(func.count()).select_from(Subscriber)),
        db.session.scalar(select(func.count()).select_from(Group)),
    )


def test_the_api_holds_to_its_openapi_document(app, api, make_staff, sample_text, capsys):
    issue, _ = import_issue(db.session, sample_text)
    review.submit(db.session, issue, make_staff("editor"))
    review.approve(db.session, issue, make_staff("reviewer"))
    _client, headers = api("admin")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # Our contract: 400 only for what breaks the document; a well-formed request that is
    # refused for what it names (an unknown group, an unapproved issue, a text that does
    # not parse) is 422. So schema-valid data may get 422, never 400.
    schema.config.checks.positive_data_acceptance.expected_statuses = [
        "2xx",
        "401",
        "403",
        "404",
        "409",
        "422",
    ]
    cases: collections.Counter = collections.Counter()
    statuses: collections.Counter = collections.Counter()

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=DERANDOMIZE,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                before = _counts()
                header = (case.meta.components or {}).get(ParameterLocation.HEADER)
                if header is None or header.mode.is_positive:
                    case.headers = {**(case.headers or {}), **headers}  # a valid token
                # else: the case breaks the Authorization header on purpose; it must be 401
                response = case.call_and_validate()
                cases[mode.value] += 1  # noqa: B023  (run() is called right below)
                statuses[response.status_code] += 1
                body = response.text
                assert "Traceback" not in body and "sqlalchemy" not in body.lower(), body[:500]
                if response.status_code >= 400 and case.method != "GET":
                    assert _counts() == before, f"{case.method} {case.path}: half-written"

            run()

    total = sum(cases.values())
    with capsys.disabled():
        print(
            f"\nschemathesis: {total} cases ({dict(cases)}) over "
            f"{len(list(schema.get_all_operations()))} operations; statuses {dict(statuses)}"
        )
    assert total > 500
    assert not any(code >= 500 for code in statuses)
