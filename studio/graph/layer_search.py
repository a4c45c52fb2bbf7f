"""Searching layers by name: matches ranked exact name first, then name prefix, a word of the name, other names, category, description.

The palette and the canvas's Add Layer popup both list what `rank` returns, and Enter takes
the first entry, so "output" must give Output before every layer whose description mentions
an output. Case is ignored, and so are spaces, `_` and `-` inside a name ("max_pool" finds
MaxPool2d). Among equals the caller's order decides, except that a 2-D layer comes before the
1-D and 3-D layers of its family (the common case: "conv" gives Conv2d first).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from studio.graph.catalogue import CATALOGUE, LayerSpec
from studio.graph.naming import name_stem

EXACT, ALIAS, PREFIX, WORD, INSIDE, OTHER_NAME, CATEGORY, DESCRIPTION = range(8)
TIER_NAMES = ("exact name", "display name", "name prefix", "word of the name", "inside the name", "other framework's name", "category", "description")

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+[a-z]*")
_LABEL = re.compile(r"^(?:layers\.|keras\.|nn\.|torch\.)?([A-Za-z][A-Za-z0-9]*)$")
_DIMENSION = re.compile(r"([123])d$", re.IGNORECASE)
_DIMENSION_RANK = {"2": 0, "1": 1, "3": 2}


@dataclass(frozen=True)
class SearchEntry:
    """One thing a search can find: its name, its short display names, other names it goes by, category and description."""

    key: Any  # what the caller gets back: a layer type, a library block's key
    name: str
    category: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()  # the names new layers of it get (maxpool for MaxPool2d)
    other_names: tuple[str, ...] = ()  # what other frameworks call it (Dense for Linear)
    order: tuple[int, ...] = ()  # among matches of one tier, lower first


def _compact(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.lower())


@dataclass(frozen=True)
class _Text:
    """An entry's texts as a search compares them: lower case, the name's word starts found once."""

    name: str
    compact: str
    starts: frozenset[int]
    aliases: tuple[str, ...]
    others: tuple[str, ...]
    category: str
    description: str


@lru_cache(maxsize=4096)
def _text(entry: SearchEntry) -> _Text:
    name = entry.name.lower()
    starts = frozenset(m.start() for m in _WORDS.finditer(entry.name))
    return _Text(name, _compact(name), starts, tuple(a.lower() for a in entry.aliases),
                 tuple(o.lower() for o in entry.other_names), entry.category.lower(), entry.description.lower())


@dataclass(frozen=True)
class _Word:
    """One word of a query (or the query written together): compacted, and as the start of a word in running text."""

    compact: str
    at_word_start: re.Pattern[str]

    @staticmethod
    def of(text: str) -> _Word:
        return _Word(_compact(text), re.compile(rf"(?<![0-9a-z]){re.escape(text.lower())}"))


def _name_tier(word: _Word, text: _Text) -> int | None:
    """How well a query word matches the entry's names; None if it does not."""
    query = word.compact
    if not query:
        return None
    if query == text.compact:
        return EXACT
    if query in text.aliases:
        return ALIAS
    if text.name.startswith(query) or any(a.startswith(query) for a in text.aliases):
        return PREFIX
    at = text.name.find(query)
    if at >= 0:
        while at >= 0:
            if at in text.starts:
                return WORD
            at = text.name.find(query, at + 1)
        return INSIDE
    if any(word.at_word_start.search(other) for other in text.others):
        return OTHER_NAME
    return None


def _tier(joined: _Word, words: list[_Word], entry: SearchEntry) -> int | None:
    text = _text(entry)
    best = _name_tier(joined, text)
    if best is not None and best <= EXACT:
        return best
    worst = -1
    for word in words:
        tier = _name_tier(word, text)
        if tier is None and word.at_word_start.search(text.category):
            tier = CATEGORY
        if tier is None and word.at_word_start.search(text.description):
            tier = DESCRIPTION
        if tier is None:
            return best
        worst = max(worst, tier)
    return worst if best is None else min(best, worst)


def match_tier(query: str, entry: SearchEntry) -> int | None:
    """The tier at which `query` finds `entry` (lower is better; see the tier constants), or None.

    A query of several words needs each of them somewhere (the entry takes its worst word's
    tier), unless the words written together match the name ("max pool" is MaxPool's name).
    """
    words = query.split()
    return _tier(_Word.of(query.strip()), [_Word.of(w) for w in words], entry) if words else None


def rank(query: str, entries: Iterable[SearchEntry]) -> list[SearchEntry]:
    """The entries `query` finds, best first: by tier, then by each entry's `order`, then as given."""
    if not query.split():
        return []
    joined, words = _Word.of(query.strip()), [_Word.of(w) for w in query.split()]
    scored = []
    for position, entry in enumerate(entries):
        tier = _tier(joined, words, entry)
        if tier is not None:
            scored.append((tier, entry.order, position, entry))
    scored.sort(key=lambda s: s[:3])
    return [s[3] for s in scored]


def layer_entry(spec: LayerSpec, order: tuple[int, ...] = ()) -> SearchEntry:
    """A catalogue layer (or a block's spec) as a search entry: its naming stem as alias, its Keras, ONNX and Caffe names."""
    others = []
    for label in (spec.targets or {}).values():
        found = _LABEL.match(label) if isinstance(label, str) else None
        if found and found.group(1).lower() != spec.type.lower():
            others.append(found.group(1))
    stem = name_stem(spec.type)
    aliases = (stem,) if stem != spec.type.lower() else ()
    return SearchEntry(spec.type, spec.type, spec.category, spec.doc, aliases, tuple(dict.fromkeys(others)), order)


def family_order(types: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each type's tie-break: where its family first appears, then 2-D before 1-D before 3-D (Conv2d, Conv1d, Conv3d)."""
    first: dict[str, int] = {}
    order = {}
    for index, layer_type in enumerate(types):
        found = _DIMENSION.search(layer_type)
        family = layer_type[: found.start()] if found else layer_type
        first.setdefault(family.lower(), index)
        order[layer_type] = (first[family.lower()], _DIMENSION_RANK[found.group(1)] if found else 0)
    return order


def catalogue_entries() -> list[SearchEntry]:
    """Every catalogue layer as a search entry, in catalogue order."""
    order = family_order(list(CATALOGUE))
    return [layer_entry(spec, order[spec.type]) for spec in CATALOGUE.values()]


def search_layers(query: str) -> list[str]:
    """The catalogue's layer types `query` finds, best first."""
    return [entry.key for entry in rank(query, catalogue_entries())]
