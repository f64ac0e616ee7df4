"""Every setting in one place: read from the environment, typed, validated at start-up.

Each setting is ONE declaration in `SETTINGS` — the environment variable, how to parse it,
its one default (and the Flask config key when it differs from the variable's name):

    Setting("RETRY_WINDOW_HOURS", integer(min=1), 24),

`load()` reads them all, from the mapping given to `create_app(config)` (tests) first, then
the environment, then the default; a bad value stops the app with a message naming the
variable (`SMTP_PORT: 'abc' is not a whole number`), all problems at once. Code reads
`app.config["NAME"]` and never writes a second default. `APP_ENV` says the mode:
`production` (the default, so a deployment that forgets it is checked), `development`
(`scripts/run`) or `testing` (the tests). In production `production_problems()` refuses unsafe
settings; elsewhere a missing `SECRET_KEY` is generated once and kept under instance/.
The README's configuration table lists exactly these variables (tests/test_config.py).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout (site-packages if installed)
# What code that reads settings takes: `app.config` (names to values of many types), or a
# plain mapping (worker start-up, the pure modules' tests).
AppConfig = Mapping[str, Any]


def instance_dir(env: Mapping | None = None) -> Path:
    """Where the SQLite database, the dev key and the dev mailbox live: $INSTANCE_DIR, else
    the checkout's instance/ when run from the repository, else ./instance — never inside
    site-packages, where an installed wheel sits."""
    from newsletter.resources import is_source_checkout

    env = os.environ if env is None else env
    chosen = (env.get("INSTANCE_DIR") or "").strip()
    if chosen:
        return Path(chosen).expanduser().resolve()
    return (PROJECT_ROOT if is_source_checkout() else Path.cwd()) / "instance"


INSTANCE_DIR = instance_dir()

PRODUCTION, DEVELOPMENT, TESTING = "production", "development", "testing"
MIN_SECRET_KEY_LENGTH = 32

log = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """The settings cannot start the app; `problems` holds one message per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "the app cannot start with these settings:\n" + "\n".join(f"  - {p}" for p in problems)
        )


# --- parsers: each takes the raw value (a string from the environment, or an already typed
# value from create_app's mapping) and returns the typed value or raises ValueError(reason).


def integer(min: int | None = 0, max: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a whole number")
        try:
            number = int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
        _bounds(number, min, max)
        return number

    parse.kind = "int"  # type: ignore[attr-defined]  # shown in errors
    return parse


def number(min: float | None = 0, max: float | None = None) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            result = float(str(value).strip()) if not isinstance(value, (int, float)) else value
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        _bounds(result, min, max)
        return float(result)

    parse.kind = "number"  # type: ignore[attr-defined]  # shown in errors
    return parse


def _bounds(value, low, high) -> None:
    if low is not None and value < low:
        raise ValueError(f"{value!r} is below the minimum {low}")
    if high is not None and value > high:
        raise ValueError(f"{value!r} is above the maximum {high}")


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text_value = str(value).strip().lower()
    if text_value in _TRUE:
        return True
    if text_value in _FALSE:
        return False
    raise ValueError(f"{value!r} is not on/off (1/0, true/false, yes/no)")


boolean.kind = "bool"  # type: ignore[attr-defined]  # shown in errors


def text(value: Any) -> str:
    return str(value)


def choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        result = str(value).strip().lower()
        if result not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return result

    return parse


def url(*schemes: str, strip_slash: bool = False) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        result = str(value).strip()
        parts = urlsplit(result)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            raise ValueError(
                f"{value!r} is not a URL starting with " + " or ".join(f"{s}://" for s in schemes)
            )
        return result.rstrip("/") if strip_slash else result

    return parse


def auto_boolean(value: Any) -> str:
    """'auto', or on/off spelled any way `boolean` accepts: 'auto' | 'on' | 'off'."""
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        return "on" if boolean(value) else "off"
    except ValueError:
        raise ValueError(f"{value!r} is not auto, on or off") from None


def timezone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value).strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone name (like Asia/Shanghai)") from None
    return str(value).strip()


def rate(value: Any) -> str:
    """'20/hour', '3/3600': kept as the spec newsletter.ratelimit reads."""
    from newsletter.ratelimit import parse_rate

    parse_rate(str(value))
    return str(value).strip()


def database_url(value: Any) -> str:
    result = str(value).strip()
    # psycopg 3 is the driver we ship; plain postgresql:// URLs would ask for psycopg2.
    if result.startswith("postgres://"):
        result = "postgresql://" + result[len("postgres://") :]
    if result.startswith("postgresql://"):
        result = "postgresql+psycopg://" + result[len("postgresql://") :]
    if not re.match(r"^(sqlite|postgresql\+psycopg)://", result):
        raise ValueError(f"{value!r} is neither sqlite:///… nor postgresql://…")
    return result


def path(value: Any) -> str:
    return str(value).strip()


@dataclass(frozen=True)
class Setting:
    env: str  # the environment variable (documented in the README)
    parse: Callable[[Any], Any]
    default: Any  # the one default; None: unset
    key: str | None = None  # Flask config key, when not the variable's name

    @property
    def config_key(self) -> str:
        return self.key or self.env


_MB = 1024 * 1024
SETTINGS: tuple[Setting, ...] = (
    Setting("APP_ENV", choice(PRODUCTION, DEVELOPMENT, TESTING), PRODUCTION),
    Setting("SECRET_KEY", text, None),
    Setting("FLASK_DEBUG", boolean, False, key="DEBUG"),
    Setting("INSTANCE_DIR", path, str(INSTANCE_DIR)),  # read once, at import (instance_dir)
    Setting(
        "DATABASE_URL",
        database_url,
        f"sqlite:///{INSTANCE_DIR / 'newsletter.db'}",
        key="SQLALCHEMY_DATABASE_URI",
    ),
    Setting("REDIS_URL", url("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0"),
    Setting("REDIS_CA_FILE", path, ""),
    Setting("QUEUE_PREFIX", text, "newsletter"),
    Setting("SMTP_HOST", text, "127.0.0.1"),
    Setting("SMTP_PORT", integer(1, 65535), 8025),
    Setting("SMTP_USERNAME", text, None),
    Setting("SMTP_PASSWORD", text, None),
    Setting("SMTP_STARTTLS", boolean, False),
    Setting("SMTP_TIMEOUT", number(min=0.1), 30.0),
    Setting("SMTP_SECURITY", choice("none", "starttls", "ssl"), ""),
    Setting("SMTP_CA_FILE", path, ""),
    Setting("SMTP_ENVELOPE", choice("verp", "fixed"), "verp"),
    Setting("RELAYS_FILE", path, ""),
    Setting("RELAY_CHECK_RCPT", text, ""),
    Setting("RELAY_CHECK_BEFORE_SEND", boolean, True),
    Setting("MAIL_FROM", text, "行业动态周报 <weekly@localhost>"),
    Setting("LIST_ID", text, "weekly.newsletter.localhost"),
    Setting("BASE_URL", url("http", "https", strip_slash=True), "http://127.0.0.1:5000"),
    Setting("BATCH_SIZE", integer(min=1), 200),
    Setting("RATE_PER_SECOND", integer(min=0), 0),
    Setting("RATE_PER_HOUR", integer(min=0), 0),
    Setting("RETRY_BASE_SECONDS", number(min=0), 30.0),
    Setting("RETRY_MAX_SECONDS", number(min=0), 3600.0),
    Setting("RETRY_WINDOW_HOURS", number(min=0), 48.0),
    Setting("LEASE_SECONDS", number(min=1), 120.0),
    Setting("BREAKER_THRESHOLD", integer(min=0), 10),
    Setting("IN_DOUBT_POLICY", choice("resend", "hold"), "resend"),
    Setting("PRIORITY_GRACE_MINUTES", number(min=0), 10.0),
    Setting("SENT_MARK_EVERY", integer(min=1, max=1000), 20),
    Setting("SENT_MARK_MAX_MS", number(min=1, max=60000), 250.0),
    Setting("DKIM_SELECTOR", text, ""),
    Setting("DKIM_DOMAIN", text, ""),
    Setting("DKIM_KEY_FILE", path, ""),
    Setting("UNSUBSCRIBE_MAILTO", text, ""),
    Setting("TIMEZONE", timezone, "Asia/Shanghai", key="BABEL_DEFAULT_TIMEZONE"),
    Setting("TRACKING_ENABLED", boolean, True),
    Setting("BOT_CLICK_SECONDS", number(min=0), 2.0),
    Setting("SOFT_BOUNCE_WEEKS", integer(min=1), 3),
    Setting("BOUNCE_WEBHOOK_SECRET", text, ""),
    Setting("DIRECTMAIL_WEBHOOK_SECRET", text, ""),
    Setting("SENDCLOUD_WEBHOOK_KEY", text, ""),
    Setting("FEEDBACK_ADDRESSES", text, ""),
    Setting("BOUNCE_MAILBOX_URL", url("imaps", "imap", "pop3s", "pop3"), ""),
    Setting("BOUNCE_MAILBOX_CA_FILE", path, ""),
    Setting("BOUNCE_MAILBOX_FOLDER", text, "Processed"),
    Setting("BOUNCE_POLL_SECONDS", number(min=1), 300.0),
    Setting("BOUNCE_POLL_LIMIT", integer(min=1), 500),
    Setting("BOUNCE_MAX_BYTES", integer(min=1024), 2 * _MB),
    Setting("SUBSCRIBE_RATE_PER_IP", rate, "20/hour"),
    Setting("SUBSCRIBE_RATE_PER_ADDRESS", rate, "3/hour"),
    Setting("LOGIN_RATE_PER_IP", rate, "20/600"),
    Setting("PASSWORD_RESET_RATE_PER_IP", rate, "5/hour"),
    Setting("PASSWORD_RESET_RATE_PER_EMAIL", rate, "3/hour"),
    Setting("TEST_SEND_RATE", rate, "20/hour"),
    Setting("EMAIL_CHECK_DNS", boolean, False),
    Setting("IMPORT_MAX_BYTES", integer(min=1024), 10 * _MB),  # a .docx or PDF with fonts
    Setting("SUBSCRIBER_IMPORT_MAX_BYTES", integer(min=1024), 20 * _MB),
    Setting("SUBSCRIBER_IMPORT_INLINE_ROWS", integer(min=0), 500),
    Setting("MAX_CONTENT_LENGTH", integer(min=1024), 32 * _MB),
    Setting("DEV_MAILBOX_DIR", path, ""),
    Setting("PROXY_COUNT", integer(min=0, max=5), 0),
    Setting("COOKIE_SECURE", auto_boolean, "auto"),
)
BY_ENV = {s.env: s for s in SETTINGS}

# Fixed, not settings: zh-CN is the source language, and the engine pings stale connections.
FIXED = {"BABEL_DEFAULT_LOCALE": "zh_CN", "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}}


def load(overrides: Mapping | None = None, env: Mapping | None = None) -> dict:
    """The Flask config mapping: overrides (by config key) > environment > default.
    ConfigError naming every variable whose value is bad."""
    env = os.environ if env is None else env
    overrides = dict(overrides or {})
    if "APP_ENV" not in overrides and "APP_ENV" not in env and overrides.get("TESTING"):
        overrides["APP_ENV"] = TESTING  # create_app({"TESTING": True}) is explicit enough
    values, problems = dict(FIXED), []
    for setting in SETTINGS:
        if setting.config_key in overrides:
            raw = overrides.pop(setting.config_key)
        else:
            raw = env.get(setting.env)
        if isinstance(raw, str) and raw.strip() == "":
            raw = None  # VAR= in a unit file means "not set"
        if raw is None:
            values[setting.config_key] = setting.default
            continue
        try:
            values[setting.config_key] = setting.parse(raw)
        except ValueError as exc:
            problems.append(f"{setting.env}: {exc}")
    values.update(overrides)  # Flask's own keys (TESTING, SERVER_NAME, ...) pass through
    if problems:
        raise ConfigError(problems)
    if values["APP_ENV"] == PRODUCTION:
        problems = production_problems(values)
        if problems:
            raise ConfigError(problems)
    elif not values.get("SECRET_KEY"):
        values["SECRET_KEY"] = instance_secret_key()
    return values


def settle(mapping: Mapping) -> dict:
    """`mapping` with every declared setting present and typed (a default where missing, a
    string parsed): for code that takes a plain mapping (pure modules, their unit tests)."""
    values = dict(mapping)
    for setting in SETTINGS:
        raw = values.get(setting.config_key)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            values[setting.config_key] = setting.default
        elif isinstance(raw, str):
            try:
                values[setting.config_key] = setting.parse(raw)
            except ValueError as exc:
                raise ConfigError([f"{setting.env}: {exc}"]) from None
    return values


def production_problems(config: Mapping) -> list[str]:
    """One message per unsafe setting; production refuses to start while any remains."""
    problems = []
    key = config.get("SECRET_KEY") or ""
    if not key:
        problems.append(
            "SECRET_KEY is not set: it signs sessions and every reader link. Set "
            f"it to at least {MIN_SECRET_KEY_LENGTH} random characters, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"SECRET_KEY is {len(key)} characters long; production needs at least "
            f"{MIN_SECRET_KEY_LENGTH} random ones"
        )
    if config.get("DEV_MAILBOX_DIR"):
        problems.append(
            "DEV_MAILBOX_DIR is set: the development mailbox shows every message "
            "sent (password resets included); unset it in production"
        )
    if config.get("DEBUG"):
        problems.append(
            "FLASK_DEBUG is on: the debugger runs code for whoever sees an error "
            "page; turn it off in production"
        )
    if not str(config.get("BASE_URL", "")).startswith("https://"):
        problems.append(
            f"BASE_URL is {config.get('BASE_URL')!r}: readers' links carry their "
            "tokens, so production needs https://"
        )
    if config.get("COOKIE_SECURE") == "off":
        problems.append("COOKIE_SECURE is off: session cookies would travel over plain http")
    redis = urlsplit(str(config.get("REDIS_URL", "")))
    if not redis.password and "password=" not in redis.query:
        problems.append(
            "REDIS_URL has no password: whoever reaches Redis could queue or alter "
            "work; set `requirepass` in Redis and put it in the URL "
            "(redis://:PASSWORD@host:6379/0, or rediss:// for TLS)"
        )
    return problems


def instance_secret_key(directory: Path | None = None) -> str:
    """Development and tests: a random key made once and kept in instance/secret_key
    (never in the source), so sessions and links survive a restart of the dev server."""
    directory = directory or INSTANCE_DIR
    file = directory / "secret_key"
    if not file.exists():
        directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    for _ in range(50):  # the other process may still be writing it
        key = file.read_text().strip()
        if key:
            return key
        import time

        time.sleep(0.02)
    raise ConfigError([f"{file} is empty: delete it and start again"])


def from_environment(env: Mapping | None = None) -> dict:
    """The settings from the environment alone (kept for callers of the old name)."""
    return load(None, env)
