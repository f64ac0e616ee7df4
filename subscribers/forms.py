"""Flask-WTF forms of the subscriber pages (CSRF on every one of them).

Field labels are lazy msgids in Chinese; the English comes from the catalogue. The
address check itself is `service.check_address`, so the form and the service agree.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from subscribers import service


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms wants them (tuples are deprecated in WTForms 3.3)."""
    return [SelectChoice(value, label) for value, label in pairs]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form) -> None:
        # An unknown value is a tampered form, not a typo: the message says so plainly.
        values = {str(v) for v, *_ in self.iter_choices()}
        for item in self.data or []:
            if str(item) not in values:
                raise ValidationError(_l("包含无法选择的选项。"))


def _address(form, field) -> None:
    try:
        field.data = service.check_address(field.data)
    except service.SubscriptionError as exc:
        raise ValidationError(str(exc)) from None


def _plain_text(form, field) -> None:
    if field.data and any(ord(ch) < 32 or ord(ch) == 127 for ch in field.data):
        raise ValidationError(_l("不能包含换行或控制字符。"))


class SubscribeForm(FlaskForm):
    email = EmailField(
        _l("邮箱"), validators=[InputRequired(_l("请填写邮箱地址。")), Length(max=320), _address]
    )
    name = StringField(_l("姓名"), validators=[Length(max=200), _plain_text])
    organisation = StringField(_l("单位"), validators=[Length(max=200), _plain_text])
    groups = MultiCheckboxField(
        _l("您所属的类别（可多选）"), validators=[InputRequired(_l("请至少选择一个分组。"))]
    )
    sections = MultiCheckboxField(
        _l("感兴趣的栏目"), validators=[InputRequired(_l("请至少选择一个栏目。"))]
    )


class PreferencesForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[Length(max=200), _plain_text])
    organisation = StringField(_l("单位"), validators=[Length(max=200), _plain_text])
    groups = MultiCheckboxField(_l("分组"))
    sections = MultiCheckboxField(
        _l("栏目"), validators=[InputRequired(_l("请至少选择一个栏目。"))]
    )
    format = RadioField(
        _l("邮件格式"),
        choices=choices([("html", _l("图文（HTML）")), ("text", _l("纯文本"))]),
        default="html",
    )
    locale = RadioField(
        _l("语言"), choices=choices([("zh_CN", "中文"), ("en", "English")]), default="zh_CN"
    )
    pause = SelectField(_l("暂停接收"), default="keep")
    tracking_opt_out = BooleanField(_l("不统计我的打开和点击"))


class UnsubscribeForm(FlaskForm):
    keep = MultiCheckboxField(_l("保留以下分组（不选则全部退订）"))


class ConfirmForm(FlaskForm):
    """Only the CSRF token: confirming is a POST so that link scanners cannot confirm."""


class LinkRequestForm(FlaskForm):
    email = EmailField(
        _l("邮箱"), validators=[InputRequired(_l("请填写邮箱地址。")), Length(max=320), _address]
    )


# --- staff --------------------------------------------------------------------------------


class ImportForm(FlaskForm):
    file = FileField(_l("CSV 文件"), validators=[FileRequired(_l("请选择一个 CSV 文件。"))])
    mode = RadioField(
        _l("导入方式"),
        choices=choices(
            [
                ("confirmed", _l("已确认（由工作人员确认对方已同意接收）")),
                ("opt_in", _l("发送确认邮件（对方点击确认后才会收到周报）")),
            ]
        ),
        default="opt_in",
    )
    default_group = SelectField(_l("未填分组的行加入"))


class BulkGroupForm(FlaskForm):
    group = SelectField(_l("分组"), validators=[InputRequired()])
    action = RadioField(
        _l("操作"), choices=choices([("add", _l("加入")), ("remove", _l("移出"))]), default="add"
    )
    scope = RadioField(
        _l("范围"),
        choices=choices([("selected", _l("勾选的订阅者")), ("filter", _l("当前筛选的全部订阅者"))]),
        default="selected",
    )


class StaffGroupsForm(FlaskForm):
    groups = MultiCheckboxField(_l("分组"))


class EraseForm(FlaskForm):
    confirm_email = StringField(
        _l("再次输入该邮箱地址以确认"), validators=[InputRequired(), Length(max=320)]
    )


class SuppressForm(FlaskForm):
    email = EmailField(_l("邮箱"), validators=[InputRequired(), Length(max=320), _address])
    detail = TextAreaField(_l("说明"), validators=[Length(max=500)])


class SuppressionLookupForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search; it changes nothing

    lookup = StringField(_l("查询邮箱"), validators=[Length(max=320)])


class LiftForm(FlaskForm):
    """Lift a mistaken wave of suppressions: one send and/or one cause (admins)."""

    send_id = IntegerField(_l("发送编号"), validators=[Optional(), NumberRange(min=1)])
    cause = SelectField(
        _l("原因"),
        choices=choices(
            [("", _l("硬退信与投诉")), ("bounced", _l("硬退信")), ("complained", _l("投诉"))]
        ),
        validate_choice=True,
    )
    expected = HiddenField()  # the previewed count: confirm only what was shown

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if self.send_id.data is None and not self.cause.data:
            self.send_id.errors.append(_l("请指定发送编号或原因（至少一项）。"))
            return False
        return True
