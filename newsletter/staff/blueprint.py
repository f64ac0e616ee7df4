"""The staff blueprint, alone: `views` (login, passwords) and `admin_views` (accounts, groups,
tokens, audit) both add their routes to it, and neither has to import the other for it."""

from __future__ import annotations

from flask import Blueprint

from newsletter.staff import audit
from newsletter.staff.auth import can_open

bp = Blueprint("staff", __name__, url_prefix="/staff")
bp.after_app_request(audit.audit_request)
bp.add_app_template_global(can_open, "can_open")
