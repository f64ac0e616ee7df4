"""CSV import: the good/bad row mix with line numbers, encodings Excel produces,
duplicates, consent (confirmed vs opt-in mail), and large files in the background."""

from __future__ import annotations

import io

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from newsletter.extensions import db
from subscribers import importread
from subscribers.models import (
    ImportStatus,
    Subscriber,
    SubscriberImport,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    email_hash,
)
from tests.subscribers.conftest import form_token, links_in, mail_text, parse_mail

MIX = """email,name,organisation,groups
wang@example.com,王编辑,某某日报,媒体
not-an-email,坏地址,某单位,media
li@example.com,李研究员,某研究院,research；universities
zhao@example.com,赵,某公司,火星分组
,无邮箱,某单位,media
WANG@example.com,王编辑（重复）,某某日报,media
"qian@example.com","钱经理","某某投资, 北京",investors;members
known@example.com,新名字,,tech
gone@example.com,退订者,,media
erased@example.com,已删除,,media
sun@example.com,孙,"多行
单位名",universities
"""


def upload(client, data: bytes, mode="confirmed", filename="readers.csv", default_group=""):
    token = form_token(client.get("/staff/subscribers/import").get_data(as_text=True))
    return client.post(
        "/staff/subscribers/import",
        content_type="multipart/form-data",
        data={
            "csrf_token": token,
            "mode": mode,
            "default_group": default_group,
            "file": (io.BytesIO(data), filename),
        },
    )


def subscriber(address) -> Subscriber | None:
    db.session.expire_all()
    return db.session.scalar(select(Subscriber).where(Subscriber.email == address))


def latest_import() -> SubscriberImport:
    db.session.expire_all()
    return db.session.scalar(select(SubscriberImport).order_by(SubscriberImport.id.desc()))


@pytest.fixture
def editor(staff_client):
    return staff_client("editor")


def test_good_rows_are_kept_and_each_bad_row_is_reported_by_line(editor, make_subscriber):
    make_subscriber("known@example.com", name="旧名字", organisation="旧单位", groups=("media",))
    make_subscriber("gone@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    db.session.add(
        Suppression(email_hash=email_hash("erased@example.com"), reason=SuppressionReason.ERASED)
    )
    db.session.commit()

    response = upload(editor, MIX.encode("utf-8"))
    assert response.status_code == 302
    page = editor.get(response.headers["Location"]).get_data(as_text=True)
    imp = latest_import()
    assert imp.status == ImportStatus.DONE and imp.data is None  # the file is not kept
    assert (imp.total_rows, imp.created_count, imp.updated_count, imp.skipped_count) == (
        11,
        4,
        1,
        6,
    )
    errors = {e["line"]: e["reason"] for e in imp.errors}
    assert "邮箱地址无效" in errors[3] and "not-an-email" in errors[3]
    assert "未知分组：火星分组" in errors[5]
    assert "缺少邮箱" in errors[6]
    assert "与第 2 行重复" in errors[7]
    assert "退订" in errors[10] and "屏蔽" in errors[11]
    assert list(errors) == sorted(errors)
    for line, reason in errors.items():
        assert f"<td>{line}</td>" in page and reason in page

    li = subscriber("li@example.com")
    assert li.status == SubscriberStatus.ACTIVE and li.confirmed_at is not None
    assert sorted(g.code for g in li.groups) == ["research", "universities"]
    assert li.source == "import-attested"
    assert subscriber("qian@example.com").organisation == "某某投资, 北京"
    assert subscriber("sun@example.com").organisation == "多行 单位名"  # Alt+Enter in a cell
    known = subscriber("known@example.com")
    assert known.name == "新名字" and known.organisation == "旧单位"  # empty cells change nothing
    assert sorted(g.code for g in known.groups) == ["media", "tech"]
    assert subscriber("gone@example.com").status == SubscriberStatus.UNSUBSCRIBED
    assert subscriber("erased@example.com") is None


def test_importing_the_same_file_twice_changes_nothing_the_second_time(editor):
    upload(editor, MIX.encode("utf-8"))
    first = latest_import()
    upload(editor, MIX.encode("utf-8"))
    second = latest_import()
    assert second.id != first.id
    assert (second.created_count, second.updated_count, second.unchanged_count) == (
        0,
        0,
        first.created_count + first.updated_count,
    )
    assert (
        db.session.scalar(select(func.count()).select_from(Subscriber)) == first.created_count == 7
    )


@pytest.mark.parametrize(
    "encoding, prefix",
    [
        ("gbk", b""),
        ("gb18030", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16", b""),
    ],
)
def test_encodings_excel_saves(editor, encoding, prefix):
    text = "邮箱,姓名,单位,分组\nzhou@example.com,周总编,某某电视台,媒体；协会会员单位\n"
    if encoding == "utf-16":
        text = text.replace(",", "\t")  # Excel's "Unicode text" is tab-separated UTF-16
    assert upload(editor, prefix + text.encode(encoding)).status_code == 302
    sub = subscriber("zhou@example.com")
    assert (sub.name, sub.organisation) == ("周总编", "某某电视台")
    assert sorted(g.code for g in sub.groups) == ["media", "members"]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "文件是空的"),
        ("姓名,单位\n张三,某单位\n".encode(), "email 列"),
        (b"email,name\nx@example.com,\x80\x80\x80\n", "无法识别文件编码"),
    ],
)
def test_an_unusable_file_is_refused_with_the_reason_and_nothing_written(editor, data, message):
    response = upload(editor, data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(SubscriberImport)) == 0
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_rows_without_groups_use_the_default_group_or_are_skipped(editor):
    data = "email,name\na@example.com,甲\n".encode()
    upload(editor, data)
    assert subscriber("a@example.com") is None
    assert "未指定分组" in latest_import().errors[0]["reason"]
    upload(editor, data, default_group="research")
    assert [g.code for g in subscriber("a@example.com").groups] == ["research"]


def test_opt_in_mode_mails_only_new_addresses_and_they_stay_pending(
    editor, smtp, run_jobs, make_subscriber
):
    make_subscriber("old@example.com", groups=("media",))
    data = "email,name,groups\nold@example.com,老读者,tech\nnew@example.com,新读者,media\n"
    upload(editor, data.encode(), mode="opt_in")
    imp = latest_import()
    assert (imp.created_count, imp.updated_count, imp.mailed_count) == (1, 1, 1)
    assert subscriber("new@example.com").status == SubscriberStatus.PENDING
    assert subscriber("old@example.com").status == SubscriberStatus.ACTIVE
    run_jobs()
    assert [m.rcpt_tos for m in smtp.received] == [["new@example.com"]]
    assert parse_mail(smtp.received[0].data)["Subject"] == "请确认订阅《行业动态周报》"
    (path,) = links_in(mail_text(smtp.received[0].data))
    page = editor.get(path).get_data(as_text=True)
    editor.post(path, data={"csrf_token": form_token(page)})
    assert subscriber("new@example.com").status == SubscriberStatus.ACTIVE


def test_a_large_file_imports_in_the_background_with_progress(app, editor, run_jobs):
    app.config["SUBSCRIBER_IMPORT_INLINE_ROWS"] = 20
    rows = "".join(f"reader{i}@example.com,读者{i},单位{i},media\n" for i in range(2500))
    response = upload(editor, ("email,name,organisation,groups\n" + rows).encode("gbk"))
    assert response.status_code == 302
    status_url = response.headers["Location"]
    page = editor.get(status_url).get_data(as_text=True)
    assert "<progress" in page and "排队中" in page
    progress = editor.get(status_url + ".json").get_json()
    assert progress["status"] == "queued" and progress["processed"] == 0
    assert (
        db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
    )  # not in the request

    run_jobs()
    progress = editor.get(status_url + ".json").get_json()
    assert progress["message"] == ""
    assert progress == {
        **progress,
        "status": "done",
        "total": 2500,
        "processed": 2500,
        "created": 2500,
        "skipped": 0,
    }
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 2500
    assert "导入完成" in editor.get(status_url).get_data(as_text=True)


def test_the_json_progress_of_an_unknown_import_is_a_json_404(editor):
    response = editor.get("/staff/subscribers/imports/999.json")
    assert response.status_code == 404 and response.get_json() == {"error": "no such import"}


def test_parse_reports_the_starting_line_of_multiline_records(app):
    text = 'email,name\n"a@example.com","两行\n的名字"\nbad,x\n'
    with force_locale("zh_CN"):
        rows, result = importread.parse(text, importread.group_lookup(db.session), "media")
    assert [r.line for r in rows] == [2]
    assert [(e["line"], e["reason"]) for e in result.errors] == [(4, "邮箱地址无效：bad")]


def test_formula_guard_from_an_export_is_taken_off(app):
    text = "email,name\na@example.com,'=SUM(A1)\n"
    with force_locale("zh_CN"):
        rows, _ = importread.parse(text, importread.group_lookup(db.session), "media")
    assert rows[0].name == "=SUM(A1)"


def test_import_pages_need_the_editor_role(client, staff_client):
    assert client.get("/staff/subscribers/import").status_code == 302
    assert staff_client("reviewer").get("/staff/subscribers/import").status_code == 403


def test_command_line_import(runner, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes("邮箱,姓名,分组\nwu@example.com,吴,媒体\nbad,坏,媒体\n".encode("gb18030"))
    result = runner.invoke(args=["subscribers", "import", str(path), "--mode", "confirmed"])
    assert result.exit_code == 0, result.output
    assert "created 1" in result.output and "skipped 1" in result.output
    assert f"{path}:3: 邮箱地址无效：bad" in result.output
    assert subscriber("wu@example.com").status == SubscriberStatus.ACTIVE
    unknown = runner.invoke(
        args=["subscribers", "import", str(path), "--mode", "opt_in", "--default-group", "martians"]
    )
    assert unknown.exit_code == 2 and "unknown group code: martians" in unknown.output
    path.write_bytes(b"name\nx\n")
    assert (
        runner.invoke(args=["subscribers", "import", str(path), "--mode", "confirmed"]).exit_code
        == 2
    )
