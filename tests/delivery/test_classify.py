"""The one classifier (newsletter/delivery/classify.py), table-driven over the answers the
big receivers and relays really give. Texts are as the servers send them (multi-line
answers joined), from the providers' documentation, Postfix's sources and our own rig."""

from __future__ import annotations

import socket
import ssl

import pytest

from newsletter.delivery.classify import (
    Stage,
    Verdict,
    classify_dsn,
    classify_error,
    classify_smtp,
)

S, V = Stage, Verdict
HARD, SOFT, TRANSIENT, MESSAGE, RELAY = (
    V.HARD_BOUNCE,
    V.SOFT_BOUNCE,
    V.TRANSIENT,
    V.MESSAGE,
    V.RELAY,
)

ANSWERS = [
    # --- Gmail -------------------------------------------------------------------------------
    (
        "gmail user unknown",
        S.RCPT,
        550,
        (
            "5.1.1 The email account that you tried to reach does "
            "not exist. Please try double-checking the recipient's email address for typos or "
            "unnecessary spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser"
        ),
        HARD,
    ),
    (
        "gmail disabled",
        S.RCPT,
        550,
        (
            "5.2.1 The email account that you tried to reach is "
            "disabled. Learn more at https://support.google.com/mail/?p=DisabledUser"
        ),
        HARD,
    ),
    (
        "gmail over quota 4xx",
        S.RCPT,
        452,
        (
            "4.2.2 The email account that you tried to reach is "
            "over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp"
        ),
        SOFT,
    ),
    (
        "gmail over quota 5xx",
        S.DATA,
        552,
        ("5.2.2 The email account that you tried to reach is over quota and inactive."),
        SOFT,
    ),
    (
        "gmail too big",
        S.DATA,
        552,
        "5.3.4 Your message exceeded Google's message size limits.",
        MESSAGE,
    ),
    (
        "gmail likely spam",
        S.DATA,
        550,
        (
            "5.7.1 [203.0.113.5] Our system has detected that this "
            "message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this "
            "message has been blocked."
        ),
        MESSAGE,
    ),
    (
        "gmail policy",
        S.RCPT,
        550,
        (
            "5.7.1 The user or domain that you are sending to (or from) "
            "has a policy that prohibited the mail that you sent."
        ),
        MESSAGE,
    ),
    (
        "gmail unauthenticated",
        S.DATA,
        550,
        (
            "5.7.26 This mail has been blocked because the sender "
            "is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM."
        ),
        RELAY,
    ),
    (
        "gmail dmarc",
        S.DATA,
        550,
        (
            "5.7.26 Unauthenticated email from example.org is not accepted "
            "due to domain's DMARC policy."
        ),
        RELAY,
    ),
    (
        "gmail no PTR",
        S.DATA,
        550,
        (
            "5.7.25 [203.0.113.5] The IP address sending this message "
            "does not have a PTR record setup"
        ),
        RELAY,
    ),
    (
        "gmail IP blocked",
        S.DATA,
        550,
        (
            "5.7.1 [203.0.113.5] Our system has detected an unusual "
            "rate of unsolicited mail originating from your IP address. To protect our users from "
            "spam, mail sent from your IP address has been blocked."
        ),
        RELAY,
    ),
    (
        "gmail IP rate limited",
        S.DATA,
        421,
        (
            "4.7.28 [203.0.113.5] Our system has detected an "
            "unusual rate of unsolicited mail originating from your IP address. To protect our users "
            "from spam, mail sent from your IP address has been temporarily rate limited."
        ),
        TRANSIENT,
    ),
    (
        "gmail receiving rate",
        S.RCPT,
        450,
        (
            "4.2.1 The user you are trying to contact is "
            "receiving mail at a rate that prevents additional messages from being delivered."
        ),
        TRANSIENT,
    ),
    ("gmail try later", S.CONNECT, 421, "4.7.0 Try again later, closing connection.", TRANSIENT),
    (
        "gmail smtp auth",
        S.AUTH,
        535,
        (
            "5.7.8 Username and Password not accepted. Learn more at "
            "https://support.google.com/mail/?p=BadCredentials"
        ),
        RELAY,
    ),
    ("gmail app password", S.AUTH, 534, "5.7.9 Application-specific password required.", RELAY),
    ("gmail auth required", S.MAIL_FROM, 530, "5.7.0 Authentication Required.", RELAY),
    ("gmail daily limit", S.RCPT, 550, "5.4.5 Daily user sending limit exceeded.", RELAY),
    # --- Outlook / Microsoft 365 ---------------------------------------------------------------
    (
        "outlook 5.7.515",
        S.DATA,
        550,
        (
            "5.7.515 Access denied, sending domain [EXAMPLE.ORG] does "
            "not meet the required authentication level."
        ),
        RELAY,
    ),
    (
        "outlook mailbox unavailable",
        S.RCPT,
        550,
        (
            "5.5.0 Requested action not taken: mailbox "
            "unavailable (S2017062302). [AM4PEPF00027A5F.eurprd04.prod.outlook.com]"
        ),
        HARD,
    ),
    (
        "o365 recipient not found",
        S.RCPT,
        550,
        ("5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"),
        HARD,
    ),
    (
        "o365 DBEB",
        S.RCPT,
        550,
        (
            "5.4.1 Recipient address rejected: Access denied. "
            "[DB5PEPF00014B9D.eurprd02.prod.outlook.com]"
        ),
        HARD,
    ),
    (
        "outlook block list",
        S.CONNECT,
        550,
        (
            "5.7.1 Unfortunately, messages from [203.0.113.5] "
            "weren't sent. Please contact your Internet service provider since part of their network "
            "is on our block list (S3150)."
        ),
        RELAY,
    ),
    (
        "outlook banned IP",
        S.RCPT,
        550,
        "5.7.606 Access denied, banned sending IP [203.0.113.5].",
        RELAY,
    ),
    (
        "outlook server busy",
        S.RCPT,
        451,
        ("4.7.500 Server busy. Please try again later from [203.0.113.5]. (S77714)"),
        TRANSIENT,
    ),
    (
        "outlook reputation",
        S.CONNECT,
        421,
        (
            "4.7.650 The mail server [203.0.113.5] has been "
            "temporarily rate limited due to IP reputation."
        ),
        TRANSIENT,
    ),
    (
        "o365 quota",
        S.DATA,
        554,
        (
            "5.2.0 STOREDRV.Deliver.Exception:QuotaExceededException."
            "MapiExceptionShutoffQuotaExceeded; Failed to process message"
        ),
        SOFT,
    ),
    (
        "o365 send as denied",
        S.DATA,
        554,
        (
            "5.2.0 STOREDRV.Submission.Exception:SendAsDenied"
            "Exception.MapiExceptionSendAsDenied; Failed to process message due to a permanent "
            "exception"
        ),
        RELAY,
    ),
    (
        "o365 smtp auth off",
        S.AUTH,
        535,
        (
            "5.7.139 Authentication unsuccessful, SmtpClient"
            "Authentication is disabled for the Tenant."
        ),
        RELAY,
    ),
    # --- QQ Mail / Tencent enterprise mail -------------------------------------------------------
    (
        "qq mailbox not found",
        S.RCPT,
        550,
        (
            "Mailbox not found. http://service.mail.qq.com/cgi-bin/"
            "help?subtype=1&&id=20022&&no=1000728"
        ),
        HARD,
    ),
    (
        "qq content denied",
        S.DATA,
        550,
        (
            "Mail content denied. http://service.mail.qq.com/cgi-bin/"
            "help?subtype=1&&id=20022&&no=1000726"
        ),
        MESSAGE,
    ),
    (
        "qq ip frequency",
        S.RCPT,
        550,
        (
            "Ip frequency limited. http://service.mail.qq.com/cgi-bin/"
            "help?subtype=1&&id=20022&&no=1000722"
        ),
        TRANSIENT,
    ),
    (
        "qq connection frequency",
        S.CONNECT,
        421,
        (
            "Connection frequency limited. http://service."
            "mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000723"
        ),
        TRANSIENT,
    ),
    (
        "qq login fail",
        S.AUTH,
        535,
        (
            "Login Fail. Please enter your authorization code to login. "
            "More information in https://service.mail.qq.com/detail/0/53"
        ),
        RELAY,
    ),
    (
        "exmail sender must be login",
        S.MAIL_FROM,
        501,
        ("mail from address must be same as authorization user."),
        RELAY,
    ),
    ("exmail domain frequency", S.RCPT, 550, "Domain frequency limited", TRANSIENT),
    # --- NetEase 163 / 126 ---------------------------------------------------------------------
    ("163 user not found", S.RCPT, 550, "User not found: reader@163.com", HARD),
    (
        "163 HL:ICC",
        S.CONNECT,
        421,
        (
            "HL:ICC 163 smtp10,DsCowADnZ0Y1 http://mail.163.com/help/"
            "help_spam_16.htm?ip=203.0.113.5&hostid=smtp10&time=1700000000"
        ),
        TRANSIENT,
    ),
    (
        "163 HL:IFC",
        S.RCPT,
        421,
        "HL:IFC 163 smtp10 http://mail.163.com/help/help_spam_16.htm",
        TRANSIENT,
    ),
    (
        "163 HL:REP",
        S.RCPT,
        421,
        "HL:REP 163 smtp10 http://mail.163.com/help/help_spam_16.htm",
        TRANSIENT,
    ),
    (
        "163 MI:DMC 450",
        S.RCPT,
        450,
        ("MI:DMC 163 smtp10 http://mail.163.com/help/help_spam_16.htm"),
        TRANSIENT,
    ),
    (
        "126 MI:DMC 451",
        S.DATA,
        451,
        "MI:DMC 126 smtp7 http://mail.163.com/help/help_spam_16.htm",
        TRANSIENT,
    ),
    (
        "163 RP:DRC",
        S.RCPT,
        450,
        "RP:DRC 163 smtp10 http://mail.163.com/help/help_spam_16.htm",
        TRANSIENT,
    ),
    (
        "163 DT:SPM 451",
        S.DATA,
        451,
        (
            "DT:SPM 163 smtp10,DsCowAD3 1700000000 http://mail.163.com/"
            "help/help_spam_16.htm?ip=203.0.113.5"
        ),
        TRANSIENT,
    ),
    (
        "163 DT:SPM 554",
        S.DATA,
        554,
        (
            "DT:SPM 163 smtp10,DsCowAD3 1700000000 http://mail.163.com/"
            "help/help_spam_16.htm?ip=203.0.113.5"
        ),
        MESSAGE,
    ),
    (
        "163 MI:SFQ",
        S.MAIL_FROM,
        451,
        ("MI:SFQ 163 smtp10 http://mail.163.com/help/help_spam_16.htm"),
        TRANSIENT,
    ),
    ("126 MI:SPF", S.RCPT, 550, "MI:SPF 126 mx5 http://mail.163.com/help/help_spam_16.htm", RELAY),
    # --- Yahoo ---------------------------------------------------------------------------------
    (
        "yahoo no account",
        S.RCPT,
        554,
        (
            "delivery error: dd This user doesn't have a yahoo.com "
            "account (reader@yahoo.com) [0] - mta1008.mail.ne1.yahoo.com"
        ),
        HARD,
    ),
    (
        "yahoo mailbox disabled",
        S.RCPT,
        554,
        (
            "30 Sorry, your message to reader@yahoo.com cannot "
            "be delivered. This mailbox is disabled (554.30)."
        ),
        HARD,
    ),
    (
        "yahoo TSS04",
        S.CONNECT,
        421,
        (
            "4.7.0 [TSS04] Messages from 203.0.113.5 temporarily "
            "deferred due to unexpected volume or user complaints - 4.16.55.1; see "
            "https://postmaster.yahooinc.com/error-codes"
        ),
        TRANSIENT,
    ),
    (
        "yahoo TSS09",
        S.RCPT,
        553,
        (
            "5.7.2 [TSS09] All messages from 203.0.113.5 will be "
            "permanently deferred; Retrying will NOT succeed. See "
            "https://postmaster.yahooinc.com/error-codes"
        ),
        RELAY,
    ),
    (
        "yahoo policy",
        S.DATA,
        554,
        (
            "5.7.9 Message not accepted for policy reasons.  See "
            "https://postmaster.yahooinc.com/error-codes"
        ),
        MESSAGE,
    ),
    (
        "yahoo unauthenticated",
        S.DATA,
        550,
        (
            "5.7.9 This mail has been blocked because the sender "
            "is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM."
        ),
        RELAY,
    ),
    # --- Postfix (the relay of the test rig, and remote Postfix MXes) -------------------------
    (
        "postfix sender login mismatch",
        S.MAIL_FROM,
        553,
        (
            "5.7.1 <weekly+b12-3f9a0c1b2d@test."
            "example>: Sender address rejected: not owned by user weekly"
        ),
        RELAY,
    ),
    (
        "postfix sender mismatch at rcpt",
        S.RCPT,
        553,
        (
            "5.7.1 <weekly+b12-3f9a0c1b2d@test."
            "example>: Sender address rejected: not owned by user weekly"
        ),
        RELAY,
    ),
    (
        "postfix not logged in",
        S.MAIL_FROM,
        553,
        ("5.7.1 <weekly@test.example>: Sender address rejected: not logged in"),
        RELAY,
    ),
    (
        "postfix auth failed",
        S.AUTH,
        535,
        ("5.7.8 Error: authentication failed: (reason unavailable)"),
        RELAY,
    ),
    (
        "postfix user unknown virtual",
        S.RCPT,
        550,
        (
            "5.1.1 <nobody@test.example>: Recipient "
            "address rejected: User unknown in virtual mailbox table"
        ),
        HARD,
    ),
    (
        "postfix user unknown local",
        S.RCPT,
        550,
        (
            "5.1.1 <nobody@example.org>: Recipient address "
            "rejected: User unknown in local recipient table"
        ),
        HARD,
    ),
    ("postfix storage", S.MAIL_FROM, 452, "4.3.1 Insufficient system storage", TRANSIENT),
    ("postfix storage at rcpt", S.RCPT, 452, "4.3.1 Insufficient system storage", TRANSIENT),
    (
        "postfix too many connections",
        S.CONNECT,
        421,
        ("4.7.0 mta.test.example Error: too many connections from 127.0.0.1"),
        TRANSIENT,
    ),
    (
        "postfix rate limit",
        S.MAIL_FROM,
        450,
        "4.7.1 Error: too much mail from 127.0.0.1",
        TRANSIENT,
    ),
    ("postfix relay denied", S.RCPT, 554, "5.7.1 <reader@example.org>: Relay access denied", RELAY),
    (
        "postfix recipient policy",
        S.RCPT,
        554,
        ("5.7.1 <reader@example.org>: Recipient address rejected: Access denied"),
        MESSAGE,
    ),
    ("postfix size", S.DATA, 552, "5.3.4 Message size exceeds fixed limit", MESSAGE),
    (
        "postfix size at mail from",
        S.MAIL_FROM,
        552,
        "5.3.4 Message size exceeds fixed limit",
        MESSAGE,
    ),
    (
        "postfix greylist",
        S.RCPT,
        450,
        (
            "4.2.0 <reader@example.org>: Recipient address rejected: "
            "Greylisted, see http://postgrey.schweikert.ch/help/example.org.html"
        ),
        TRANSIENT,
    ),
    (
        "postfix blocked using",
        S.RCPT,
        554,
        ("5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org"),
        RELAY,
    ),
    (
        "postfix starttls first",
        S.MAIL_FROM,
        530,
        "5.7.0 Must issue a STARTTLS command first",
        RELAY,
    ),
    (
        "dovecot lmtp quota",
        S.DATA,
        552,
        ("5.2.2 <reader@example.org> Quota exceeded (mailbox for user is full)"),
        SOFT,
    ),
    (
        "unknown sender domain",
        S.MAIL_FROM,
        450,
        ("4.1.8 <weekly@news.invalid>: Sender address rejected: Domain not found"),
        TRANSIENT,
    ),
    # --- Alibaba enterprise mail / DirectMail --------------------------------------------------
    ("aliyun auth failure", S.AUTH, 526, "Authentication failure[0]", RELAY),
    (
        "aliyun sender must be login",
        S.MAIL_FROM,
        440,
        ("mail from account doesn't conform with authentication"),
        RELAY,
    ),
    ("aliyun non-local sender", S.MAIL_FROM, 501, '"MAIL FROM" is non-local account', RELAY),
    ("aliyun rcpt not exist", S.RCPT, 554, "RCPT (reader@example.cn) dosn't exist", HARD),
    ("aliyun rcpt unavailable", S.RCPT, 553, '"RCPT TO" mailbox unavailable', HARD),
    ("aliyun full", S.RCPT, 552, "mailbox is full", SOFT),
    (
        "aliyun data too long",
        S.DATA,
        510,
        ("The length of DATA content is achieved the maximum threshold"),
        MESSAGE,
    ),
    ("aliyun virus", S.DATA, 551, "virus infected mail rejected", MESSAGE),
    (
        "aliyun daily quota",
        S.RCPT,
        504,
        ("the number of RCPT attempts is achieved the maximum threshold"),
        RELAY,
    ),
    ("aliyun rate", S.RCPT, 505, "the total of RCPTs is achieved the maximum threshold", TRANSIENT),
    ("aliyun behaviour spam", S.DATA, 554, "Reject by behaviour spam", RELAY),
    ("aliyun transient spam", S.DATA, 454, "Transient reject by behaviour spam", TRANSIENT),
    ("aliyun content spam", S.DATA, 554, "Reject by content spam", MESSAGE),
    ("aliyun may not receive", S.RCPT, 542, "This account isn't allowed to receive email", HARD),
    ("aliyun may not send", S.MAIL_FROM, 541, "This account isn't allowed to send email", RELAY),
    # --- the stage decides: mailbox words where no reader has been named are not the reader's --
    (
        "user unknown at MAIL FROM",
        S.MAIL_FROM,
        550,
        (
            "5.1.0 <weekly@news.example.org>: Sender "
            "address rejected: User unknown in virtual mailbox table"
        ),
        RELAY,
    ),
    (
        "5.1.1 after DATA",
        S.DATA,
        550,
        ("5.1.1 <reader@example.org>: Recipient address rejected: User unknown"),
        MESSAGE,
    ),
    ("5xx at connect", S.CONNECT, 554, "mx.example.org ESMTP not accepting messages", RELAY),
    ("5xx at TLS", S.TLS, 554, "5.7.3 TLS not available due to local problem", RELAY),
    ("4xx at AUTH", S.AUTH, 454, "4.7.0 Temporary authentication failure", TRANSIENT),
    ("bare 550 without mailbox words", S.RCPT, 550, "Requested action not taken", MESSAGE),
    ("bare 551 user not local", S.RCPT, 551, "User not local; please try <x@example.net>", MESSAGE),
    ("bare 553 mailbox name", S.RCPT, 553, "sorry, no mailbox here by that name. (#5.1.1)", HARD),
    ("bare 550 no such user", S.RCPT, 550, "No such user here", HARD),
    (
        "450 user unknown is temporary",
        S.RCPT,
        450,
        (
            "4.1.1 <reader@example.org>: Recipient "
            "address rejected: unverified address: connect to mx.example.org: Connection refused"
        ),
        TRANSIENT,
    ),
    ("5.7.1 generic policy", S.RCPT, 550, "5.7.1 Message rejected", MESSAGE),
]


@pytest.mark.parametrize(
    ("stage", "code", "text", "verdict"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
def test_answers(stage, code, text, verdict):
    c = classify_smtp(stage, code, text)
    assert c.verdict == verdict, c.reason
    assert c.stage == stage and c.code == code
    assert c.suppress == (verdict == HARD)
    assert c.pauses_send == (verdict == RELAY)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(c.reason))  # a zh-CN reason for staff
    assert c.text and c.text in " ".join(text.split())


def test_hard_bounce_only_at_rcpt_or_in_a_dsn():
    """The same mailbox-bad answer at each stage: only RCPT (and DSN) suppress."""
    text = "5.1.1 <reader@example.org>: Recipient address rejected: User unknown"
    verdicts = {stage: classify_smtp(stage, 550, text).verdict for stage in Stage}
    assert [s for s, v in verdicts.items() if v == HARD] == [S.RCPT, S.DSN]
    assert all(verdicts[s] == RELAY for s in (S.CONNECT, S.TLS, S.AUTH, S.MAIL_FROM))
    assert verdicts[S.DATA] == MESSAGE


def test_enhanced_codes_and_text_fields():
    c = classify_smtp(
        S.RCPT,
        550,
        "5.1.1 The email account that you tried to reach does not "
        "exist.\n5.1.1 Please try double-checking",
    )
    assert c.enhanced == "5.1.1"
    assert "\n" not in c.text
    assert c.summary.startswith("rcpt: 550 5.1.1 The email account")
    assert classify_smtp(S.RCPT, 550, "Mailbox not found.").enhanced is None
    # version-like numbers are not enhanced codes
    assert classify_smtp(S.DATA, 554, "queue 4.16.55.1 full").enhanced is None


def test_retry_after():
    assert classify_smtp(S.DATA, 451, "DT:SPM 163 smtp10").retry_after == 120
    assert classify_smtp(S.MAIL_FROM, 451, "MI:SFQ 163 smtp10").retry_after == 900
    assert classify_smtp(S.RCPT, 450, "4.7.1 please try again in 30 seconds").retry_after == 30
    assert classify_smtp(S.RCPT, 421, "4.7.0 retry after 5 minutes").retry_after == 300
    assert classify_smtp(S.RCPT, 421, "4.7.0 Try again later").retry_after is None


def test_accepted_answers_are_not_failures():
    c = classify_smtp(S.DATA, 250, "2.0.0 Ok: queued as 4Tb2Kx1yz")
    assert c.verdict == V.DELIVERED and not c.suppress and not c.pauses_send


def test_no_answer_is_transient():
    assert classify_smtp(S.RCPT, None, "").verdict == TRANSIENT


# --- errors without an answer ------------------------------------------------------------------


class SMTPServerDisconnected(OSError):  # the shape of smtplib's, without importing it here
    pass


class SMTPResponseLike(Exception):
    def __init__(self, code, msg):
        super().__init__(code, msg)
        self.smtp_code, self.smtp_error = code, msg


class SMTPRecipientsRefusedLike(Exception):
    def __init__(self, recipients):
        super().__init__(recipients)
        self.recipients = recipients


def _cert_error() -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
    )
    err.verify_message = "self-signed certificate"
    return err


ERRORS = [
    ("refused", S.CONNECT, ConnectionRefusedError(111, "Connection refused"), RELAY, S.CONNECT),
    ("dns", S.CONNECT, socket.gaierror(-2, "Name or service not known"), RELAY, S.CONNECT),
    ("timeout connect", S.CONNECT, TimeoutError("timed out"), TRANSIENT, S.CONNECT),
    ("timeout data", S.DATA, TimeoutError("timed out"), TRANSIENT, S.DATA),
    ("cert", S.TLS, _cert_error(), RELAY, S.TLS),
    ("cert at connect (implicit TLS)", S.CONNECT, _cert_error(), RELAY, S.TLS),
    (
        "tls handshake",
        S.CONNECT,
        ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version"),
        RELAY,
        S.TLS,
    ),
    ("tls broken mid-data", S.DATA, ssl.SSLError(1, "[SSL] bad record mac"), TRANSIENT, S.DATA),
    (
        "dropped",
        S.DATA,
        SMTPServerDisconnected("Connection unexpectedly closed"),
        TRANSIENT,
        S.DATA,
    ),
    ("reset", S.RCPT, ConnectionResetError(104, "Connection reset by peer"), TRANSIENT, S.RCPT),
    (
        "smtp answer carried",
        S.AUTH,
        SMTPResponseLike(535, b"5.7.8 Error: authentication failed"),
        RELAY,
        S.AUTH,
    ),
    (
        "recipients refused",
        S.RCPT,
        SMTPRecipientsRefusedLike(
            {
                "x@test.example": (
                    550,
                    (
                        b"5.1.1 <x@test.example>: Recipient address rejected: User "
                        b"unknown in virtual mailbox table"
                    ),
                )
            }
        ),
        HARD,
        S.RCPT,
    ),
]


@pytest.mark.parametrize(
    ("stage", "exc", "verdict", "reported_stage"),
    [e[1:] for e in ERRORS],
    ids=[e[0] for e in ERRORS],
)
def test_errors(stage, exc, verdict, reported_stage):
    c = classify_error(stage, exc)
    assert c.verdict == verdict, c.reason
    assert c.stage == reported_stage
    assert c.reason


def test_real_smtplib_exceptions():
    import smtplib

    c = classify_error(
        S.MAIL_FROM,
        smtplib.SMTPSenderRefused(
            553,
            b"5.7.1 <a+b1-x@test.example>: Sender address rejected: not owned by user weekly",
            "a+b1-x@test.example",
        ),
    )
    assert c.verdict == RELAY and c.code == 553 and c.enhanced == "5.7.1"
    assert classify_error(S.DATA, smtplib.SMTPServerDisconnected("gone")).verdict == TRANSIENT
    assert (
        classify_error(S.AUTH, smtplib.SMTPNotSupportedError("AUTH not offered")).verdict == RELAY
    )
    assert (
        classify_error(
            S.AUTH,
            smtplib.SMTPAuthenticationError(535, b"5.7.8 Username and Password not accepted"),
        ).verdict
        == RELAY
    )


# --- DSNs ----------------------------------------------------------------------------------------

DSNS = [
    (
        "postfix local unknown",
        "failed",
        "5.1.1",
        'X-Postfix; unknown user: "nobody@test.example"',
        HARD,
    ),
    (
        "postfix remote unknown",
        "failed",
        "5.1.1",
        (
            "smtp; 550 5.1.1 <reader@example.org>: "
            "Recipient address rejected: User unknown in local recipient table"
        ),
        HARD,
    ),
    (
        "gmail via relay",
        "failed",
        "5.1.1",
        ("smtp; 550-5.1.1 The email account that you tried to reach does not exist."),
        HARD,
    ),
    (
        "qq via relay",
        "failed",
        "5.0.0",
        (
            "smtp; 550 Mailbox not found. http://service.mail.qq.com/"
            "cgi-bin/help?subtype=1&&id=20022&&no=1000728"
        ),
        HARD,
    ),
    ("163 via relay", "failed", "5.0.0", "smtp; 550 User not found: reader@163.com", HARD),
    (
        "no such domain",
        "failed",
        "5.4.4",
        (
            "X-Postfix; Host or domain name not found. Name "
            "service error for name=example.invalid type=A: Host not found"
        ),
        HARD,
    ),
    ("full", "failed", "5.2.2", "smtp; 552 5.2.2 Mailbox full", SOFT),
    (
        "expired after 4xx",
        "failed",
        "4.4.1",
        ("X-Postfix; connect to mx.example.org[192.0.2.1]:25: Connection timed out"),
        SOFT,
    ),
    (
        "delayed",
        "delayed",
        "4.4.1",
        "X-Postfix; connect to mx.example.org: Connection refused",
        TRANSIENT,
    ),
    (
        "spam refused after relay",
        "failed",
        "5.7.1",
        "smtp; 550 5.7.1 likely unsolicited mail",
        MESSAGE,
    ),
    ("too big", "failed", "5.3.4", "smtp; 552 5.3.4 Message size exceeds fixed limit", MESSAGE),
    (
        "outlook 5.7.515",
        "failed",
        "5.7.515",
        (
            "smtp; 550 5.7.515 Access denied, sending domain "
            "[EXAMPLE.ORG] does not meet the required authentication level."
        ),
        RELAY,
    ),
    ("163 spf", "failed", "5.0.0", "smtp; 550 MI:SPF 126 mx5 http://mail.163.com/help/", RELAY),
    ("vague permanent, no words", "failed", "5.0.0", "smtp; 554 Transaction failed", MESSAGE),
    ("vague permanent, mailbox words", "failed", "5.0.0", "smtp; 550 user unknown", HARD),
    (
        "outlook mailbox unavailable",
        "failed",
        "5.5.0",
        ("smtp; 550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)."),
        HARD,
    ),
]


@pytest.mark.parametrize(
    ("action", "status", "diagnostic", "verdict"), [d[1:] for d in DSNS], ids=[d[0] for d in DSNS]
)
def test_dsns(action, status, diagnostic, verdict):
    c = classify_dsn(action, status, diagnostic)
    assert c.verdict == verdict, c.reason
    assert c.stage == S.DSN
    assert c.suppress == (verdict == HARD)


def test_dsn_not_a_failure():
    for action in ("delivered", "relayed", "expanded", " Delivered "):
        assert classify_dsn(action, "2.0.0", "smtp; 250 ok").verdict == V.DELIVERED


def test_dsn_fields():
    c = classify_dsn("failed", "5.1.1", "smtp; 550 5.1.1 <r@example.org>: User unknown")
    assert (c.code, c.enhanced) == (550, "5.1.1")
    assert c.text.startswith("550 5.1.1")


def test_dsn_status_field_outweighs_words_about_the_reader():
    """The Status field is the reporting MTA's conclusion; words about our sender still win."""
    assert classify_dsn("failed", "5.1.1", "smtp; 552 5.2.2 Mailbox full").verdict == HARD
    assert classify_dsn("failed", "5.2.2", "smtp; 550 user unknown").verdict == SOFT
    assert (
        classify_dsn("failed", "5.1.1", "smtp; 550 5.1.1 blocked using zen.spamhaus.org").verdict
        == RELAY
    )
    # the same words in a live SMTP answer are read as they are
    assert classify_smtp(S.RCPT, 552, "5.1.1 Mailbox full").verdict == SOFT


def test_every_reason_is_said_in_english_on_an_english_page(app):
    """The reasons are phrases: zh-CN as `str` (logs, the CLI, the staff mail), English where
    the page is English, the parameters (codes, stages) in both."""
    import re

    from flask_babel import force_locale, gettext

    cjk = re.compile(r"[\u4e00-\u9fff]")
    said = [classify_smtp(stage, code, text) for _n, stage, code, text, _v in ANSWERS]
    said += [classify_error(stage, exc) for _n, stage, exc, _v, _s in ERRORS]
    said += [classify_dsn(a, s, d) for _n, a, s, d, _v in DSNS]
    said += [classify_smtp(Stage.RCPT, 452, "4.3.1 insufficient system storage")]
    with app.test_request_context("/"), force_locale("en"):
        for c in said:
            english = c.reason.text(gettext)
            assert english and not cjk.search(english), (str(c.reason), english)
            assert cjk.search(str(c.reason)), english  # zh-CN without a reader
