"""Hypothesis on the two ways text gets in: the issue parser and the subscriber CSV import.

Whatever the input: a clear domain error or a result, never another exception, and never
half-written rows. The number of cases run is printed.
"""

from __future__ import annotations

import codecs
import csv
import io
import os

from email_validator import validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from newsletter.bulletin.document import IssueDoc
from newsletter.bulletin.models import Issue
from newsletter.bulletin.parser import IssueParseError, parse_issue
from newsletter.bulletin.service import IssueImportError, import_issue
from newsletter.extensions import db
from subscribers import importread, importwrite, jobs
from subscribers.models import ImportStatus, Membership, Subscriber, SubscriberImport
from tests.conftest import SAMPLE

SAMPLE_LINES = SAMPLE.read_text("utf-8").splitlines()


def fuzz(n: int) -> settings:
    # The same cases on every run (CI must not flake); FUZZ_RANDOM=1 explores new ones.
    return settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=os.environ.get("FUZZ_RANDOM") != "1",
        suppress_health_check=list(HealthCheck),
    )


RAN = {"parser": 0, "import_issue": 0, "csv": 0}
OUTCOMES = {"parsed": 0, "refused": 0, "imported": 0, "csv_rows_written": 0, "csv_refused": 0}


# --- the issue parser -------------------------------------------------------------------------


@st.composite
def mangled_sample(draw) -> str:
    """The sample with lines dropped, doubled, swapped, cut or replaced by junk."""
    lines = list(SAMPLE_LINES)
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap", "cut", "junk", "blank"]))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, max(len(lines[i]) - 1, 0)))]
        elif op == "junk":
            lines[i] = draw(st.text(max_size=40))
        else:
            lines[i] = ""
    if draw(st.booleans()):
        lines = lines[: draw(st.integers(0, len(lines)))]
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)


ISSUE_TEXT = st.one_of(
    st.text(max_size=300),
    mangled_sample(),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
)


@fuzz(300)
@given(text=ISSUE_TEXT, as_bytes=st.booleans())
def test_the_parser_answers_every_text_with_a_result_or_a_line_numbered_error(text, as_bytes):
    RAN["parser"] += 1
    source = text.encode("utf-8", "surrogatepass") if as_bytes else text
    try:
        doc = parse_issue(source)
    except IssueParseError as exc:
        OUTCOMES["refused"] += 1
        assert 1 <= exc.line <= text.count("\n") + text.count("\r") + 2, exc
        assert exc.message and "Traceback" not in exc.message
        return
    OUTCOMES["parsed"] += 1
    assert isinstance(doc, IssueDoc) and doc.number > 0 and doc.sections


def test_import_writes_all_or_nothing(app):
    @fuzz(100)
    @given(text=st.one_of(mangled_sample(), st.text(max_size=200)))
    def run(text):
        RAN["import_issue"] += 1
        db.session.rollback()
        before = db.session.scalar(select(func.count()).select_from(Issue))
        try:
            issue, _ = import_issue(db.session, text)
        except (IssueParseError, IssueImportError):
            db.session.rollback()
            assert db.session.scalar(select(func.count()).select_from(Issue)) == before
            return
        OUTCOMES["imported"] += 1
        stored = db.session.get(Issue, issue.id)
        assert stored.to_doc().to_json() == parse_issue(text).to_json()

    run()
    print(
        f"\nhypothesis: parser {RAN['parser']} cases, import_issue {RAN['import_issue']} cases; "
        f"{OUTCOMES}"
    )
    assert OUTCOMES["imported"] > 0  # the generator reaches the writing path too


# --- the subscriber CSV import ------------------------------------------------------------------

HEADER_NAMES = st.sampled_from(
    [
        "email",
        "Email",
        "邮箱",
        "e-mail",
        "name",
        "姓名",
        "organisation",
        "单位",
        "groups",
        "分组",
        "other",
        "",
    ]
)
CELL = st.one_of(
    st.emails().map(lambda e: e.upper() if len(e) % 2 else e),
    st.text(max_size=30),
    st.sampled_from(
        [
            "媒体",
            "media",
            "tech;media",
            "高校、研究机构",
            "nosuch",
            "=cmd|' /C calc'!A0",
            "'+1",
            "a@b",
            "x@example.org\r\nBcc: y@example.org",
            "王\x00五",
            " ",
            "",
        ]
    ),
)


@st.composite
def csv_file(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=400))
    header = ["email"] + draw(st.lists(HEADER_NAMES, max_size=4))
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.lists(HEADER_NAMES, max_size=4))
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=len(header) + 1), max_size=25))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=draw(st.sampled_from([",", "\t"])))
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return codecs.BOM_UTF8 + text.encode("utf-8", "surrogatepass")


def _clear() -> None:
    db.session.rollback()
    for model in (Membership, Subscriber, SubscriberImport):
        db.session.execute(delete(model))
    db.session.commit()


def test_csv_import_never_crashes_or_half_writes(app):
    @fuzz(200)
    @given(data=csv_file(), default_group=st.sampled_from([None, "media"]))
    def run(data, default_group):
        RAN["csv"] += 1
        _clear()
        try:
            with app.test_request_context():  # as the upload view calls it (messages in zh_CN)
                imp = jobs.start_import(
                    db.session, data, "fuzz.csv", importwrite.CONFIRMED, default_group, None
                )
        except importread.ImportFileError as exc:
            assert str(exc)
            OUTCOMES["csv_refused"] += 1
            db.session.rollback()
            assert db.session.scalar(select(func.count()).select_from(SubscriberImport)) == 0
            assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
            return
        db.session.expire_all()
        imp = db.session.get(SubscriberImport, imp.id)
        assert imp.status == ImportStatus.DONE, imp.message
        assert (
            imp.created_count + imp.updated_count + imp.unchanged_count + imp.skipped_count
        ) == imp.total_rows
        subs = db.session.scalars(select(Subscriber)).all()
        assert len(subs) == imp.created_count
        OUTCOMES["csv_rows_written"] += len(subs)
        for sub in subs:
            assert sub.email == sub.email.strip().lower()
            validate_email(sub.email, check_deliverability=False)
            assert sub.memberships, f"{sub.email} was written without a group"
            assert not any(ord(c) < 32 for c in sub.name + sub.organisation)
        for error in imp.errors:
            assert error["line"] >= 2 and error["reason"]

    run()
    _clear()
    print(
        f"\nhypothesis: CSV import {RAN['csv']} cases; {OUTCOMES['csv_rows_written']} rows "
        f"written, {OUTCOMES['csv_refused']} files refused whole"
    )
    assert OUTCOMES["csv_rows_written"] > 0 and OUTCOMES["csv_refused"] > 0
