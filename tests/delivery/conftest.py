"""Fixtures of the pipeline tests: an SMTP server whose handler a test may choose, a Redis
server of the test's own that it may restart."""

from __future__ import annotations

import subprocess

import pytest
from redis import Redis

from newsletter.devsmtp import SinkServer, free_port
from tests.delivery.support import wait_until
from tests.redisproc import server_argv


@pytest.fixture
def smtp(request):
    """The loopback SMTP server, with the handler the test asks for (indirect param)."""
    factory = getattr(request, "param", None)
    server = SinkServer(handler=factory() if factory else None).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, on its own port, that the test may restart."""
    port = free_port()

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(
            server_argv(tmp_path, "--port", str(port)), stdout=subprocess.DEVNULL
        )
        wait_until(lambda: _pings(port), 10, "redis to start")
        return proc

    procs = [start()]
    yield port, procs, start
    for proc in procs:
        proc.kill()
        proc.wait()


def _pings(port: int) -> bool:
    try:
        return Redis(port=port, socket_timeout=0.5).ping()
    except Exception:
        return False


@pytest.fixture
def redis_app_config(app_config, own_redis):
    port = own_redis[0]
    return {**app_config, "REDIS_URL": f"redis://127.0.0.1:{port}/0", "RATE_PER_SECOND": 400}
