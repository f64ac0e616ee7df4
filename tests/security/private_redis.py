"""A redis-server of a test's own: `requirepass` always, TLS with a self-signed certificate
when asked (Debian's redis-server is built with TLS). Real servers, nothing mocked."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from newsletter.devsmtp import free_port
from tests.redisproc import server_argv

PASSWORD = "s3cret-redis-Passw0rd"


@dataclass
class PrivateRedis:
    proc: subprocess.Popen
    port: int
    tls: bool
    ca_file: str | None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def client(self, **kw) -> Redis:
        return (
            Redis.from_url(self.url, ssl_ca_certs=self.ca_file, **kw)
            if self.tls
            else Redis.from_url(self.url, **kw)
        )

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def self_signed_cert(directory: Path) -> tuple[str, str]:
    cert, key = directory / "redis.crt", directory / "redis.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def start(directory: Path, tls: bool = False) -> PrivateRedis:
    port = free_port()
    args = server_argv(directory, "--requirepass", PASSWORD)
    ca_file = None
    if tls:
        cert, key = self_signed_cert(directory)
        ca_file = cert
        args += [
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            key,
            "--tls-ca-cert-file",
            cert,
            "--tls-auth-clients",
            "no",
        ]
    else:
        args += ["--port", str(port)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = PrivateRedis(proc, port, tls, ca_file)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if server.client(socket_timeout=0.5).ping():
                return server
        except Exception:
            time.sleep(0.05)
    server.stop()
    raise AssertionError("the private redis-server did not start")
