"""Constants shared by the renderer tests (importable, unlike conftest)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "weekly-396.txt"
ARCHIVE_URL = "https://news.example.org/issues/396?src=email&v=1"
EDITOR_NOTE = (
    "本期重点关注 **2024 年全国广播电视工作会议**，会议部署了全年 8 项重点工作。\n"
    "会议详情请见[国家广播电视总局网站](https://www.nrta.gov.cn/)。"
)
VALUES = {
    "unsubscribe_url": "https://news.example.org/u/abc123?sig=x&t=1",
    "preferences_url": "https://news.example.org/p/abc123?sig=y&t=2",
    "name": "张三",
    "open_pixel_url": "https://news.example.org/o/abc123.gif?d=42&s=7",
}
