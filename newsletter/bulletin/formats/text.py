"""Plain text in the encodings editors' machines write: UTF-8 (with or without a BOM),
UTF-16 (BOM, or the zero bytes of its ASCII characters) and GB18030 (Windows Notepad's
"ANSI" on a Chinese system is GBK, which GB18030 contains)."""

from __future__ import annotations

import codecs

from ..parser import IssueParseError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _line_of(data: bytes, offset: int, codec: str) -> int:
    head = data[:offset].decode(codec, errors="replace")
    return head.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'-be' when the zero bytes sit on one side (digits, spaces and line ends
    are ASCII in the bulletin), else None."""
    sample = data[:4096]
    if len(sample) < 8 or len(sample) % 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    enough = max(len(sample) // 40, 2)  # (a CJK character may have a zero byte too: 一 4E00)
    if odd >= enough and odd > 3 * even:
        return "utf-16-le"
    if even >= enough and even > 3 * odd:
        return "utf-16-be"
    return None


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name), or IssueParseError naming the line of the first bad byte."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return _strict(data, codec), codec.replace("-sig", "") + " (BOM)"
    if utf16 := _utf16_without_bom(data):
        return _strict(data, utf16), utf16
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            raise IssueParseError(
                _line_of(data, utf8_error.start, "utf-8"),
                f"invalid UTF-8 byte 0x{data[utf8_error.start]:02x} (and not GB18030/GBK "
                "either); expected text in UTF-8, GB18030 or UTF-16",
            ) from None


def _strict(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as e:
        raise IssueParseError(
            _line_of(data, e.start, codec), f"invalid {codec.upper().replace('-SIG', '')} data"
        ) from None
