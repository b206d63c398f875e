"""Split a body into fresh text, quoted reply text and the sender's signature.

The worker is answerable for what they write, but a reply usually carries the
whole earlier conversation below it, and the sender's own signature repeats
their name and phone number in every message. Detectors still see all of it;
the flags on each :class:`~proxy.core.message.Segment` let the policy weigh a
detail differently when the worker wrote it, quoted it, or signed with it.

Quoted text is recognised by the conventions mail clients actually write:
``>`` prefixes, an "On <date>, <name> wrote:" attribution, the Outlook
"-----Original Message-----" line and "From: / Sent:" header block, and the
forwarded-message banners, in English and the other languages our
senders' mail clients write ("El ... escribió:"), and the reply header
blocks ``mail-parser-reply`` knows ("De: / Enviado: / Para:"). The
signature starts at the RFC 3676 delimiter line ``-- `` (or a bare ``--``,
which many clients leave after trimming) or at a sign-off, and standard
disclaimers are boilerplate like the signature: both are read by
:mod:`proxy.lint.signature`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from proxy.core.message import Segment
from proxy.lint.signature import BoilerplateReader, is_sentence

# These are conventions of mail clients' reply formats, not a standard
# grammar, so line patterns are the honest tool.
_ATTRIBUTION_START = re.compile(r"^\s*(?:On|El|Le|Am|Em|Il|Op)\s", re.IGNORECASE)
_ENDS_WROTE = re.compile(
    r"(?:\bwrote|\bescribi[oó]|\ba\s+[ée]crit|\bschrieb|\bescreveu|\bha\s+scritto|\bschreef)"
    r"\s*:\s*$",
    re.IGNORECASE,
)
_BANNER = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|forwarded message)\s*-{2,}"
    r"|begin forwarded message\s*:)\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?From:\*?\s", re.IGNORECASE)
_HEADER_SENT = re.compile(r"^\s*\*?(?:Sent|Date):\*?\s", re.IGNORECASE)
_HEADER_OTHER = re.compile(r"^\s*\*?(?:To|Subject|Cc):\*?", re.IGNORECASE)
_SEPARATOR = re.compile(r"^\s*(?:_{5,}|-{5,})\s*$")
_SIGNATURE_DELIMITERS = frozenset({"-- ", "--"})

# How far ahead a wrapped attribution or a header block may reach.
_ATTRIBUTION_LINES = 3
_HEADER_BLOCK_LINES = 6


class _Kind(Enum):
    FRESH = "fresh"
    QUOTED = "quoted"
    SIGNATURE = "signature"


@dataclass(frozen=True, slots=True)
class _Line:
    offset: int
    text: str  # with its line ending, so the lines rebuild the text exactly
    content: str  # without the line ending

    @property
    def blank(self) -> bool:
        return not self.content.strip()


def _lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        lines.append(_Line(offset, raw, raw.rstrip("\r\n")))
        offset += len(raw)
    return lines


def _is_quote_prefixed(line: _Line) -> bool:
    return line.content.lstrip(" \t").startswith(">")


def _is_attribution(lines: list[_Line], index: int) -> bool:
    """ "On Tue, 3 Mar 2026, Jane Doe <jane@x.org> wrote:", possibly wrapped,
    or any "... wrote:" line that introduces ``>``-quoted lines."""
    line = lines[index]
    if _ATTRIBUTION_START.match(line.content):
        for ahead in lines[index : index + _ATTRIBUTION_LINES]:
            if ahead.blank:
                return False
            if _ENDS_WROTE.search(ahead.content):
                return True
        return False
    if _ENDS_WROTE.search(line.content):
        for following in range(index + 1, len(lines)):
            if not lines[following].blank:
                return _is_quote_prefixed(lines[following])
    return False


def _is_header_block(lines: list[_Line], index: int) -> bool:
    """Outlook's "From: ... / Sent: ... / To: ... / Subject: ..." block."""
    if not _HEADER_FROM.match(lines[index].content):
        return False
    block = lines[index + 1 : index + _HEADER_BLOCK_LINES]
    has_sent = any(_HEADER_SENT.match(ln.content) for ln in block)
    has_other = any(_HEADER_OTHER.match(ln.content) for ln in block)
    return has_sent and has_other


def _quoted_rest_start(lines: list[_Line]) -> int:
    """Index of the first line of the quoted remainder, or ``len(lines)``."""
    for index in range(len(lines)):
        content = lines[index].content
        if _BANNER.match(content) or _is_attribution(lines, index):
            return index
        if _is_header_block(lines, index):
            before = index - 1
            while before >= 0 and lines[before].blank:
                before -= 1
            if before >= 0 and _SEPARATOR.match(lines[before].content):
                return before
            return index
    return len(lines)


def _classify(lines: list[_Line], reader: BoilerplateReader) -> list[_Kind]:
    rest = _quoted_rest_start(lines)
    header = reader.reply_header([line.content for line in lines[:rest]])
    if header is not None:
        rest = min(rest, header)
    own = [
        "" if _is_quote_prefixed(line) else line.content for line in lines[:rest]
    ]  # fmt: skip
    signature = reader.signature_start(own)
    boilerplate = reader.disclaimer_lines(own)
    kinds: list[_Kind] = []
    in_signature = False
    for index, line in enumerate(lines):
        if index >= rest:
            kinds.append(_Kind.QUOTED)
        elif _is_quote_prefixed(line):
            kinds.append(_Kind.QUOTED)
        elif index in boilerplate:
            kinds.append(_Kind.SIGNATURE)
        elif line.content in _SIGNATURE_DELIMITERS:
            in_signature = True
            kinds.append(_Kind.SIGNATURE)
        elif line.blank and kinds:
            # Blank lines belong with the text above them.
            kinds.append(kinds[-1])
        elif (in_signature or (signature is not None and index >= signature)) and not (
            is_sentence(line.content)
        ):
            kinds.append(_Kind.SIGNATURE)
        else:
            # Prose under the sign-off ("P.S. ...") is the sender's message.
            kinds.append(_Kind.FRESH)
    return kinds


_PLAIN_READER = BoilerplateReader()


def split_segments(
    source: str, text: str, *, base: int = 0, reader: BoilerplateReader | None = None
) -> tuple[Segment, ...]:
    """``text`` as consecutive segments of one kind each.

    Each segment's ``offset`` is ``base`` plus where it starts in ``text``, and
    the segments' texts are exact slices, so ``full_text[offset:offset+len]``
    gives the segment back. Runs of whitespace alone are left out.
    ``reader`` knows the agency's own disclaimers (``agency.disclaimers``).
    """
    lines = _lines(text)
    kinds = _classify(lines, reader if reader is not None else _PLAIN_READER)
    segments: list[Segment] = []
    start = 0
    for index in range(1, len(lines) + 1):
        if index < len(lines) and kinds[index] is kinds[start]:
            continue
        run = "".join(line.text for line in lines[start:index])
        if run.strip():
            kind = kinds[start]
            segments.append(
                Segment(
                    source=source,
                    text=run,
                    offset=base + lines[start].offset,
                    quoted=kind is _Kind.QUOTED,
                    signature=kind is _Kind.SIGNATURE,
                )
            )
        start = index
    return tuple(segments)
