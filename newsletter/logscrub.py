"""Reader and staff link tokens never reach a log: every log record of the process (the
app's, the worker's, werkzeug's and the web server's access log alike, when it is on) has the token part of
/confirm/…, /preferences/…, /unsubscribe/…, /staff/password/… and /t/o|c|r/… replaced by
`[redacted]` when it is created. A token in a log is a working link for whoever reads it.

Installed once per process by `create_app` (a LogRecord factory, so handlers and formats
configured later — granian's, `logging.basicConfig` — are covered too).
"""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(
    r"(/(?:confirm|preferences|unsubscribe|staff/password|t/[ocr])/)[^/\s?#\"'<>]+"
)
_TOKEN_QUERY = re.compile(r"((?:^|[?&;\s])(?:token|sig|signature)=)[^&\s\"'#]+", re.I)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    if "/" not in text and "=" not in text:
        return text
    return _TOKEN_QUERY.sub(r"\1" + REDACTED, _TOKEN_PATH.sub(r"\1" + REDACTED, text))


def _redact_value(value):
    return redact(value) if isinstance(value, str) else value


def _redact_args(args):
    if isinstance(args, dict):
        return {k: _redact_value(v) for k, v in args.items()}
    if isinstance(args, tuple):
        return tuple(_redact_value(v) for v in args)
    return args


def install() -> None:
    """Wrap the LogRecord factory (once per process)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_tokens", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            if isinstance(record.msg, str):
                record.msg = redact(record.msg)
            if record.args:
                record.args = _redact_args(record.args)
        except Exception:  # a log call must never fail because of the scrubber
            pass
        return record

    factory.redacts_tokens = True  # type: ignore[attr-defined]  # a mark on the function
    logging.setLogRecordFactory(factory)
