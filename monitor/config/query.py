"""The brand query language: its grammar, its parse tree, and errors with a column and a caret.

    (case:Apple OR iPhone) NOT ("apple pie" OR "apple juice") NOT source:reddit

``monitor.triage.matcher`` compiles parsed queries for matching; this module only reads them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from monitor.errors import QueryError

if TYPE_CHECKING:
    from lark import Lark, Token, Tree


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
WORD = re.compile(r"\w+")
SPACED = re.compile(r"\S+")  # the words NEAR counts
_LANG = re.compile(r"[a-z]{2,3}(-[a-z0-9]+)*")
_WILDCARD_STEM = re.compile(r"\w{3,}$")
_EXAMPLES = {
    "case": "case:Apple",
    "source": "source:hn_acme",
    "lang": "lang:en",
    "site": "site:example.com",
}


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


@dataclass(frozen=True)
class Query:
    """A query as written, and its tree: parsed once, where the config is read."""

    text: str
    tree: Node

    def __str__(self) -> str:
        return self.text


# ---- parsing -------------------------------------------------------------------------------


@cache
def _parser() -> Lark:
    from lark import Lark  # only configs with a query pay for importing lark

    return Lark(GRAMMAR, parser="lalr", lexer="basic", propagate_positions=True)


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
