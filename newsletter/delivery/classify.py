"""The one classifier of delivery failures: SMTP answers, connection errors and DSNs. Pure.

No Flask, no database, no smtplib: `classify_smtp(stage, code, text)`, `classify_error(stage,
exc)` and `classify_dsn(action, status, diagnostic)` say what a failure means and who pays:

* the **stage** first: nothing said at connect, TLS, AUTH or MAIL FROM is about the reader
  (a refusal there is the relay's or ours: RELAY, the send pauses; a 4xx there is TRANSIENT);
* then the **words** of the answer, for what the big receivers say in their own dialects
  (NetEase's `DT:SPM`, QQ's "frequency limited", Outlook's 5.7.515, Alibaba's
  "the number of RCPT attempts is achieved the maximum threshold", …) — see `RULES`;
* then the RFC 3463 **enhanced code** (5.1.1 bad mailbox, 5.2.2 full, 5.3.4 too big, 5.7.x
  policy …), and last the bare reply code with the words "user unknown", "mailbox full", ….

Only a recipient-stage answer (RCPT, or a DSN about the recipient) that says the *mailbox* is
bad is a HARD_BOUNCE, the only verdict that suppresses an address.
"""

from __future__ import annotations

import functools
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
    TRANSIENT = "transient"  # temporary/throttling: retry with backoff in the window
    MESSAGE = "message"  # permanent for this message (too big, content/spam): fail only
    RELAY = "relay"  # relay/sender problem (auth, envelope sender, SPF/DMARC): pause
    DELIVERED = "delivered"  # not a failure at all (2xx; a DSN saying delivered/relayed)


@dataclass(frozen=True)
class Classification:
    verdict: Verdict
    stage: Stage
    code: int | None
    enhanced: str | None
    text: str
    reason: str  # short zh-CN explanation for staff
    retry_after: float | None  # seconds, when the answer says

    @property
    def suppress(self) -> bool:
        return self.verdict == Verdict.HARD_BOUNCE

    @property
    def pauses_send(self) -> bool:
        return self.verdict == Verdict.RELAY

    @property
    def summary(self) -> str:
        """One line for logs and `last_error`: stage, code and the server's words."""
        answer = f"{self.code} {self.text}" if self.code else self.text
        return f"{self.stage}: {answer}"[:500]


V = Verdict
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_CODE = re.compile(r"(?<![\d.])([245]\d\d)(?![\d.])")
_RETRY_AFTER = re.compile(
    r"(?:retry|try again)\s+(?:in|after)\s+(\d+)\s*(s|sec|seconds?|m|min|"
    r"minutes?|h|hours?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rule:
    """Words some servers use, and what they mean in a permanent (5xx) or temporary (4xx)
    answer. `words` are regular expressions (case-insensitive), any of which matches."""

    words: tuple[str, ...]
    permanent: Verdict
    temporary: Verdict
    reason: str
    retry_after: float | None = None

    @property
    def pattern(self) -> re.Pattern:
        return re.compile("|".join(self.words), re.IGNORECASE)


# Searched in this order over the answer's text; the first that matches decides.
RULES: list[Rule] = [
    # Our envelope sender is not what the login may use (VERP through a hosted relay).
    Rule(
        (
            r"not owned by user",
            r"sender login mismatch",
            r"must be same as (?:the )?auth",
            r"doesn'?t conform with authentication",
            r"SendAsDenied",
            r"not allowed to send as",
            r"non-local account",
            r"Mailfrom account is a local account",
            r"发件人.{0,6}(?:认证|登录)账号",
        ),
        V.RELAY,
        V.RELAY,
        "中继拒绝了信封发件人（与登录账号不符）：请把信封发件人设为登录账号（fixed）",
    ),
    Rule(
        (
            r"Relay access denied",
            r"relaying denied",
            r"not permitted to relay",
            r"Relay not permitted",
        ),
        V.RELAY,
        V.RELAY,
        "中继不肯转发：检查 SMTP 账号、密码与中继设置",
    ),
    Rule(
        (
            r"authentication (?:is )?required",
            r"must issue a STARTTLS",
            r"not logged in",
            r"auth(?:entication)? first",
            r"SmtpClientAuthentication is disabled",
            r"authentication unsuccessful",
            r"authentication fail",
            r"Login Fail",
            r"isn't allowed to send email",
        ),
        V.RELAY,
        V.TRANSIENT,
        "中继要求登录或登录失败：检查 SMTP 用户名、密码（授权码）与加密方式",
    ),
    # Sender authentication of our domain (SPF, DKIM, DMARC): never the reader's fault.
    Rule(
        (
            r"5\.7\.515",
            r"5\.7\.2[3-7]\b",
            r"\bMI:SPF\b",
            r"\bSPF\b",
            r"\bDMARC\b",
            r"\bDKIM\b",
            r"unauthenticated",
            r"does not meet the required authentication level",
            r"PTR record",
        ),
        V.RELAY,
        V.TRANSIENT,
        "发信域认证（SPF/DKIM/DMARC/反向解析）未通过：检查发信域名的 DNS 记录",
    ),
    # Our sending IP or account is blocked, or a quota of the relay is used up.
    Rule(
        (
            r"block ?list",
            r"black ?list",
            r"blocked using",
            r"listed (?:at|on|in)\b",
            r"spamhaus",
            r"banned sending IP",
            r"5\.7\.60[6-9]",
            r"\bIP is rejected\b",
            r"IP address has been blocked",
            r"\bTSS09\b",
            r"permanently deferred",
            r"\bHL:IHU\b",
            r"poor reputation",
            r"behaviou?r spam",
        ),
        V.RELAY,
        V.TRANSIENT,
        "发信 IP 或账号被对方列入黑名单/信誉过低：请联系中继服务商",
    ),
    Rule(
        (
            r"sending (?:quota|limit) exceeded",
            r"daily (?:user )?sending (?:quota|limit)",
            r"the number of RCPT attempts is achieved the maximum threshold",
            r"发信量.{0,6}上限",
            r"quota of the sender",
            r"5\.4\.5\b",
        ),
        V.RELAY,
        V.TRANSIENT,
        "中继的发信额度已用完：等额度恢复（通常次日）后继续",
    ),
    # NetEase (163/126/yeah) codes, as documented by NetEase.
    Rule(
        (r"\bDT:SPM\b",),
        V.MESSAGE,
        V.TRANSIENT,
        "网易判定内容疑似垃圾邮件：按其要求约 2 分钟后重试",
        120.0,
    ),
    Rule((r"\bHL:ICC\b",), V.TRANSIENT, V.TRANSIENT, "网易：同一 IP 连接数过多，稍后重试"),
    Rule((r"\bHL:IFC\b",), V.TRANSIENT, V.TRANSIENT, "网易：短时间内发信过多，稍后重试"),
    Rule(
        (r"\bHL:REP\b",),
        V.TRANSIENT,
        V.TRANSIENT,
        "网易：发往不存在地址的比例过高，暂停接收；请清理名单后重试",
    ),
    Rule((r"\bMI:DMC\b",), V.TRANSIENT, V.TRANSIENT, "网易：单个连接发信过多，稍后重试"),
    Rule((r"\bRP:DRC\b",), V.TRANSIENT, V.TRANSIENT, "网易：单个连接收件人过多，稍后重试"),
    Rule(
        (r"\bMI:SFQ\b",),
        V.TRANSIENT,
        V.TRANSIENT,
        "网易：发件人 15 分钟内发信超量，稍后重试",
        900.0,
    ),
    # Throttling, in anybody's words (some say it with a 5xx; it is still temporary).
    Rule(
        (
            r"frequency limited",
            r"rate limit",
            r"too many (?:connections|messages|mails?|recipients|concurrent)",
            r"too much mail",
            r"try again later",
            r"temporarily (?:deferred|rate limited|rejected)",
            r"throttl",
            r"server busy",
            r"unusual rate",
            r"receiving mail at a rate",
            r"\bTSS04\b",
            r"Transient reject",
            r"the total of RCPTs is achieved the maximum threshold",
            r"稍后(?:再)?重试",
        ),
        V.TRANSIENT,
        V.TRANSIENT,
        "对方限速或暂时拒收，稍后重试",
    ),
    # The message itself (content, spam, virus, size).
    Rule(
        (
            r"spam",
            r"unsolicited",
            r"junk",
            r"content (?:denied|reject)",
            r"virus",
            r"malware",
            r"policy reasons",
            r"prohibited the mail",
            r"message (?:size )?exceeds",
            r"too large",
            r"exceeded (?:mailsize|message size|Google's message size)",
            r"size limit",
            r"The length of DATA",
            r"length of Attach",
            r"number of attachments",
            r"垃圾邮件",
        ),
        V.MESSAGE,
        V.TRANSIENT,
        "对方拒收这封邮件（内容、疑似垃圾或大小），与地址无关",
    ),
    # The reader's mailbox is full.
    Rule(
        (
            r"mailbox (?:is )?full",
            r"over quota",
            r"quota exceed",
            r"QuotaExceeded",
            r"exceeded storage allocation",
            r"mail ?box space not enough",
            r"insufficient (?:storage|space) for user",
            r"邮箱(?:空间)?已满",
            r"容量不足",
        ),
        V.SOFT_BOUNCE,
        V.SOFT_BOUNCE,
        "收件人邮箱已满：稍后重试，不停发",
    ),
    # Microsoft's directory-based refusal: an address that is not there.
    Rule(
        (r"5\.4\.1 Recipient address rejected: Access denied", r"RESOLVER\.ADR\.RecipientNotFound"),
        V.HARD_BOUNCE,
        V.TRANSIENT,
        "收件地址不存在（对方目录中查无此人）",
    ),
]


@functools.cache
def _compiled() -> list[tuple[re.Pattern, Rule]]:
    """The rules' patterns, compiled on the first failure classified: ~0.7 MiB that a send
    worker meeting no failure never holds (issue 16: peak RSS per worker)."""
    return [(rule.pattern, rule) for rule in RULES]


# Words that say the mailbox is bad, for answers whose codes are vague (550, 5.0.0, 5.5.0 …).
_MAILBOX_BAD = (
    r"user unknown",
    r"unknown user",
    r"no such (?:user|recipient|mailbox|account)",
    r"user not found",
    r"recipient not found",
    r"unknown recipient",
    r"invalid recipient",
    r"invalid mailbox",
    r"mailbox (?:not found|unavailable|does not exist|disabled|is disabled|inactive)",
    r"does ?n[o']?t exist",
    r"dosn'?t exist",
    r"not exist",
    r"no mailbox",
    r"account (?:is |has been )?disabled",
    r"doesn'?t have a [\w.-]+ account",
    r"user suspended",
    r"address (?:does not exist|not found|unknown)",
    r"not our customer",
    r"no longer (?:valid|active)",
    r"isn't allowed to receive",
    r"用户不存在",
    r"地址不存在",
    r"收件人不存在",
    r"帐号不存在",
    r"账号不存在",
    r"查无此人",
)


@functools.cache
def _mailbox_bad_words() -> re.Pattern:
    return re.compile("|".join(_MAILBOX_BAD), re.IGNORECASE)


_VAGUE = {(0, 0), (1, 0), (2, 0), (5, 0)}

# RFC 3463 subject.detail of a permanent (5.x.x) answer -> verdict, reason.
_HARD = "收件地址不存在或已停用"
_ENHANCED_TABLE: dict[tuple[int, int], tuple[Verdict, str]] = {
    (1, 1): (V.HARD_BOUNCE, "收件地址不存在（5.1.1）"),
    (1, 2): (V.HARD_BOUNCE, "收件域名不存在（5.1.2）"),
    (1, 3): (V.HARD_BOUNCE, "收件地址格式不对（5.1.3）"),
    (1, 6): (V.HARD_BOUNCE, "收件人已迁移，旧地址不再收信（5.1.6）"),
    (1, 10): (V.HARD_BOUNCE, "收件域名声明不收邮件（null MX，5.1.10）"),
    (2, 1): (V.HARD_BOUNCE, "收件邮箱已停用（5.2.1）"),
    (4, 4): (V.HARD_BOUNCE, "收件域名无法投递（找不到该域名，5.4.4）"),
    (1, 7): (V.RELAY, "对方拒绝了我们的发件地址格式（5.1.7）"),
    (1, 8): (V.RELAY, "对方拒绝了我们的发件域名（5.1.8）"),
    (2, 2): (V.SOFT_BOUNCE, "收件人邮箱已满（5.2.2）：稍后重试，不停发"),
    (2, 3): (V.MESSAGE, "邮件超过收件人邮箱允许的大小（5.2.3）"),
    (3, 4): (V.MESSAGE, "邮件太大，对方拒收（5.3.4）"),
    (4, 7): (V.SOFT_BOUNCE, "对方服务器多日无法投递，已放弃（5.4.7）"),
}
_BY_SUBJECT: dict[int, tuple[Verdict, str]] = {
    3: (V.MESSAGE, "对方邮件系统拒收（5.3.x）"),
    4: (V.MESSAGE, "网络或路由问题，对方放弃投递（5.4.x）"),
    5: (V.MESSAGE, "协议错误，对方拒收（5.5.x）"),
    6: (V.MESSAGE, "邮件内容格式对方不接受（5.6.x）"),
    7: (V.MESSAGE, "对方按策略拒收这封邮件（5.7.x），与地址无关"),
}


def _parse_enhanced(text: str) -> str | None:
    m = _ENHANCED.search(text or "")
    return ".".join(m.groups()) if m else None


def _retry_after(text: str) -> float | None:
    m = _RETRY_AFTER.search(text or "")
    if not m:
        return None
    unit = m.group(2).lower()[0]
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]


def _result(verdict: Verdict, stage: Stage, code, enhanced, text, reason, retry_after=None):
    return Classification(
        verdict, stage, code, enhanced, " ".join((text or "").split())[:500], reason, retry_after
    )


def _what_it_says(
    code: int, enhanced: str | None, text: str, *, trust_code: bool = False
) -> tuple[Verdict, str, float | None]:
    """The answer on its own (stage aside): words first, then the enhanced code, then the
    bare code. With `trust_code` (a DSN's Status field, the reporting MTA's conclusion), a
    specific enhanced code outweighs words about the reader or the message; words about our
    sender or throttling still win."""
    temporary = code < 500
    subject_detail = tuple(int(p) for p in enhanced.split(".")[1:]) if enhanced else None
    trusted = trust_code and not temporary and subject_detail in _ENHANCED_TABLE
    for pattern, rule in _compiled():
        if trusted and rule.permanent not in (V.RELAY, V.TRANSIENT):
            continue
        if pattern.search(text):
            return (rule.temporary if temporary else rule.permanent), rule.reason, rule.retry_after
    if temporary:
        if subject_detail == (2, 2):
            return V.SOFT_BOUNCE, "收件人邮箱已满（4.2.2）：稍后重试", None
        return V.TRANSIENT, f"临时错误（{enhanced or code}），稍后重试", None
    if subject_detail and subject_detail not in _VAGUE:
        if subject_detail in _ENHANCED_TABLE:
            return (*_ENHANCED_TABLE[subject_detail], None)
        if subject_detail[0] in _BY_SUBJECT:
            return (*_BY_SUBJECT[subject_detail[0]], None)
        if subject_detail[0] == 1:
            return V.MESSAGE, f"地址问题（{enhanced}），对方拒收", None
        if subject_detail[0] == 2:
            return V.MESSAGE, f"收件邮箱状态问题（{enhanced}），对方拒收", None
    if code in (550, 551, 553, 554, 552, 542, 511, 501) and _mailbox_bad_words().search(text):
        return V.HARD_BOUNCE, _HARD, None
    return V.MESSAGE, f"对方拒收（{enhanced or code}），原因不明，与地址无关", None


def classify_smtp(stage: Stage, code: int | None, text: str) -> Classification:
    """What one SMTP answer means, given where in the session it came."""
    stage = Stage(stage)
    text = text or ""
    enhanced = _parse_enhanced(text)
    if code is None:
        return _result(V.TRANSIENT, stage, None, enhanced, text, "服务器没有给出答复，稍后重试")
    if 200 <= code < 400:
        return _result(V.DELIVERED, stage, code, enhanced, text, "服务器已接受")
    verdict, reason, retry = _what_it_says(code, enhanced, text)
    retry = retry if retry is not None else _retry_after(text)
    if stage in (Stage.CONNECT, Stage.TLS, Stage.AUTH):
        if code < 500 or verdict == V.TRANSIENT:
            return _result(
                V.TRANSIENT,
                stage,
                code,
                enhanced,
                text,
                f"中继在{_STAGE_ZH[stage]}阶段暂时拒绝（{code}），稍后重试",
                retry,
            )
        if verdict != V.RELAY:
            reason = (
                f"中继在{_STAGE_ZH[stage]}阶段拒绝（{code}）：检查中继地址、端口、加密方式与账号"
            )
        return _result(V.RELAY, stage, code, enhanced, text, reason, retry)
    if stage == Stage.MAIL_FROM:
        # Nothing here is about a reader: no recipient has been named yet.
        if verdict in (V.HARD_BOUNCE, V.SOFT_BOUNCE) or (
            verdict == V.MESSAGE and not _is_size(enhanced, text)
        ):
            if code < 500:
                return _result(
                    V.TRANSIENT,
                    stage,
                    code,
                    enhanced,
                    text,
                    f"中继暂时拒绝发件地址（{code}），稍后重试",
                    retry,
                )
            verdict, reason = V.RELAY, f"中继拒绝了信封发件人（{code}）：检查 MAIL_FROM 与中继账号"
        return _result(verdict, stage, code, enhanced, text, reason, retry)
    if stage == Stage.DATA and verdict == V.HARD_BOUNCE:
        # Only the RCPT answer (or a DSN) may mark a reader; after DATA it is this message.
        return _result(
            V.MESSAGE,
            stage,
            code,
            enhanced,
            text,
            f"{reason}（在 DATA 阶段答复，不据此停发该地址）",
            retry,
        )
    return _result(verdict, stage, code, enhanced, text, reason, retry)


def _is_size(enhanced: str | None, text: str) -> bool:
    return enhanced in ("5.3.4", "5.2.3") or bool(
        re.search(r"size|too large|too big", text, re.IGNORECASE)
    )


_STAGE_ZH = {
    Stage.CONNECT: "连接",
    Stage.TLS: "TLS 加密",
    Stage.AUTH: "登录（AUTH）",
    Stage.MAIL_FROM: "MAIL FROM",
    Stage.RCPT: "RCPT TO",
    Stage.DATA: "DATA",
    Stage.DSN: "退信",
}

# Errors without an answer, by class name (smtplib's are not imported here).
_NO_ANSWER_RELAY = {
    "SMTPNotSupportedError": "中继不支持所需功能（如 AUTH 或 STARTTLS）：检查加密方式",
    "SMTPHeloError": "中继拒绝了 HELO/EHLO",
}


def classify_error(stage: Stage, exc: BaseException) -> Classification:
    """A failure without an SMTP answer (or an smtplib exception carrying one): refused,
    timed out, TLS failed, the connection dropped."""
    stage = Stage(stage)
    code = getattr(exc, "smtp_code", None)
    if isinstance(code, int) and code > 0:
        raw = getattr(exc, "smtp_error", b"")
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return classify_smtp(stage, code, text)
    recipients = getattr(exc, "recipients", None)  # SMTPRecipientsRefused: {rcpt: (code, msg)}
    if isinstance(recipients, dict) and recipients:
        code, raw = next(iter(recipients.values()))
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return classify_smtp(Stage.RCPT, code, text)
    text = f"{type(exc).__name__}: {exc}"
    name = type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _result(
            V.RELAY,
            Stage.TLS,
            None,
            None,
            text,
            f"中继的证书校验失败（{exc.verify_message or exc}）：检查主机名或设置 SMTP_CA_FILE",
        )
    if isinstance(exc, ssl.SSLError) and stage in (Stage.CONNECT, Stage.TLS):
        return _result(
            V.RELAY,
            Stage.TLS,
            None,
            None,
            text,
            "与中继的 TLS 握手失败：检查端口与加密方式（465 用 ssl，587/25 用 starttls）",
        )
    if name in _NO_ANSWER_RELAY:
        return _result(V.RELAY, stage, None, None, text, _NO_ANSWER_RELAY[name])
    if isinstance(exc, ConnectionRefusedError):
        return _result(
            V.RELAY,
            Stage.CONNECT,
            None,
            None,
            text,
            "中继拒绝连接：检查 SMTP_HOST 与端口，或中继是否在运行",
        )
    if type(exc).__name__ == "gaierror":
        return _result(
            V.RELAY, Stage.CONNECT, None, None, text, "找不到中继服务器的地址：检查 SMTP_HOST"
        )
    if isinstance(exc, TimeoutError):
        return _result(V.TRANSIENT, stage, None, None, text, "连接中继超时，稍后重试")
    if name == "SMTPAuthenticationError" or (stage == Stage.AUTH and name == "SMTPException"):
        return _result(
            V.RELAY, Stage.AUTH, None, None, text, "中继登录失败：检查用户名、密码与登录方式"
        )
    return _result(V.TRANSIENT, stage, None, None, text, "连接中断，稍后重试")


_DIAG_TYPE = re.compile(r"^\s*(?:smtp|x-[\w-]+|x-unix|x-postfix)\s*;\s*", re.IGNORECASE)


def classify_dsn(action: str, status: str, diagnostic: str) -> Classification:
    """One recipient block of a DSN (RFC 3464): its Action, Status and Diagnostic-Code."""
    action = " ".join((action or "").split()).lower()
    status = " ".join((status or "").split())
    text = _DIAG_TYPE.sub("", " ".join((diagnostic or "").split()))
    enhanced = _parse_enhanced(status) or _parse_enhanced(text)
    m = _CODE.search(text)
    code = int(m.group(1)) if m else None
    if action in ("delivered", "relayed", "expanded"):
        return _result(V.DELIVERED, Stage.DSN, code, enhanced, text or status, "对方报告已投递")
    if action == "delayed":
        return _result(
            V.TRANSIENT,
            Stage.DSN,
            code,
            enhanced,
            text or status,
            "对方服务器仍在重试投递（延迟通知）",
            _retry_after(text),
        )
    if code is None or (code < 500 and enhanced and enhanced.startswith("5.")):
        # No reply code in the diagnostic (e.g. Postfix's "X-Postfix; unknown user"):
        # the status class stands for it.
        code_for_rules = 550 if (enhanced or "5").startswith("5") else 450
    else:
        code_for_rules = code
    if action == "failed" and code_for_rules < 500:
        # Given up after days of 4xx: the reader's server never took it; may recover.
        verdict, reason, retry = _what_it_says(code_for_rules, enhanced, text)
        if verdict in (V.TRANSIENT, V.SOFT_BOUNCE):
            verdict, reason = (
                V.SOFT_BOUNCE,
                f"对方服务器多次暂时拒收后放弃投递（{enhanced or code}）",
            )
        return _result(verdict, Stage.DSN, code, enhanced, text or status, reason, retry)
    verdict, reason, retry = _what_it_says(
        code_for_rules,
        enhanced,
        f"{status} {text}".strip(),
        trust_code=_parse_enhanced(status) == enhanced,
    )
    return _result(verdict, Stage.DSN, code, enhanced, text or status, reason, retry)


def classify_detected(permanent: bool, text: str = "") -> Classification:
    """A bounce in a provider's own format, whose failed recipient a heuristic detector
    (Mailman's flufl.bounce) found: permanent means the detector read "this address failed
    for good", temporary "it failed for now"."""
    if permanent:
        return _result(
            V.HARD_BOUNCE, Stage.DSN, None, None, text, "非标准退信：检测器判定该地址永久失败"
        )
    return _result(V.SOFT_BOUNCE, Stage.DSN, None, None, text, "非标准退信：该地址暂时无法投递")


__all__ = [
    "RULES",
    "Classification",
    "Rule",
    "Stage",
    "Verdict",
    "classify_detected",
    "classify_dsn",
    "classify_error",
    "classify_smtp",
]
