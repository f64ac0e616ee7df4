from tests.staff.conftest import api, staff  # noqa: F401
