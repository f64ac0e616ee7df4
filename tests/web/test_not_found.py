"""Pages that look a row up by its key (db.get_or_404 / db.first_or_404) answer the site's
404 page, in its layout, when there is no such row: staff accounts and tokens, sends,
the send page and the review page of an issue, for GET and for a POST with a valid token."""

from __future__ import annotations

import pytest

from tests.conftest import csrf_token

MISSING = 987654  # no row has this id or number

GETS = [
    ("admin", f"/staff/accounts/{MISSING}"),
    ("sender", f"/issues/{MISSING}/send"),
    ("sender", f"/sends/{MISSING}"),
    ("sender", f"/sends/{MISSING}/progress.json"),
    ("reviewer", f"/issues/{MISSING}/review"),
]
POSTS = [
    ("admin", f"/staff/accounts/{MISSING}/unlock"),
    ("admin", f"/staff/tokens/{MISSING}/revoke"),
    ("sender", f"/sends/{MISSING}/pause"),
    ("editor", f"/issues/{MISSING}/review/submit"),
    ("reviewer", f"/issues/{MISSING}/review/approve"),
    ("reviewer", f"/issues/{MISSING}/review/send-back"),
]


def _is_not_found_page(response) -> None:
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "页面不存在" in page and 'href="/"' in page  # the site's page, with a way back


@pytest.mark.parametrize(("role", "path"), GETS)
def test_get_of_a_missing_row_is_the_404_page(staff_client, role, path):
    _is_not_found_page(staff_client(role).get(path))


@pytest.mark.parametrize(("role", "path"), POSTS)
def test_post_to_a_missing_row_is_the_404_page(staff_client, role, path):
    client = staff_client(role)
    token = csrf_token(client, "/staff/tokens")  # the session's token: valid for any form
    _is_not_found_page(client.post(path, data={"csrf_token": token, "comment": "改一下"}))


def test_the_role_check_comes_before_the_lookup(staff_client):
    # Someone without the role learns nothing of which ids exist: 403 either way.
    assert staff_client("editor").get(f"/staff/accounts/{MISSING}").status_code == 403
