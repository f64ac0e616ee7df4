"""The email's frame in the reader's language: greeting, intro, headings, links, footer.

The bulletin's content (titles, paragraphs, names) is Chinese for everyone; what the
service itself says around it follows the reader's choice (zh_CN or en). Pure data, no
Flask: the renderer takes the language as an input like the edition.
"""

from __future__ import annotations

import datetime as dt

from newsletter.render.markup import date_cn

LANGUAGES = ("zh_CN", "en")
DEFAULT = "zh_CN"

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

FRAME: dict[str, dict[str, str]] = {
    "zh_CN": {
        "trouble": "邮件显示不正常？",
        "view": "在浏览器中查看",
        "preferences": "管理订阅偏好",
        "unsubscribe": "退订",
        "why": "您收到这封邮件，是因为您订阅了{publisher}《{title}》。",
        "summary": "本期摘要",
        "toc": "目录",
        "count": "{n} 条",
        "back": "返回目录 ↑",
        "note": "编者按",
        "issue_no": "第 {n} 期",
        "to": "报：",
        "links": "链接",
        "intro_all": "本期共收录 {total} 条行业动态。",
        "intro_some": "按您的订阅偏好，本期为您精选 {shown} 条动态（全期共 {total} 条）。",
        "item_ref": "（第 {n} 条）",
        "colon": "：",
        "priority": "领导版",
        "subject": "{title} 第 {n} 期（{date}）",
    },
    "en": {
        "trouble": "Trouble reading this email? ",
        "view": "View it in your browser",
        "preferences": "Manage your preferences",
        "unsubscribe": "Unsubscribe",
        "why": "You are receiving this email because you subscribed to {title} from {publisher}.",
        "summary": "In this issue",
        "toc": "Contents",
        "count": "({n})",
        "back": "Back to contents ↑",
        "note": "Editor's note",
        "issue_no": "No. {n}",
        "to": "For: ",
        "links": "Links",
        "intro_all": "This issue brings {total} industry news items.",
        "intro_some": "Chosen for your interests: {shown} of this issue's {total} items.",
        "item_ref": " (item {n})",
        "colon": ": ",
        "priority": "Leadership edition",
        "subject": "{title} No. {n} ({date})",
    },
}

# The bulletin's own footer labels, said in English for English readers.
FOOT_LABELS_EN = {
    "编辑部": "Editorial office",
    "责编": "Editor",
    "复核": "Reviewed by",
    "注": "Note",
}


def language_of(value: str | None) -> str:
    """zh_CN unless the reader chose English ("en", "en_GB", "en-US")."""
    return "en" if (value or "").lower().replace("-", "_").split("_")[0] == "en" else DEFAULT


def words(language: str) -> dict[str, str]:
    return FRAME[language_of(language)]


def date_text(d: dt.date, language: str) -> str:
    if language_of(language) == "en":
        return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"
    return date_cn(d)


def foot_label(label: str, language: str) -> str:
    return FOOT_LABELS_EN.get(label, label) if language_of(language) == "en" else label
