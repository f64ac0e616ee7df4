"""`relays check` against the real Postfix rig (AUTH required, sender-login checks, STARTTLS
and implicit TLS with the rig's own CA) for each broken setup, and a closed port."""

from __future__ import annotations

import pytest

from newsletter.delivery.relaycheck import check_relay
from newsletter.delivery.relays import Relay
from newsletter.devsmtp import free_port
from tests.conftest import csrf_token

MAIL_FROM = "周报 <weekly@news.example.org>"


def _relay(rig, **changes) -> Relay:
    values = {
        "name": "rig",
        "host": rig.host,
        "port": rig.smtps_port,
        "security": "ssl",
        "username": rig.login[0],
        "password": rig.login[1],
        "ca_file": str(rig.ca_file),
        "envelope": "fixed",
        "envelope_sender": rig.sender,
        "timeout": 10,
    }
    return Relay(**{**values, **changes})


def _check(rig, **changes):
    return check_relay(
        _relay(rig, **changes),
        mail_from=MAIL_FROM,
        secret_key="s",
        test_rcpt=rig.address("reader-check"),
    )


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_a_good_relay_passes_every_step(postfix, security):
    port = postfix.smtps_port if security == "ssl" else postfix.port
    result = _check(postfix, security=security, port=port)
    assert result.ok, result.lines()
    assert result.passed == ["connect", "tls", "auth", "mail_from", "rcpt", "rset"]
    assert result.lines()[0] == "中继 rig：检查通过"


def test_a_wrong_password_is_named(postfix):
    result = _check(postfix, password="wrong")
    assert (result.failed_stage, result.passed) == ("auth", ["connect", "tls"])
    assert str(result.problem) == "登录被拒绝（535）" and "授权码" in str(result.advice)
    assert "535" in result.answer


def test_a_verp_sender_refused_says_to_use_fixed(postfix):
    result = _check(postfix, envelope="verp")
    assert result.failed_stage == "mail_from"
    assert str(result.problem) == "该服务器拒绝 VERP 退信地址"
    assert 'envelope = "fixed"' in str(result.advice) and "553" in result.answer
    assert "+b999999999-" in result.envelope_sender


def test_a_fixed_sender_that_is_not_the_login(postfix):
    result = _check(postfix, envelope_sender="someone-else@news.example.org")
    assert result.failed_stage == "mail_from"
    assert "someone-else@news.example.org" in str(result.problem) and "登录" in str(result.advice)


def test_an_untrusted_certificate_is_shown(postfix):
    result = _check(postfix, ca_file=None)
    assert result.failed_stage == "tls" and result.passed == ["connect"]
    assert str(result.problem).startswith("服务器证书未通过验证")
    assert "SMTP_CA_FILE" in str(result.advice)


def test_implicit_tls_on_a_plain_port_is_explained(postfix):
    result = _check(postfix, port=postfix.port, security="ssl")
    assert result.failed_stage == "tls" and "465" in str(result.advice)


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_a_closed_port(postfix, security):
    result = _check(postfix, port=free_port(), security=security)
    assert result.failed_stage == "connect" and str(result.problem).startswith("连接不上")
    assert result.passed == [] and "465" in str(result.advice)


def test_cli_checks_every_relay_and_fails_when_one_does(app, runner, postfix, tmp_path):
    path = tmp_path / "relays.toml"
    path.write_text(
        f"""
[[relay]]
name = "good"
host = "{postfix.host}"
port = {postfix.smtps_port}
security = "ssl"
ca_file = "{postfix.ca_file}"
username = "{postfix.login[0]}"
password_env = "RIG_PASSWORD"
envelope = "fixed"
envelope_sender = "{postfix.sender}"

[[relay]]
name = "verp"
host = "{postfix.host}"
port = {postfix.port}
security = "starttls"
ca_file = "{postfix.ca_file}"
username = "{postfix.login[0]}"
password_env = "RIG_PASSWORD"
""",
        "utf-8",
    )
    app.config.update(RELAYS_FILE=str(path), RELAY_CHECK_RCPT=postfix.address("reader-cli"))
    result = runner.invoke(args=["relays", "check"], env={"RIG_PASSWORD": postfix.login[1]})
    assert result.exit_code == 1, result.output
    assert "中继 good：检查通过" in result.output
    assert "中继 verp：检查未通过" in result.output
    assert "该服务器拒绝 VERP 退信地址：" not in result.output  # problem and advice apart
    assert "该服务器拒绝 VERP 退信地址" in result.output and "fixed" in result.output
    only = runner.invoke(args=["relays", "check", "good"], env={"RIG_PASSWORD": postfix.login[1]})
    assert only.exit_code == 0 and "verp" not in only.output
    unknown = runner.invoke(args=["relays", "check", "nope"], env={"RIG_PASSWORD": "x"})
    assert unknown.exit_code == 2 and "no relay named 'nope'" in unknown.output


def _wrong_password(app, postfix) -> None:
    """The app's one relay: the rig, with a password it refuses."""
    app.config.update(
        SMTP_HOST=postfix.host,
        SMTP_PORT=postfix.port,
        SMTP_SECURITY="starttls",
        SMTP_CA_FILE=str(postfix.ca_file),
        SMTP_USERNAME=postfix.login[0],
        SMTP_PASSWORD="wrong-password",
        SMTP_ENVELOPE="fixed",
        MAIL_FROM=f"周报 <{postfix.sender}>",
        RELAY_CHECK_RCPT=postfix.address("reader-page"),
    )


def test_admin_page_lists_relays_and_its_button_runs_the_check(app, staff_client, postfix):
    _wrong_password(app, postfix)
    client = staff_client("admin")
    page = client.get("/staff/relays").get_data(as_text=True)
    assert "default" in page and f"{postfix.host}:{postfix.port}" in page and "STARTTLS" in page
    response = client.post(
        "/staff/relays/check",
        data={"csrf_token": csrf_token(client, "/staff/relays"), "name": "default"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "检查未通过" in html and "登录被拒绝（535）" in html and "授权码" in html
    assert client.post("/staff/relays/check", data={"name": "default"}).status_code == 400
    assert staff_client("sender").get("/staff/relays").status_code == 403


def _failed_check_page(app, staff_client, postfix, lang: str) -> str:
    """The relays page after a check that failed at AUTH (a wrong password), in `lang`."""
    from tests.web.test_words import visible_text

    _wrong_password(app, postfix)
    client = staff_client("admin")
    response = client.post(
        f"/staff/relays/check?lang={lang}",
        data={"csrf_token": csrf_token(client, "/staff/relays"), "name": "default"},
    )
    assert response.status_code == 200
    return visible_text(response.get_data(as_text=True), [])


def test_the_relay_checks_advice_in_english(app, staff_client, postfix):
    from tests.web.test_words import CJK

    text = _failed_check_page(app, staff_client, postfix, "en")
    assert not CJK.search(text), (CJK.findall(text)[:20], text)
    assert "Login refused (535)" in text
    assert "not the web login password" in text


def test_the_relay_checks_advice_in_chinese(app, staff_client, postfix):
    text = _failed_check_page(app, staff_client, postfix, "zh-CN")
    assert "登录被拒绝（535）" in text
    assert (
        "用户名或密码不对：腾讯企业邮、阿里企业邮和网易邮箱需要“客户端专用密码/授权码”，"
        "不是网页登录密码；邮件推送的 SMTP 用户名须是已验证的发信地址。"
    ) in text
