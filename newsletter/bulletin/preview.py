"""Staff preview of an issue's editions, and the "send test" through the normal queue.

No HTTP here: the views call these with the app's config and show the results.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from newsletter.bulletin.document import IssueDoc
from newsletter.render import (
    GMAIL_CLIP_BYTES,
    SIZE_WARN_BYTES,
    Edition,
    RenderedEdition,
    personalise,
    render_edition,
)

MAX_TEST_ADDRESSES = 10
EDITION_LABELS = {Edition.REGULAR: "普通版", Edition.PRIORITY: "领导版"}

_SPLIT_RE = re.compile(r"[\s,，;；、]+")


class SendTestError(ValueError):
    """A test send was refused; the message says why. Nothing was queued."""


@dataclass(frozen=True)
class EditionFigures:
    edition: Edition
    label: str
    subject: str
    html_bytes: int
    text_chars: int
    warnings: list[str]

    @property
    def level(self) -> str:
        """"ok", "warn" (close to Gmail's clipping) or "over" (will be clipped)."""
        if self.html_bytes > GMAIL_CLIP_BYTES:
            return "over"
        return "warn" if self.html_bytes > SIZE_WARN_BYTES else "ok"

    @property
    def percent_of_limit(self) -> int:
        return round(100 * self.html_bytes / GMAIL_CLIP_BYTES)


def archive_url(base_url: str, number: int) -> str:
    return f"{base_url}/archive/{number}"


def render(doc: IssueDoc, edition: Edition, base_url: str) -> RenderedEdition:
    return render_edition(doc, edition, archive_url=archive_url(base_url, doc.number))


def render_all(doc: IssueDoc, base_url: str) -> dict[Edition, RenderedEdition]:
    return {edition: render(doc, edition, base_url) for edition in Edition}


def figures(rendered: dict[Edition, RenderedEdition]) -> list[EditionFigures]:
    """Subject, HTML size and the renderer's warnings of each rendered edition."""
    return [EditionFigures(e, EDITION_LABELS[e], r.subject, r.html_bytes, len(r.text),
                           list(r.warnings)) for e, r in rendered.items()]


def sample_copy(rendered: RenderedEdition, base_url: str) -> tuple[str, str]:
    """(html, text) as a reader would get them, with harmless links and no tracking pixel."""
    return personalise(rendered, {"unsubscribe_url": f"{base_url}/unsubscribe/preview",
                                  "preferences_url": f"{base_url}/preferences/preview",
                                  "name": "", "open_pixel_url": ""})


def parse_test_addresses(text: str) -> list[str]:
    """Split and validate the addresses typed in the form (syntax only, no DNS)."""
    raw = [a for a in _SPLIT_RE.split(text or "") if a]
    if not raw:
        raise SendTestError("请填写至少一个收件地址。")
    bad, good = [], []
    for address in raw:
        try:
            good.append(validate_email(address, check_deliverability=False).normalized)
        except EmailNotValidError:
            bad.append(address)
    if bad:
        raise SendTestError("这些地址无效：" + "、".join(bad[:5]) + ("……" if len(bad) > 5 else ""))
    good = list(dict.fromkeys(a.lower() for a in good))
    if len(good) > MAX_TEST_ADDRESSES:
        raise SendTestError(f"一次最多发给 {MAX_TEST_ADDRESSES} 个地址（填了 {len(good)} 个）。")
    return good


def _create_send_params() -> set[str]:
    from newsletter.delivery.pipeline import create_send

    return set(inspect.signature(create_send).parameters)


def supports_test_edition() -> bool:
    """Whether the pipeline can mail a chosen edition to test addresses (`test_edition`)."""
    return "test_edition" in _create_send_params()


def send_test(session: Session, config, number: int, edition: Edition,
              addresses: list[str], *, created_by: str = ""):
    """Create a test send of `edition` to `addresses` and queue it like any send.

    Returns the Send. The pipeline marks it is_test and prefixes the subject with [测试].
    """
    from newsletter.delivery.jobs import enqueue_send
    from newsletter.delivery.pipeline import PipelineSettings, SendError, create_send

    params = _create_send_params()
    kwargs: dict = {}
    if "test_edition" in params:
        kwargs["test_edition"] = Edition(edition).value
    elif edition is not Edition.REGULAR:
        # Sending the regular edition while the form says 领导版 would mislead the tester.
        raise SendTestError("发送管线暂不支持领导版的测试发送，目前只能测试普通版。")
    if "created_by" in params:
        kwargs["created_by"] = created_by
    try:
        send = create_send(session, PipelineSettings.from_config(config), number, [],
                           test_addresses=addresses, **kwargs)
    except SendError as exc:
        session.rollback()
        raise SendTestError(str(exc)) from exc
    if created_by and send.created_by != created_by:  # a pipeline without `created_by`
        send.created_by = created_by
        session.commit()
    try:
        enqueue_send(send.id)
    except RedisError as exc:
        raise SendTestError(f"测试发送 #{send.id} 已创建，但发送队列暂时不可用（{exc}）；"
                            f"队列恢复后运行 flask send resume {send.id}。") from exc
    return send
