"""The one classifier of delivery failures (SMTP answers, connection errors, DSNs). Pure.

A minimal version of the agreed interface, written so the send pipeline can use it; the
full table of receivers' answers lives with its own tests. The stage decides who pays: only
a recipient-stage (or DSN) answer that says the *mailbox* is bad is the reader's problem.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    CONNECT = "connect"
    TLS = "tls"
    AUTH = "auth"
    MAIL_FROM = "mail_from"
    RCPT = "rcpt"
    DATA = "data"
    DSN = "dsn"


class Verdict(StrEnum):
    HARD_BOUNCE = "hard_bounce"  # the reader's mailbox is bad: fail delivery + suppress
    SOFT_BOUNCE = "soft_bounce"  # reader-side, may recover (mailbox full): retry, no suppression
    TRANSIENT = "transient"      # temporary/throttling: retry with backoff in the window
    MESSAGE = "message"          # permanent for this message (too big, content): fail only
    RELAY = "relay"              # relay/sender problem: trip the circuit breaker


@dataclass(frozen=True)
class Classification:
    verdict: Verdict
    stage: Stage
    code: int | None
    enhanced: str | None
    text: str
    reason: str                  # short zh-CN explanation for staff
    retry_after: float | None    # seconds, when the answer says

    @property
    def suppress(self) -> bool:
        return self.verdict == Verdict.HARD_BOUNCE

    @property
    def pauses_send(self) -> bool:
        return self.verdict == Verdict.RELAY


_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_RELAY_STAGES = {Stage.CONNECT, Stage.TLS, Stage.AUTH, Stage.MAIL_FROM}
_MAILBOX_BAD = {(1, 1), (1, 2), (1, 3), (1, 6), (1, 10), (2, 1)}
_SENDER_AUTH = ("5.7.515", "5.7.26", "5.7.25", "5.7.23", "5.7.8", "5.7.1 sender")


def _enhanced(text: str) -> str | None:
    m = _ENHANCED.search(text or "")
    return m.group(0) if m else None


def _make(verdict, stage, code, enhanced, text, reason, retry_after=None) -> Classification:
    return Classification(verdict, stage, code, enhanced, (text or "")[:500], reason, retry_after)


def classify_smtp(stage: Stage, code: int | None, text: str) -> Classification:
    stage = Stage(stage)
    enhanced = _enhanced(text)
    low = (text or "").lower()
    retry_after = 120.0 if "dt:spm" in low else None
    if code is None:
        return _make(Verdict.TRANSIENT, stage, None, enhanced, text, "服务器没有给出答复")
    if stage in _RELAY_STAGES:
        return _make(Verdict.RELAY, stage, code, enhanced, text,
                     f"中继在 {stage} 阶段拒绝（{code}）：不是读者的问题", retry_after)
    if any(marker in low for marker in ("5.7.515", "mi:spf", "spf", "dmarc")):
        return _make(Verdict.RELAY, stage, code, enhanced, text, "发件人认证（SPF/DKIM/DMARC）未通过")
    if 400 <= code < 500:
        if enhanced and enhanced.startswith("4.2.2"):
            return _make(Verdict.SOFT_BOUNCE, stage, code, enhanced, text, "收件箱已满，稍后重试",
                         retry_after)
        return _make(Verdict.TRANSIENT, stage, code, enhanced, text, "临时错误，稍后重试", retry_after)
    if enhanced:
        _, subject, detail = (int(p) for p in enhanced.split("."))
        if stage in (Stage.RCPT, Stage.DSN) and (subject, detail) in _MAILBOX_BAD:
            return _make(Verdict.HARD_BOUNCE, stage, code, enhanced, text, "收件地址不存在或已停用")
        if (subject, detail) == (2, 2):
            return _make(Verdict.SOFT_BOUNCE, stage, code, enhanced, text, "收件箱已满")
        return _make(Verdict.MESSAGE, stage, code, enhanced, text, "对方拒收这封邮件（非地址问题）")
    if stage == Stage.RCPT and code in (550, 551, 553) and any(
            w in low for w in ("unknown", "no such", "not exist", "does not exist", "invalid")):
        return _make(Verdict.HARD_BOUNCE, stage, code, None, text, "收件地址不存在")
    return _make(Verdict.MESSAGE, stage, code, None, text, "对方拒收这封邮件")


def classify_error(stage: Stage, exc: BaseException) -> Classification:
    """No SMTP answer: refused, timed out, TLS failed, the connection dropped."""
    stage = Stage(stage)
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ssl.SSLError) or stage == Stage.TLS:
        return _make(Verdict.RELAY, Stage.TLS, None, None, text, "与中继的 TLS 握手失败")
    if stage == Stage.CONNECT:
        return _make(Verdict.RELAY, stage, None, None, text, "连接不上中继服务器")
    return _make(Verdict.TRANSIENT, stage, None, None, text, "连接中断或超时，稍后重试")


def classify_dsn(action: str, status: str, diagnostic: str) -> Classification:
    action = (action or "").strip().lower()
    text = diagnostic or status
    code_m = re.search(r"\b([245]\d\d)\b", diagnostic or "")
    code = int(code_m.group(1)) if code_m else None
    enhanced = _enhanced(status) or _enhanced(diagnostic)
    if action == "delayed" or (enhanced or "").startswith("4."):
        return _make(Verdict.TRANSIENT, Stage.DSN, code, enhanced, text, "投递延迟")
    if enhanced:
        return classify_smtp(Stage.DSN, code or 550, f"{enhanced} {text}")
    return _make(Verdict.MESSAGE, Stage.DSN, code, None, text, "退信（原因不明）")
