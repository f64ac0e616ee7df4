"""The wheel is the product (marked `packaging`: ~1-2 min, it builds and installs).

Build the wheel from a clean copy of the working tree (`pip wheel --no-deps`), install it in
a fresh venv with its dependencies pinned by requirements.lock (from the machine's package
index, no network), and then, outside the checkout: render the sample from the installed
package, migrate a database, seed, approve and send the sample with the `newsletter` console
script while `newsletter-worker` delivers it to a real SMTP server, and serve a page with
`newsletter-web` (granian). Nothing of the checkout is on the path; the instance directory is the cwd's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from newsletter.devsmtp import SinkServer, free_port

pytestmark = pytest.mark.packaging
ROOT = Path(__file__).resolve().parent.parent

RENDER = """
import json, newsletter
from newsletter.bulletin.parser import parse_issue
from newsletter.render import Edition, render_edition
from newsletter.resources import EMAIL_TEMPLATES, SAMPLE_ISSUE
doc = parse_issue(SAMPLE_ISSUE.read_bytes())
out = {"package": newsletter.__file__, "templates": str(EMAIL_TEMPLATES)}
for e in Edition:
    r = render_edition(doc, e, archive_url="http://example.org/archive/396")
    out[e.value] = {"subject": r.subject, "bytes": r.html_bytes,
                    "article": "全国宣传部长会议在京召开" in r.html, "text": len(r.text)}
print(json.dumps(out, ensure_ascii=False))
"""


def _run(cmd, *, cwd, env, timeout=300, check=True, input=None):
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, input=input
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def _clean_copy(target: Path) -> Path:
    """The files git knows (committed or not), without build leftovers of the checkout."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in files:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin dir, wheel path): the wheel built and installed in a fresh venv."""
    base = tmp_path_factory.mktemp("wheel")
    source = _clean_copy(base / "src")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(base / "dist"),
            str(source),
        ],
        cwd=base,
        env=env,
    )
    wheel = next((base / "dist").glob("newsletter-*.whl"))
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=base, env=env)
    _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            str(wheel),
            "-c",
            str(ROOT / "requirements.lock"),
        ],
        cwd=base,
        env=env,
        timeout=600,
    )
    return venv / "bin", wheel


def _env(tmp_path: Path, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "INSTANCE_DIR", "DATABASE_URL")
    }
    env.update(
        {
            "APP_ENV": "testing",
            "SECRET_KEY": "packaging-test-secret-" + "x" * 20,
            "QUEUE_PREFIX": f"nltest:{uuid.uuid4().hex[:10]}",
            **extra,
        }
    )
    return env


def test_the_wheel_carries_the_templates_sample_and_scripts(installed):
    import zipfile

    _bin, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "newsletter/email_templates/bulletin.mjml" in names
    assert "newsletter/email_templates/bulletin.txt" in names
    assert any(n.startswith("newsletter/email_templates/partials/") for n in names)
    assert "newsletter/samples/weekly-396.txt" in names
    assert "newsletter/worker.py" in names and "newsletter/migrations/env.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "newsletter = newsletter.cli:main" in scripts
    assert "newsletter-worker = newsletter.worker:main" in scripts
    metadata = (
        zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    )
    requires = [
        line
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert any(r.startswith("Requires-Dist: cssutils") for r in requires)
    assert all("<" in r for r in requires), [r for r in requires if "<" not in r]


def test_the_installed_wheel_renders_sends_and_serves_the_sample(installed, tmp_path):
    bin_dir, _wheel = installed
    work = tmp_path / "site"  # an empty directory: not the checkout
    work.mkdir()
    smtp = SinkServer().start()
    procs: list[subprocess.Popen] = []
    try:
        env = _env(
            tmp_path,
            SMTP_HOST=smtp.host,
            SMTP_PORT=str(smtp.port),
            MAIL_FROM="行业动态周报 <weekly@news.example.org>",
            REDIS_URL=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        )
        python = str(bin_dir / "python")

        rendered = json.loads(_run([python, "-c", RENDER], cwd=work, env=env).stdout)
        site = str(bin_dir.parent / "lib")
        assert rendered["package"].startswith(site) and rendered["templates"].startswith(site)
        for edition in ("regular", "priority"):
            assert rendered[edition]["article"] and rendered[edition]["bytes"] > 20_000
        assert "396" in rendered["regular"]["subject"]

        cli = str(bin_dir / "newsletter")
        _run([cli, "db", "upgrade", "heads"], cwd=work, env=env)
        assert (work / "instance" / "newsletter.db").is_file()  # the cwd's, not site-packages
        assert not list(Path(site).glob("python*/site-packages/instance"))
        seeded = _run([cli, "seed", "--demo", "--sample"], cwd=work, env=env).stdout
        assert "sample issue 396 loaded" in seeded
        password = "correct horse battery staple"
        for email, role in (("ed@example.org", "editor"), ("rv@example.org", "reviewer")):
            _run(
                [cli, "staff", "create", email, "--role", role, "--password", password],
                cwd=work,
                env=env,
            )
        _run([cli, "review", "submit", "396", "--as", "ed@example.org"], cwd=work, env=env)
        _run([cli, "review", "approve", "396", "--as", "rv@example.org"], cwd=work, env=env)

        worker_log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
        procs.append(
            subprocess.Popen(
                [str(bin_dir / "newsletter-worker")],
                cwd=work,
                env=env,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        sent = _run(
            [cli, "send", "396", "--wait", "--timeout", "120"], cwd=work, env=env, timeout=180
        )
        counts = json.loads(sent.stdout.strip().splitlines()[-1])
        assert counts.get("sent", 0) >= 1 and set(counts) == {"sent"}, sent.stdout
        import email
        from email import policy

        issues = [email.message_from_bytes(m.data, policy=policy.default) for m in smtp.received]
        # (beside them: the review notices the approval step mailed to the staff)
        issues = [m for m in issues if m["List-Unsubscribe"]]
        assert len(issues) == counts["sent"]
        for message in issues:
            assert "第396期" in message["Subject"].replace(" ", ""), message["Subject"]

        port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    str(bin_dir / "newsletter-web"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                ],
                cwd=work,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        page = _get(f"http://127.0.0.1:{port}/archive/396", timeout=30)
        assert "全国宣传部长会议在京召开" in page
    finally:
        import signal

        for proc in procs:
            for sig in (signal.SIGTERM, signal.SIGKILL):  # a warm shutdown first
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(timeout=10)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        smtp.stop()
        from redis import Redis

        redis = Redis.from_url(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
        keys = list(redis.scan_iter(f"*{env['QUEUE_PREFIX']}*", count=1000))
        if keys:
            redis.delete(*keys)


def _get(url: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode("utf-8")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
