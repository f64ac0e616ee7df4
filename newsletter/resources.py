"""Files the package reads that live outside it in the repository: the email templates
(templates/email/) and the sample issue (samples/). A wheel carries copies inside the package
(newsletter/email_templates, newsletter/samples: setup.py's build step puts them there); a
checkout (or an editable install) reads them where they are. Pure: no Flask, no database."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent


def _located(packaged: str, in_source: str) -> Path:
    inside = PACKAGE_DIR / packaged
    return inside if inside.is_dir() else SOURCE_ROOT / in_source


def is_source_checkout() -> bool:
    """Running from the repository (not from an installed wheel)."""
    return (SOURCE_ROOT / "pyproject.toml").is_file() and (SOURCE_ROOT / "templates").is_dir()


EMAIL_TEMPLATES = _located("email_templates", "templates/email")
SAMPLES = _located("samples", "samples")
SAMPLE_ISSUE = SAMPLES / "weekly-396.txt"
