"""Forms of the staff pages (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import LazyString, gettext, pgettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from newsletter.staff.models import ROLE_CONTEXT, ROLE_LABELS, Role


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms 3.3 wants them (tuples are deprecated)."""
    return [SelectChoice(value, label) for value, label in pairs]


def role_label(role: str) -> str:
    """The role's name in the page's language (its code when it is not a known role)."""
    label = ROLE_LABELS.get(role)
    return pgettext(ROLE_CONTEXT, label) if label else role


def _role_choice(role: Role) -> LazyString:
    # Said when the form is drawn, in the page's language: "编辑（editor）".
    return LazyString(
        lambda: gettext("%(role)s（%(code)s）", role=role_label(role), code=role.value)
    )


ROLE_CHOICES = choices((r.value, _role_choice(r)) for r in Role)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(FlaskForm):
    email = EmailField(_l("邮箱"), validators=[DataRequired(_l("请填写邮箱。")), Length(max=320)])
    password = PasswordField(
        _l("密码"), validators=[DataRequired(_l("请填写密码。")), Length(max=200)]
    )


class ForgotForm(FlaskForm):
    email = EmailField(_l("邮箱"), validators=[DataRequired(_l("请填写邮箱。")), Length(max=320)])


class PasswordSetForm(FlaskForm):
    password = PasswordField(
        _l("新密码（至少 10 个字符）"),
        validators=[DataRequired(_l("请填写新密码。")), Length(max=200)],
    )
    confirm = PasswordField(
        _l("再输入一次"), validators=[DataRequired(_l("请再输入一次。")), Length(max=200)]
    )


class PasswordChangeForm(PasswordSetForm):
    current = PasswordField(
        _l("当前密码"), validators=[DataRequired(_l("请填写当前密码。")), Length(max=200)]
    )


class AccountForm(FlaskForm):
    email = EmailField(_l("邮箱"), validators=[DataRequired(_l("请填写邮箱。")), Length(max=320)])
    name = StringField(_l("姓名（用于责编/复核署名）"), validators=[Length(max=200)])
    roles = MultiCheckboxField(
        _l("角色"), choices=ROLE_CHOICES, validators=[DataRequired(_l("请至少选择一个角色。"))]
    )
    active = BooleanField(_l("账号可用"), default=True)


class GroupCreateForm(FlaskForm):
    code = StringField(
        _l("代码（小写字母、数字、- 或 _，创建后不能修改）"),
        validators=[DataRequired(_l("请填写代码。")), Length(max=64)],
    )
    name = StringField(_l("名称"), validators=[DataRequired(_l("请填写名称。")), Length(max=128)])
    distribution = RadioField(
        _l("分发"), choices=choices([("发", "发"), ("报", "报")]), default="发"
    )
    is_priority = BooleanField(_l("优先版（含编者按，先发送）"))
    self_service = BooleanField(_l("读者可自行订阅"), default=True)


class GroupEditForm(FlaskForm):
    name = StringField(_l("名称"), validators=[DataRequired(_l("请填写名称。")), Length(max=128)])
    is_priority = BooleanField(_l("优先版（含编者按，先发送）"))


class GroupMergeForm(FlaskForm):
    source = SelectField(_l("把这个分组"), validators=[DataRequired()])
    target = SelectField(_l("合并到"), validators=[DataRequired()])
    confirm = BooleanField(
        _l("我明白：合并后原分组将被删除，此操作不能撤销"),
        validators=[DataRequired(_l("请勾选确认。"))],
    )


class TokenForm(FlaskForm):
    name = StringField(
        _l("名称（例如：CMS 自动导入）"),
        validators=[DataRequired(_l("请填写名称。")), Length(max=100)],
    )
    scopes = MultiCheckboxField(
        _l("权限范围"),
        choices=ROLE_CHOICES,
        validators=[DataRequired(_l("请至少选择一个权限范围。"))],
    )
    days = IntegerField(
        _l("有效期（天，留空为不过期）"),
        validators=[Optional(), NumberRange(1, 366, _l("有效期须在 1 到 366 天之间。"))],
    )


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter: it changes nothing

    actor = StringField(_l("操作人"), validators=[Optional(), Length(max=320)])
    action = StringField(_l("操作"), validators=[Optional(), Length(max=64)])
    target = StringField(_l("对象"), validators=[Optional(), Length(max=200)])
    via = SelectField(
        _l("来源"),
        choices=choices(
            [("", _l("全部")), ("web", _l("网页")), ("api", "API"), ("cli", _l("命令行"))]
        ),
        validators=[Optional()],
    )
    since = DateField(_l("从（日期）"), validators=[Optional()])
    until = DateField(_l("到（日期，含当天）"), validators=[Optional()])


def form_errors(form: FlaskForm) -> list[str]:
    # str(): a validator's message may be a lazy string (translated when said); callers join them
    return [str(e) for errors in form.errors.values() for e in errors]
