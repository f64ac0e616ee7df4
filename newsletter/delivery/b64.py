"""Base64 bodies in 76-column CRLF lines (RFC 2045), with a variant's fixed runs encoded once.

A personalised body is the variant's fixed text with a few per-recipient values between the
runs (greeting, links, pixel). Base64 maps each 57-byte block of input to one 76-character
line on its own, so the lines of every whole block inside a fixed run depend only on the
run and on where it starts on the 57-byte grid: `FixedRuns` keeps those lines per (run,
start mod 57) and encodes (UTF-8, then base64) only the blocks around the values for each
reader. The bytes are exactly `lines(text.encode())`'s: each run is compared whole where it
is found, and what is not found or not equal is simply encoded. Measured on the sample bulletin (110 KB message):
`lines` of both parts ~0.18 ms, `FixedRuns.encode` ~0.03 ms per message. `FixedRuns.pieces`
gives the same bytes unjoined, so that message.py copies them once, into the message.
"""

from __future__ import annotations

import binascii
import itertools
import operator
import struct
from collections import OrderedDict
from collections.abc import Iterator

BLOCK = 57  # input bytes per 76-character line
_LINE = struct.Struct("76s")
_FIRST = operator.itemgetter(0)
_CRLF = b"\r\n"
_PROBE = 48  # characters of a run searched for, before comparing the whole run


def lines(data: bytes) -> bytes:
    """`data` in base64, 76-column lines joined by CRLF, without a CRLF after the last."""
    # One C call for the encoding, then 76-column lines cut by struct.iter_unpack, so no
    # Python-level loop runs per line (measured: encodebytes, which loops over 57-byte
    # chunks in Python, is twice as slow; a list comprehension of slices 25 % slower).
    # The short ones (a reader's values between two runs: one line, often) return at once.
    encoded = binascii.b2a_base64(data, newline=False)
    if len(encoded) <= 76:
        return encoded
    whole = len(encoded) - len(encoded) % 76
    out: Iterator[bytes] = map(_FIRST, _LINE.iter_unpack(memoryview(encoded)[:whole]))
    if whole < len(encoded):
        out = itertools.chain(out, (encoded[whole:],))
    return _CRLF.join(out)


class FixedRuns:
    """The fixed runs of one variant's body (in order), and their lines by grid position.

    At most `budget` bytes of lines are kept (least recently used go first): the runs'
    positions vary with the lengths of the values before them (names, tokens), usually
    over a handful of values per send."""

    def __init__(self, runs: list[str], budget: int = 1 << 20):
        # A run shorter than two blocks may hold no whole block: not worth a lookup.
        self.runs = [(r, b) for r in runs if len(b := r.encode("utf-8")) >= 2 * BLOCK]
        self._probes = [r[:_PROBE] for r, _ in self.runs]
        self.budget = budget
        self._kept: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._size = 0

    def encode(self, text: str) -> bytes:
        """Exactly `lines(text.encode("utf-8"))`; only what lies between the runs' whole
        blocks is encoded (UTF-8, then base64) here."""
        return b"".join(self.pieces(text))

    def pieces(self, text: str) -> list[bytes]:
        """`encode(text)` in pieces (the CRLFs between them included): joined, its bytes."""
        pieces: list[bytes] = []  # finished lines and the CRLFs between them, in order
        pending: list[bytes] = []  # UTF-8 not yet in lines; it starts on the grid
        pos = 0  # UTF-8 length of text[:cursor]
        cursor = 0
        for i, (run, raw) in enumerate(self.runs):
            found = text.find(self._probes[i], cursor)
            if found < 0 or not text.startswith(run, found):
                continue  # not there as it was: its text is encoded with the rest
            gap = text[cursor:found].encode("utf-8")
            pending.append(gap)
            at = pos + len(gap)
            pos, cursor = at + len(raw), found + len(run)
            first = -(-at // BLOCK) * BLOCK  # the first whole block inside the run
            last = pos // BLOCK * BLOCK
            if last - first < BLOCK:
                pending.append(raw)
                continue
            pending.append(raw[: first - at])
            if head := b"".join(pending):
                pieces += (lines(head), _CRLF)
            pieces += (self._lines(i, at % BLOCK, raw, first - at, last - at), _CRLF)
            pending = [raw[last - at :]]
        pending.append(text[cursor:].encode("utf-8"))
        if (tail := b"".join(pending)) or not pieces:
            pieces.append(lines(tail))
        else:
            pieces.pop()  # no CRLF after the last line
        return pieces

    def _lines(self, i: int, phase: int, raw: bytes, start: int, end: int) -> bytes:
        key = (i, phase)
        got = self._kept.get(key)
        if got is not None:
            self._kept.move_to_end(key)
            return got
        got = lines(raw[start:end])  # sliced only here: a copy of the run per reader cost ~5 µs
        self._kept[key] = got
        self._size += len(got)
        while self._size > self.budget and len(self._kept) > 1:
            _, old = self._kept.popitem(last=False)
            self._size -= len(old)
        return got
