"""Fixtures shared with the staff tests (API tokens)."""

from tests.staff.conftest import api  # noqa: F401
