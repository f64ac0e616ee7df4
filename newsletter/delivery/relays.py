"""The relays' configuration: the relays a send goes through, their limits, and the pace
of each receiving domain.

`load(config)` reads `RELAYS_FILE` (TOML) or, without one, makes a single relay named
`default` from the `SMTP_*` settings:

    [[relay]]
    name = "exmail"                       # 腾讯企业邮
    host = "smtp.exmail.qq.com"
    port = 465
    security = "ssl"                      # none | starttls | ssl (implicit TLS)
    username = "weekly@assoc.org.cn"
    password_env = "EXMAIL_PASSWORD"      # or password = "…" (better kept out of the file)
    envelope = "fixed"                    # verp | fixed (the login: hosted relays demand it)
    per_minute = 30
    per_day = 1500                        # the daily quota
    order = 1                             # lower first; equal order shares by weight
    weight = 1

    [domains."163.com"]                   # overrides a shipped default
    per_minute = 50
    connections = 3

The pool that hands the relays out at these limits and paces is `relaypool.RelayPool`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.config import AppConfig, settle
from newsletter.delivery.ratelimit import Window

if TYPE_CHECKING:
    from newsletter.delivery.transport import SmtpSettings

ENVELOPES = ("verp", "fixed")
SECURITIES = ("none", "starttls", "ssl")
LIMIT_WINDOWS = {"per_second": 1.0, "per_minute": 60.0, "per_hour": 3600.0, "per_day": 86400.0}


class RelayConfigError(ValueError):
    """The relays file cannot be used; the message names the file, the relay and the field."""


@dataclass(frozen=True)
class Limits:
    per_second: int = 0
    per_minute: int = 0
    per_hour: int = 0
    per_day: int = 0

    def windows(self) -> list[Window]:
        return [
            Window(seconds, getattr(self, name))
            for name, seconds in LIMIT_WINDOWS.items()
            if getattr(self, name) > 0
        ]

    def sustained_per_second(self) -> float:
        """The steady rate the windows under a day allow (0: unlimited); the daily quota
        is a budget, not a pace."""
        rates = [w.limit / w.seconds for w in self.windows() if w.seconds < 86400]
        return min(rates) if rates else 0.0


@dataclass(frozen=True)
class Relay:
    name: str
    host: str
    port: int
    security: str = "none"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0
    envelope: str = "verp"
    envelope_sender: str = ""  # for `fixed`: the address every message goes out with
    limits: Limits = field(default_factory=Limits)
    order: int = 0
    weight: int = 1

    def __repr__(self) -> str:  # never the password
        return (
            f"Relay({self.name!r}, {self.host}:{self.port}, {self.security}, "
            f"envelope={self.envelope})"
        )

    def smtp_settings(self) -> SmtpSettings:
        """The transport's settings for this relay (delivery.transport.SmtpSettings)."""
        from newsletter.delivery.transport import SmtpSettings

        return SmtpSettings(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            security=self.security,
            ca_file=self.ca_file,
            timeout=self.timeout,
        )


@dataclass(frozen=True)
class Pace:
    """How fast one receiving domain is fed: messages per minute, messages in flight."""

    per_minute: int = 0
    connections: int = 0


# Shipped defaults (receivers' published or observed limits; see the README). NetEase asks
# for <= 3,000/hour per sender; QQ Mail and Outlook defer senders that go too fast.
DEFAULT_PACES: dict[str, Pace] = {
    "qq.com": Pace(40, 3),
    "foxmail.com": Pace(40, 3),
    "vip.qq.com": Pace(40, 3),
    "163.com": Pace(50, 3),
    "126.com": Pace(50, 3),
    "yeah.net": Pace(50, 3),
    "vip.163.com": Pace(50, 3),
    "sina.com": Pace(30, 2),
    "sina.cn": Pace(30, 2),
    "sohu.com": Pace(30, 2),
    "139.com": Pace(30, 2),
    "aliyun.com": Pace(60, 3),
    "gmail.com": Pace(100, 5),
    "outlook.com": Pace(60, 3),
    "hotmail.com": Pace(60, 3),
    "live.com": Pace(60, 3),
    "yahoo.com": Pace(60, 3),
}


@dataclass(frozen=True)
class RelayConfig:
    relays: tuple[Relay, ...]
    paces: dict[str, Pace]
    source: str = "SMTP_*"

    def relay(self, name: str) -> Relay:
        for relay in self.relays:
            if relay.name == name:
                return relay
        raise RelayConfigError(
            f"no relay named {name!r} (relays: {', '.join(r.name for r in self.relays)})"
        )


def load(config: AppConfig, env: Mapping[str, str] | None = None) -> RelayConfig:
    """The relays from RELAYS_FILE, or the single `default` relay of the SMTP_* settings."""
    env = os.environ if env is None else env
    config = settle(config)  # typed, with the one default of each setting (newsletter.config)
    path = config["RELAYS_FILE"]
    mail_from = parseaddr(config["MAIL_FROM"])[1]
    if not path:
        return RelayConfig((_default_relay(config, mail_from),), dict(DEFAULT_PACES))
    import tomllib  # only with a relays file: not in every send worker

    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise RelayConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RelayConfigError(f"{path}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"relay", "domains"}
    if unknown:
        raise RelayConfigError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))} "
            f'(expected [[relay]] and [domains."…"])'
        )
    entries = data.get("relay") or []
    if not isinstance(entries, list) or not entries:
        raise RelayConfigError(f"{path}: no [[relay]] entry")
    relays = [
        _relay_from(path, n, entry, env, mail_from, config) for n, entry in enumerate(entries, 1)
    ]
    names = [r.name for r in relays]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RelayConfigError(f"{path}: relay name(s) used twice: {', '.join(dupes)}")
    paces = dict(DEFAULT_PACES)
    domains = data.get("domains") or {}
    if not isinstance(domains, dict):
        raise RelayConfigError(f'{path}: [domains] must be a table of [domains."qq.com"]')
    for domain, values in domains.items():
        where = f'{path}: [domains."{domain}"]'
        if not isinstance(values, dict):
            raise RelayConfigError(f"{where}: must be a table")
        _only(where, values, {"per_minute", "connections"})
        paces[domain.lower()] = Pace(
            _int(where, values, "per_minute", 0), _int(where, values, "connections", 0)
        )
    return RelayConfig(tuple(relays), paces, source=path)


def _default_relay(config: AppConfig, mail_from: str) -> Relay:
    security = config["SMTP_SECURITY"] or ("starttls" if config["SMTP_STARTTLS"] else "none")
    return Relay(
        name="default",
        host=config["SMTP_HOST"],
        port=config["SMTP_PORT"],
        security=security,
        username=config["SMTP_USERNAME"] or None,
        password=config["SMTP_PASSWORD"] or None,
        ca_file=config["SMTP_CA_FILE"] or None,
        timeout=config["SMTP_TIMEOUT"],
        envelope=config["SMTP_ENVELOPE"],
        envelope_sender=_fixed_sender(config["SMTP_USERNAME"], mail_from),
        limits=Limits(per_second=config["RATE_PER_SECOND"], per_hour=config["RATE_PER_HOUR"]),
    )


def _fixed_sender(username: str | None, mail_from: str) -> str:
    # Hosted relays want the login as the envelope sender; else the From address.
    return username if username and "@" in username else mail_from


_RELAY_KEYS = {
    "name",
    "host",
    "port",
    "security",
    "username",
    "password",
    "password_env",
    "username_env",
    "ca_file",
    "timeout",
    "envelope",
    "envelope_sender",
    "order",
    "weight",
    *LIMIT_WINDOWS,
}


def _relay_from(
    path: str,
    n: int,
    entry: object,
    env: Mapping[str, str],
    mail_from: str,
    config: AppConfig,
) -> Relay:
    where = f"{path}: [[relay]] #{n}"
    if not isinstance(entry, dict):
        raise RelayConfigError(f"{where}: must be a table")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RelayConfigError(f"{where}: needs a name")
    where = f"{path}: relay {name!r}"
    _only(where, entry, _RELAY_KEYS)
    host = entry.get("host")
    if not isinstance(host, str) or not host.strip():
        raise RelayConfigError(f"{where}: needs a host")
    security = str(entry.get("security", "none")).lower()
    if security not in SECURITIES:
        raise RelayConfigError(
            f"{where}: security must be one of {', '.join(SECURITIES)}, not {security!r}"
        )
    port = _int(where, entry, "port", 465 if security == "ssl" else 25)
    if not 0 < port < 65536:
        raise RelayConfigError(f"{where}: port must be 1–65535, not {port}")
    envelope = str(entry.get("envelope", "verp")).lower()
    if envelope not in ENVELOPES:
        raise RelayConfigError(f"{where}: envelope must be verp or fixed, not {envelope!r}")
    username = _secret(where, entry, env, "username")
    password = _secret(where, entry, env, "password")
    sender = str(entry.get("envelope_sender") or _fixed_sender(username, mail_from))
    weight = _int(where, entry, "weight", 1)
    smtp_timeout: float = config["SMTP_TIMEOUT"]  # the relay's own, else the SMTP_* one
    if weight < 1:
        raise RelayConfigError(f"{where}: weight must be at least 1")
    return Relay(
        name=name.strip(),
        host=host.strip(),
        port=port,
        security=security,
        username=username,
        password=password,
        ca_file=entry.get("ca_file") or None,
        timeout=float(entry.get("timeout", smtp_timeout)),
        envelope=envelope,
        envelope_sender=sender,
        limits=Limits(**{k: _int(where, entry, k, 0) for k in LIMIT_WINDOWS}),
        order=_int(where, entry, "order", 0),
        weight=weight,
    )


def _secret(where: str, entry: dict, env: Mapping[str, str], key: str) -> str | None:
    var = entry.get(f"{key}_env")
    if var:
        if var not in env:
            raise RelayConfigError(f"{where}: {key}_env names {var}, which is not set")
        return env[var]
    value = entry.get(key)
    return str(value) if value not in (None, "") else None


def _int(where: str, entry: dict, key: str, default: int) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RelayConfigError(f"{where}: {key} must be a whole number ≥ 0, not {value!r}")
    return value


def _only(where: str, entry: dict, allowed: set[str]) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise RelayConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()
