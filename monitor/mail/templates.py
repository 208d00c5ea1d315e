"""Email templates: a sandboxed Jinja environment over the templates folder people edit."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from monitor.errors import DeliveryError
from monitor.mention import Sentiment

DEFAULT_TIME_FORMAT = "%Y-%m-%d %H:%M %Z"


def localtime(value: datetime | None, zone: str = "UTC", pattern: str = DEFAULT_TIME_FORMAT) -> str:
    """An aware datetime shown in ``zone``; naive values are taken as UTC; None shows as ""."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(ZoneInfo(zone)).strftime(pattern)


def excerpt(text: str, length: int = 300) -> str:
    """Whitespace collapsed, controls dropped, cut at a word boundary to at most ``length``."""
    printable = "".join(
        " " if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} else char for char in text
    )
    flat = " ".join(printable.split())
    if len(flat) <= length:
        return flat
    cut = flat[: length - 1]
    space = cut.rfind(" ")
    if space > length // 2:
        cut = cut[:space]
    return cut.rstrip(" .,;:") + "…"


# Characters that must never stand raw in a link: controls (a CR/LF would start a new line of a
# plain-text email: a fake "Bcc:" under the real headers), spaces, and invisible format marks.
_NOT_IN_A_LINK = re.compile(
    r"[\x00-\x20\x7f-\xa0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]"
)


def web_url(url: str) -> str:
    """The URL if it is http(s), else "": a hostile ``javascript:`` link never reaches an href.

    What may not stand in a link is percent-encoded, so the link stays one clickable line.
    """
    url = url.strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return ""
    if scheme not in {"http", "https"}:
        return ""
    return _NOT_IN_A_LINK.sub(lambda found: quote(found.group()), url)


# Past this, a score reads "very": VADER's own papers call +-0.6 strongly felt.
_STRONG = 0.6
# A run of this many characters without a space may not fit a phone's screen: it gets a
# <wbr> (a place to break, invisible otherwise) every _BREAK_EVERY characters.
_LONG_TOKEN = re.compile(r"(\S{30,})")
_BREAK_EVERY = 20


def feeling(sentiment: Sentiment) -> str:
    """A sentiment in a reader's words: ``very negative``, ``negative``, ``neutral``, …"""
    strong = abs(sentiment.compound) >= _STRONG and sentiment.label in {"negative", "positive"}
    return f"very {sentiment.label}" if strong else sentiment.label


def breakable(text: str) -> Markup:
    """``text`` HTML-escaped, with a ``<wbr>`` inside each long unbroken run (a URL, a word),
    so it wraps on a phone even in mail clients that ignore CSS word-break."""
    pieces = []
    for piece in _LONG_TOKEN.split(text):
        if _LONG_TOKEN.fullmatch(piece):
            chunks = [piece[at : at + _BREAK_EVERY] for at in range(0, len(piece), _BREAK_EVERY)]
            pieces.append(Markup("<wbr>").join(escape(chunk) for chunk in chunks))
        else:
            pieces.append(escape(piece))
    return Markup("").join(pieces)


# Every value a template shows loses its control characters but newline and tab: a CR or an
# escape sequence from a post must not reshape an email (excerpt() also flattens newlines).
_CONTROLS = dict.fromkeys(
    codepoint for codepoint in [*range(0x20), *range(0x7F, 0xA0)] if chr(codepoint) not in "\n\t"
)


def _without_controls(value: Any) -> Any:
    if isinstance(value, Markup):  # already escaped (or marked safe): keep it so
        return Markup(value.translate(_CONTROLS))
    return value.translate(_CONTROLS) if isinstance(value, str) else value


class Templates:
    """Renders the templates in one folder; ``.html`` templates are autoescaped."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._environment = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(folder),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "htm", "xml", "html.j2", "htm.j2", "xml.j2"),
                default_for_string=True,
                default=False,
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            finalize=_without_controls,
        )
        self._environment.filters.update(
            localtime=localtime,
            excerpt=excerpt,
            web_url=web_url,
            feeling=feeling,
            breakable=breakable,
        )

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render template ``name``; a broken template raises DeliveryError with file and line."""
        try:
            return self._environment.get_template(name).render(context)
        except jinja2.TemplateNotFound:
            raise DeliveryError(f"{self.folder / name}: template not found") from None
        except jinja2.TemplateSyntaxError as error:
            where = error.filename or str(self.folder / name)
            raise DeliveryError(f"{where}:{error.lineno}: {error.message}") from None
        except jinja2.TemplateError as error:
            raise DeliveryError(f"{_where(error, self.folder, name)}: {error}") from None


def _where(error: BaseException, folder: Path, name: str) -> str:
    """``path:line`` of the template line that failed, found in Jinja's rewritten traceback."""
    where = str(folder / name)
    traceback = error.__traceback__
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if filename.startswith(str(folder)):
            where = f"{filename}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return where
