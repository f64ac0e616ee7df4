"""The parser's newer cases: question and exclamation headlines, page furniture in copied
text, English titles, one-paragraph articles, formatting hints (pure: no Flask, no DB)."""

from __future__ import annotations

from pathlib import Path

from newsletter.bulletin.parser import SourceLine, parse_issue, parse_lines, read_text_lines

FIXTURE = (Path(__file__).resolve().parent / "fixtures" / "weekly-397.txt").read_text("utf-8")
SAMPLE = (Path(__file__).resolve().parents[2] / "samples" / "weekly-396.txt").read_text("utf-8")

HEAD = "行业动态周报\n中国网络视听协会\n第 400 期\n2024-02-05\n摘要：\n- ◆甲\n\n"
FOOT = "\n\n编辑部：对外合作部\n报：协会领导\n发：媒体"


def body(*blocks: str) -> str:
    return HEAD + "\n\n".join(blocks) + FOOT


def titles(text: str) -> list[str]:
    return [a.title for a in parse_issue(text).articles]


def test_headlines_ending_in_question_or_exclamation_marks_are_titles():
    text = body(
        "行业",
        "短剧还能火多久？",
        "近日，多家机构发布数据。",
        "第二段也在这里。",
        "直播新规来了！",
        "1 月 3 日，新规生效。",
        "Is AI the next TV?",
        "分析人士这样说。",
    )
    doc = parse_issue(text)
    assert [a.title for a in doc.articles] == [
        "短剧还能火多久？",
        "直播新规来了！",
        "Is AI the next TV?",
    ]
    assert doc.articles[0].paragraphs == ["近日，多家机构发布数据。", "第二段也在这里。"]


def test_a_short_question_paragraph_reads_as_a_title_and_a_hint_puts_it_back():
    """The known limit of the shape rule; the import preview's "move to paragraph" fixes it."""
    text = body("行业", "标题一", "第一段。", "这意味着什么？", "这意味着更多吗？", "结尾。")
    assert titles(text) == ["标题一", "这意味着更多吗？"]  # the first of two questions stays
    items, last = read_text_lines(text)
    k = next(i for i, l in enumerate(items) if l.text == "这意味着更多吗？")
    items[k] = SourceLine(items[k].no, items[k].text, hint="para")
    doc = parse_lines(items, last).doc
    assert len(doc.articles) == 1 and len(doc.articles[0].paragraphs) == 4


def test_page_numbers_and_running_headers_are_dropped_never_glued():
    lines = SAMPLE.split("\n")
    at = lines.index(next(l for l in lines if l.startswith("首要政治任务")))
    lines[at] = "- 2 -" + lines[at]  # a copy from the PDF glued the page number on
    lines[at - 1 : at - 1] = ["", "第 2 页", "", "行业动态周报 第 396 期", "", "- 2 -"]
    parsed = parse_lines(*read_text_lines("\n".join(lines)))
    reference = parse_issue(SAMPLE)
    assert parsed.doc == reference
    assert [t for _, t in parsed.dropped] == ["第 2 页", "行业动态周报 第 396 期", "- 2 -", "- 2 -"]


def test_the_issues_own_number_and_a_number_in_a_title_survive():
    doc = parse_issue(body("行业", "《某某》第 3 期上线", "近日，节目上线。"))
    assert doc.articles[0].title == "《某某》第 3 期上线"


def test_long_english_titles_are_titles():
    long_title = (
        "Microsoft becomes the world's most valuable company as Apple shares "
        "slide on iPhone demand worries"
    )
    assert len(long_title) > 80
    assert titles(body("Tech News", long_title, "1 月 11 日，微软市值超过苹果。")) == [long_title]


def test_a_run_of_one_paragraph_articles():
    blocks = ["资本"]
    for k in range(6):
        blocks += [f"公司{k}完成新一轮融资", f"近日，公司{k}宣布完成融资。"]
    doc = parse_issue(body(*blocks))
    assert [len(a.paragraphs) for a in doc.articles] == [1] * 6


def test_a_block_equal_to_a_summary_bullet_is_a_title_even_with_a_full_stop():
    text = body("行业", "标题一", "第一段。", "甲", "第二篇的段落。").replace("◆甲", "◆甲。")
    text = text.replace("\n甲\n", "\n甲。\n")
    assert titles(text) == ["标题一", "甲。"]


def test_the_new_fixture_parses_in_full():
    doc = parse_issue(FIXTURE)
    assert [s.name for s in doc.sections] == ["要闻", "行业", "内容", "技术", "人事", "研究"]
    assert [len(s.articles) for s in doc.sections] == [2, 4, 2, 3, 1, 1]
    assert "5G 新通话商用进程加快！" in [a.title for a in doc.articles]


def test_hints_override_the_shape():
    items, last = read_text_lines(body("行业", "标题一", "第一段。", "第二段。"))
    k = next(i for i, l in enumerate(items) if l.text == "第二段。")
    items[k] = SourceLine(items[k].no, items[k].text, hint="title")
    items.insert(k + 1, SourceLine(items[k].no + 1, "补一段。", hint="para"))
    parsed = parse_lines(items, last + 1)
    assert [a.title for a in parsed.doc.articles] == ["标题一", "第二段。"]
    # the trace says where each part came from
    ((heading_no, arts),) = parsed.trace
    assert [t for t, _ in arts] == [items[k - 2].no, items[k].no]
