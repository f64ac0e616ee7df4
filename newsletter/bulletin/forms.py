"""Forms of the issue pages: import upload, the whole-issue edit form, the test send.

The edit form is one FlaskForm for the whole issue (nested FieldLists of sections and their
articles); it converts to and from an `IssueDoc`, and places the problems `editing`
reports on the fields they belong to.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from newsletter.bulletin import editing
from newsletter.bulletin.document import ArticleDoc, IssueDoc, SectionDoc
from newsletter.display import say
from newsletter.render import Edition
from newsletter.sends.testsend import MAX_TEST_ADDRESSES


class ImportForm(FlaskForm):
    file = FileField(
        _l("周报文件（Word .docx、PDF 或纯文本）"),
        validators=[FileRequired(_l("请选择要导入的周报文件。"))],
    )


class ImportPreviewForm(FlaskForm):
    """The preview's steps: the signed upload travels in `token`; the step is the pressed
    button's `op` (move:N:title|para, alias:K with alias_name-K/alias_group-K, reset, save)."""

    token = HiddenField(validators=[InputRequired()])


class ArticleForm(Form):
    title = StringField(_l("标题"))
    body = TextAreaField(_l("正文（段落之间空一行）"))
    # validate_choice=False: a stale or crafted index is dropped by to_doc, not an error
    move_to = SelectField(_l("所在栏目"), coerce=int, choices=[], validate_choice=False)


class SectionForm(Form):
    name = StringField(_l("栏目名称"))
    articles = FieldList(FormField(ArticleForm))


class IssueEditForm(FlaskForm):
    version = HiddenField()
    number = IntegerField(_l("期号"), validators=[InputRequired(_l("请填写期号。"))])
    date = DateField(_l("日期"), validators=[InputRequired(_l("请填写日期。"))])
    title = StringField(_l("刊名"))
    publisher = StringField(_l("出版单位"))
    editor_note = TextAreaField(_l("编者按（仅出现在领导版）"))
    summary = TextAreaField(_l("摘要（每行一条）"))
    sections = FieldList(FormField(SectionForm))

    @classmethod
    def from_doc(cls, doc: IssueDoc, version: str) -> IssueEditForm:
        """A fresh (unbound) form showing `doc`."""
        form = cls(
            formdata=None,
            data={
                "version": version,
                "number": doc.number,
                "date": doc.date,
                "title": doc.title,
                "publisher": doc.publisher,
                "editor_note": doc.editor_note or "",
                "summary": "\n".join(doc.summary),
                "sections": [
                    {
                        "name": s.name,
                        "articles": [
                            {
                                "title": a.title,
                                "body": editing.paragraphs_to_body(a.paragraphs),
                                "move_to": i,
                            }
                            for a in s.articles
                        ],
                    }
                    for i, s in enumerate(doc.sections)
                ],
            },
        )
        form.set_choices()
        return form

    def set_choices(self) -> None:
        """The "所在栏目" menus list the sections as the form has them (call before validate)."""
        names = [
            SelectChoice(k, f"{k + 1}. {entry.form.name.data or '（未命名）'}")
            for k, entry in enumerate(self.sections)
        ]
        for i, entry in enumerate(self.sections):
            for art in entry.form.articles:
                art.form.move_to.choices = names
                if art.form.move_to.data is None:
                    art.form.move_to.data = i

    def to_doc(self, stored: IssueDoc) -> tuple[IssueDoc, list[tuple[ArticleDoc, SectionDoc]]]:
        """The edited issue, plus the "move to section" choices as (article, target) pairs."""
        sections: list[SectionDoc] = []
        wanted: list[tuple[ArticleDoc, int]] = []
        for i, entry in enumerate(self.sections):
            articles = []
            for art in entry.form.articles:
                doc_art = ArticleDoc(
                    art.form.title.data or "", editing.body_to_paragraphs(art.form.body.data or "")
                )
                articles.append(doc_art)
                if art.form.move_to.data is not None and art.form.move_to.data != i:
                    wanted.append((doc_art, art.form.move_to.data))
            sections.append(SectionDoc(entry.form.name.data or "", articles))
        doc = IssueDoc(
            number=self.number.data,
            date=self.date.data,
            title=self.title.data or "",
            publisher=self.publisher.data or "",
            summary=editing.summary_to_lines(self.summary.data),
            sections=sections,
            credits=dict(stored.credits),
            distribution=dict(stored.distribution),
            editor_note=editing.normalise_newlines(self.editor_note.data).strip() or None,
        )
        moves = [(a, sections[k]) for a, k in wanted if 0 <= k < len(sections)]
        return doc, moves

    def field_at(self, path: tuple):
        """The input field a problem path names, or None (a problem about the whole issue)."""
        node = self
        for step in path:
            if isinstance(step, int):
                if not isinstance(node, FieldList) or not 0 <= step < len(node.entries):
                    return None
                node = node.entries[step].form
            else:
                if not isinstance(node, Form) or step not in node:
                    return None
                node = node[step]
        return None if isinstance(node, (Form, FieldList)) else node

    def add_problems(self, problems: list[editing.Problem]) -> list[tuple[str, str]]:
        """Attach each problem to its field; returns (field id, message) for the summary box."""
        listed = []
        for problem in problems:
            field = self.field_at(problem.path)
            message = say(problem.message)
            if field is not None:
                field.errors = [*field.errors, message]
                listed.append((field.id, message))
            else:
                listed.append(("", message))
        return listed

    def error_list(self) -> list[tuple[str, str]]:
        """WTForms' own errors (types, CSRF) as (field id, message), in page order."""
        out: list[tuple[str, str]] = []

        def walk(form: Form) -> None:
            for field in form:
                if isinstance(field, FieldList):
                    for entry in field.entries:
                        walk(entry.form)
                elif isinstance(field, FormField):
                    walk(field.form)
                else:
                    label = field.label.text if field.type != "CSRFTokenField" else ""
                    out.extend(
                        (field.id, f"{label}：{e}" if label else str(e)) for e in field.errors
                    )

        walk(self)
        return out


class SendTestForm(FlaskForm):
    edition = SelectField(
        _l("版本"),
        choices=[
            SelectChoice(Edition.REGULAR.value, _l("普通版")),
            SelectChoice(Edition.PRIORITY.value, _l("领导版")),
        ],
        default=Edition.REGULAR.value,
    )
    addresses = TextAreaField(
        _l("收件地址（最多 %(n)s 个，用逗号、空格或换行分隔）", n=MAX_TEST_ADDRESSES),
        validators=[InputRequired(_l("请填写至少一个收件地址。")), Length(max=2000)],
    )
