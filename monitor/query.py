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
import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from monitor.mention import Mention

if TYPE_CHECKING:
    from lark import Lark, Token, Tree

    from monitor.config import Brand

# NOT binds tighter than AND, AND (also two terms side by side) tighter than OR; NEAR joins two
# terms (or OR-groups of terms) and binds tightest of all.
GRAMMAR = r"""
?start: any
?any: all (_OR all)*
?all: negation (_AND? negation)*
?negation: _NOT negation -> negated
         | near
?near: operand (NEAR operand)?
?operand: term
        | _LPAR any _RPAR
term: FIELDED | PHRASE | WORD

_OR.3: /OR(?![^\s()"])/
_AND.3: /AND(?![^\s()"])/
_NOT.3: /NOT(?![^\s()"])/
NEAR.3: /NEAR(\/[^\s()"]*)?(?![^\s()"])/
FIELDED.2: /[A-Za-z]+:("[^"]*"|[^\s()"]+)/
PHRASE: /"[^"]*"/
WORD: /[^\s()"]+/
_LPAR: "("
_RPAR: ")"
%ignore /\s+/
"""

_FILTERS = ("source", "lang", "site")
_FIELDS = ("case", *_FILTERS)
_OPERATORS = {"_OR": "OR", "_AND": "AND", "_NOT": "NOT"}
_WORD = re.compile(r"\w+")
_SPACED = re.compile(r"\S+")  # the words NEAR counts
_LANG = re.compile(r"[a-z]{2,3}(-[a-z0-9]+)*")
_WILDCARD_STEM = re.compile(r"\w{3,}$")
_EXAMPLES = {
    "case": "case:Apple",
    "source": "source:hn_acme",
    "lang": "lang:en",
    "site": "site:example.com",
}


class QueryError(ValueError):
    """A query that cannot be read, with the place in it and a caret under that place."""

    def __init__(self, query: str, position: int, reason: str) -> None:
        line_start = query.rfind("\n", 0, position) + 1
        line_end = query.find("\n", position)
        shown = query[line_start : line_end if line_end >= 0 else len(query)]
        self.reason = reason
        self.line = query.count("\n", 0, position) + 1
        self.column = position - line_start + 1
        where = (
            f"line {self.line}, column {self.column}" if "\n" in query else f"column {self.column}"
        )
        pad = "".join(c if c == "\t" else " " for c in shown[: self.column - 1])
        super().__init__(f"{where}: {reason}\n    {shown}\n    {pad}^")


# ---- the tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """Words that stand together in the text; the last may end in a wildcard."""

    words: tuple[str, ...]  # lower-cased unless case_sensitive
    wildcard: bool = False
    case_sensitive: bool = False
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Filter:
    """A fact about the mention rather than its text: ``source:``, ``lang:``, ``site:``."""

    name: str
    value: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    operand: Node
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int  # at most this many words between the two
    position: int = field(default=0, compare=False)


Node = Term | Filter | Not | And | Or | Near


# ---- parsing -------------------------------------------------------------------------------


@cache
def _parser() -> Lark:
    from lark import Lark  # only configs with a query pay for importing lark

    return Lark(GRAMMAR, parser="lalr", lexer="basic", propagate_positions=True)


@lru_cache(maxsize=256)
def parse_query(query: str) -> Node:
    """The tree of ``query``; QueryError says what is wrong and where."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput

    try:
        tree = _parser().parse(query)
    except UnexpectedCharacters as error:
        # Every character but an unpaired quote starts some word.
        raise QueryError(query, error.pos_in_stream or 0, "this quote is not closed") from None
    except UnexpectedInput as error:
        raise _unexpected(query, getattr(error, "token", None)) from None
    node = _build(tree, query)
    _require_term(node, query)
    return node


def _unexpected(query: str, token: Token | None) -> QueryError:
    at = len(query) if token is None or token.type == "$END" else token.start_pos or 0
    before = [t for t in _lex(query) if (t.start_pos or 0) < at]
    previous = before[-1] if before else None
    if previous is not None and previous.type in _OPERATORS:
        return QueryError(query, previous.start_pos or 0, f"{previous} needs a term after it")
    if previous is not None and previous.type == "NEAR":
        return QueryError(
            query,
            previous.start_pos or 0,
            f"{previous} needs a term, a phrase or an (… OR …) group after it",
        )
    if token is None or token.type == "$END":
        opened = _unclosed(before)
        if opened is not None:
            return QueryError(query, opened, "this ( is not closed")
        return QueryError(query, 0, "the query is empty; write at least the brand's name")
    if token.type == "_RPAR":
        if previous is not None and previous.type == "_LPAR":
            return QueryError(query, previous.start_pos or 0, "these parentheses are empty")
        return QueryError(query, at, "this ) closes no (")
    if token.type == "NEAR":
        if previous is None or previous.type == "_LPAR":
            return QueryError(query, at, f"{token} needs a term before it")
        return QueryError(
            query,
            at,
            "NEAR joins two terms; join two NEARs with AND: (a NEAR/3 b) AND (b NEAR/3 c)",
        )
    if token.type in _OPERATORS:
        return QueryError(query, at, f"{_OPERATORS[token.type]} needs a term before it")
    return QueryError(query, at, f"unexpected {token}")


def _lex(query: str) -> list[Token]:
    from lark.exceptions import UnexpectedInput

    tokens: list[Token] = []
    with suppress(UnexpectedInput):  # the tokens before the bad spot are all we need
        tokens.extend(_parser().lex(query))
    return tokens


def _unclosed(tokens: Iterable[Token]) -> int | None:
    opened: list[int] = []
    for token in tokens:
        if token.type == "_LPAR":
            opened.append(token.start_pos or 0)
        elif token.type == "_RPAR" and opened:
            opened.pop()
    return opened[-1] if opened else None


def _build(tree: Tree[Token], query: str) -> Node:
    position = tree.meta.start_pos
    children: list[Any] = tree.children
    if tree.data == "term":
        return _term(children[0], query)
    operands = tuple(_build(child, query) for child in children if not _is_token(child))
    if tree.data == "negated":
        return Not(operands[0], position)
    if tree.data == "all":
        return And(operands, position)
    if tree.data == "any":
        return Or(operands, position)
    near: Token = children[1]
    distance = near.value.removeprefix("NEAR/")
    if not near.value.startswith("NEAR/") or not distance.isdigit():
        raise QueryError(
            query, near.start_pos or 0, "NEAR needs a distance in words, e.g. Acme NEAR/3 refund"
        )
    for operand in operands:
        if not _positional(operand):
            raise QueryError(
                query,
                operand.position,
                f"{near} works on terms, phrases and (… OR …) groups of them, not on NOT, AND or filters",
            )
    return Near(operands[0], operands[1], int(distance), position)


def _is_token(child: object) -> bool:
    return isinstance(child, str)  # lark's Token is a str; a subtree is not


def _term(token: Token, query: str) -> Node:
    position = token.start_pos or 0
    text = token.value
    if token.type == "FIELDED":
        name, value = text.split(":", 1)
        name = name.lower()
        if name == "case":
            return _words(value, query, position, case_sensitive=True)
        if name in _FILTERS:
            return _filter(name, value.strip('"'), query, position)
        guess = difflib.get_close_matches(name, _FIELDS, n=1)
        hint = f' (did you mean "{guess[0]}:"?)' if guess else ""
        raise QueryError(
            query,
            position,
            f'unknown field "{name}:"{hint}; the fields are case:, source:, lang: and site:, and a word with a colon goes in quotes',
        )
    if token.type == "WORD" and text[:-1].lower() in _EXAMPLES and text.endswith(":"):
        raise QueryError(
            query,
            position,
            f"{text} needs a value right after it, e.g. {_EXAMPLES[text[:-1].lower()]}",
        )
    return _words(text, query, position, case_sensitive=False)


def _words(text: str, query: str, position: int, *, case_sensitive: bool) -> Term:
    quoted = text.startswith('"')
    words = tuple(text.strip('"').split() if quoted else [text])
    if not words:
        raise QueryError(query, position, "these quotes are empty")
    wildcard = False
    if not quoted and "*" in text:
        stem = text.removesuffix("*")
        if "*" in stem or not _WILDCARD_STEM.search(stem):
            raise QueryError(
                query,
                position,
                "a wildcard * goes at the end of a word, after at least three letters: refund*",
            )
        words, wildcard = (stem,), True
    if not case_sensitive:
        words = tuple(word.lower() for word in words)
    return Term(words, wildcard, case_sensitive, position)


def _filter(name: str, value: str, query: str, position: int) -> Filter:
    value = value.strip().lower()
    if name == "lang":
        value = value.replace("_", "-")
        if not _LANG.fullmatch(value):
            raise QueryError(query, position, "lang: takes a language code such as en or en-GB")
    if name == "site" and (not value or "/" in value or ":" in value):
        raise QueryError(
            query,
            position,
            "site: takes a host name such as example.com, without https:// or a path",
        )
    if not value:
        raise QueryError(query, position, f"{name}: needs a value")
    return Filter(name, value, position)


def _positional(node: Node) -> bool:
    """Whether ``node`` stands at places in the text: a term, or an OR of such."""
    if isinstance(node, Or):
        return all(_positional(operand) for operand in node.operands)
    return isinstance(node, Term)


def _names_term(node: Node) -> bool:
    """Whether ``node`` can only hold when one of its terms is in the text."""
    if isinstance(node, Term | Near):
        return True
    if isinstance(node, And):
        return any(_names_term(operand) for operand in node.operands)
    if isinstance(node, Or):
        return all(_names_term(operand) for operand in node.operands)
    return False


def _require_term(node: Node, query: str) -> None:
    # A query that can hold without a term would claim posts that never name the brand, and
    # leave sentiment nothing to aim at.
    if _names_term(node):
        return
    for part in node.operands if isinstance(node, And) else (node,):
        if isinstance(part, Or):
            bad = next(operand for operand in part.operands if not _names_term(operand))
            raise QueryError(
                query,
                bad.position,
                "each OR choice needs a term of its own; this one has only NOT or filters",
            )
    raise QueryError(
        query,
        node.position,
        "the query needs a term to look for, not only NOT or filters, e.g. Acme NOT pie",
    )


def positive_terms(node: Node) -> list[Term]:
    """The terms of ``node`` not under a NOT: the words that name the brand when it matches."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, And | Or):
        return [term for operand in node.operands for term in positive_terms(operand)]
    if isinstance(node, Near):
        return positive_terms(node.left) + positive_terms(node.right)
    return []


def all_terms(node: Node) -> list[Term]:
    """Every term of ``node``, negated or not."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return all_terms(node.operand)
    if isinstance(node, And | Or):
        return [term for operand in node.operands for term in all_terms(operand)]
    if isinstance(node, Near):
        return all_terms(node.left) + all_terms(node.right)
    return []


# ---- matching ------------------------------------------------------------------------------


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
            self._word_starts = [m.start() for m in _SPACED.finditer(self.text)]
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
            node = parse_query(brand.query)
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
            first = _WORD.search(term.words[0])
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
                for word in _WORD.finditer(text, start, end):  # a query's term may start here
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
        and _WORD.fullmatch(term.words[0]) is not None
    )


def _term_pattern(term: Term) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(word) for word in term.words) + (r"\w*" if term.wildcard else "")
    return re.compile(r"(?<!\w)" + body + r"(?!\w)", 0 if term.case_sensitive else re.IGNORECASE)


def brands_named(hits: Sequence[BrandHit]) -> tuple[str, ...]:
    """The brands the hits name, each once, in order of first appearance."""
    return tuple(dict.fromkeys(hit.brand for hit in hits))
