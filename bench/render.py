"""Benchmark the renderer on the real sample issue.

    .venv/bin/python bench/render.py [-n 50]

Prints the median time to render one edition (Jinja + MJML + premailer), the median time
of one `personalise` call, and the sizes of the HTML and text parts; then (`--scale`) the
time to render an edition and to build the archive page of issues of 100, 1,000 and 5,000
articles (each with a link, a 摘要 line per article, half of them matched only by
containment), with the time per article: linear means a flat ms/article column.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from newsletter.bulletin.parser import parse_issue
from newsletter.render import Edition, personalise, render_edition

ARCHIVE_URL = "https://news.example.org/issues/396"
VALUES = {
    "unsubscribe_url": "https://news.example.org/u/8f14e45fceea167a5a36dedd4bea2543?sig=abc",
    "preferences_url": "https://news.example.org/p/8f14e45fceea167a5a36dedd4bea2543?sig=def",
    "name": "张三",
    "open_pixel_url": "https://news.example.org/o/8f14e45fceea167a5a36dedd4bea2543.gif",
}


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("-n", type=int, default=50, help="renderings to time (default 50)")
    ap.add_argument(
        "--scale",
        type=int,
        nargs="*",
        default=[100, 1000, 5000],
        help="article counts for the scaling run (default 100 1000 5000; none: skip)",
    )
    args = ap.parse_args()

    doc = parse_issue((REPO / "samples" / "weekly-396.txt").read_text(encoding="utf-8"))
    doc.editor_note = "本期重点关注 **2024 年全国广播电视工作会议**，会议部署了全年 8 项重点工作。"

    t0 = time.perf_counter()
    render_edition(doc, Edition.REGULAR, archive_url=ARCHIVE_URL)  # cold: templates, cssutils
    cold = time.perf_counter() - t0

    for edition in Edition:
        times = timed(lambda e=edition: render_edition(doc, e, archive_url=ARCHIVE_URL), args.n)
        r = render_edition(doc, edition, archive_url=ARCHIVE_URL)
        personalise(r, VALUES)  # split into parts once (cached on the RenderedEdition)
        p_times = timed(lambda r=r: personalise(r, VALUES), max(1000, args.n * 20))
        html, text = personalise(r, VALUES)
        print(
            f"{edition.value:>8}: render median {statistics.median(times) * 1e3:6.2f} ms"
            f" | personalise median {statistics.median(p_times) * 1e6:6.1f} µs"
            f" | html {r.html_bytes} B ({r.html_bytes / 1024:.1f} KiB,"
            f" {r.html_bytes / 1000:.1f} KB; personalised {len(html.encode())} B)"
            f" | text {len(text.encode())} B ({len(text)} chars)"
            f" | warnings {len(r.warnings)}"
        )
    print(
        f"first (cold) render: {cold * 1e3:.1f} ms; {len(doc.sections)} sections, "
        f"{len(doc.articles)} articles; n={args.n}"
    )
    if args.scale:
        scaling(doc, args.scale)


def grown(doc, articles: int):
    """`doc` with `articles` articles over its sections, a link in each, one 摘要 line each
    (every other one a shortened title, which only the containment rule matches)."""
    import copy

    from newsletter.bulletin.document import ArticleDoc

    out = copy.deepcopy(doc)
    model = doc.articles
    per = -(-articles // len(out.sections))
    k = 0
    for section in out.sections:
        section.articles = []
        while len(section.articles) < per and k < articles:
            a = model[k % len(model)]
            k += 1
            section.articles.append(
                ArticleDoc(
                    f"{a.title}（{k}）",
                    [*a.paragraphs[:1], f"详见[原文 {k}](https://news.example.org/a/{k})。"],
                )
            )
    titles = [a.title for a in out.articles]
    out.summary = [f"◆{t}" if i % 2 else f"◆{t[:-1]}" for i, t in enumerate(titles)]
    return out


def scaling(doc, sizes: list[int]) -> None:
    from newsletter.bulletin.archive import page_context

    print("articles |   render ms | ms/article | archive ms | ms/article | text KB")
    for n in sizes:
        big = grown(doc, n)
        t = time.perf_counter()
        r = render_edition(big, Edition.REGULAR, archive_url=ARCHIVE_URL)
        render_s = time.perf_counter() - t
        t = time.perf_counter()
        page_context(big)
        archive_s = time.perf_counter() - t
        size = sum(len(p.encode()) for a in big.articles for p in [a.title, *a.paragraphs])
        print(
            f"{n:8,} | {render_s * 1e3:11.1f} | {render_s * 1e3 / n:10.3f} |"
            f" {archive_s * 1e3:10.1f} | {archive_s * 1e3 / n:10.4f} | {size / 1024:7.0f}"
            f"  (html {r.html_bytes / 1e6:.1f} MB)",
            flush=True,
        )


if __name__ == "__main__":
    main()
