"""The message path of one worker without the database: CPU per message, phase by phase.

    python bench/wire.py [--messages 3000] [--dkim] [--sink minimal|aiosmtpd] [--no-runs]

Renders the sample issue's regular edition once (links rewritten for tracking, as a send
stores it), then for each of N readers does what `outcomes.deliver_one` does around the
database: the reader's links and tracking values, `personalise`, `MessageTemplate.build`,
the DKIM signature (with `--dkim`, a fresh 2048-bit key) and `SmtpTransport.send` to a sink
in a process of its own (bench/sink.py). Printed: this process's CPU (user + system) per
message for each phase, and the same for smtplib's own `sendmail` of the same bytes over
one connection (the raw baseline of bench/send.py). CPU time, not wall time: the machine
is shared, and CPU per message is what the worker target (≤ 0.6 ms, ≤ 1.2 ms signed) is
about; bench/send.py measures the whole worker.
"""

from __future__ import annotations

import argparse
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import Children  # noqa: E402

FROM = "行业动态周报 <weekly@bench.example.org>"
SECRET = "bench-wire-secret"


def cpu() -> float:
    return time.process_time()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--dkim", action="store_true")
    parser.add_argument("--sink", choices=["minimal", "aiosmtpd"], default="minimal")
    parser.add_argument(
        "--no-runs", action="store_true", help="encode whole bodies (no b64.FixedRuns)"
    )
    args = parser.parse_args()

    from bench.send import make_key
    from newsletter.bulletin.parser import parse_issue
    from newsletter.delivery.message import DkimSigner, MessageTemplate
    from newsletter.delivery.pipeline import PipelineSettings, subscriber_links, verp_address
    from newsletter.delivery.transport import SmtpSettings, SmtpTransport
    from newsletter.devsmtp import free_port
    from newsletter.render import Edition, RenderedEdition, personalise, render_edition
    from newsletter.resources import SAMPLE_ISSUE
    from newsletter.tracking.links import TrackingSettings, rewrite_links, tracking_values

    doc = parse_issue(SAMPLE_ISSUE.read_bytes())
    base = "https://news.example.org"
    rendered = render_edition(doc, Edition.REGULAR, archive_url=f"{base}/archive/396")
    html, _links = rewrite_links(rendered.html)
    variant = RenderedEdition.from_stored(rendered.subject, html, rendered.text)
    tracking = TrackingSettings(SECRET, base)
    settings = PipelineSettings(SECRET, base, FROM, "weekly.bench.example.org", tracking=tracking)
    html_parts, text_parts = variant.token_parts
    runs = None if args.no_runs else (html_parts[0::2], text_parts[0::2])  # as pipeline.py
    template = MessageTemplate(FROM, variant.subject, settings.list_id, runs=runs)
    signer = None
    if args.dkim:
        pem = make_key(Path(tempfile.mkdtemp(prefix="nlwire-"))).read_bytes()
        signer = DkimSigner("bench", "bench.example.org", pem)

    children = Children()
    port = free_port()
    sink = children.start(
        [sys.executable, str(ROOT / "bench" / "sink.py"), "--port", str(port), "--kind", args.sink],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if sink.stdout.readline().strip() != "ready":
            raise SystemExit("the sink did not start")
        spent = dict.fromkeys(("links", "personalise", "build", "sign", "send"), 0.0)
        last = b""
        with SmtpTransport(SmtpSettings("127.0.0.1", port)) as transport:
            transport.connect()
            for i in range(args.messages):
                t0 = cpu()
                links = subscriber_links(settings, i + 1)
                values = tracking_values(tracking, 7, i + 1, opted_out=False)
                t1 = cpu()
                h, text = personalise(variant, {**links, "name": f"读者{i}", **values})
                t2 = cpu()
                message = template.build(
                    to_email=f"member{i:05d}@example.org",
                    to_name=f"读者{i}",
                    message_id=f"<{i}.bench@bench.example.org>",
                    html=h,
                    text=text,
                    list_unsubscribe=[links["unsubscribe_url"]],
                    extra_headers={"X-Newsletter-Ref": verp_address(settings, template, i + 1)},
                )
                t3 = cpu()
                if signer is not None:
                    message = signer.sign(message)
                t4 = cpu()
                transport.send(
                    verp_address(settings, template, i + 1), f"member{i:05d}@example.org", message
                )
                t5 = cpu()
                for key, a, b in (
                    ("links", t0, t1),
                    ("personalise", t1, t2),
                    ("build", t2, t3),
                    ("sign", t3, t4),
                    ("send", t4, t5),
                ):
                    spent[key] += b - a
                last = message
        conn = smtplib.SMTP("127.0.0.1", port)
        conn.ehlo()
        t = cpu()
        for i in range(args.messages):
            conn.sendmail("weekly@bench.example.org", [f"raw{i}@example.org"], last)
        raw = cpu() - t
        conn.quit()
    finally:
        children.stop_all()

    n = args.messages
    print(
        f"{n} messages of {len(last) // 1024} KB, DKIM {'on' if signer else 'off'}, CPU ms/message:"
    )
    for key, value in spent.items():
        print(f"  {key:12s} {value * 1000 / n:6.3f}")
    print(f"  {'total':12s} {sum(spent.values()) * 1000 / n:6.3f}")
    print(f"  smtplib sendmail of the same bytes: {raw * 1000 / n:6.3f}")


if __name__ == "__main__":
    main()
