"""The API speaks one language per request: its error messages (its own, the services',
the parser's, the framework's 404) in the request's Accept-Language, zh-CN by default,
with Content-Language saying which; `code` is the same in both. The pages keep their own
rule (?lang=, the cookie, the subscriber's language) and ignore Accept-Language."""

from __future__ import annotations

import ast
import re

import pytest

from tests.conftest import ROOT

CJK = re.compile(r"[\u4e00-\u9fff]")
EN = {"Accept-Language": "en"}


def _both(send) -> tuple[dict, dict]:
    """The error of the same request with no Accept-Language and with English."""
    zh, en = send({}), send(EN)
    assert zh.status_code == en.status_code and zh.status_code >= 400
    assert zh.headers["Content-Language"] == "zh-CN" and en.headers["Content-Language"] == "en"
    zh_error, en_error = zh.get_json()["error"], en.get_json()["error"]
    assert zh_error["code"] == en_error["code"] and zh_error["status"] == en_error["status"]
    return zh_error, en_error


def test_an_unknown_field_in_chinese_by_default_and_in_english(app, api):
    client, headers = api("editor")
    zh, en = _both(
        lambda lang: client.post(
            "/api/v1/issues", json={"text": "x", "extra": 1}, headers={**headers, **lang}
        )
    )
    assert zh["code"] == "bad_request"
    assert zh["message"] == "未知字段：extra"
    assert en["message"] == "unknown field(s): extra"


def test_a_group_conflict_in_both_languages(app, api):
    client, headers = api("admin")
    body = {"code": "partners", "name": "合作伙伴"}
    assert client.post("/api/v1/groups", headers=headers, json=body).status_code == 201
    zh, en = _both(
        lambda lang: client.post(
            "/api/v1/groups", headers={**headers, **lang}, json={**body, "code": "p2"}
        )
    )
    assert zh["code"] == "conflict"
    assert zh["message"] == "已有名为“合作伙伴”的分组。"
    assert en["message"] == "There is already a group named “合作伙伴”."
    zh, en = _both(
        lambda lang: client.post("/api/v1/groups", headers={**headers, **lang}, json=body)
    )
    assert zh["message"] == "代码 partners 已被使用。"
    assert en["message"] == "The code partners is already in use."


def test_a_404_of_an_unknown_path_and_of_an_unknown_issue(app, api):
    client, headers = api("editor")
    zh, en = _both(lambda lang: client.get("/api/v1/nothing-here", headers={**headers, **lang}))
    assert zh["code"] == "not_found"
    assert zh["message"] == "没有这个资源" and en["message"] == "no such resource"
    zh, en = _both(lambda lang: client.get("/api/v1/issues/123456", headers={**headers, **lang}))
    assert zh["message"] == "没有第 123456 期。" and en["message"] == "There is no issue 123456."


def test_a_parse_error_of_an_issue_import_says_where_and_what_in_the_language(app, api):
    client, headers = api("editor")
    zh, en = _both(
        lambda lang: client.post(
            "/api/v1/issues", json={"text": "不是周报\n"}, headers={**headers, **lang}
        )
    )
    assert zh["code"] == "parse_error" and zh["line"] == en["line"] == 2
    assert zh["where"] == "第 2 行" and en["where"] == "line 2"
    assert zh["message"] == "第 2 行：应为编发单位一行（如“中国网络视听协会”），但文件已结束"
    assert en["message"].startswith("line 2: expected the publisher line")
    assert "found the end of the file" in en["message"]


def test_a_send_refused_by_the_service_and_an_invalid_address(app, api):
    client, headers = api("editor", "sender")
    zh, en = _both(
        lambda lang: client.post("/api/v1/sends", json={"issue": 999}, headers={**headers, **lang})
    )
    assert zh["code"] == "not_found"
    assert zh["message"] == "没有第 999 期。" and en["message"] == "There is no issue 999."
    zh, en = _both(
        lambda lang: client.post(
            "/api/v1/subscribers",
            json={"email": "not an address", "groups": ["media"]},
            headers={**headers, **lang},
        )
    )
    assert "不是有效的邮箱地址" in zh["message"]
    assert "is not a valid email address" in en["message"] and not CJK.search(en["message"])


def test_the_plumbing_speaks_english_throughout(app, api):
    """Every message of the API's own checks is in the catalogue: none stays Chinese."""
    client, headers = api("admin")
    en = {**headers, **EN}
    answers = [
        client.get("/api/v1/issues", headers=EN),  # no token
        client.get("/api/v1/issues", headers={"Authorization": "Bearer nl_nope", **EN}),
        client.get("/api/v1/issues?limit=0", headers=en),
        client.get("/api/v1/issues?cursor=%%%", headers=en),
        client.get("/api/v1/issues?limt=1", headers=en),
        client.post("/api/v1/issues", data="text", headers=en),
        client.post("/api/v1/issues", json=["a list"], headers=en),
        client.post("/api/v1/issues", json={"text": 1}, headers=en),
        client.post("/api/v1/sends", json={"issue": "x"}, headers=en),
        client.post("/api/v1/groups", json={"code": "c"}, headers=en),
        client.delete("/api/v1/issues", headers=en),
    ]
    for response in answers:
        error = response.get_json()["error"]
        assert error["message"] and not CJK.search(error["message"]), error
        assert response.headers["Content-Language"] == "en"
    assert answers[4].get_json()["error"]["message"] == "unknown query parameter(s): limt"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR, fr;q=0.9", "zh-CN"),
        ("zh-TW", "zh-CN"),
        ("en;q=0.5, zh;q=0.8", "zh-CN"),
        ("fr, en;q=0.3", "en"),
        ("en, zh-CN", "en"),
        ("*, en;q=0.3", "zh-CN"),
        ("en;q=0, de", "zh-CN"),
    ],
)
def test_the_best_match_of_accept_language_decides(app, api, header, language):
    client, headers = api("editor")
    extra = {"Accept-Language": header} if header else {}
    ok = client.get("/api/v1/groups", headers={**headers, **extra})
    assert ok.status_code == 200 and ok.headers["Content-Language"] == language
    error = client.get("/api/v1/issues/1", headers={**headers, **extra}).get_json()["error"]
    assert bool(CJK.search(error["message"])) == (language == "zh-CN")


def test_the_api_ignores_the_lang_cookie_and_sets_none(app, api):
    client, headers = api("editor")
    client.set_cookie("lang", "en")
    error = client.get("/api/v1/issues/1", headers=headers)
    assert error.headers["Content-Language"] == "zh-CN"
    assert error.get_json()["error"]["message"] == "没有第 1 期。"
    refused = client.get("/api/v1/issues?lang=en", headers=headers)  # not a parameter of ours
    assert refused.status_code == 400 and "Set-Cookie" not in refused.headers
    assert refused.headers["Content-Language"] == "zh-CN"


def test_a_500_is_said_in_the_language(app, api, monkeypatch):
    client, headers = api("editor")

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setitem(app.view_functions, "api.groups_list", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    zh, en = _both(lambda lang: client.get("/api/v1/groups", headers={**headers, **lang}))
    assert zh["code"] == "internal_error"
    assert zh["message"] == "服务器内部出错，已记录下来"
    assert en["message"] == "internal error; it has been logged"


def test_pages_ignore_accept_language(app, client):
    page = client.get("/subscribe", headers=EN)
    assert page.status_code == 200 and "Content-Language" not in page.headers
    text = page.get_data(as_text=True)
    assert "Subscribe to the Industry Weekly" not in text and "订阅" in text
    assert not [c for c in page.headers.getlist("Set-Cookie") if c.startswith("lang=")]
    chosen = client.get("/subscribe?lang=en", headers={"Accept-Language": "zh-CN"})
    assert "Subscribe to the Industry Weekly" in chosen.get_data(as_text=True)


API_MODULES = [
    *sorted((ROOT / "newsletter" / "api").glob("*.py")),
    ROOT / "newsletter" / "errors.py",
    ROOT / "newsletter" / "security.py",
]


def test_no_api_error_message_is_a_string_literal():
    """A message written as a literal would be said in one language only."""
    found = []
    for path in API_MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) in ("ApiError", "error_response")
                and len(node.args) > 1
                and isinstance(node.args[1], (ast.Constant, ast.JoinedStr, ast.BinOp))
            ):
                found.append(f"{path.name}:{node.lineno}")
    assert not found, found
    assert len(API_MODULES) > 6
