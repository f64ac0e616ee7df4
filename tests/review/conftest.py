from tests.staff.conftest import _fresh_csrf_per_request, api, staff  # noqa: F401
