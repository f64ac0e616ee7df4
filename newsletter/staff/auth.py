"""Login management and the role check for staff routes.

Every staff view is decorated with `role_required(...)`: anonymous users are sent to the
login page, logged-in users without the role get 403.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import abort, redirect, request, url_for
from flask_login import current_user

from newsletter.extensions import db, login_manager
from newsletter.staff.models import Role, StaffUser


@login_manager.user_loader
def load_user(user_id: str) -> StaffUser | None:
    """The session names "id:password stamp:session version": a new password, a deactivated
    account or a sign-out (which bumps the version) ends it on its next request."""
    if len(user_id) > 80:
        return None
    ident, _, rest = user_id.partition(":")
    stamp, _, version = rest.partition(":")
    user = db.session.get(StaffUser, int(ident)) if ident.isdigit() and len(ident) < 12 else None
    if (
        user is None
        or not user.active
        or stamp != user.password_stamp
        or version != str(user.session_version or 0)
    ):
        return None
    return user


def role_required(*roles: Role):
    """Allow logged-in staff holding any of `roles` (admins always); no roles: any staff."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
            if roles and not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        # read by the route x role test matrix; functions take attributes, mypy's wraps() type doesn't
        wrapped.required_roles = tuple(roles)  # type: ignore[attr-defined]
        return wrapped

    return decorator


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths: never an open redirect after login."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


def can_open(endpoint: str) -> bool:
    """Whether the current user passes `endpoint`'s role check: nav links use this, so no
    page offers a link its reader would get a 403 from."""
    if not current_user.is_authenticated:
        return False
    from flask import current_app

    view = current_app.view_functions.get(endpoint)
    if view is None:
        return False
    roles = getattr(view, "required_roles", None)
    return roles is None or not roles or current_user.has_role(*roles)
