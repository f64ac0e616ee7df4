"""One-off email (confirmation, preference and password links) for code that must not load
the send pipeline: the reader side of `subscribers` hands its email here, and `create_app`
plugs in the sender (`delivery.jobs.enqueue_transactional`: the outbox row, then the
priority queue). So the reader pages import neither RQ nor the renderer (import-linter)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

_KEY = "newsletter.transactional"


def register(app: Flask, sender: Callable[..., str]) -> None:
    app.extensions[_KEY] = sender


def send(to_email: str, subject: str, text: str, html: str | None = None, to_name: str = "") -> str:
    """Queue one email through the app's sender; returns its job id ("" if it waits)."""
    sender: Callable[..., str] = current_app.extensions[_KEY]
    return sender(to_email, subject, text, html, to_name=to_name)
