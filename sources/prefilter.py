"""Take out, before feedparser reads a feed, the text of the items that cannot name a brand.

Harken keeps only the items that name a brand, and on a typical feed that is none of them, yet
parsing every item is most of a cold poll's CPU. Every term that can make an item a brand's
mention contains one of a few words, the "needles" (``SourceContext.needles``), so an item
whose bytes hold none of them, read every way feedparser and ``html_to_text`` could read them,
is not read in full: only its start and end tags and its id and link elements (guid, id, link)
are left for feedparser, which still gives the item's id for the cursor.

It must never lose a mention, so whenever the document is not plainly what the cut assumes,
``reduce_feed`` returns None and the whole feed is parsed as before: a body in an encoding that
is not a superset of ASCII (UTF-16, UTF-32), one that is not well-formed XML (feedparser's
lenient parser would read it differently cut), items that nest or stand inside CDATA or a
comment, an id or link element below another element, and conflicting declared encodings. ``sources.feed_parse`` checks the parse of the cut
document too and falls back the same way.
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from xml.parsers import expat

# Items are siblings in every feed format (RSS item, Atom entry, RDF item), so the document
# stays well-formed with a run of them taken out or cut down.
ITEM_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s/>]")
ITEM_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")
_ITEMS = frozenset({"item", "entry"})
# The namespaces whose item or entry feedparser reads as an entry; one elsewhere: parse it all.
_FEED_NAMESPACES = frozenset(
    {
        "",
        "http://purl.org/rss/1.0/",
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://www.w3.org/2005/Atom",
        "http://purl.org/atom/ns#",
        "http://backend.userland.com/rss2",
        "http://blogs.law.harvard.edu/tech/rss",
    }
)
# What feedparser takes an entry's id and link from, besides the item's own attributes.
_ID_ELEMENTS = frozenset({"guid", "id", "link"})
# feedparser resolves an id against an xml:base met earlier in the entry, even on a sibling
# (reddit's <content xml:base="/.rss"> makes "t3_x" read "/t3_x"): such items are read whole.
_XML_BASE = "http://www.w3.org/XML/1998/namespace base"
_START_TAG = re.compile(rb"""<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*/?>""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)""")
_DOCTYPE = re.compile(rb"<!DOCTYPE[^>\[]*(?:\[[^\]]*\])?\s*>")
_WIDE = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_ASCII_PROBE = "<?xml encoding='x'?><item>&amp;#65;<![CDATA[ ]]></item>"
# The letters outside ASCII that re.IGNORECASE takes for k, s and i (Kelvin, long s, dotted
# and dotless i).
_SPECIAL = re.compile("[\u212a\u017f\u0130\u0131]")
# Markup that may split a word the reader sees whole: "Ac<b>me</b>", "Ac<!-- -->me".
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG = re.compile(r"<[A-Za-z/!?][^<>]*>")
# An escaped entity is unescaped once by the XML parser and once by html_to_text; one more
# round is margin against a feed that escapes twice.
_UNESCAPE_ROUNDS = 3
# "&amp;" last, so "&amp;lt;" becomes "&lt;", as one round of unescaping leaves it.
_COMMON_ESCAPES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&"))


@dataclass(frozen=True)
class Reduced:
    """A feed with some items cut down to their id, and which items are still whole."""

    body: bytes
    whole: tuple[bool, ...]  # one per item, in document order


def reduce_feed(body: bytes, content_type: str, needles: frozenset[str]) -> Reduced | None:
    """``body`` with the items that cannot contain a needle cut down; None: parse all of it."""
    encodings = _encodings(body, content_type)
    if encodings is None or not needles:
        return None
    items = _scan(body, content_type)
    if not items:
        return None
    pattern = _needle_pattern(needles)
    if _may_contain(body, encodings, pattern):
        whole = [
            item.whole_only or _may_contain(body[item.start : item.end], encodings, pattern)
            for item in items
        ]
    else:  # most feeds: not one needle anywhere, so no item needs a look of its own
        whole = [item.whole_only for item in items]
    if all(whole):
        return None
    parts, done = [], 0
    for item, keep in zip(items, whole, strict=True):
        parts.append(body[done : item.start])
        if keep:
            parts.append(body[item.start : item.end])
        else:  # its start tag (rdf:about, xml:base), its id and link elements, its end tag
            parts += [body[item.start : item.open_end], *(body[s:e] for s, e in item.keep)]
            parts.append(body[item.close_start : item.end])
        done = item.end
    parts.append(body[done:])
    return Reduced(b"".join(parts), tuple(whole))


def _encodings(body: bytes, content_type: str) -> tuple[str, ...] | None:
    """Every encoding feedparser might read ``body`` in, or None if one is not ASCII-based."""
    if body.startswith(_WIDE) or b"\x00" in body[:4]:
        return None  # UTF-16 or UTF-32: parsed whole (rare in feeds; not worth a second path)
    charset = _CHARSET.search(content_type)
    declared = _XML_ENCODING.search(body.lstrip())
    names = [charset[1] if charset else None, declared[1].decode() if declared else None]
    found = []
    for name in [*names, "utf-8", "windows-1252", "iso-8859-2"]:  # feedparser's fallbacks
        if name is None:
            continue
        try:
            codec = codecs.lookup(name).name
            if _ASCII_PROBE.encode(codec) != _ASCII_PROBE.encode("ascii"):
                return None
        except (LookupError, UnicodeError):
            return None
        found.append(codec)
    if charset and declared and found[0] != found[1]:
        return None  # which one wins depends on the media type: leave that to feedparser
    return tuple(dict.fromkeys(found))


@dataclass
class _Item:
    start: int
    open_end: int  # where its start tag ends
    close_start: int = 0  # where its end tag starts
    end: int = 0
    keep: list[tuple[int, int]] = field(default_factory=list)  # its id and link elements
    # An id or link below a child, or an xml:base inside: only a whole parse reads its id right.
    whole_only: bool = False


class _Unsure(Exception):
    """The document is not what the cut assumes."""


def _scan(body: bytes, content_type: str) -> list[_Item]:
    """Each item's place and its id and link elements, read by expat; [] if unsure.

    expat is the parser feedparser's strict mode uses, so a document it refuses is one
    feedparser reads leniently, and differently when cut: those are parsed whole. feedparser
    drops the DOCTYPE first, so an entity only an external DTD defines (``&nbsp;``) makes it
    fall back; blanking the DOCTYPE makes expat refuse the same documents.
    """
    charset = _CHARSET.search(content_type)
    body = _DOCTYPE.sub(lambda found: b" " * len(found.group()), body, count=1)
    parser = expat.ParserCreate(charset[1] if charset else None, " ")
    items: list[_Item] = []
    depth = 0  # below the current item's start tag; 0 outside every item
    child_start = -1

    def started(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, child_start
        namespace, _, local = name.rpartition(" ")
        local = local.lower()
        at = parser.CurrentByteIndex
        if local in _ITEMS:
            if depth or namespace not in _FEED_NAMESPACES:
                raise _Unsure
            tag = _START_TAG.match(body, at)
            if tag is None or tag.group().endswith(b"/>"):
                raise _Unsure
            items.append(_Item(at, open_end=tag.end()))
            depth = 1
        elif depth:
            depth += 1
            if depth == 2:
                child_start = at
            elif local in _ID_ELEMENTS:
                items[-1].whole_only = True
            if _XML_BASE in attributes:
                items[-1].whole_only = True

    def ended(name: str) -> None:
        nonlocal depth
        if not depth:
            return
        at = parser.CurrentByteIndex
        depth -= 1
        if depth == 0:
            close = body.find(b">", at)
            if close < 0:
                raise _Unsure
            items[-1].close_start, items[-1].end = at, close + 1
        elif depth == 1 and name.rpartition(" ")[2].lower() in _ID_ELEMENTS:
            tag = _START_TAG.match(body, child_start)
            if tag is None:
                raise _Unsure
            # expat places an empty element's end just after it, another's at its "</".
            end = tag.end() if tag.group().endswith(b"/>") else body.find(b">", at) + 1
            items[-1].keep.append((child_start, end))

    parser.StartElementHandler = started
    parser.EndElementHandler = ended
    try:
        parser.Parse(body, True)
    except (_Unsure, expat.ExpatError, LookupError, ValueError):
        return []
    return items


@lru_cache(maxsize=16)
def _needle_pattern(needles: frozenset[str]) -> re.Pattern[str]:
    # re's IGNORECASE, as the matcher uses, so "ACME" and the Kelvin sign for "k" count.
    alternatives = sorted(needles, key=len, reverse=True)
    return re.compile("|".join(re.escape(needle) for needle in alternatives), re.IGNORECASE)


def _may_contain(data: bytes, encodings: tuple[str, ...], pattern: re.Pattern[str]) -> bool:
    if data.isascii():
        return any(pattern.search(reading) for reading in _readings(data.decode("ascii")))
    texts = [data.decode(encoding, "replace") for encoding in encodings]
    if any(pattern.search(text) for text in texts):
        return True
    # ASCII needles are spelt in ASCII bytes in every encoding feedparser may pick, so one
    # decoding that keeps every byte shows all the markup and escapes that could split them;
    # the others are read too only when they hold a letter re.I matches to an ASCII one.
    if pattern.pattern.isascii():
        texts = [data.decode("latin-1"), *(text for text in texts if _SPECIAL.search(text))]
    return any(pattern.search(reading) for text in texts for reading in _readings(text))


def _readings(text: str) -> Iterator[str]:
    """``text`` as it is, and as each layer of markup and escaping would leave it.

    Each reading is a superset of what a reader keeps together: tags are dropped without a
    space, so "Ac<b>me</b>" reads "Acme" here even where html_to_text splits it.
    """
    yield text
    plain = _strip(text)
    yield plain
    for _ in range(_UNESCAPE_ROUNDS):
        unescaped = _unescape(plain)
        if unescaped == plain:
            return
        yield unescaped
        plain = _strip(unescaped)
        yield plain


def _strip(text: str) -> str:
    text = text.replace("<![CDATA[", "").replace("]]>", "")
    return _TAG.sub("", _COMMENT.sub("", text))


def _unescape(text: str) -> str:
    """html.unescape, the escapes every feed is full of first: html.unescape alone is slow."""
    if "&" not in text:
        return text
    for escaped, character in _COMMON_ESCAPES:
        text = text.replace(escaped, character)
    return html.unescape(text)
