"""Reduce the HTML that platforms hand us to plain text people can read and rules can match."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

# Tags that start a paragraph of their own, tags that start a line, and table cells, which
# need at least a space between them or "<td>Acme</td><td>down</td>" reads "Acmedown".
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "dl",
        "table", "section", "article", "header", "footer", "aside", "nav", "main", "figure",
        "figcaption", "address", "details", "summary", "hr",
    }
)  # fmt: skip
_LINE_TAGS = frozenset({"br", "li", "tr", "dt", "dd", "caption"})
_CELL_TAGS = frozenset({"td", "th"})
_SKIPPED_TAGS = frozenset({"script", "style", "template", "noscript", "iframe"})
# Every kind of space but the newline, including &nbsp; (U+00A0) and thin spaces.
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# A summary cut off mid-tag ("… read <a href="https://ex") ends in half a tag, not text.
_CUT_TAG = re.compile(r"<[A-Za-z/!][^<>]*$")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._preformatted = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
            return
        if tag == "pre":
            self._preformatted += 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag in _LINE_TAGS:
            self.parts.append("\n")
        elif tag in _CELL_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # "<br/>" is one line break, not a start and an end; "<script/>" hides nothing.
        if tag not in _SKIPPED_TAGS and tag != "pre":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(self._skipping - 1, 0)
            return
        if tag == "pre":
            self._preformatted = max(self._preformatted - 1, 0)
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag in _CELL_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        # In HTML a line break in the source is just a space; only <pre> keeps its lines.
        self.parts.append(data if self._preformatted else data.replace("\n", " "))


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: tags and scripts dropped, entities decoded, spaces tidied."""
    if "<" not in markup:
        return _tidy(html.unescape(markup))
    collector = _TextCollector()
    collector.feed(_CUT_TAG.sub("", markup))
    collector.close()
    return _tidy("".join(collector.parts))


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
