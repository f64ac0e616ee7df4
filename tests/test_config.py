"""The settings module: the README's table and the declarations agree, bad values are named,
defaults live in one place, and development keys are made once under instance/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsletter import config
from newsletter.config import SETTINGS, ConfigError, load

README = Path(__file__).resolve().parent.parent / "README.md"
SAFE_TESTING = {"APP_ENV": "testing"}


def _readme_table() -> dict[str, str]:
    """variable -> documented default, from the README's configuration table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration (environment variables)", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented: dict[str, str] = {}
    for row in rows:
        names_cell, defaults_cell = [c.strip() for c in row.strip("|").split("|")][:2]
        names = re.findall(r"`([A-Z0-9_]+)`", names_cell)
        defaults = [d.strip().strip("`") for d in defaults_cell.split(", ")]
        assert len(defaults) == len(names), f"README row {names}: {len(defaults)} defaults"
        for name, default in zip(names, defaults):
            assert name not in documented, f"{name} documented twice"
            documented[name] = default
    return documented


def _shown(setting) -> str:
    value = setting.default
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace(str(config.PROJECT_ROOT) + "/", "")


def test_the_readme_documents_exactly_the_declared_settings_with_their_defaults():
    documented = _readme_table()
    declared = {s.env: _shown(s) for s in SETTINGS}
    assert set(documented) - set(declared) == set(), "documented but never read"
    assert set(declared) - set(documented) == set(), "read but not documented"
    assert documented == declared


def test_every_setting_is_in_the_loaded_config_with_its_default():
    values = load(SAFE_TESTING, env={})
    for setting in SETTINGS:
        if setting.env != "SECRET_KEY" and setting.env != "APP_ENV":
            assert values[setting.config_key] == setting.default, setting.env
    assert values["SMTP_PORT"] == 8025 and values["TRACKING_ENABLED"] is True


@pytest.mark.parametrize(
    "name,value,words",
    [
        ("SMTP_PORT", "abc", "is not a whole number"),
        ("SMTP_PORT", "70000", "above the maximum"),
        ("BATCH_SIZE", "0", "below the minimum"),
        ("BASE_URL", "ftp://news.example.org", "is not a URL starting with http:// or https://"),
        ("REDIS_URL", "localhost:6379", "is not a URL starting with redis://"),
        ("APP_ENV", "staging", "is not one of production, development, testing"),
        ("TRACKING_ENABLED", "maybe", "is not on/off"),
        ("SUBSCRIBE_RATE_PER_IP", "lots", "rate must look like"),
        ("DATABASE_URL", "mysql://x/y", "neither sqlite"),
        ("TIMEZONE", "Mars/Olympus", "not a time zone name"),
        ("COOKIE_SECURE", "sometimes", "is not auto, on or off"),
        ("SENT_MARK_EVERY", "0", "below the minimum"),
        ("SENT_MARK_EVERY", "5000", "above the maximum"),
        ("SENT_MARK_MAX_MS", "0", "below the minimum"),
    ],
)
def test_a_bad_value_stops_the_start_with_the_variable_named(name, value, words):
    with pytest.raises(ConfigError) as caught:
        load(None, env={"APP_ENV": "testing", name: value})
    assert caught.value.problems == [f"{name}: {caught.value.problems[0].split(': ', 1)[1]}"]
    assert caught.value.problems[0].startswith(f"{name}: ") and words in str(caught.value)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        load(None, env={"APP_ENV": "testing", "SMTP_PORT": "x", "BATCH_SIZE": "-1"})
    assert [p.split(":")[0] for p in caught.value.problems] == ["SMTP_PORT", "BATCH_SIZE"]


def test_values_are_typed_from_the_environment_and_from_create_app_mappings():
    values = load(
        {"SMTP_PORT": 2525},
        env={
            "APP_ENV": "testing",
            "SMTP_STARTTLS": "yes",
            "RETRY_BASE_SECONDS": "0.5",
            "SMTP_TIMEOUT": "",
        },
    )
    assert values["SMTP_PORT"] == 2525 and values["SMTP_STARTTLS"] is True
    assert values["RETRY_BASE_SECONDS"] == 0.5
    assert values["SMTP_TIMEOUT"] == 30.0  # VAR= means "not set"
    assert (
        load(None, env={"APP_ENV": "testing", "DATABASE_URL": "postgres://u@h/d"})[
            "SQLALCHEMY_DATABASE_URI"
        ]
        == "postgresql+psycopg://u@h/d"
    )


def test_settings_the_code_looked_up_but_nobody_set_are_real_now(app, client):
    """SUBSCRIBE_RATE_PER_IP from the environment limits the public form."""
    values = load(
        None,
        env={
            "APP_ENV": "testing",
            "SUBSCRIBE_RATE_PER_IP": "2/hour",
            "IMPORT_MAX_BYTES": "4096",
            "EMAIL_CHECK_DNS": "on",
        },
    )
    assert values["SUBSCRIBE_RATE_PER_IP"] == "2/hour"
    assert values["IMPORT_MAX_BYTES"] == 4096 and values["EMAIL_CHECK_DNS"] is True
    app.config["SUBSCRIBE_RATE_PER_IP"] = values["SUBSCRIBE_RATE_PER_IP"]
    codes = []
    for n in range(3):
        page = client.get("/subscribe")
        token = re.search(
            r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
        ).group(1)
        codes.append(
            client.post(
                "/subscribe",
                data={
                    "csrf_token": token,
                    "email": f"r{n}@example.org",
                    "name": "读者",
                    "groups": ["members"],
                },
                environ_base={"REMOTE_ADDR": "198.51.100.7"},
            ).status_code
        )
    assert codes[:2] != [429, 429] and codes[2] == 429


def test_development_generates_its_key_once_under_instance(tmp_path):
    first = config.instance_secret_key(tmp_path)
    assert len(first) >= 32 and config.instance_secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by its owner only
    assert config.BY_ENV["SECRET_KEY"].default is None  # no key lives in the source
    values = load(None, env={"APP_ENV": "development"})
    assert values["SECRET_KEY"] == config.instance_secret_key()  # the dev server's own key
