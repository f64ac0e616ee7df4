"""CSV import of subscribers, reading the file: decode it, check the header and every row.

Columns `email,name,organisation,groups` (English or Chinese headers); groups are codes or
Chinese names separated by `;`, `；` or `、`. Files come as UTF-8 (with or without BOM),
GBK/GB18030 (what Excel in China saves) or UTF-16 ("Unicode text"). A bad row is reported
with its line number and skipped; the good rows are kept, as Rows for importwrite.apply.
The types both halves share (ImportFileError, Row, ImportResult) are here.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.phrase import N_, P, Phrase, PhraseError
from subscribers.models import Group, Subscriber, normalise_email

MAX_REPORTED_ERRORS = 500
HEADERS = {
    "email": {"email", "e-mail", "mail", "邮箱", "电子邮箱", "邮件地址", "电子邮件"},
    "name": {"name", "姓名", "名字", "联系人"},
    "organisation": {"organisation", "organization", "org", "单位", "机构", "组织", "单位名称"},
    "groups": {"groups", "group", "分组", "类别", "组"},
}
GROUP_SEPARATORS = (";", "；", "、")
# Cells that a spreadsheet would run as a formula are exported with a leading "'";
# take it off again so that an export re-imports unchanged.
FORMULA_START = ("=", "+", "-", "@")


class ImportFileError(PhraseError):
    """The whole file is unusable (encoding, header); the message (a phrase) says how to
    fix it."""


@dataclass
class Row:
    line: int
    email: str
    name: str
    organisation: str
    groups: list[str]  # group codes


@dataclass
class ImportResult:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    # {"line": n, "reason": "zh-CN text" (the CLI, tests), "words": Phrase.to_json()}:
    # the page says the words in its reader's language
    errors: list[dict] = field(default_factory=list)
    mail_to: list[Subscriber] = field(default_factory=list)  # new rows needing an opt-in mail

    def error(self, line: int, reason: Phrase) -> None:
        self.skipped += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "reason": reason.text(), "words": reason.to_json()})


# --- reading the file ---------------------------------------------------------------------


def decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data[3:], "utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(data, "utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # GBK-encoded Chinese is practically never valid UTF-8, so this order is safe;
    # GB18030 is a superset of GBK and GB2312.
    return _strict(data, "gb18030")


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFileError(
            P(
                N_(
                    "无法识别文件编码（第 %(line)s 行附近）。请在 Excel 中另存为“CSV UTF-8”或 GBK 编码的 CSV。"
                ),
                line=str(line),
            )
        ) from None


def _clean_cell(value: str | None) -> str:
    # A line break typed inside a spreadsheet cell (Alt+Enter) becomes a space.
    value = " ".join((value or "").replace("\r", "\n").split("\n")).strip()
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_START:
        value = value[1:]
    return value


def header_map(header: list[str]) -> dict[str, int]:
    """Column index of each known field; ImportFileError without an email column."""
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        key = title.strip().lstrip("\ufeff").lower()
        for name, aliases in HEADERS.items():
            if key in aliases and name not in found:
                found[name] = index
    if "email" not in found:
        raise ImportFileError(
            P(
                N_(
                    "第 1 行应为表头，且包含 email 列（可选 name、organisation、groups；也可用中文：邮箱、姓名、单位、分组）。"
                )
            )
        )
    return found


def group_lookup(session: Session) -> dict[str, str]:
    """Code or Chinese name (codes case-insensitive) -> code."""
    lookup: dict[str, str] = {}
    for code, name in session.execute(select(Group.code, Group.name)):
        lookup[code.lower()] = code
        lookup[name.strip()] = code
    return lookup


def _reader(text: str):
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _header(reader) -> dict[str, int]:
    try:
        return header_map(next(reader))
    except StopIteration:
        raise ImportFileError(P(N_("文件是空的。"))) from None
    except csv.Error as exc:
        raise ImportFileError(P(N_("第 1 行无法解析：%(error)s"), error=str(exc))) from None


def check_header(text: str) -> None:
    """ImportFileError unless the first line is a usable header."""
    _header(_reader(text))


def parse(
    text: str,
    groups: dict[str, str],
    default_group: str | None = None,
    result: ImportResult | None = None,
) -> tuple[list[Row], ImportResult]:
    """Check every row; return the good ones and a result holding the bad ones."""
    result = result or ImportResult()
    if default_group and default_group not in groups.values():
        raise ImportFileError(P(N_("未知分组：%(names)s"), names=default_group))
    reader = _reader(text)
    cols = _header(reader)
    rows: list[Row] = []
    seen: dict[str, int] = {}
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.total += 1
            result.error(line, P(N_("无法解析：%(error)s"), error=str(exc)))
            line = reader.line_num + 1
            continue
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue  # blank line
        result.total += 1
        row = _check_row(start, cells, cols, groups, default_group, seen, result)
        if row is not None:
            seen[row.email] = start
            rows.append(row)
    return rows, result


def _label(field: str) -> Phrase:
    return P(N_("姓名")) if field == "name" else P(N_("单位"))


def _check_row(line, cells, cols, groups, default_group, seen, result) -> Row | None:
    def cell(name: str) -> str:
        index = cols.get(name)
        return _clean_cell(cells[index]) if index is not None and index < len(cells) else ""

    raw = cell("email")
    if not raw:
        result.error(line, P(N_("缺少邮箱地址")))
        return None
    try:
        address = normalise_email(
            validate_email(raw, check_deliverability=False, allow_smtputf8=False).normalized
        )
    except EmailNotValidError:
        result.error(line, P(N_("邮箱地址无效：%(value)s"), value=raw[:80]))
        return None
    if address in seen:
        result.error(line, P(N_("邮箱与第 %(line)s 行重复，已跳过"), line=str(seen[address])))
        return None
    name, organisation = cell("name"), cell("organisation")
    for value, which in ((name, "name"), (organisation, "organisation")):
        # Labels are made only when needed: a phrase per row costs more than the check.
        if len(value) > 200:
            result.error(line, P(N_("%(label)s超过 200 个字"), label=_label(which)))
            return None
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            result.error(line, P(N_("%(label)s含有控制字符"), label=_label(which)))
            return None
    spec = cell("groups")
    for sep in GROUP_SEPARATORS[1:]:
        spec = spec.replace(sep, GROUP_SEPARATORS[0])
    names = [g.strip() for g in spec.split(GROUP_SEPARATORS[0]) if g.strip()]
    unknown = [g for g in names if (groups.get(g) or groups.get(g.lower())) is None]
    if unknown:
        result.error(line, P(N_("未知分组：%(names)s"), names="、".join(unknown)))
        return None
    codes = list(dict.fromkeys(groups.get(g) or groups[g.lower()] for g in names))
    if not codes and default_group:
        codes = [default_group]
    return Row(line, address, name, organisation, codes)
