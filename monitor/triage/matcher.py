"""The brand query language: parse once, match many.

A brand is named by its ``terms`` (any of them, any case, whole words) or by a ``query`` in the
language comms people know from Google and the listening tools::

    (case:Apple OR iPhone) NOT ("apple pie" OR "apple juice") NOT source:reddit

Every term of every brand is compiled into one pattern and a text is scanned once. The terms of
``terms`` brands sit in it whole, longest first, exactly as they always have; a query's terms
are found by their first word and confirmed where they stand. Each brand's query is then
evaluated on the occurrences found (word positions for NEAR), never by reading the text again.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from monitor.config.query import (
    SPACED,
    WORD,
    And,
    Filter,
    Node,
    Not,
    Or,
    Term,
    all_terms,
    positive_terms,
)
from monitor.mention import Mention

if TYPE_CHECKING:
    from monitor.config.settings import Brand


@dataclass(frozen=True)
class BrandHit:
    """One place in a text that names a brand."""

    brand: str
    text: str  # the words as written in the mention
    start: int
    end: int
    # Whether the words are one of the brand's names (masked before scoring sentiment) or
    # another word its query looks for ("awful", "refund"), which must keep its feeling.
    names: bool = True


Span = tuple[int, int]
Found = dict[int, list[Span]]  # term id -> where it occurs


class _Seen:
    """One text as the queries see it: where each term occurs, and the mention's facts."""

    def __init__(
        self, text: str, found: Found, mention: Mention | None, kinds: Mapping[str, str]
    ) -> None:
        self.text = text
        self.found = found
        self.mention = mention
        self.kinds = kinds
        self._word_starts: list[int] | None = None

    def spans(self, ids: Sequence[int]) -> list[Span]:
        return [span for i in ids for span in self.found.get(i, ())]

    def word_range(self, span: Span) -> tuple[int, int]:
        """The first and last word (runs of non-space) the span touches."""
        if self._word_starts is None:
            self._word_starts = [m.start() for m in SPACED.finditer(self.text)]
        starts = self._word_starts
        first = bisect.bisect_right(starts, span[0]) - 1
        return first, bisect.bisect_right(starts, span[1] - 1) - 1

    def narrowed(self, ids: frozenset[int], excluded: list[Span]) -> _Seen:
        """This text with the occurrences of ``ids`` inside an excluded phrase left out."""
        found = dict(self.found)
        for i in ids & found.keys():
            kept = [s for s in found[i] if not any(e[0] <= s[0] and s[1] <= e[1] for e in excluded)]
            if kept:
                found[i] = kept
            else:
                del found[i]
        return _Seen(self.text, found, self.mention, self.kinds)


Evaluate = Callable[[_Seen], bool | None]  # None: a filter with no mention to look at


def _compile(node: Node, ids: Mapping[Term, int]) -> Evaluate:
    if isinstance(node, Term):
        term_id = ids[node]
        return lambda seen: term_id in seen.found
    if isinstance(node, Filter):
        return _compile_filter(node)
    if isinstance(node, Not):
        operand = _compile(node.operand, ids)

        def negated(seen: _Seen) -> bool | None:
            result = operand(seen)
            return None if result is None else not result

        return negated
    if isinstance(node, And | Or):
        operands = [_compile(operand, ids) for operand in node.operands]
        decisive = isinstance(node, Or)  # the result that settles it: True for OR, False for AND

        def combined(seen: _Seen) -> bool | None:
            known = False
            for operand in operands:
                result = operand(seen)
                if result is decisive:
                    return decisive
                known = known or result is not None
            return (not decisive) if known else None

        return combined
    left = [ids[term] for term in all_terms(node.left)]
    right = [ids[term] for term in all_terms(node.right)]
    distance = node.distance

    def near(seen: _Seen) -> bool:
        lefts, rights = seen.spans(left), seen.spans(right)
        if not lefts or not rights:
            return False
        words = [seen.word_range(span) for span in rights]
        for span in lefts:
            first, last = seen.word_range(span)
            if any(max(f - last, first - e) - 1 <= distance for f, e in words):
                return True
        return False

    return near


def _compile_filter(node: Filter) -> Evaluate:
    value = node.value

    def holds(seen: _Seen) -> bool | None:
        mention = seen.mention
        if mention is None:
            return None
        if node.name == "source":
            kind = seen.kinds.get(mention.source, "")
            return value in (mention.source.lower(), kind.lower())
        if node.name == "lang":
            lang = mention.lang.lower().replace("_", "-")
            return lang == value or lang.startswith(value + "-")
        host = (urlsplit(mention.url).hostname or "") if mention.url else ""
        return host == value or host.endswith("." + value)

    return holds


@dataclass(frozen=True)
class _Query:
    brand: str
    evaluate: Evaluate
    positive: frozenset[int]
    exclude: tuple[int, ...]
    names: frozenset[str]  # the brand's terms, as _name_key reads them


class BrandMatcher:
    """Finds which brands a text names, for every brand at once.

    A ``terms`` brand matches as it always has: its terms and every such brand's exclusions
    share one alternation, longest first, so at any position an exclusion such as "Acme
    Hardware" wins over the term "Acme" it contains. A ``query`` brand matches when its query
    holds; its hits are its terms outside NOT that occur, less those inside its ``exclude``.
    ``source_kinds`` maps source names to kinds, so ``source:rss`` finds every rss source.
    """

    def __init__(
        self, brands: Sequence[Brand], source_kinds: Mapping[str, str] | None = None
    ) -> None:
        self._kinds = dict(source_kinds or {})
        self._owners: dict[str, list[str]] = {}  # lower-cased phrase -> brands; [] = excluded
        listed = [brand for brand in brands if brand.query is None]
        excluded = {_key(term) for brand in listed for term in brand.exclude}
        for brand in listed:
            for phrase in brand.terms:
                if _key(phrase) not in excluded:
                    self._owners.setdefault(_key(phrase), []).append(brand.name)
        for phrase in excluded:
            self._owners.setdefault(phrase, [])

        self._terms: dict[Term, int] = {}
        self._queries: list[_Query] = []
        for brand in brands:
            if brand.query is None:
                continue
            node = brand.query.tree
            exclude = [Term(tuple(_key(phrase).split())) for phrase in brand.exclude]
            for term in [*all_terms(node), *exclude]:
                self._terms.setdefault(term, len(self._terms))
            self._queries.append(
                _Query(
                    brand.name,
                    _compile(node, self._terms),
                    frozenset(self._terms[term] for term in positive_terms(node)),
                    tuple(self._terms[term] for term in exclude),
                    frozenset(_name_key(term) for term in brand.terms),
                )
            )
        # How to confirm a term where its first word stands, and how far before that it starts.
        self._confirm: list[tuple[re.Pattern[str] | None, int]] = []  # None: the word is the term
        self._heads: dict[str, list[int]] = {}  # first word -> terms starting with it
        self._stems: dict[int, dict[str, list[int]]] = {}  # wildcard length -> stem -> terms
        alternatives = (
            [
                "(?P<listed>"
                + "|".join(_phrase_pattern(p) for p in sorted(self._owners, key=len, reverse=True))
                + ")"
            ]
            if self._owners
            else []
        )
        heads: set[str] = set()
        for term, term_id in self._terms.items():
            first = WORD.search(term.words[0])
            pattern = None if _is_bare_word(term) else _term_pattern(term)
            self._confirm.append((pattern, first.start() if first else 0))
            if first is None:  # no letter or digit to start from: match it whole
                alternatives.append(f"(?P<t{term_id}>{_term_pattern(term).pattern})")
            elif term.wildcard and len(term.words) == 1 and first.end() == len(term.words[0]):
                stem = first.group().lower()
                self._stems.setdefault(len(stem), {}).setdefault(stem, []).append(term_id)
                heads.add(re.escape(stem) + r"\w*")
            else:
                self._heads.setdefault(first.group().lower(), []).append(term_id)
                heads.add(re.escape(first.group().lower()))
        if heads:
            alternatives.append("(?P<head>" + "|".join(sorted(heads, key=len, reverse=True)) + ")")
        self._pattern = re.compile(
            r"(?<!\w)(?:" + ("|".join(alternatives) or "(?!)") + r")(?!\w)", re.IGNORECASE
        )

    def match(self, mention: Mention | None, text: str) -> list[BrandHit]:
        """Every place ``text`` (the mention's title and text) names a brand, in order."""
        hits: list[BrandHit] = []
        if not self._terms:  # no queries: the scan alone finds every hit, as fast as it can
            for match in self._pattern.finditer(text):
                written = match.group(0)
                for brand in self._owners.get(" ".join(written.lower().split()), ()):
                    hits.append(BrandHit(brand, written, match.start(), match.end()))
            return hits
        found: Found = {}
        for match in self._pattern.finditer(text):
            group = match.lastgroup
            if group == "listed":
                written, (start, end) = match.group(0), match.span()
                for brand in self._owners.get(" ".join(written.lower().split()), ()):
                    hits.append(BrandHit(brand, written, start, end))
                for word in WORD.finditer(text, start, end):  # a query's term may start here
                    self._confirm_heads(text, word.start(), word.end(), found)
            elif group == "head":
                self._confirm_heads(text, match.start(), match.end(), found)
            elif group is not None:
                found.setdefault(int(group[1:]), []).append(match.span())
        if found and (named := self._query_hits(_Seen(text, found, mention, self._kinds))):
            hits = sorted(hits + named, key=lambda hit: hit.start)
        return hits

    def find(self, text: str) -> list[BrandHit]:
        """Every place ``text`` names a brand, for callers with no mention: filters are ignored."""
        return self.match(None, text)

    def _confirm_heads(self, text: str, start: int, end: int, found: Found) -> None:
        word = text[start:end].lower()
        candidates = list(self._heads.get(word, ()))
        for length, stems in self._stems.items():
            if len(word) >= length:
                candidates += stems.get(word[:length], ())
        for term_id in candidates:
            pattern, leading = self._confirm[term_id]
            if pattern is None:
                found.setdefault(term_id, []).append((start, end))
            elif start >= leading and (confirmed := pattern.match(text, start - leading)):
                # A term may begin before its first word: "@acme" starts at the "@".
                found.setdefault(term_id, []).append(confirmed.span())

    def _query_hits(self, seen: _Seen) -> list[BrandHit]:
        hits = []
        for query in self._queries:
            if query.positive.isdisjoint(seen.found):
                continue
            excluded = seen.spans(query.exclude)
            view = seen.narrowed(query.positive, excluded) if excluded else seen
            if query.evaluate(view):
                spans = view.spans(sorted(query.positive))
                hits += [
                    BrandHit(
                        query.brand, seen.text[s:e], s, e, _is_name(seen.text[s:e], query.names)
                    )
                    for s, e in _leftmost(spans)
                ]
        return hits


def _is_name(written: str, names: frozenset[str]) -> bool:
    """Whether a query's hit holds one of the brand's names ("Acme Cloud" holds "Acme")."""
    key = f" {_name_key(written)} "
    return any(f" {name} " in key for name in names)


def _name_key(words: str) -> str:
    """How a hit is compared with the brand's names: any case, any spacing, no @ or #."""
    return " ".join(words.casefold().lstrip("@#").split())


def _leftmost(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, leftmost first and longest at each start, as a regex scan takes."""
    chosen: list[Span] = []
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if not chosen or start >= chosen[-1][1]:
            chosen.append((start, end))
    return chosen


def _key(phrase: str) -> str:
    return " ".join(phrase.lower().split())


def _phrase_pattern(phrase: str) -> str:
    # Any run of whitespace between words, so "Acme  Cloud" and a line break still match.
    return r"\s+".join(re.escape(word) for word in phrase.split())


def _is_bare_word(term: Term) -> bool:
    return (
        len(term.words) == 1
        and not term.case_sensitive
        and WORD.fullmatch(term.words[0]) is not None
    )


def _term_pattern(term: Term) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(word) for word in term.words) + (r"\w*" if term.wildcard else "")
    return re.compile(r"(?<!\w)" + body + r"(?!\w)", 0 if term.case_sensitive else re.IGNORECASE)


def brands_named(hits: Sequence[BrandHit]) -> tuple[str, ...]:
    """The brands the hits name, each once, in order of first appearance."""
    return tuple(dict.fromkeys(hit.brand for hit in hits))
