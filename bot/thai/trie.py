"""A regular expression for a large set of literal words, shaped as a trie so that it runs fast.

A plain alternation of a thousand names makes `re` try every branch at every position; a trie pattern
tries one character at a time. The match at each position is the longest word, as with an alternation
sorted longest first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_END = ""


def _pattern(node: dict[str, dict]) -> str:  # type: ignore[type-arg]
    branches = [re.escape(ch) + _pattern(child) for ch, child in sorted(node.items()) if ch != _END]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if _END in node:
        # Greedy: the longer word is tried first, the word ending here is the fall-back.
        return "(?:" + body + ")?" if len(branches) == 1 else body + "?"
    return body


def trie_regex(words: Iterable[str]) -> re.Pattern[str]:
    """A compiled pattern matching any of ``words`` (longest at each position); never matches ""."""
    root: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        if not word:
            continue
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[_END] = {}
    if not root:
        return re.compile(r"(?!x)x")
    return re.compile(_pattern(root))
