"""`relays check`: try a relay the way a send will use it, and say in plain words what
failed and what to change (phrases: zh-CN for the CLI, the reader's language on the page).

Connect, TLS (the certificate verified), AUTH, MAIL FROM with the envelope sender the send
will use (a VERP address, or the fixed one), RCPT of a test address, RSET — no message is
sent. Each failure is the transport's `SmtpFailure` (which stage, what the server said),
read by the one classifier; the advice depends on the stage and the relay's settings.
`flask relays check [NAME]`, the admin relays page and every send's start use it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from email.utils import parseaddr

from newsletter.config import AppConfig
from newsletter.delivery.classify import STAGE_NAMES as _CLASSIFIER_STAGES
from newsletter.delivery.classify import Classification
from newsletter.delivery.relays import Relay, RelayConfig
from newsletter.delivery.transport import SmtpFailure, SmtpTransport
from newsletter.phrase import N_, P, Phrase

STAGES = ("connect", "tls", "auth", "mail_from", "rcpt", "rset")
# The classifier's names of the stages (message ids), and the check's own last step.
STAGE_NAMES: dict[str, str] = {**_CLASSIFIER_STAGES, "rset": N_("RSET")}
_NO_WORDS = Phrase("")


@dataclass
class CheckResult:
    relay: str
    envelope_sender: str
    test_rcpt: str
    passed: list[str] = field(default_factory=list)  # stages that went through
    failed_stage: str | None = None
    answer: str = ""  # the server's words (or the error)
    problem: Phrase = _NO_WORDS  # what failed
    advice: Phrase = _NO_WORDS  # what to change
    classification: Classification | None = None  # the classifier's reading of it

    @property
    def ok(self) -> bool:
        return self.failed_stage is None

    def stage_name(self, stage: str) -> Phrase:
        return P(STAGE_NAMES.get(stage, stage))

    def lines(self) -> list[str]:
        """The check for the CLI, in zh-CN."""
        head = f"中继 {self.relay}：" + ("检查通过" if self.ok else "检查未通过")
        out = [head] + [f"  ✓ {self.stage_name(s)}" for s in self.passed]
        if self.failed_stage is not None:  # not ok
            out += [
                f"  ✗ {self.stage_name(self.failed_stage)}：{self.problem}",
                f"    服务器答复：{self.answer}" if self.answer else "",
                f"    建议：{self.advice}",
            ]
        return [line for line in out if line]

    def to_json(self) -> dict[str, object]:
        return {
            "relay": self.relay,
            "ok": self.ok,
            "passed": self.passed,
            "failed_stage": self.failed_stage,
            "answer": self.answer,
            "problem": str(self.problem),
            "advice": str(self.advice),
            "envelope_sender": self.envelope_sender,
            "test_rcpt": self.test_rcpt,
        }


def sample_verp(mail_from: str, secret_key: str) -> str:
    """A VERP sender of the exact shape a send uses (for a delivery id that does not exist)."""
    from newsletter.tracking.signing import verp_signature

    local, _, domain = parseaddr(mail_from)[1].partition("@")
    return f"{local}+b999999999-{verp_signature(secret_key, 999999999)}@{domain or 'localhost'}"


def envelope_for(relay: Relay, mail_from: str, secret_key: str) -> str:
    return (
        relay.envelope_sender if relay.envelope == "fixed" else sample_verp(mail_from, secret_key)
    )


def check_relay(relay: Relay, *, mail_from: str, secret_key: str, test_rcpt: str) -> CheckResult:
    """Walk one relay through connect … RSET; the first failure ends the check."""
    envelope = envelope_for(relay, mail_from, secret_key)
    result = CheckResult(relay.name, envelope, test_rcpt)
    steps = [
        s
        for s in STAGES
        if (s != "tls" or relay.security != "none") and (s != "auth" or relay.username)
    ]
    transport = SmtpTransport(relay.smtp_settings())
    try:
        transport.probe(envelope, test_rcpt)
        result.passed = steps
    except SmtpFailure as failure:
        # The stages before the one that failed went through.
        failed = str(failure.stage)
        result.passed = steps[: steps.index(failed)] if failed in steps else []
        _explain(result, relay, failure)
    finally:
        transport.close()
    return result


def check_all(
    relay_config: RelayConfig,
    *,
    mail_from: str,
    secret_key: str,
    test_rcpt: str = "",
    names: list[str] | None = None,
) -> list[CheckResult]:
    """Each relay (or those named); without `test_rcpt`, a relay is offered its own fixed
    sender (the login's mailbox, which it surely takes) or else the From address."""
    relays = [relay_config.relay(n) for n in names] if names else list(relay_config.relays)
    return [
        check_relay(
            r,
            mail_from=mail_from,
            secret_key=secret_key,
            test_rcpt=test_rcpt
            or (r.envelope_sender if r.envelope == "fixed" else parseaddr(mail_from)[1]),
        )
        for r in relays
    ]


def _explain(result: CheckResult, relay: Relay, failure: SmtpFailure) -> None:
    stage = str(failure.stage)
    result.failed_stage = stage
    result.classification = failure.classification
    result.answer = (f"{failure.code} {failure.text}" if failure.code else failure.text)[:300]
    cause = failure.cause
    where = f"{relay.host}:{relay.port}"
    low = (failure.text or "").lower()
    if stage == "connect" and failure.code is None:
        result.problem = P(N_("连接不上 %(where)s"), where=where)
        result.advice = P(
            N_(
                '请检查主机名和端口（企业邮箱和邮件推送多用 465 + security = "ssl"，'
                '或 587/25/80 + "starttls"），以及本机防火墙或云服务器是否放行该出站端口。'
            )
        )
    elif stage == "tls" and isinstance(cause, ssl.SSLCertVerificationError):
        result.problem = P(N_("服务器证书未通过验证（%(why)s）"), why=str(cause.verify_message))
        result.advice = P(
            N_(
                "证书不受信任或与主机名不符：请用证书上的主机名连接；中继使用私有 CA 时，"
                "设置 SMTP_CA_FILE（relays 文件中为 ca_file）指向该 CA。不要关闭证书验证。"
            )
        )
    elif stage == "tls" and ("starttls" in low and "not supported" in low):
        result.problem = P(N_("服务器不支持 STARTTLS"))
        result.advice = P(N_('请改用隐式 TLS 端口（465，security = "ssl"），或确认中继地址。'))
    elif stage == "tls":
        result.problem = P(N_("TLS 握手失败"))
        result.advice = P(
            N_(
                '端口 %(port)s 与加密方式可能不匹配：465 用 security = "ssl"，587/25 用 "starttls"。'
            ),
            port=str(relay.port),
        )
    elif stage == "auth" and failure.code is None:
        result.problem = P(N_("服务器没有提供登录 (AUTH)"))
        result.advice = P(
            N_(
                '很多中继只在加密后才允许登录：请设 security = "starttls" 或 "ssl"；'
                "若该中继无需登录，请去掉用户名。"
            )
        )
    elif stage == "auth":
        result.problem = P(N_("登录被拒绝（%(code)s）"), code=str(failure.code))
        result.advice = P(
            N_(
                "用户名或密码不对：腾讯企业邮、阿里企业邮和网易邮箱需要“客户端专用密码/授权码”，"
                "不是网页登录密码；邮件推送的 SMTP 用户名须是已验证的发信地址。"
            )
        )
    elif stage == "mail_from" or (stage == "rcpt" and "sender" in low):
        if relay.envelope == "verp":
            result.problem = P(N_("该服务器拒绝 VERP 退信地址"))
            result.advice = P(
                N_(
                    '请将信封发件人设为 fixed（relays 文件中 envelope = "fixed"，或 '
                    "SMTP_ENVELOPE=fixed），退信改由邮箱轮询处理（BOUNCE_MAILBOX_URL）。"
                )
            )
        else:
            result.problem = P(
                N_("该服务器拒绝信封发件人 %(sender)s"), sender=result.envelope_sender
            )
            result.advice = P(
                N_(
                    "托管中继要求信封发件人就是登录账号：请把 envelope_sender 设为登录用户名"
                    "（或不填，默认即为登录账号）。"
                )
            )
    elif stage == "rcpt" and failure.code and failure.code >= 500:
        result.problem = P(
            N_("中继拒绝收件人 %(rcpt)s（%(code)s）"), rcpt=result.test_rcpt, code=str(failure.code)
        )
        result.advice = P(
            N_(
                "若答复是“Relay access denied”，说明未登录或账号不允许外发：请配置用户名和密码；"
                "若只是测试地址不存在，请用 RELAY_CHECK_RCPT 指定一个真实地址。"
            )
        )
    elif failure.code and 400 <= failure.code < 500:
        result.problem = P(N_("中继暂时拒绝（%(code)s）"), code=str(failure.code))
        result.advice = P(
            N_("多为频率或配额限制：稍后再试，或降低该中继的 per_minute / per_second。")
        )
    else:
        result.problem = P(N_("在 %(stage)s 阶段失败"), stage=result.stage_name(stage))
        result.advice = P(N_("请根据服务器答复检查该中继的设置。"))


def check_from_config(
    config: AppConfig,
    names: list[str] | None = None,
    relay_config: RelayConfig | None = None,
) -> list[CheckResult]:
    """The check of the configured relays (all, or those named), with the app's settings."""
    from newsletter.delivery.relays import load

    return check_all(
        relay_config or load(config),
        mail_from=config.get("MAIL_FROM", ""),
        secret_key=config["SECRET_KEY"],
        test_rcpt=config.get("RELAY_CHECK_RCPT") or "",
        names=names,
    )
