"""Error pages in the site's layout, in the page's language, with a way back.

Registered by code (a code-specific handler wins over the API's catch-all for
HTTPException), so under /api/v1 the answer stays JSON.
"""

from __future__ import annotations

import logging

from flask import render_template, request
from flask_babel import lazy_gettext as _l

log = logging.getLogger(__name__)

PAGES = {
    400: (
        _l("请求有误"),
        _l("这个请求无法处理（可能是链接不完整或表单已过期）。请返回上一页重试。"),
    ),
    403: (
        _l("没有权限"),
        _l("您的账号没有打开这个页面的权限。如需使用，请联系管理员为您分配角色。"),
    ),
    404: (_l("页面不存在"), _l("没有找到这个页面：链接可能有误，或者内容已被删除。")),
    405: (_l("请求方式不对"), _l("这个地址不接受这种请求方式。请从页面上的按钮或链接进入。")),
    410: (_l("链接已失效"), _l("这个链接已经失效，不再提供。")),
    429: (_l("请求太频繁"), _l("操作太频繁了，请稍等片刻再试。")),
    500: (
        _l("服务器出错了"),
        _l("服务器处理时出了问题，已记录下来。请稍后重试；如果一再出现，请联系管理员。"),
    ),
}

# If even the layout cannot be drawn (the database is down, say), this is what people get.
_BARE = (
    '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>{t}</title>'
    '<body style="font-family:sans-serif;max-width:40em;margin:3em auto"><h1>{t}</h1>'
    '<p>{m}</p><p><a href="/">返回首页</a></p></body></html>'
)


def _page(exc):
    code = getattr(exc, "code", None) or 500
    from newsletter.api.errors import http_error_response, is_api_request

    if is_api_request():  # JSON, in the API request's language
        return http_error_response(code)
    title, message = PAGES.get(code, PAGES[500] if code >= 500 else PAGES[400])
    return error_page(code, title, message)


def error_page(code: int, title: str, message: str) -> tuple[str, int]:
    """The error page for `code`: the site's layout, its words, a way home and back."""
    try:
        referrer = request.referrer or ""
        back = referrer if referrer.startswith(request.host_url) and referrer != request.url else ""
        return render_template(
            "errors/error.html", code=code, title=title, message=message, back=back
        ), code
    except Exception:  # noqa: BLE001  the layout needs the database; this must not fail
        log.exception("error page %s could not be rendered for %s", code, request.path)
        return _BARE.format(t=str(title), m=str(message)), code


def register(app) -> None:
    for code in PAGES:
        app.register_error_handler(code, _page)
