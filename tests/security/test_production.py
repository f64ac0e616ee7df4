"""Production mode, started the way the Procfile starts it (newsletter.webserver, worker.py): unsafe
settings stop it with one clear message each; safe ones serve. The dev server and the tests
say their mode explicitly (APP_ENV); without it the app assumes production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from newsletter import workerproc
from newsletter.devsmtp import free_port
from tests.security import private_redis

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"


def _env(tmp_path, **settings) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "APP_ENV",
            "SECRET_KEY",
            "DEV_MAILBOX_DIR",
            "FLASK_DEBUG",
            "BASE_URL",
            "REDIS_URL",
            "COOKIE_SECURE",
        )
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'prod.db'}"
    env.update({k: v for k, v in settings.items() if v is not None})
    return env


def _web(env, port) -> subprocess.Popen:
    # The Procfile's web line, on a loopback port.
    assert (ROOT / "Procfile").read_text().startswith("web: python -m newsletter.webserver ")
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter.webserver", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


UNSAFE = dict(
    SECRET_KEY=None,
    DEV_MAILBOX_DIR="/tmp/mailbox",
    FLASK_DEBUG="1",
    BASE_URL="http://news.example.org",
    REDIS_URL="redis://127.0.0.1:6379/0",
    COOKIE_SECURE="off",
)
MESSAGES = [
    "SECRET_KEY is not set",
    "DEV_MAILBOX_DIR is set",
    "FLASK_DEBUG is on",
    "BASE_URL is 'http://news.example.org'",
    "REDIS_URL has no password",
    "COOKIE_SECURE is off",
]


def test_the_web_server_refuses_to_start_production_with_unsafe_settings(tmp_path):
    proc = _web(_env(tmp_path, **UNSAFE), free_port())
    try:
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        proc.kill()
    assert proc.returncode != 0, output
    for message in MESSAGES:
        assert f"configuration: {message}" in output, (message, output)


def test_a_short_key_is_refused_and_named(tmp_path):
    proc = _web(_env(tmp_path, **{**UNSAFE, "SECRET_KEY": "changeme"}), free_port())
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode != 0
    assert "configuration: SECRET_KEY is 8 characters long; production needs at least 32" in output


def test_the_worker_refuses_the_same_settings(tmp_path):
    proc = subprocess.run(
        [sys.executable, *workerproc.PYTHON_FLAGS, str(ROOT / "worker.py"), "--burst"],
        cwd=ROOT,
        env=_env(tmp_path, **UNSAFE),
        capture_output=True,
        timeout=60,
    )
    output = proc.stderr.decode()
    assert proc.returncode != 0
    for message in MESSAGES:
        assert message in output, message


def test_safe_production_settings_serve(tmp_path):
    redis = private_redis.start(tmp_path)
    port = free_port()
    proc = _web(
        _env(
            tmp_path, SECRET_KEY=GOOD_KEY, BASE_URL="https://news.example.org", REDIS_URL=redis.url
        ),
        port,
    )
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.2)
        assert body is not None, proc.stdout.read1().decode() if proc.poll() else "no answer"
        assert '"redis":"ok"' in body.replace(" ", "") and '"database":"ok"' in body.replace(
            " ", ""
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/staff/login", timeout=5) as r:
            cookies = [c for c in r.headers.get_all("Set-Cookie") if c.startswith("session=")]
        assert cookies and "Secure" in cookies[0] and "HttpOnly" in cookies[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        redis.stop()


@pytest.mark.parametrize("mode", ["development", "testing"])
def test_development_and_testing_are_explicit_and_keep_no_key_in_source(tmp_path, mode):
    from newsletter import config

    values = config.load(None, env={"APP_ENV": mode, "DEV_MAILBOX_DIR": "/tmp/x"})
    assert values["APP_ENV"] == mode and len(values["SECRET_KEY"]) >= 32
    with pytest.raises(config.ConfigError):
        config.load(None, env={"DEV_MAILBOX_DIR": "/tmp/x"})  # no APP_ENV: production
