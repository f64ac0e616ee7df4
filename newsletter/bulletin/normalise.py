"""Character clean-up for imported text: the look-alike code points PDFs and copied text carry.

Many PDFs (Word's among them) map CJK glyphs back to Kangxi radicals (U+2F00–U+2FD5: ⾏ for
行, ⽉ for 月), to the CJK Radicals Supplement (U+2E80–U+2EF3: ⻓ for 长) or to CJK
compatibility ideographs (U+F900–U+FAFF). They look right and compare wrong (search, the
summary-to-title match, the archive). Only these ranges are mapped, explicitly: a blanket NFKC
would also turn the bulletin's full-width punctuation (，：（）) into ASCII.

Also removed: soft hyphens and zero-width characters (invisible, and they break matching).
Private-use characters and U+FFFD cannot be repaired; `suspicious()` finds them for a warning.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["NORMALISED_RANGES", "normalise", "suspicious"]

NORMALISED_RANGES = ((0x2E80, 0x2EF3), (0x2F00, 0x2FD5), (0xF900, 0xFAFF))

# CJK Radicals Supplement -> equivalent unified ideograph, from Unicode's
# EquivalentUnifiedIdeograph.txt (NFKC maps only ⺟ and ⻳ of this block). U+2E80 has none.
_SUPPLEMENT = (
    "⺁厂 ⺂乛 ⺃乚 ⺄乙 ⺅亻 ⺆冂 ⺇𠘨 ⺈刀 ⺉刂 ⺊卜 ⺋㔾 ⺌小 ⺍小 ⺎兀 ⺏尣 ⺐尢 ⺑𡯂 ⺒巳 ⺓幺 "
    "⺔彑 ⺕𫜹 ⺖忄 ⺗心 ⺘扌 ⺙攵 ⺛旡 ⺜日 ⺝月 ⺞歺 ⺟母 ⺠民 ⺡氵 ⺢氺 ⺣灬 ⺤爫 ⺥爫 ⺦丬 "
    "⺧牛 ⺨犭 ⺩王 ⺪𤴔 ⺫目 ⺬示 ⺭礻 ⺮𥫗 ⺯糹 ⺰纟 ⺱罓 ⺲罒 ⺳㓁 ⺴冗 ⺵𦉫 ⺶羊 ⺷𦍌 ⺸𦍋 "
    "⺹耂 ⺺肀 ⺻聿 ⺼肉 ⺽𦥑 ⺾艹 ⺿艹 ⻀艹 ⻁虎 ⻂衤 ⻃覀 ⻄西 ⻅见 ⻆角 ⻇𧢲 ⻈讠 ⻉贝 ⻊𧾷 "
    "⻋车 ⻌辶 ⻍辶 ⻎辶 ⻏邑 ⻐钅 ⻑長 ⻒镸 ⻓长 ⻔门 ⻕𨸏 ⻖阝 ⻗雨 ⻘青 ⻙韦 ⻚页 ⻛风 ⻜飞 "
    "⻝食 ⻞𩙿 ⻟飠 ⻠饣 ⻡𩠐 ⻢马 ⻣骨 ⻤鬼 ⻥鱼 ⻦鸟 ⻧卤 ⻨麦 ⻩黄 ⻪黾 ⻫斉 ⻬齐 ⻭歯 ⻮齿 "
    "⻯竜 ⻰龙 ⻱龜 ⻲亀 ⻳龟"
)


def _table() -> dict[int, str]:
    table: dict[int, str] = {}
    for pair in _SUPPLEMENT.split():
        radical, ideograph = pair[0], pair[1:]
        table[ord(radical)] = ideograph
    for lo, hi in ((0x2F00, 0x2FD5), (0xF900, 0xFAFF)):
        for cp in range(lo, hi + 1):
            mapped = unicodedata.normalize("NFKC", chr(cp))
            if mapped != chr(cp) and len(mapped) == 1:  # 12 compatibility ideographs are
                table[cp] = mapped  # unified ones and map to themselves
    # The bulletin is Simplified Chinese: a PDF that writes 户 (U+6237) as the radical ⼾
    # (measured: Chromium with Noto Sans CJK SC) means 户, not NFKC's traditional 戶.
    table[0x2F3E] = "户"
    for invisible in (0x00AD, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF):
        table[invisible] = ""
    return table


_TABLE = _table()
_MAPPED = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_TABLE)) + "]")
_SUSPICIOUS = re.compile("[\ue000-\uf8ff\ufffd]")


def normalise(text: str) -> tuple[str, dict[str, str]]:
    """The text with look-alikes mapped, and {found: replacement} for what was changed."""
    changed: dict[str, str] = {}

    def swap(m: re.Match) -> str:
        changed[m.group()] = _TABLE[ord(m.group())]
        return _TABLE[ord(m.group())]

    return _MAPPED.sub(swap, text), changed


def suspicious(text: str) -> list[str]:
    """Characters that cannot be repaired: private-use code points (a font's own glyphs) and
    U+FFFD (something was already lost when the text was copied)."""
    return sorted(set(_SUSPICIOUS.findall(text)))
