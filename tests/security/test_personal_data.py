"""Finding: readers' addresses were visible to senders and reviewers through
/reports/subscribers/<id> (and the send report's failures and CSV)."""

from __future__ import annotations

import pytest

from tests.reports.conftest import scenario  # noqa: F401  (a sent send with failures)


@pytest.mark.parametrize("role", ["sender", "reviewer"])
def test_senders_and_reviewers_do_not_see_readers(scenario, staff_client, role):  # noqa: F811
    client = staff_client(role)
    sid = scenario.s.send.id
    sub = scenario.s.deliveries[0].subscriber_id
    assert client.get(f"/reports/subscribers/{sub}").status_code == 403
    assert client.get("/reports/subscribers?email=r00@example.com").status_code == 403
    assert client.get(f"/reports/sends/{sid}.csv").status_code == 403
    page = client.get(f"/reports/sends/{sid}").get_data(as_text=True)
    assert "hard 5.1.1" in page  # why it failed stays visible
    assert not any(e in page for e in scenario.emails)  # who did not
    assert "r***@example.com" in page
    assert f"/reports/sends/{sid}.csv" not in page and "reports/subscribers" not in page


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_editors_see_the_readers_they_manage(scenario, staff_client, role):  # noqa: F811
    client = staff_client(role)
    sub = scenario.s.deliveries[0].subscriber_id
    assert "r00@example.com" in client.get(f"/reports/subscribers/{sub}").get_data(as_text=True)
    page = client.get(f"/reports/sends/{scenario.s.send.id}").get_data(as_text=True)
    assert any(e in page for e in scenario.hard | scenario.failed)
