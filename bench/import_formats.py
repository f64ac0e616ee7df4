"""Benchmark reading one issue in each accepted format (tests/bulletin/fixtures/weekly-397.txt
as UTF-8, GB18030, a python-docx Word file and a Chromium-printed PDF), and the bounded
refusals of hostile files.

    .venv/bin/python bench/import_formats.py [-n 5]

Prints the median time of `read_document` per format, its ratio to the UTF-8 text, and the
time to refuse a 50 MB file, a .docx that inflates past the cap and an image-only PDF.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from newsletter.bulletin import limits  # noqa: E402
from newsletter.bulletin.formats import read_document  # noqa: E402
from newsletter.bulletin.parser import IssueParseError, parse_issue  # noqa: E402
from tests.bulletin import format_fixtures as fx  # noqa: E402


def timed(fn, n: int) -> float:
    runs = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def refused(data: bytes) -> None:
    try:
        read_document(data)
    except IssueParseError:
        return
    raise AssertionError("accepted a hostile file")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5)
    n = parser.parse_args().n
    from playwright.sync_api import sync_playwright

    doc = parse_issue(fx.ISSUE_397)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        pdf = fx.make_pdf(browser, doc)
        browser.close()
    docx = fx.make_docx(doc)
    files = {
        "text (UTF-8)": fx.ISSUE_397,
        "text (GB18030)": fx.gb18030(),
        ".docx": docx,
        "PDF": pdf,
    }
    base = None
    print(f"{'format':16} {'bytes':>9} {'ms (median)':>12} {'× text':>8}")
    for name, data in files.items():
        assert read_document(data)[0] == doc
        ms = timed(lambda d=data: read_document(d), n)
        base = base or ms
        print(f"{name:16} {len(data):9d} {ms:12.1f} {ms / base:8.1f}")
    print()
    hostile = {
        "50 MB file": b"%PDF-1.7\n" + b"0" * (50 << 20),
        "docx bomb": fx.docx_bomb(docx, limits.MAX_DOCX_XML_BYTES + (8 << 20)),
        "image-only PDF": fx.image_only_pdf(),
        "encrypted PDF": fx.encrypted_pdf(pdf),
    }
    for name, data in hostile.items():
        print(
            f"refuse {name:16} {len(data):10d} bytes in {timed(lambda d=data: refused(d), n):8.1f} ms"
        )


if __name__ == "__main__":
    main()
