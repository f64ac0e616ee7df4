"""SMTP sinks for the benchmarks, each run in a process of its own.

    python bench/sink.py --port 2525 --kind minimal     # asyncio responder, ~0.2 ms/message
    python bench/sink.py --port 2525 --kind aiosmtpd    # the project's aiosmtpd sink (discard)

`minimal` answers 250 to everything, does not keep or parse the message (it only looks for
the `<CRLF>.<CRLF>` end of DATA) and counts messages: it stands for a relay that accepts far
faster than a sender can push, so the benchmark measures the sender. `aiosmtpd` is the
CountingHandler of `newsletter.devsmtp`, ~2 ms of CPU per 111 KB message.

On SIGTERM or SIGINT it prints one line `received N cpu_ms=… ` and exits. The signal
handlers are installed explicitly: a child inherits "ignore SIGINT" from a shell's
background job, which used to leave an orphan sink behind.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import sys
from pathlib import Path

END = b"\r\n.\r\n"
EHLO = b"250-sink.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n"


class Counter:
    count = 0


class MinimalSmtp(asyncio.Protocol):
    """RFC 5321 just far enough for smtplib: commands answered 250, DATA skipped to its end."""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.in_data = False
        self.buf = b""
        transport.write(b"220 sink.localhost ESMTP minimal\r\n")

    def data_received(self, chunk: bytes) -> None:
        buf = self.buf + chunk
        while buf:
            if self.in_data:
                # Only the last 4 bytes of an earlier chunk can start the terminator.
                end = buf.find(END)
                if end < 0:
                    self.buf = buf[-4:]
                    return
                buf = buf[end + len(END) :]
                self.in_data = False
                Counter.count += 1
                self.transport.write(b"250 2.0.0 Ok: queued as %d\r\n" % Counter.count)
                continue
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                self.buf = buf
                return
            line, buf = buf[:line_end], buf[line_end + 2 :]
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.transport.write(EHLO if verb == b"EHLO" else b"250 sink.localhost\r\n")
            elif verb == b"DATA":
                self.in_data = True
                # smtplib's data() ends with CRLF.CRLF; an empty body is ".\r\n" right away.
                buf = b"\r\n" + buf
                self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 2.0.0 Bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"250 2.0.0 Ok\r\n")
        self.buf = b""


def cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


def report(count: int) -> None:
    print(f"received {count} cpu_ms={cpu_ms():.0f}", flush=True)


async def serve_minimal(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MinimalSmtp, host, port, reuse_address=True, backlog=128)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    report(Counter.count)


def serve_aiosmtpd(host: str, port: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import threading

    from newsletter.devsmtp import CountingHandler, SinkServer

    handler = CountingHandler()
    server = SinkServer(port, handler=handler, host=host).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.wait(3600):
        pass
    server.stop()
    report(handler.count)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kind", choices=["minimal", "aiosmtpd"], default="minimal")
    args = parser.parse_args()
    # Whatever the parent's disposition was (SIG_IGN is inherited through exec), these
    # signals must stop the sink.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    if args.kind == "minimal":
        asyncio.run(serve_minimal(args.host, args.port))
    else:
        serve_aiosmtpd(args.host, args.port)


if __name__ == "__main__":
    main()
