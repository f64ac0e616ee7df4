"""Parts of the Postfix test rig (tests/mta.py): certificates, ports, processes, Dovecot."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from newsletter.devsmtp import free_port

__all__ = ["free_port"]  # re-exported for tests/mta.py

POSTFIX_SBIN = "/usr/sbin/postfix"
DOVECOT = "/usr/sbin/dovecot"


class RigError(RuntimeError):
    """The rig could not be set up or started; the text says what and shows the log."""


def installed() -> bool:
    return (
        os.path.exists(POSTFIX_SBIN) and os.path.exists(DOVECOT) and bool(shutil.which("openssl"))
    )


def wait_port(port: int, timeout: float = 20.0, what: str = "port") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RigError(f"{what} 127.0.0.1:{port} did not open within {timeout}s")


def run(*cmd: str, **kw) -> str:
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, **kw)
    if proc.returncode:
        raise RigError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return proc.stdout


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for localhost/127.0.0.1 signed by it: (ca, cert, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ext = directory / "server.ext"
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "3",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-subj",
        "/CN=Newsletter test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=localhost",
    )
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "3",
        "-out",
        str(cert),
        "-extfile",
        str(ext),
    )
    return ca, cert, key


SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def start_dovecot(rig) -> subprocess.Popen:
    """Dovecot for `rig`: SASL for Postfix over a socket, IMAP/POP3 when rig.imap."""
    uid, gid = rig.owner()
    d = rig.root / "dovecot"
    for sub in ("", "run", "state"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "users").write_text(
        "".join(
            f"{rig.address(login)}:{{PLAIN}}{password}:{uid}:{gid}::"
            f"{rig.mail_dir / rig.domain / login}\n"
            f"{login}:{{PLAIN}}{password}:{uid}:{gid}::{rig.mail_dir / rig.domain / login}\n"
            for login, password in rig.logins.items()
        )
    )
    listeners = ""
    if rig.imap:
        listeners = (
            f"service imap-login {{\n inet_listener imap {{\n address = 127.0.0.1\n"
            f" port = {rig.imap_port}\n }}\n inet_listener imaps {{\n port = 0\n }}\n}}\n"
            f"service pop3-login {{\n inet_listener pop3 {{\n address = 127.0.0.1\n"
            f" port = {rig.pop3_port}\n }}\n inet_listener pop3s {{\n port = 0\n }}\n}}\n"
        )
    (d / "dovecot.conf").write_text(f"""\
instance_name = dovecot-{rig.root.name}
base_dir = {d / "run"}
state_dir = {d / "state"}
log_path = {d / "dovecot.log"}
protocols = {"imap pop3" if rig.imap else ""}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{rig.mail_dir}/%d/%n
first_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d / "users"}
}}
userdb {{
  driver = passwd-file
  args = {d / "users"}
  default_fields = uid={uid} gid={gid} home={rig.mail_dir}/{rig.domain}/%n
}}
service auth {{
  unix_listener {rig.auth_socket} {{
mode = 0660
user = postfix
group = postfix
  }}
}}
{listeners}""")
    with open(d / "dovecot.out", "ab") as out:
        proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(d / "dovecot.conf")],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 20
    while not rig.auth_socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            log = (d / "dovecot.out").read_text("utf-8", "replace")
            log += (
                (d / "dovecot.log").read_text("utf-8", "replace")
                if (d / "dovecot.log").exists()
                else ""
            )
            raise RigError(f"dovecot did not start: {log[-2000:]}")
        time.sleep(0.05)
    if rig.imap:
        wait_port(rig.imap_port, what="dovecot imap")
    return proc


def kill_leftovers(root: Path, config_dir: Path) -> None:
    """Daemons still running from a rig's directories (a master that died)."""
    marker = str(root)
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (pid_dir / "environ").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline or f"MAIL_CONFIG={config_dir}" in environ:
            with contextlib.suppress(OSError):
                os.kill(int(pid_dir.name), signal.SIGKILL)


def new_root(prefix: str = "postfix-rig-") -> Path:
    """A fresh directory for one rig, under /tmp (searchable by user postfix)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def end_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
