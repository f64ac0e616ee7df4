"""A private Dovecot (Debian's dovecot-imapd/-pop3d/-lmtpd) for the mailbox tests.

    with Dovecot(tmp_dir, users={"bounces@news.example.org": "pw"}) as dc:
        dc.deliver("bounces@news.example.org", raw)      # over LMTP, as Postfix would
        url = dc.url("imaps", "bounces@news.example.org")  # imaps://user:pw@127.0.0.1:port/INBOX

Everything lives under one directory of its own: the config, a passwd-file of users, their
Maildirs, a self-signed certificate (`ca_file`, the tests trust it) and the log. It listens on
free loopback ports: IMAP with STARTTLS, IMAPS, POP3S and LMTP (plain, loopback only).
`scripts/test` installs the packages when they are missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from newsletter.devsmtp import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def make_certificate(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost: (cert.pem, key.pem)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if not cert.exists():
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-subj",
                f"/CN={name}",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
    return cert, key


_CONFIG = """\
protocols = imap pop3 lmtp
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = nltest-{port_imap}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
disable_plaintext_auth = yes
mail_uid = {uid}
mail_gid = {gid}
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:{root}/mail/%u
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Bounces {{
    auto = no
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port_imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port_imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {port_pop3s}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port_lmtp}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0600
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


class Dovecot:
    """A private Dovecot instance; a context manager that stops it (and its children)."""

    def __init__(self, root: Path | None = None, users: dict[str, str] | None = None):
        # Dovecot's unprivileged processes must reach the Maildirs: not under pytest's
        # 0700 tmp directories, so a directory of its own (removed on stop).
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="nl-dovecot-"))
        self.root.chmod(0o755)
        self.users = dict(users or {})
        self.host = "127.0.0.1"
        self.ports = {name: free_port() for name in ("imap", "imaps", "pop3s", "lmtp")}
        self.proc: subprocess.Popen | None = None

    @property
    def ca_file(self) -> str:
        return str(self.root / "cert.pem")

    def url(self, scheme: str, user: str, folder: str = "INBOX") -> str:
        port = {
            "imap": self.ports["imap"],
            "imaps": self.ports["imaps"],
            "pop3s": self.ports["pop3s"],
        }[scheme]
        auth = f"{quote(user, safe='')}:{quote(self.users[user], safe='')}"
        path = f"/{folder}" if scheme.startswith("imap") else ""
        return f"{scheme}://{auth}@{self.host}:{port}{path}"

    def start(self) -> Dovecot:
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(exist_ok=True)
        cert, key = make_certificate(self.root)
        (self.root / "passwd").write_text(
            "".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items())
        )
        # Dovecot will not deliver as root: the mail belongs to `nobody`.
        uid, gid = pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid
        os.chown(self.root / "mail", uid, gid)
        conf = self.root / "dovecot.conf"
        conf.write_text(
            _CONFIG.format(
                root=self.root,
                cert=cert,
                key=key,
                uid=uid,
                gid=gid,
                port_imap=self.ports["imap"],
                port_imaps=self.ports["imaps"],
                port_pop3s=self.ports["pop3s"],
                port_lmtp=self.ports["lmtp"],
            )
        )
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        pending = set(self.ports.values())
        while pending and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")  # noqa: TRY301
            for port in list(pending):
                with socket.socket() as s:
                    if s.connect_ex((self.host, port)) == 0:
                        pending.discard(port)
            time.sleep(0.05)
        if pending:
            self.stop()
            raise RuntimeError(f"dovecot did not listen on {pending}: {self.log()}")
        return self

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def deliver(self, rcpt: str, raw: bytes, mail_from: str = "MAILER-DAEMON@localhost") -> None:
        """Put a message into `rcpt`'s INBOX over LMTP (as an MTA does)."""
        with smtplib.LMTP(self.host, self.ports["lmtp"], timeout=10) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], raw)

    def maildir(self, user: str) -> Path:
        return self.root / "mail" / user

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=5)
        self.proc = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
