"""A local SMTP sink (aiosmtpd) that keeps what it receives: for development and tests.

`python -m newsletter.devsmtp --port 8025 --maildir instance/mailbox` stores every message
in a Maildir, which the dev mailbox page lists. Tests start `SinkServer` on a free loopback
port and read `received` (in arrival order) directly.
"""

from __future__ import annotations

import argparse
import mailbox
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float = field(default_factory=time.time)


class SinkHandler:
    def __init__(self, maildir: str | None = None):
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._maildir = mailbox.Maildir(maildir, create=True) if maildir else None

    async def handle_DATA(self, server, session, envelope):
        item = Received(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            envelope.original_content or envelope.content,
        )
        with self._lock:
            self.received.append(item)
            if self._maildir is not None:
                self._maildir.add(
                    mailbox.MaildirMessage(
                        b"X-Envelope-From: "
                        + item.mail_from.encode()
                        + b"\r\n"
                        + b"X-Envelope-To: "
                        + ",".join(item.rcpt_tos).encode()
                        + b"\r\n"
                        + item.data
                    )
                )
        return "250 Message accepted for delivery"


class CountingHandler:
    """Keeps nothing but a count and the arrival time of each message (for benchmarks)."""

    def __init__(self):
        self.count = 0
        self.first_at: float | None = None
        self.last_at: float | None = None

    async def handle_DATA(self, server, session, envelope):
        now = time.time()
        self.first_at = self.first_at or now
        self.last_at = now
        self.count += 1
        return "250 Message accepted for delivery"


class SinkServer:
    """An aiosmtpd server on loopback in a background thread."""

    def __init__(
        self, port: int = 0, maildir: str | None = None, handler=None, host: str = "127.0.0.1"
    ):
        self.handler = handler or SinkHandler(maildir)
        if port == 0:
            port = free_port(host)
        # aiosmtpd refuses (552) and stops buffering a message beyond this; a handler may
        # set its own limit (the bounce intake: BOUNCE_MAX_BYTES).
        limit = getattr(self.handler, "data_size_limit", 10 * 1024 * 1024)
        self.controller = Controller(self.handler, hostname=host, port=port, data_size_limit=limit)
        self.host, self.port = host, port

    def start(self) -> SinkServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="local SMTP sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--maildir", default=str(Path("instance") / "mailbox"))
    parser.add_argument(
        "--discard", action="store_true", help="keep nothing; print the count on exit (benchmarks)"
    )
    args = parser.parse_args(argv)
    handler = CountingHandler() if args.discard else None
    server = SinkServer(args.port, args.maildir, handler=handler, host=args.host).start()
    print(f"SMTP sink on {args.host}:{args.port}, storing in {args.maildir}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
        if handler is not None:
            print(f"received {handler.count}", flush=True)


if __name__ == "__main__":
    main()
