"""Fixtures of the send tests: an approved sample issue with readers; the staff tests' API
tokens."""

import pytest

from newsletter.bulletin.service import import_issue
from newsletter.extensions import db
from tests.conftest import approve_for_tests
from tests.delivery.test_send_end_to_end import add_readers
from tests.staff.conftest import api  # noqa: F401


@pytest.fixture
def approved(app, sample_text):
    """Issue 396, approved as it is, and the end-to-end tests' readers."""
    issue = approve_for_tests(import_issue(db.session, sample_text)[0])
    add_readers()
    return issue
