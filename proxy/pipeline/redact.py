"""Masking sensitive values in a message that is otherwise relayed as sent.

When the policy says *redact*, the recipient gets the message with each
flagged value masked ("***-**-6789") wherever a reader -- or a program -- could
recover it: the Subject, every text and HTML part in whatever transfer
encoding and charset, HTML character references, text attachments and
attached messages. A value is found the way a reader would see it, not the
way it is stored: quoted-printable soft line breaks, base64 and ``&#49;`` are
decoded first, separators may differ ("123 45 6789" for "123-45-6789"), and
markup or invisible characters inside a number do not hide it.

Which parts are text, HTML, documents or attached messages is decided by
:func:`proxy.lint.parse.read_as`, the very decision the scan made, and text
is read through the scan's own :func:`proxy.lint.normalise.normalise`
(invisible characters removed, look-alike letters and digits folded): a
value the scan read in a part is masked in that same part, not missed
because the two disagreed about what the part was or how it reads.

Header fields and file names are read as the scan reads them
(:func:`proxy.lint.headers.text_fields` and
:func:`proxy.lint.headers.file_names`); a field or file name that contains
a value is rewritten with the value masked (display names included), and
the rebuilt message is read once more: any value still there in a field
or file name makes the redaction incomplete, so the message is held.

Everything else keeps its bytes where MIME allows: unchanged parts are
written back as they came, and a changed part keeps its charset and its
transfer encoding (a quoted-printable part stays quoted-printable). Parts we
cannot rewrite safely (a PDF or Word file containing a value) are reported
in :attr:`RedactResult.unredactable_parts` so the caller can hold the
message instead of sending the value on.

Why it is longer than the house's ~400 lines: masking must reach every
place the scan reads (parts in every encoding and charset, header fields,
display names, file names, attached messages) and then check its own
result; those are one walk that rebuilds one message, and splitting it
would leave two copies of the walk to drift apart.
"""

from __future__ import annotations

import codecs
import html
import io
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email import policy
from email.base64mime import body_encode as base64_body_encode
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser
from email.quoprimime import body_encode as qp_body_encode
from email.utils import collapse_rfc2231_value

from proxy.core.config import Limits
from proxy.lint.attachments import PDF_WITHOUT_TEXT, Extracted, Kind, docx_text, pdf_text
from proxy.lint.headers import UNREAD_FIELDS, decode_words, file_names, text_fields
from proxy.lint.html_text import INVISIBLE
from proxy.lint.normalise import normalise
from proxy.lint.parse import parse_message, read_as
from proxy.outbound.header_safety import safe_header_value

Mask = Callable[[str], str]

# Keep the last four digits only of a long identifier (SSN, card, phone):
# the last four of a date or a short number would give most of it away.
_KEEP_DIGITS = 4
_MIN_DIGITS_TO_KEEP = 9
MASK_CHAR = "*"

# Separators a writer may put between the characters of an identifier.
_SEPARATOR = r"[\s.\-/()\u00a0\u2010-\u2015]{0,3}"
_CHARREF = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?")
_MARKUP = re.compile(r"<!--.*?(?:-->|\Z)|<[A-Za-z/!?][^>]*>", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

# Media whose bytes are not text: a digit run in them is noise, not a value.
_MEDIA_PREFIXES = ("image/", "audio/", "video/")

# Parsing keeps each header's original folding; only headers we set anew are
# folded (and RFC 2047-encoded) by the library.
_POLICY = policy.SMTP.clone(refold_source="none")
MAX_DEPTH = 10


def mask_keep_last4(text: str) -> str:
    """Mask letters and digits, keeping separators and, for long numbers,
    the last four digits: "123-45-6789" -> "***-**-6789".

    One format everywhere (the README, what the recipient gets, what the
    notices show): asterisks read as "hidden" to anyone, where a run of X
    can pass for a placeholder the sender forgot to fill in."""
    digits = sum(c.isdigit() for c in text)
    keep = _KEEP_DIGITS if digits >= _MIN_DIGITS_TO_KEEP else 0
    out = []
    seen = 0
    for char in text:
        if char.isdigit():
            seen += 1
            out.append(char if seen > digits - keep else MASK_CHAR)
        elif char.isalpha():
            out.append(MASK_CHAR)
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class RedactResult:
    """The rebuilt message; ``masked`` counts the occurrences masked.

    ``unredactable_parts`` names parts (``attachment:NAME`` as in
    :class:`proxy.core.message.Segment`) that contain a value we could not mask.
    The repr shows counts only: these fields may hold client data.
    """

    data: bytes = field(repr=False)
    masked: int
    unredactable_parts: tuple[str, ...] = field(default=(), repr=False)

    @property
    def complete(self) -> bool:
        return not self.unredactable_parts


def value_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for all values, tolerant of separators and case."""
    alternatives = []
    for value in sorted(set(values), key=len, reverse=True):
        core = [c for c in value if c.isalnum()]
        if not core:
            continue
        body = _SEPARATOR.join(re.escape(c) for c in core)
        # A value must not be the middle of a longer number or word.
        before = r"(?<!\d)" if core[0].isdigit() else r"(?<![^\W\d_])"
        after = r"(?!\d)" if core[-1].isdigit() else r"(?![^\W\d_])"
        alternatives.append(f"{before}{body}{after}")
    if not alternatives:
        return None
    return re.compile("|".join(alternatives), re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _View:
    """Text as a reader sees it, with each character's span in the source."""

    text: str
    spans: tuple[tuple[int, int], ...]


def _view(source: str, *, html_refs: bool, skip_markup: bool) -> _View:
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(source):
        char = source[i]
        if skip_markup and char == "<":
            markup = _MARKUP.match(source, i)
            if markup is not None:
                i = markup.end()
                continue
        if html_refs and char == "&":
            ref = _CHARREF.match(source, i)
            if ref is not None:
                decoded = html.unescape(ref.group(0))
                if len(decoded) == 1:
                    if decoded not in INVISIBLE:
                        chars.append(decoded)
                        spans.append((i, ref.end()))
                    i = ref.end()
                    continue
        if char not in INVISIBLE:
            chars.append(char)
            spans.append((i, i + 1))
        i += 1
    text = "".join(chars)
    # Read as the scan reads: what renders as nothing removed, look-alikes
    # folded; each character still points at what it came from.
    read = normalise(text)
    if read.text == text:
        return _View(text, tuple(spans))
    composed = []
    for index in range(len(read.text)):
        first, last = read.span(index, index + 1)
        composed.append((spans[first][0], spans[last - 1][1]))
    return _View(read.text, tuple(composed))


def _mask_text(
    source: str, pattern: re.Pattern[str], mask: Mask, *, is_html: bool
) -> tuple[str, int]:
    """``source`` with every match masked in place, and how many were masked.

    HTML is searched twice: with markup kept (values in attributes) and with
    markup skipped (values split by tags or comments). Replacements are per
    character, so markup between the characters of a value survives.
    """
    views = (
        [
            _view(source, html_refs=True, skip_markup=False),
            _view(source, html_refs=True, skip_markup=True),
        ]
        if is_html
        else [_view(source, html_refs=False, skip_markup=False)]
    )
    replacements: dict[int, tuple[int, str]] = {}
    count = 0
    for view in views:
        for match in pattern.finditer(view.text):
            found = match.group(0)
            masked = mask(found)
            spans = view.spans[match.start() : match.end()]
            new = False
            if len(masked) == len(found):
                for (start, end), old_char, new_char in zip(spans, found, masked, strict=True):
                    if new_char != old_char and start not in replacements:
                        replacements[start] = (end, new_char)
                        new = True
            elif spans[0][0] not in replacements:
                replacements[spans[0][0]] = (spans[-1][1], masked)
                new = True
            count += new
    if not replacements:
        return source, 0
    out = []
    pos = 0
    for start in sorted(replacements):
        end, text = replacements[start]
        if start < pos:
            continue  # inside a span already replaced as a whole
        out.append(source[pos:start])
        out.append(text)
        pos = end
    out.append(source[pos:])
    return "".join(out), count


@dataclass
class _Context:
    pattern: re.Pattern[str]
    mask: Mask
    max_depth: int
    masked: int = 0
    unredactable: list[str] = field(default_factory=list)


def _label(part: Message) -> str:
    filename = part.get_filename()
    return f"attachment:{filename}" if filename else f"part:{part.get_content_type()}"


def _codec(part: Message) -> str:
    # Undeclared: UTF-8 reads ASCII unchanged and most text files written today.
    charset = part.get_content_charset() or "utf-8"
    try:
        return codecs.lookup(charset).name
    except LookupError:
        # An unknown charset: digits are ASCII in every charset mail uses, and
        # surrogateescape gives back every other byte unchanged.
        return "ascii"


def _reencode(part: Message, data: bytes) -> None:
    """Replace the part's body, keeping its declared transfer encoding."""
    cte = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if cte == "base64":
        payload = base64_body_encode(data)
    elif cte == "quoted-printable":
        payload = qp_body_encode(data.decode("latin-1"))
    else:
        payload = data.decode("ascii", errors="surrogateescape")
    original = part.get_payload()
    if isinstance(original, str) and not original.endswith(("\n", "\r")):
        # The line break before the next boundary belongs to the boundary;
        # adding one would add a blank line to the part.
        payload = payload.rstrip("\r\n")
    part.set_payload(payload)


def _redact_subject(msg: Message, ctx: _Context) -> None:
    if msg.get("Subject") is None:
        return
    subject = str(msg["Subject"])
    masked, count = _mask_text(subject, ctx.pattern, ctx.mask, is_html=False)
    if not count:
        return
    # We are rewriting this header anyway; a line break smuggled into it
    # through an encoded-word must not survive into the new one.
    masked = _CONTROL.sub(" ", masked)
    msg.replace_header("Subject", safe_header_value(masked, name="Subject"))
    ctx.masked += count


def _field_value(masked: str, name: str) -> str:
    # We are rewriting this field anyway; a line break smuggled into it
    # through an encoded-word must not survive into the new one.
    return safe_header_value(_CONTROL.sub(" ", masked), name=name)


def _redact_fields(entity: Message, ctx: _Context) -> None:
    """Mask values in every header field the scan reads (display names,
    comments, keywords, X- fields...), each field rewritten where it stands.

    The field is rewritten from the permissive reading of its raw value
    (:func:`proxy.lint.headers.decode_words`), which keeps comments and
    stray words; a field that cannot be rewritten is left for the final
    check to report.
    """
    headers = entity._headers  # type: ignore[attr-defined]
    for index, (name, raw) in enumerate(list(entity.raw_items())):
        if name.lower() in UNREAD_FIELDS:
            continue
        text = decode_words(str(raw))
        masked, count = _mask_text(text, ctx.pattern, ctx.mask, is_html=False)
        if not count:
            continue
        try:
            # Replaced in place: the field keeps its position.
            headers[index] = entity.policy.header_store_parse(  # type: ignore[attr-defined]
                name, _field_value(masked, name)
            )
        except Exception:
            continue
        ctx.masked += count


def _redact_file_names(entity: Message, ctx: _Context) -> None:
    """Mask values in the part's file names (Content-Disposition
    ``filename`` and Content-Type ``name``), written back RFC 2231-encoded
    when they are not ASCII."""
    for header, param in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        try:
            value = entity.get_param(param, header=header)
            if value is None:
                continue
            text = decode_words(str(collapse_rfc2231_value(value)))
            masked, count = _mask_text(text, ctx.pattern, ctx.mask, is_html=False)
            if not count:
                continue
            clean = _field_value(masked, header)
            entity.set_param(
                param, clean, header=header, charset=None if clean.isascii() else "utf-8"
            )
        except Exception:
            continue
        ctx.masked += count


def _unmasked_fields(data: bytes, pattern: re.Pattern[str]) -> list[str]:
    """Header fields and file names of the rebuilt message that still read
    as a value, named without their content ("header To", "file name")."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(data)
    except Exception:
        return ["message headers (could not be checked)"]
    found: list[str] = []
    for entity in msg.walk():
        texts = [(f"header {name}", text) for name, text in text_fields(entity)]
        subject = entity.get("Subject")
        if subject is not None:
            texts.append(("header Subject", str(subject)))
        texts.extend(("file name", name) for name in file_names(entity))
        for label, text in texts:
            if pattern.search(_view(text, html_refs=False, skip_markup=False).text):
                found.append(label)
    return list(dict.fromkeys(found))


def _redact_text_part(part: Message, data: bytes, ctx: _Context, *, is_html: bool) -> None:
    codec = _codec(part)
    text = data.decode(codec, errors="surrogateescape")
    masked, count = _mask_text(text, ctx.pattern, ctx.mask, is_html=is_html)
    if count:
        _reencode(part, masked.encode(codec, errors="surrogateescape"))
        ctx.masked += count


def _redact_attached_message(part: Message, data: bytes, ctx: _Context, depth: int) -> None:
    """A .eml attached as a file: redact it as a message of its own."""
    inner = _redact(data, ctx.pattern, ctx.mask, ctx.max_depth, depth + 1)
    label = _label(part)
    ctx.unredactable.extend(f"{label}/{name}" for name in inner.unredactable_parts)
    if inner.masked:
        _reencode(part, inner.data)
        ctx.masked += inner.masked


def _document_text(kind: Kind, data: bytes) -> Extracted | None:
    """A PDF or Word file read as :mod:`proxy.lint.parse` reads it (headers and
    footers included), so masking checks every place the scan looked; None
    if the part is neither."""
    if kind is Kind.PDF:
        return pdf_text(data, max_chars=sys.maxsize)
    if kind is Kind.DOCX:
        return docx_text(data, max_chars=sys.maxsize, max_bytes=sys.maxsize)
    return None


def _check_binary_part(part: Message, kind: Kind, data: bytes, ctx: _Context) -> None:
    """Report a part we cannot rewrite if it contains a value."""
    if part.get_content_type().startswith(_MEDIA_PREFIXES) or not data:
        return
    document = _document_text(kind, data)
    if document is None:
        text = data.decode("latin-1")
    elif document.scanned or document.problem == PDF_WITHOUT_TEXT:
        text = document.text
    else:  # damaged or encrypted: "could not check" means hold, do not guess
        ctx.unredactable.append(_label(part))
        return
    if ctx.pattern.search(_view(text, html_refs=False, skip_markup=False).text):
        ctx.unredactable.append(_label(part))


def _visit(entity: Message, ctx: _Context, depth: int) -> None:
    if depth > ctx.max_depth:
        ctx.unredactable.append(f"{_label(entity)} (nested too deeply to check)")
        return
    _redact_fields(entity, ctx)
    _redact_file_names(entity, ctx)
    ctype = entity.get_content_type()
    if entity.is_multipart():
        for sub in entity.get_payload():
            if not isinstance(sub, Message):
                continue
            if ctype == "message/rfc822":
                _redact_subject(sub, ctx)
            _visit(sub, ctx, depth + 1)
        return
    decoded = entity.get_payload(decode=True)
    data = decoded if isinstance(decoded, bytes) else b""
    # Where the scan read text, the value is masked in that text; what the
    # scan read another way is checked, never rewritten.
    kind = read_as(entity, data)
    if kind is Kind.HTML or kind is Kind.TEXT:
        _redact_text_part(entity, data, ctx, is_html=kind is Kind.HTML)
    elif kind is Kind.MESSAGE:
        _redact_attached_message(entity, data, ctx, depth)
    else:
        _check_binary_part(entity, kind, data, ctx)


def _redact(
    raw: bytes, pattern: re.Pattern[str], mask: Mask, max_depth: int, depth: int
) -> RedactResult:
    msg = BytesParser(policy=_POLICY).parsebytes(raw)
    ctx = _Context(pattern, mask, max_depth)
    _redact_subject(msg, ctx)
    _visit(msg, ctx, depth)
    if ctx.masked:
        out = io.BytesIO()
        BytesGenerator(out, mangle_from_=False, policy=_POLICY).flatten(msg)
        data = out.getvalue()
    else:
        data = raw  # nothing changed: the original bytes, not a re-serialisation
    # What the scan reads in fields and file names must now be clean; if a
    # value is still there, it could not be masked in place: hold.
    ctx.unredactable.extend(_unmasked_fields(data, pattern))
    return RedactResult(data, ctx.masked, tuple(ctx.unredactable))


def redact_message(
    raw: bytes,
    values: Sequence[str],
    *,
    mask: Mask = mask_keep_last4,
    max_depth: int = MAX_DEPTH,
    limits: Limits | None = None,
) -> RedactResult:
    """``raw`` with every occurrence of each value masked, and what could not be.

    The result is then read again exactly as the scan reads a message
    (:func:`proxy.lint.parse.parse_message`, with the agency's ``limits``):
    inside zip files and winmail.dat, uuencoded blocks, UTF-16 text,
    calendar files. Masking rewrites only what it can rewrite in place, so
    a value the scan can still read anywhere in the output is reported in
    ``unredactable_parts`` and the caller holds the message rather than
    send it on.
    """
    pattern = value_pattern(values)
    if pattern is None:
        return RedactResult(raw, 0)
    result = _redact(raw, pattern, mask, max_depth, 0)
    known = {_place(part) for part in result.unredactable_parts}
    left = [
        source
        for source in _still_readable(result.data, pattern, limits or Limits())
        if _place(source) not in known
    ]
    if not left:
        return result
    return RedactResult(result.data, result.masked, (*result.unredactable_parts, *left))


def _place(label: str) -> str:
    """One name for a place whichever check found it: the field check says
    ``header To`` and ``file name``, the scan's sources ``header:To`` and
    ``filename:2``."""
    if label.startswith("filename:") or label == "file name":
        return "file name"
    if label.startswith("header:"):
        return "header " + label.removeprefix("header:")
    return label


def _still_readable(data: bytes, pattern: re.Pattern[str], limits: Limits) -> list[str]:
    """The sources in which the scan, reading ``data``, still finds a value."""
    parsed = parse_message(data, limits=limits)
    return [
        source
        for source, text in parsed.full_text.items()
        if pattern.search(_view(text, html_refs=False, skip_markup=False).text)
    ]
