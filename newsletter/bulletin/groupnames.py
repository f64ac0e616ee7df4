"""Which subscriber group a name at the bulletin's foot (报：… 发：…) means. Pure: the
caller passes the directory (group names, codes and the aliases editors confirmed).

The foot is written for people: "协会各会员单位" is the group 协会会员单位, "高校等协作机构"
is 高校. So a name resolves, in order: exactly (name, code or alias); after dropping "各" and
an "等…" tail; or when exactly one group name is part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SPACE = re.compile(r"\s+")
_TAIL = re.compile(r"等.*$")


def key(name: str) -> str:
    """The form names are compared in (spaces dropped, case folded)."""
    return _SPACE.sub("", name).casefold()


def directory(
    groups: Iterable[tuple[str, str]], aliases: Iterable[tuple[str, str]] = ()
) -> dict[str, str]:
    """{compared name: group code} from (code, name) pairs and (alias, code) pairs."""
    found: dict[str, str] = {}
    for code, name in groups:
        found.setdefault(key(name), code)
        found.setdefault(key(code), code)
    for alias, code in aliases:
        found[key(alias)] = code  # an editor's choice wins over a guess
    return found


def resolve(name: str, names: dict[str, str]) -> str | None:
    """The group code `name` means, or None."""
    k = key(name)
    if not k:
        return None
    for variant in (k, k.replace("各", ""), _TAIL.sub("", k), _TAIL.sub("", k).replace("各", "")):
        if len(variant) >= 2 and variant in names:
            return names[variant]
    inside = {code for n, code in names.items() if len(n) >= 2 and n in k}
    return inside.pop() if len(inside) == 1 else None
