"""Settings, read from the environment with safe development defaults.

Every setting can be overridden by an environment variable of the same name, or by the
mapping passed to `create_app(config)` (tests do that).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def from_environment(env: os._Environ | dict | None = None) -> dict:
    """Build the Flask config mapping from environment variables."""
    env = os.environ if env is None else env
    return {
        "SECRET_KEY": env.get("SECRET_KEY", "dev-only-secret-change-me"),
        "SQLALCHEMY_DATABASE_URI": _database_url(
            env.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'newsletter.db'}")
        ),
        "REDIS_URL": env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        # Queue names are prefixed so that several instances (or test runs) can share a Redis.
        "QUEUE_PREFIX": env.get("QUEUE_PREFIX", "newsletter"),
        "SMTP_HOST": env.get("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": int(env.get("SMTP_PORT", "8025")),
        "SMTP_USERNAME": env.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": _bool(env.get("SMTP_STARTTLS"), False),  # older: SMTP_SECURITY=starttls
        # none | starttls | ssl (implicit TLS, port 465); certificates are always verified,
        # SMTP_CA_FILE adds a trust anchor (a private relay's CA).
        "SMTP_SECURITY": env.get("SMTP_SECURITY", ""),
        "SMTP_CA_FILE": env.get("SMTP_CA_FILE", ""),
        "SMTP_TIMEOUT": float(env.get("SMTP_TIMEOUT", "30")),
        # The default relay's envelope sender: verp (per-delivery bounce address) or fixed
        # (the login / From address, as hosted relays require).
        "SMTP_ENVELOPE": env.get("SMTP_ENVELOPE", "verp"),
        # Several named relays with limits and quotas (TOML, see delivery/relays.py);
        # empty: the SMTP_* settings are the one relay.
        "RELAYS_FILE": env.get("RELAYS_FILE", ""),
        # The recipient `relays check` offers at RCPT (then RSET: nothing is sent);
        # empty: the MAIL_FROM address.
        "RELAY_CHECK_RCPT": env.get("RELAY_CHECK_RCPT", ""),
        # Every send runs the relay check before its first message and does not start when
        # every relay fails it (off: only for a relay you cannot probe).
        "RELAY_CHECK_BEFORE_SEND": _bool(env.get("RELAY_CHECK_BEFORE_SEND"), True),
        "MAIL_FROM": env.get("MAIL_FROM", "行业动态周报 <weekly@localhost>"),
        "BASE_URL": env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "LIST_ID": env.get("LIST_ID", "weekly.newsletter.localhost"),
        "BATCH_SIZE": int(env.get("BATCH_SIZE", "200")),
        # Transient SMTP failures retry after RETRY_BASE_SECONDS * 2^(attempt-1), capped and
        # jittered, for RETRY_WINDOW_HOURS after the first failure; then the delivery fails.
        "RETRY_WINDOW_HOURS": float(env.get("RETRY_WINDOW_HOURS", "48")),
        "RETRY_BASE_SECONDS": float(env.get("RETRY_BASE_SECONDS", "30")),
        "RETRY_MAX_SECONDS": float(env.get("RETRY_MAX_SECONDS", "3600")),
        # Messages per second / per hour across all workers (0: no limit).
        "RATE_PER_SECOND": int(env.get("RATE_PER_SECOND", "0")),
        "RATE_PER_HOUR": int(env.get("RATE_PER_HOUR", "0")),
        # DKIM signing, when a private key file is configured.
        "DKIM_SELECTOR": env.get("DKIM_SELECTOR", ""),
        "DKIM_DOMAIN": env.get("DKIM_DOMAIN", ""),
        "DKIM_KEY_FILE": env.get("DKIM_KEY_FILE", ""),
        # mailto: address offered in List-Unsubscribe beside the one-click URL.
        "UNSUBSCRIBE_MAILTO": env.get("UNSUBSCRIBE_MAILTO", ""),
        # Tracking: opens (pixel) and clicks (signed redirects); off = nothing recorded.
        "TRACKING_ENABLED": _bool(env.get("TRACKING_ENABLED"), True),
        "SOFT_BOUNCE_WEEKS": int(env.get("SOFT_BOUNCE_WEEKS", "3")),
        "BOT_CLICK_SECONDS": float(env.get("BOT_CLICK_SECONDS", "2")),
        "BOUNCE_WEBHOOK_SECRET": env.get("BOUNCE_WEBHOOK_SECRET", ""),
        # Sending services' event webhooks (/webhooks/directmail, /webhooks/sendcloud):
        # the shared secret each signs with (empty: that webhook answers 404).
        "DIRECTMAIL_WEBHOOK_SECRET": env.get("DIRECTMAIL_WEBHOOK_SECRET", ""),
        "SENDCLOUD_WEBHOOK_KEY": env.get("SENDCLOUD_WEBHOOK_KEY", ""),
        "FEEDBACK_ADDRESSES": env.get("FEEDBACK_ADDRESSES", ""),
        # The fixed envelope sender's mailbox, read for bounces and unsubscribe mail:
        # imaps://user:pass@host:993/INBOX or pop3s://user:pass@host:995 (empty: off).
        "BOUNCE_MAILBOX_URL": env.get("BOUNCE_MAILBOX_URL", ""),
        "BOUNCE_MAILBOX_CA_FILE": env.get("BOUNCE_MAILBOX_CA_FILE", ""),
        "BOUNCE_MAILBOX_FOLDER": env.get("BOUNCE_MAILBOX_FOLDER", "Processed"),
        "BOUNCE_POLL_SECONDS": float(env.get("BOUNCE_POLL_SECONDS", "300")),
        "BOUNCE_POLL_LIMIT": int(env.get("BOUNCE_POLL_LIMIT", "500")),
        # A worker's lease on its batch lasts this long and is renewed as it works; the sweep
        # takes back only expired leases. Keep it well above SMTP_TIMEOUT.
        "LEASE_SECONDS": float(env.get("LEASE_SECONDS", "120")),
        # The circuit breaker: this many failures of the same kind in a row pause the send.
        "BREAKER_THRESHOLD": int(env.get("BREAKER_THRESHOLD", "10")),
        # A delivery whose worker died while handing it over: resend (same Message-ID) or hold.
        "IN_DOUBT_POLICY": env.get("IN_DOUBT_POLICY", "resend"),
        # The regular edition waits at most this long for deferred priority copies.
        "PRIORITY_GRACE_MINUTES": float(env.get("PRIORITY_GRACE_MINUTES", "10")),
        # The dev mailbox page reads the sink's maildir; empty disables the page.
        "DEV_MAILBOX_DIR": env.get("DEV_MAILBOX_DIR", ""),
        # Behind a reverse proxy: how many proxies set X-Forwarded-For/-Proto (0: none), so
        # per-IP rate limits and generated URLs see the reader, not the proxy.
        "PROXY_COUNT": int(env.get("PROXY_COUNT", "0")),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": env.get("TIMEZONE", "Asia/Shanghai"),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    }


def _database_url(url: str) -> str:
    # psycopg 3 is the driver we ship; plain postgresql:// URLs would ask for psycopg2.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url
