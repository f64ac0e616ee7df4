"""Running a CSV import: small files in the request, large ones as an RQ job.

The import's row in `subscriber_imports` is the truth about it: the uploaded bytes (until
it has run), its progress (updated after every chunk, read by the progress bar) and its
outcome. The job takes only the import id, like every job here.
"""

from __future__ import annotations

import logging

from flask import current_app, has_app_context, has_request_context
from flask_babel import force_locale
from sqlalchemy import update
from sqlalchemy.orm import Session

from newsletter.extensions import db
from newsletter.phrase import N_, P, Phrase
from newsletter.timeutil import utcnow
from subscribers import importread, importwrite, mail
from subscribers.models import ImportStatus, SubscriberImport

log = logging.getLogger(__name__)


def start_import(
    session: Session,
    data: bytes,
    filename: str,
    mode: str,
    default_group: str | None,
    staff_id: int | None,
) -> SubscriberImport:
    """Check the file as a whole (encoding, header), then store it and run or enqueue it.

    ImportFileError, with nothing written, if the file cannot be read at all.
    """
    text = importread.decode(data)
    importread.check_header(text)
    imp = SubscriberImport(
        filename=filename[:255],
        data=data,
        mode=mode,
        default_group=default_group or None,
        staff_id=staff_id,
        status=ImportStatus.QUEUED,
        errors=[],
    )
    session.add(imp)
    session.commit()
    limit = current_app.config["SUBSCRIBER_IMPORT_INLINE_ROWS"]
    if text.count("\n") <= limit:
        execute(session, imp.id)
    else:
        from newsletter.delivery.jobs import queue_for

        queue_for(current_app.config, "regular").enqueue(
            run_import,
            imp.id,
            job_timeout=3 * 3600,
            result_ttl=3600,
            failure_ttl=7 * 86400,
            description=f"subscriber import {imp.id}",
        )
    return imp


def run_import(import_id: int) -> dict:
    """The RQ job."""
    if has_app_context():
        return execute(db.session, import_id)
    from newsletter.delivery.jobs import _job_app

    app = _job_app()
    with app.app_context():
        try:
            return execute(db.session, import_id)
        finally:
            db.session.remove()


def execute(session: Session, import_id: int) -> dict:
    """Run the import; safe to run again (rows are upserted by email).

    Row errors and a failure's message are stored as phrases (newsletter/phrase.py), said
    in each reader's language by the page, with their zh-CN text for the CLI. Mails sent
    here go out in Chinese in a worker or on the command line, where there is no request
    for the locale selector to read.
    """
    if not has_request_context():
        with force_locale("zh_CN"):
            return _execute(session, import_id)
    return _execute(session, import_id)


def _execute(session: Session, import_id: int) -> dict:
    imp = session.get(SubscriberImport, import_id)
    if imp is None or imp.status == ImportStatus.DONE:
        return {"status": "missing" if imp is None else imp.status}
    imp.status = ImportStatus.RUNNING
    session.commit()
    try:
        result = _run(session, imp)
    except importread.ImportFileError as exc:
        session.rollback()
        _finish(session, import_id, ImportStatus.FAILED, exc.phrase)
        return {"status": ImportStatus.FAILED}
    except Exception as exc:  # keep what was imported; tell staff, keep the file for a retry
        session.rollback()
        log.exception("subscriber import %s failed", import_id)
        _finish(
            session,
            import_id,
            ImportStatus.FAILED,
            P(N_("导入中断：%(error)s"), error=f"{exc.__class__.__name__}: {str(exc)[:300]}"),
            keep_data=True,
        )
        raise
    return {
        "status": ImportStatus.DONE,
        "created": result.created,
        "updated": result.updated,
        "skipped": result.skipped,
    }


def _run(session: Session, imp: SubscriberImport) -> importread.ImportResult:
    import_id, mode = imp.id, imp.mode
    text = importread.decode(imp.data or b"")
    rows, result = importread.parse(text, importread.group_lookup(session), imp.default_group)
    _progress(
        session,
        import_id,
        total_rows=result.total,
        processed_rows=result.skipped,
        skipped_count=result.skipped,
    )

    def progress(done: int) -> None:
        _progress(
            session,
            import_id,
            processed_rows=done,
            created_count=result.created,
            updated_count=result.updated,
            unchanged_count=result.unchanged,
            skipped_count=result.skipped,
        )

    importwrite.apply(session, rows, mode, result, progress)
    mailed = 0
    for sub in result.mail_to:
        mail.send_confirmation(sub)
        mailed += 1
        if mailed % 1000 == 0:
            _progress(session, import_id, mailed_count=mailed)
    _progress(
        session,
        import_id,
        processed_rows=result.total,
        created_count=result.created,
        updated_count=result.updated,
        unchanged_count=result.unchanged,
        skipped_count=result.skipped,
        mailed_count=mailed,
        errors=result.errors,
    )
    _finish(session, import_id, ImportStatus.DONE, None)
    return result


def _progress(session: Session, import_id: int, **values) -> None:
    session.execute(
        update(SubscriberImport)
        .where(SubscriberImport.id == import_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _finish(
    session: Session, import_id: int, status: str, message: Phrase | None, keep_data: bool = False
) -> None:
    values = {
        "status": status,
        "message": message.text()[:500] if message else "",
        "message_words": message.to_json() if message else None,
        "finished_at": utcnow(),
    }
    if not keep_data:
        values["data"] = None  # the uploaded personal data is not kept once imported
    _progress(session, import_id, **values)
