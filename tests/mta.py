"""A private, real Postfix (Debian's package) for tests, with Dovecot beside it.

`PostfixRig(...).start()` runs one Postfix instance in a directory of its own (config,
queue, data, log, mail) on free loopback ports, nothing shared with the machine's default
instance (there is none: Debian's "No configuration"; as root `postfix -c DIR` needs no
`alternate_config_directories`). A private Dovecot beside it is Postfix's SASL service
(passwd-file) and, when asked, an IMAP/POP3 server over the same Maildirs.

What it offers:
* `port`: submission, plain with STARTTLS offered; `smtps_port`: implicit TLS (wrapper
  mode). Both require AUTH (PLAIN/LOGIN) to send; the certificate is signed by a CA the rig
  makes (`ca_file`, to trust), for `localhost` and 127.0.0.1.
* sender-login checks (`smtpd_sender_login_maps` + `reject_sender_login_mismatch`): a
  login may only use its own address as envelope sender (unless `sender_login=False`:
  then any sender, and DSNs to weekly+ext@ reach weekly), so a VERP sender is refused with
  `553 5.7.1 … Sender address rejected: not owned by user …`, at MAIL FROM (delay_reject
  off, as hosted relays answer) or at RCPT (`delay_reject=True`, Postfix's default).
* a per-client message-rate limit (anvil; loopback is not exempted): `rate_limit=(N, secs)`.
* the domain `test.example`: every local part is a mailbox (a Maildir made on first
  delivery, `messages(user)`) except those starting with `nobody` or `unknown`, which are refused at RCPT (`unknown="reject"`: `550 5.1.1 … User unknown in
  virtual mailbox table`) or accepted and bounced afterwards (`unknown="bounce"`), which
  sends a real Postfix DSN to the envelope sender (to a local user's Maildir, or by SMTP
  to `bounce_relay=(host, port)` for addresses of `bounce_domain`).
* `discard=True`: accept every recipient of any domain and throw the mail away (a fast sink
  for benchmarks); `sent_count()` counts the recipients taken.

Used as pytest fixtures from tests/conftest.py (`postfix`, `postfix_factory`).
"""

from __future__ import annotations

import email
import email.policy
import os
import pwd
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import pytest

from tests.mta_parts import (
    POSTFIX_SBIN,
    SERVICES,
    RigError,
    end_process,
    free_port,
    installed,
    kill_leftovers,
    make_certificates,
    new_root,
    run,
    start_dovecot,
    wait_port,
)

DOMAIN = "test.example"
SENDER = "weekly"  # the login and its own address weekly@test.example
PASSWORD = "relay-test-password"
UNKNOWN_PREFIXES = ("nobody", "unknown")  # local parts that are not mailboxes
READERS_BOX = "_readers"  # the Maildir every non-login mailbox shares
DEBIAN_PACKAGES = (
    "postfix",
    "dovecot-imapd",
    "dovecot-pop3d",
    "sasl2-bin",
    "libsasl2-modules",
    "openssl",
)


@dataclass
class PostfixRig:
    """One private Postfix (+ Dovecot) instance; see the module docstring for the options."""

    root: Path
    unknown: str = "reject"  # "reject" at RCPT, or "bounce" (accept, then DSN)
    rate_limit: tuple[int, int] | None = None  # (messages, per seconds) per client
    delay_reject: bool = False  # sender refusals at MAIL FROM (False) or RCPT
    sender_login: bool = True  # False: any envelope sender (VERP) is accepted
    discard: bool = False  # accept anything, keep nothing
    imap: bool = False  # Dovecot also serves IMAP/POP3 on the Maildirs
    bounce_domain: str = "bounces.test"  # DSNs to this domain go to bounce_relay
    bounce_relay: tuple[str, int] | None = None
    logins: dict[str, str] = field(default_factory=lambda: {SENDER: PASSWORD})
    extra_main: dict[str, str] = field(default_factory=dict)

    host: str = "127.0.0.1"
    domain: str = DOMAIN
    port: int = 0
    smtps_port: int = 0
    imap_port: int = 0
    pop3_port: int = 0
    _master: subprocess.Popen | None = None
    _dovecot: subprocess.Popen | None = None

    # --- paths ---------------------------------------------------------------------------
    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    @property
    def log_file(self) -> Path:
        return self.root / "maillog"

    @property
    def ca_file(self) -> Path:
        return self.root / "tls" / "ca.pem"

    @property
    def auth_socket(self) -> Path:
        return self.root / "dovecot" / "auth-postfix"

    def address(self, user: str) -> str:
        return f"{user}@{self.domain}"

    @property
    def sender(self) -> str:
        """The envelope sender the login owns (a 'fixed' envelope)."""
        return self.address(SENDER)

    @property
    def login(self) -> tuple[str, str]:
        return SENDER, self.logins[SENDER]

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> PostfixRig:
        if os.geteuid() != 0:
            raise RigError("the Postfix rig runs Postfix's master and Dovecot: it needs root")
        if not installed():
            raise RigError(
                "postfix/dovecot/openssl are not installed: run scripts/test once "
                f"(it installs {' '.join(DEBIAN_PACKAGES)})"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        # Postfix's daemons open their files as user postfix: every directory above must
        # be searchable by it (pytest's tmp_path is not: 0700).
        self.root.chmod(0o755)
        for parent in self.root.parents:
            if not parent.stat().st_mode & 0o001:
                raise RigError(
                    f"{parent} is not searchable by user postfix: put the rig "
                    "elsewhere (new_root() makes one under /tmp)"
                )
        self.port, self.smtps_port = free_port(), free_port()
        if self.imap:
            self.imap_port, self.pop3_port = free_port(), free_port()
        make_certificates(self.root / "tls")
        self._prepare_mail()
        self._dovecot = start_dovecot(self)
        self._write_postfix_config()
        run(POSTFIX_SBIN, "-c", str(self.config_dir), "check")
        with open(self.root / "master.out", "ab") as out:
            self._master = subprocess.Popen(
                [POSTFIX_SBIN, "-c", str(self.config_dir), "start-fg"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_port(self.port, what="postfix submission")
            wait_port(self.smtps_port, what="postfix smtps")
        except RigError as exc:
            self.stop()
            raise RigError(f"{exc}\n{self.log()[-3000:]}\n{self._master_out()}") from None
        return self

    def stop(self) -> None:
        if self._master is not None:
            subprocess.run(
                [POSTFIX_SBIN, "-c", str(self.config_dir), "stop"],
                check=False,
                capture_output=True,
                timeout=30,
            )
            end_process(self._master)
            self._master = None
        if self._dovecot is not None:
            end_process(self._dovecot)
            self._dovecot = None
        kill_leftovers(self.root, self.config_dir)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _master_out(self) -> str:
        path = self.root / "master.out"
        return path.read_text("utf-8", "replace")[-2000:] if path.exists() else ""

    # --- configuration -------------------------------------------------------------------
    def owner(self) -> tuple[int, int]:
        pw = pwd.getpwnam("postfix")
        return pw.pw_uid, pw.pw_gid

    def _prepare_mail(self) -> None:
        uid, gid = self.owner()
        for sub in ("", self.domain):
            path = self.mail_dir / sub
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, uid, gid)

    def _write_postfix_config(self) -> None:
        etc, q, data = self.config_dir, self.root / "queue", self.root / "data"
        for path in (etc, q, data):
            path.mkdir(parents=True, exist_ok=True)
        uid, gid = self.owner()
        os.chown(data, uid, gid)
        # The logins have Maildirs of their own; every other local part is a mailbox too
        # (virtual(8) allows no regexp substitution, so they share READERS_BOX and are told
        # apart by Delivered-To), except those starting with one of UNKNOWN_PREFIXES.
        # Tests pick fresh names and never see each other's mail.
        (etc / "vmailbox").write_text(
            "".join(f"{self.address(login)} {self.domain}/{login}/\n" for login in self.logins)
        )
        dom = re.escape(self.domain)
        (etc / "vreaders").write_text(
            "".join(
                f"/^{re.escape(login)}\\+[^@]*@{dom}$/ {self.domain}/{login}/\n"
                for login in self.logins
            )
            + f"if !/^({'|'.join(UNKNOWN_PREFIXES)})/\n"
            f"/@{dom}$/ {self.domain}/{READERS_BOX}/\n"
            "endif\n"
        )
        (etc / "senders").write_text(
            "".join(f"{self.address(login)} {login}\n" for login in self.logins)
        )
        main = {
            "compatibility_level": "3.6",
            "queue_directory": str(q),
            "data_directory": str(data),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": f"mta.{self.domain}",
            "mydomain": self.domain,
            "myorigin": self.domain,
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "maillog_file": str(self.log_file),
            "maillog_file_prefixes": str(self.root),  # default allows /var and /dev/stdout only
            "smtputf8_enable": "no",
            # with a delimiter Postfix would find weekly+b12-sig@ owned by weekly; hosted
            # relays do not, so the strict rig has none
            "recipient_delimiter": "" if self.sender_login else "+",
            "virtual_mailbox_domains": self.domain,
            "virtual_mailbox_base": str(self.mail_dir),
            "virtual_mailbox_maps": f"texthash:{etc / 'vmailbox'}, regexp:{etc / 'vreaders'}",
            "virtual_uid_maps": f"static:{uid}",
            "virtual_gid_maps": f"static:{gid}",
            "smtpd_sasl_type": "dovecot",
            "smtpd_sasl_path": str(self.auth_socket),
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_security_options": "noanonymous",
            "smtpd_tls_auth_only": "no",
            "smtpd_tls_cert_file": str(self.root / "tls" / "server.pem"),
            "smtpd_tls_key_file": str(self.root / "tls" / "server.key"),
            "smtpd_tls_security_level": "may",
            "smtp_tls_security_level": "none",
            "smtpd_sender_login_maps": f"texthash:{etc / 'senders'}",
            "smtpd_delay_reject": "yes" if self.delay_reject else "no",
            "smtpd_sender_restrictions": "reject_sender_login_mismatch, permit_sasl_authenticated, reject",
            "smtpd_relay_restrictions": "permit_sasl_authenticated, reject",
            "smtpd_recipient_restrictions": "",
            # loopback clients are exempt from anvil limits by default ($mynetworks)
            "smtpd_client_event_limit_exceptions": "",
            "smtpd_client_connection_count_limit": "100",
            "smtpd_error_sleep_time": "0s",  # tests need no tarpit
            # bounces come back fast: a test waits seconds, not days
            "maximal_queue_lifetime": "1h",
            "bounce_queue_lifetime": "1h",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "delay_warning_time": "0h",
            "smtp_connect_timeout": "5s",
            "disable_dns_lookups": "yes",
            "smtp_host_lookup": "native",
            "default_transport": "error:no mail leaves the test rig",
            "relay_transport": "error:no mail leaves the test rig",
        }
        if not self.sender_login:
            main["smtpd_sender_restrictions"] = "permit_sasl_authenticated, reject"
        if self.rate_limit:
            count, seconds = self.rate_limit
            main["smtpd_client_message_rate_limit"] = str(count)
            main["anvil_rate_time_unit"] = f"{seconds}s"
        if self.unknown == "bounce":
            main["smtpd_reject_unlisted_recipient"] = "no"
        elif self.unknown != "reject":
            raise RigError(f"unknown must be 'reject' or 'bounce', not {self.unknown!r}")
        if self.bounce_relay:
            host, port = self.bounce_relay
            (etc / "transport").write_text(f"{self.bounce_domain} smtp:[{host}]:{port}\n")
            main["transport_maps"] = f"texthash:{etc / 'transport'}"
        if self.discard:
            gone = "discard:discarded by the test rig"  # the text the log shows
            main.update(
                {
                    "smtpd_reject_unlisted_recipient": "no",
                    "virtual_transport": gone,
                    "default_transport": gone,
                    "relay_transport": gone,
                }
            )
        main.update(self.extra_main)
        (etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in main.items()))
        smtpd = "inet  n       -       n       -       -       smtpd"
        (etc / "master.cf").write_text(
            f"127.0.0.1:{self.port} {smtpd}\n"
            f"127.0.0.1:{self.smtps_port} {smtpd}\n  -o smtpd_tls_wrappermode=yes\n" + SERVICES
        )

    # --- looking at what happened --------------------------------------------------------
    def smtp_config(self, security: str = "starttls") -> dict[str, object]:
        """App settings that send through this rig: security none, starttls or ssl."""
        port = self.smtps_port if security == "ssl" else self.port
        return {
            "SMTP_HOST": self.host,
            "SMTP_PORT": port,
            "SMTP_USERNAME": self.login[0],
            "SMTP_PASSWORD": self.login[1],
            "SMTP_STARTTLS": security == "starttls",
            "SMTP_SECURITY": security,
            "SMTP_CA_FILE": str(self.ca_file),
        }

    def log(self) -> str:
        return self.log_file.read_text("utf-8", "replace") if self.log_file.exists() else ""

    def log_count(self, needle: str) -> int:
        return sum(needle in line for line in self.log().splitlines())

    def _files(self, box: str) -> list[Path]:
        path = self.mail_dir / self.domain / box
        files = [
            p
            for sub in ("new", "cur")
            if (path / sub).is_dir()
            for p in (path / sub).iterdir()
            if p.is_file()
        ]
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def raw_messages(self, user: str) -> list[bytes]:
        """The bytes of every message delivered to `user` (a local part or an address of
        the test domain; a +extension is ignored), oldest first."""
        local = user.split("@", 1)[0].lower()
        if local in self.logins:
            return [p.read_bytes() for p in self._files(local)]
        out = []
        for p in self._files(READERS_BOX):
            raw = p.read_bytes()
            head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
            m = re.search(rb"^Delivered-To:\s*([^@\s+]+)", head, re.MULTILINE | re.IGNORECASE)
            if m and m.group(1).decode().lower() == local:
                out.append(raw)
        return out

    def sent_count(self) -> int:
        """Recipients Postfix finished with status=sent (delivered, or discarded)."""
        return self.log_count(" status=sent (")

    def messages(self, user: str) -> list[email.message.EmailMessage]:
        """Every message delivered to `user` (see raw_messages), parsed."""
        return [
            email.message_from_bytes(raw, policy=email.policy.default)
            for raw in self.raw_messages(user)
        ]

    def delivered_count(self) -> int:
        """How many messages reached any mailbox of the test domain (readers and logins)."""
        root = self.mail_dir / self.domain
        return (
            sum(len(self._files(p.name)) for p in root.iterdir() if p.is_dir())
            if root.is_dir()
            else 0
        )

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "mail"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.log()[-3000:]}")

    def wait_for_messages(self, user: str, count: int, timeout: float = 30.0):
        return self.wait_for(
            lambda: (m := self.messages(user)) and len(m) >= count and m,
            timeout,
            f"{count} message(s) for {user}",
        )

    def queue_empty(self) -> bool:
        """Nothing left in the queue (delivered, bounced or discarded)."""
        q = self.root / "queue"
        return not any(
            p.is_file()
            for sub in ("incoming", "active", "deferred", "maildrop")
            if (q / sub).is_dir()
            for p in (q / sub).rglob("*")
        )


# --- pytest fixtures (imported by tests/conftest.py) -------------------------------------------


def _key(options: dict) -> tuple:
    return tuple(
        sorted(
            (k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in options.items()
        )
    )


@pytest.fixture(scope="session")
def postfix_factory():
    """`make(**options)` -> a started PostfixRig; the same options give the same instance
    for the whole session, `make(fresh=True, ...)` a new one (rate-limit counters, queues
    and logs of its own). All are stopped and removed at the end of the session."""
    shared: dict[tuple, PostfixRig] = {}
    every: list[PostfixRig] = []

    def make(*, fresh: bool = False, **options) -> PostfixRig:
        key = _key(options)
        if not fresh and key in shared:
            return shared[key]
        rig = PostfixRig(new_root(), **options)
        every.append(rig)
        rig.start()
        if not fresh:
            shared[key] = rig
        return rig

    yield make
    for rig in every:
        rig.stop()
        shutil.rmtree(rig.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postfix(postfix_factory) -> PostfixRig:
    """The session's default rig: AUTH required, sender-login checks at MAIL FROM, unknown
    users refused at RCPT, no rate limit."""
    return postfix_factory()


@pytest.fixture(scope="session")
def postfix_bouncing(postfix_factory) -> PostfixRig:
    """Like `postfix`, but unknown users are accepted and bounced: real DSNs to the sender,
    whose mailbox Dovecot also serves over IMAP (`imap_port`) and POP3 (`pop3_port`)."""
    return postfix_factory(unknown="bounce", imap=True)
