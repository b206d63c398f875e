"""Render an HTML body to the plain text a recipient would read.

Detectors match on text, so the HTML must become text the way a mail client
shows it: ``12<b>3</b>`` reads "123" and a comment inside a number vanishes
without a trace (``123-45<!-- x -->-6789`` reads "123-45-6789"); otherwise a
number split by markup would slip past every pattern. Block elements start a
new line so that unrelated cells or paragraphs never run together into a
false match. Quoted replies in ``<blockquote>`` get the "> " prefix that the
plain-text quote finder (:mod:`proxy.lint.quoting`) already understands.

Built on the standard library's tolerant :class:`html.parser.HTMLParser`,
which decodes numeric and named character references for us.

What a reader is not shown is relayed all the same, so it is read too
(:func:`read_html`): attribute text (``alt``, ``title``, ``value``,
``placeholder``, ``aria-label``, link targets...), which mail programs show
as tooltips, in place of images or in form fields, and the hidden content
of ``<script>``, ``<style>`` and comments, which anyone can see in the
message source. Redaction masks values there in place, like in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

# Elements whose content is never shown to the reader.
_HIDDEN = frozenset({"script", "style"})
# Elements that start on a new line; paragraphs and headings also leave a gap.
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header",
        "hr", "li", "main", "nav", "ol", "option", "pre", "section", "summary", "table",
        "tbody", "tfoot", "thead", "title", "tr", "ul", "caption", "legend",
    }
)  # fmt: skip
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6"})
_CELL = frozenset({"td", "th"})
_QUOTE = "blockquote"

_WHITESPACE = re.compile(r"\s+")
# Characters that render as nothing; inside a number they would hide it.
# Shared with redaction, which must see through exactly the same ones.
INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")
_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE))
_NBSP = {0xA0: " "}
# Attributes that only lay out or label markup for programs; they carry no
# text of the writer's. Everything else is read.
_LAYOUT_ATTRIBUTES = frozenset({"style", "class", "id"})


@dataclass(frozen=True, slots=True)
class HtmlText:
    """What one HTML part says: the text a reader sees, the text of its
    attributes, and what is never shown (script, style, comments); each
    attribute value or hidden block on a line of its own."""

    text: str
    attributes: str = ""
    hidden: str = ""


class _TextRenderer(HTMLParser):
    """Collects visible text as the parser streams tags and data past it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._quote_depth = 0
        self._breaks = 0
        self._space = False
        self._at_line_start = True
        self.attributes: list[str] = []
        self.hidden: list[str] = []

    # -- parser callbacks -------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attributes(attrs)
        self._open(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attributes(attrs)
        # <br/>, <hr/>: a void element never opens a hidden or pre region.
        if tag in _HIDDEN or tag == "pre" or tag == _QUOTE:
            return
        self._open(tag)

    def handle_comment(self, data: str) -> None:
        if data.strip():
            self.hidden.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag == _QUOTE:
            self._request_breaks(1)
            self._quote_depth = max(0, self._quote_depth - 1)
        elif tag in _PARAGRAPH:
            self._request_breaks(2)
        elif tag in _BLOCK:
            self._request_breaks(1)
        elif tag in _CELL:
            self._space = True

    def handle_data(self, data: str) -> None:
        if self._hidden:
            if data.strip():
                self.hidden.append(data)
            return
        text = data.translate(_INVISIBLE)
        if not self._pre:
            text = _WHITESPACE.sub(" ", text)
        text = text.translate(_NBSP)
        if self._breaks:
            text = text if self._pre else text.lstrip(" ")
            if not text:
                return
            if self._out:
                self._out.append("\n" * self._breaks)
                self._at_line_start = True
            self._breaks = 0
            self._space = False
        elif self._space:
            text = " " + text.lstrip(" ")
            self._space = False
        if not self._pre and text.startswith(" ") and self._after_space():
            text = text.lstrip(" ")
            if not text:
                return
        self._write(text)

    # Comments, declarations and processing instructions are never shown and
    # must not separate the text around them: the default handlers drop them.

    # -- helpers ----------------------------------------------------------

    def _attributes(self, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if not value or not value.strip() or name in _LAYOUT_ATTRIBUTES:
                continue
            if value.lstrip()[:5].lower() == "data:":
                continue  # an embedded file (an inline image), not text
            self.attributes.append(" ".join(value.split()))

    def _open(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "pre":
            self._pre += 1
            self._request_breaks(1)
        elif tag == "br":
            self._breaks += 1
        elif tag == _QUOTE:
            self._request_breaks(1)
            self._quote_depth += 1
        elif tag in _PARAGRAPH:
            self._request_breaks(2)
        elif tag in _BLOCK:
            self._request_breaks(1)
        elif tag in _CELL:
            self._space = True

    def _request_breaks(self, count: int) -> None:
        self._breaks = max(self._breaks, count)

    def _write(self, text: str) -> None:
        prefix = "> " * self._quote_depth
        if prefix:
            text = text.replace("\n", "\n" + prefix)
            if self._at_line_start:
                text = prefix + text
        self._out.append(text)
        self._at_line_start = text.endswith("\n")

    def _after_space(self) -> bool:
        return self._at_line_start or self._out[-1].endswith(" ")

    def text(self) -> str:
        return "".join(self._out)


_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_RUN = re.compile(r"\n{3,}")


def read_html(html: str) -> HtmlText:
    """Everything ``html`` carries as text; tolerant of any malformed markup."""
    renderer = _TextRenderer()
    renderer.feed(html)
    renderer.close()
    text = _TRAILING_SPACE.sub("\n", renderer.text())
    return HtmlText(
        text=_BLANK_RUN.sub("\n\n", text).rstrip().lstrip("\n"),
        attributes="\n".join(renderer.attributes),
        hidden="\n".join(renderer.hidden),
    )


def html_to_text(html: str) -> str:
    """The text a reader sees in ``html``; tolerant of any malformed markup."""
    return read_html(html).text
