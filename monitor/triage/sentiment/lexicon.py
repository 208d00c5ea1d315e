"""The sentiment lexicon file -> what Harken adds to VADER, with file:line errors.

The file holds terms (a word, a phrase or a pattern, its valence on VADER's -4..4 scale and why
it is there) and named groups of words that patterns refer to as ``{group}``. A ``*`` in a
pattern stands for any one word. Every problem in the file is raised at once as a RulesError.

A single word that a "not" may turn around becomes an entry of VADER's own lexicon, so VADER's
rules (negation, "very", capitals) apply to it as to its own words. Everything else is found by
``TermMatcher`` on VADER's tokens, and scored through a marker token inserted before it.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE

from monitor.config.positions import (
    KeyPath,
    key_positions,
    line_of,
    parse_toml,
    validation_problems,
)
from monitor.errors import Problem, ProblemsError, RulesError

DEFAULT_LEXICON = Path(__file__).resolve().parents[3] / "rules" / "sentiment" / "lexicon.toml"
WILDCARD = "*"
_QUOTE = "\u2019"  # the typographic apostrophe, as phones type it
_STRIP = string.punctuation + "\u2018\u2019\u201c\u201d\u2026"  # and curly quotes, ellipsis
_APOSTROPHES = str.maketrans("", "", "'" + _QUOTE)
_SLOT = re.compile(r"^\{([^{}]*)\}$")
_VADER_NEGATORS = frozenset(word.replace("'", "") for word in NEGATE)


def term_key(token: str) -> str:
    """How a token is compared with the lexicon's words: lower case, no edge punctuation, no
    apostrophes ("Can't!", "cant" and "can\u2019t" are all "cant")."""
    return token.lower().translate(_APOSTROPHES).strip(_STRIP)


def token_keys(sentence: str, lowered: list[str]) -> list[str]:
    """``term_key`` of each token of ``sentence``, given lower-cased; runs for every sentence."""
    keys = [token.strip(_STRIP) for token in lowered]
    if "'" in sentence or _QUOTE in sentence:
        return [key.translate(_APOSTROPHES) for key in keys]
    return keys


@dataclass(frozen=True)
class LexiconEntry:
    """One entry of the lexicon file."""

    text: str
    valence: float
    why: str
    negation: Literal["flips", "ignored"]
    line: int


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    term: int | None = None  # index of the term that ends here


class TermMatcher:
    """Finds the lexicon's phrases and patterns in a sentence's tokens, longest first.

    The terms are a trie of word keys (groups spelt out, ``*`` as a wildcard edge), so a token
    that starts no term costs one dict look-up. A match never runs past a token that ends a
    clause (",", ";", ":", "!", "?", "."), so "still, no" is not "still no".
    """

    def __init__(
        self, terms: Sequence[LexiconEntry], paths: Sequence[Sequence[tuple[str, ...]]]
    ) -> None:
        self.terms = tuple(terms)
        self._root = _Node()
        for index, alternatives in enumerate(paths):
            literal = WILDCARD not in self.terms[index].text and "{" not in self.terms[index].text
            for path in alternatives:
                node = self._root
                for key in path:
                    node = node.children.setdefault(key, _Node())
                # A phrase written out beats a pattern that happens to cover the same words.
                if node.term is None or literal:
                    node.term = index
        self.first_keys = frozenset(self._root.children)

    def find(self, keys: Sequence[str], raw: Sequence[str]) -> list[tuple[int, int, int]]:
        """(start, end, term index) of the longest match at each token, left to right.

        Matches may overlap ("still can't log in" holds "still can't" and "can't log in"), but
        one that lies wholly inside an earlier one is not counted again.
        """
        found = []
        children = self._root.children
        reach = 0  # where the last match ended
        for position, key in enumerate(keys):
            node = children.get(key)
            if node is None:
                continue
            match = self._longest(node, keys, raw, position + 1)
            if match is not None and match[0] > reach:
                found.append((position, *match))
                reach = match[0]
        return found

    def _longest(
        self, node: _Node, keys: Sequence[str], raw: Sequence[str], end: int
    ) -> tuple[int, int] | None:
        best = None if node.term is None else (end, node.term)
        if end < len(keys) and node.children and raw[end - 1][-1] not in ",;:.!?":
            for key in (keys[end], WILDCARD):
                child = node.children.get(key)
                if child is not None:
                    longer = self._longest(child, keys, raw, end + 1)
                    if longer is not None and (best is None or longer[0] > best[0]):
                        best = longer
        return best


@dataclass(frozen=True)
class Lexicon:
    """What one lexicon file adds to VADER: word valences, and phrases and patterns to find."""

    path: str
    words: dict[str, float]  # VADER lexicon keys -> valence; 0 removes VADER's own word
    matcher: TermMatcher


class _TermTable(BaseModel):
    """One ``[[term]]`` as written; strict, so a valence in quotes is an error, not a number."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str
    valence: float = Field(ge=-4, le=4)
    why: str
    negation: Literal["flips", "ignored"] = "flips"

    @field_validator("text", "why")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return " ".join(value.split())


def load_lexicon(path: Path = DEFAULT_LEXICON) -> Lexicon:
    """Read and check a lexicon file; raise RulesError listing every problem in it."""
    shown = _shown(path)
    problems: list[Problem] = []
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
        data = parse_toml(text, shown)
    except OSError as error:
        raise RulesError(
            [Problem(shown, 0, f"cannot read the lexicon: {error.strerror}")]
        ) from None
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise RulesError([Problem(shown, line, "is not UTF-8 text; save it as UTF-8")]) from None
    except ProblemsError as error:
        raise RulesError(error.problems) from None
    positions = key_positions(text)
    for key, value in data.items():
        if key not in ("groups", "term"):
            line, column = line_of(positions, (key,))
            kind = "table" if isinstance(value, dict | list) else "key"
            message = f'unknown {kind} "{key}"; a lexicon holds [groups] and [[term]] tables'
            if guess := difflib.get_close_matches(key, ["groups", "term"], n=1, cutoff=0.6):
                message += f' (did you mean "{guess[0]}"?)'
            problems.append(Problem(shown, line, message, column))
    groups = _groups(data.get("groups", {}), positions, shown, problems)
    terms, paths = _terms(data.get("term", []), groups, positions, shown, problems)
    if problems:
        raise RulesError(sorted(problems, key=lambda p: (p.line, p.column or 0)))
    words: dict[str, float] = {}
    marked: list[LexiconEntry] = []
    marked_paths: list[list[tuple[str, ...]]] = []
    for term, alternatives in zip(terms, paths, strict=True):
        if _vader_word(term, alternatives):
            for spelling in _spellings(term.text.lower().strip(string.punctuation)):
                words[spelling] = term.valence
            continue
        marked.append(term)
        marked_paths.append(alternatives)
    return Lexicon(shown, words, TermMatcher(marked, marked_paths))


def _vader_word(term: LexiconEntry, alternatives: list[tuple[str, ...]]) -> bool:
    """Whether VADER itself can score the term: one word of its kind that a "not" turns around.

    VADER looks up a word of two letters or fewer only when it stands bare ("tf" but not "tf?"),
    and never gives a valence to the words it uses to negate or intensify ("not", "fucking"):
    those are found by the matcher like phrases.
    """
    if term.negation != "flips" or len(alternatives) != 1 or len(alternatives[0]) != 1:
        return False
    word = term.text.lower().strip(string.punctuation)
    return term.valence == 0 or (
        len(word) > 2 and word not in BOOSTER_DICT and term_key(word) not in _VADER_NEGATORS
    )


def _shown(path: Path) -> str:
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _spellings(word: str) -> set[str]:
    """The forms VADER may meet a word in: with either apostrophe, or none at all."""
    return {
        word,
        word.replace("'", _QUOTE),
        word.replace(_QUOTE, "'"),
        word.translate(_APOSTROPHES),
    }


def _groups(
    table: object, positions: dict[KeyPath, tuple[int, int]], shown: str, problems: list[Problem]
) -> dict[str, list[tuple[str, ...]]]:
    groups: dict[str, list[tuple[str, ...]]] = {}
    if not isinstance(table, dict):
        line, column = line_of(positions, ("groups",))
        problems.append(Problem(shown, line, "groups must be a table: [groups]", column))
        return groups
    for name, words in table.items():
        line, column = line_of(positions, ("groups", name))
        if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
            message = (
                f'group "{name}": write a list of words in square brackets, e.g. {name} = ["word"]'
            )
            problems.append(Problem(shown, line, message, column))
            continue
        keys = []
        for word in words:
            key = tuple(term_key(part) for part in word.split())
            if not key or not all(key):
                message = f'group "{name}": "{word}" has no letters or digits in one of its words'
                problems.append(Problem(shown, line, message, column))
            elif key not in keys:
                keys.append(key)
        if not words:
            problems.append(Problem(shown, line, f'group "{name}" is empty', column))
        groups[name] = keys
    return groups


def _terms(
    tables: object,
    groups: dict[str, list[tuple[str, ...]]],
    positions: dict[KeyPath, tuple[int, int]],
    shown: str,
    problems: list[Problem],
) -> tuple[list[LexiconEntry], list[list[tuple[str, ...]]]]:
    terms: list[LexiconEntry] = []
    paths: list[list[tuple[str, ...]]] = []
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        line, column = line_of(positions, ("term",))
        message = "each term starts with a [[term]] line (two pairs of square brackets)"
        problems.append(Problem(shown, line, message, column))
        return terms, paths
    first_seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        prefix: KeyPath = ("term", index)
        header = line_of(positions, prefix)
        local = {key[2:]: at for key, at in positions.items() if key[:2] == prefix}
        local.update({(key,): header for key in _TermTable.model_fields if (key,) not in local})
        text = table.get("text")
        label = f'term "{text}": ' if isinstance(text, str) and text.strip() else ""
        try:
            model = _TermTable.model_validate(table)
        except ValidationError as error:
            for problem in validation_problems(error, _TermTable, local, shown):
                problems.append(
                    Problem(shown, problem.line, label + problem.message, problem.column)
                )
            continue
        line, column = local[("text",)]
        alternatives, wrong = _expand(model.text, groups)
        if wrong is not None:
            problems.append(Problem(shown, line, label + wrong, column))
            continue
        folded = " ".join(
            word if word == WILDCARD or _SLOT.match(word) else term_key(word)
            for word in model.text.split()
        )
        if folded in first_seen:
            message = f"{label}already listed at {shown}:{first_seen[folded]}; keep one"
            problems.append(Problem(shown, line, message, column))
            continue
        first_seen[folded] = header[0]
        if model.valence == 0 and (folded != alternatives[0][0] or model.negation != "flips"):
            line, column = local[("valence",)]
            message = "valence 0 only silences one of VADER's own words; give a phrase a valence"
            problems.append(Problem(shown, line, label + message, column))
            continue
        terms.append(LexiconEntry(model.text, model.valence, model.why, model.negation, header[0]))
        paths.append(alternatives)
    return terms, paths


def _expand(
    text: str, groups: dict[str, list[tuple[str, ...]]]
) -> tuple[list[tuple[str, ...]], str | None]:
    """Every sequence of word keys a term's text stands for, or what is wrong with the text."""
    slots: list[list[tuple[str, ...]]] = []
    words = text.split()
    for position, word in enumerate(words):
        if word == WILDCARD:
            if position in (0, len(words) - 1):
                return [], "a * must sit between two words (it stands for any one word)"
            slots.append([(WILDCARD,)])
        elif match := _SLOT.match(word):
            name = match.group(1)
            if name not in groups:
                message = f'unknown group "{{{name}}}"'
                if guess := difflib.get_close_matches(name, list(groups), n=1, cutoff=0.6):
                    message += f' (did you mean "{{{guess[0]}}}"?)'
                elif groups:
                    message += f"; groups in this file: {', '.join(sorted(groups))}"
                else:
                    message += "; define it under [groups]"
                return [], message
            slots.append(groups[name])
        elif not term_key(word):
            return [], f'"{word}" has no letters or digits; write words, {{group}} or *'
        elif "{" in word or "}" in word:
            return [], f'"{word}": write a group as a word of its own, e.g. "can\'t {{work}}"'
        else:
            slots.append([(term_key(word),)])
    return [tuple(itertools.chain(*parts)) for parts in itertools.product(*slots)], None
