"""Raw RFC 5322 bytes to a :class:`~proxy.core.message.ParsedMessage`.

Everything downstream trusts this stage to have found every piece of text a
recipient could read: the subject, each text and HTML body, attachments,
forwarded messages, and the files inside containers a mail program opens
(zip files, winmail.dat, uuencoded blocks, calendar files), each read as
what its bytes are rather than what its label says. So it never raises and
never drops anything silently: whatever it cannot read (an encrypted PDF, a
damaged base64 part, a message nested too deep, a password-protected zip)
becomes an :class:`~proxy.core.message.Unscannable` record the policy can act
on. Limits bound the work a hostile message can cause.

MIME itself is left to the standard :mod:`email` package (``policy.default``);
this module only walks the tree it builds.

Why it is longer than the house's ~400 lines: the walk is one recursive
idea -- a part, a body, an attached file, a container's members and a
forwarded message each hand back to the walk -- and its collector keeps the
limits all of them spend. Split apart, the pieces would import each other.
Reading header fields is in :mod:`proxy.lint.headers`, containers in
:mod:`proxy.lint.containers`, telling a part's real type in
:mod:`proxy.lint.sniff`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import errors
from email.message import Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from functools import lru_cache

from proxy.core.config import Limits
from proxy.core.message import (
    Attachment,
    Envelope,
    ParsedMessage,
    Segment,
    SubjectTags,
    Unscannable,
)
from proxy.lint.ambiguous import AMBIGUOUS, read_two_ways
from proxy.lint.attachments import (
    ENCRYPTED,
    GARBLED,
    Kind,
    classify,
    decode_text,
    extract,
    readable_text,
)
from proxy.lint.containers import (
    Member,
    calendar_files,
    is_calendar,
    open_tnef,
    open_zip,
    uuencoded_files,
)
from proxy.lint.headers import (
    addresses,
    file_name,
    file_names,
    header_text,
    is_address_field,
    normalise_address,
    text_fields,
    unique,
)
from proxy.lint.html_text import read_html
from proxy.lint.normalise import normalise_segment
from proxy.lint.quoting import split_segments
from proxy.lint.signature import BoilerplateReader
from proxy.lint.sniff import SNIFF_BYTES
from proxy.lint.subject_tags import parse_subject_tags

log = logging.getLogger(__name__)

MESSAGE_SOURCE = "message"

# Plain, client-data-free reasons, shared so that tests and docs match.
REASON_UNREADABLE = "message could not be read"
REASON_TOO_DEEP = "message too deeply nested"
REASON_TOO_MANY_PARTS = "message has too many parts"
REASON_TOO_LARGE = "message too large to scan"
REASON_TOO_MUCH_TEXT = "message has too much text to scan fully"
REASON_BAD_BASE64 = "damaged base64 encoding"
REASON_BAD_STRUCTURE = "damaged message structure"
REASON_BAD_PART = "part of the message could not be read"
REASON_GARBLED = GARBLED
REASON_ENCRYPTED = ENCRYPTED
REASON_AMBIGUOUS = AMBIGUOUS
REASON_NESTED_FILES = "files packed inside each other too deeply to scan"

_BASE64_DEFECTS = (
    errors.InvalidBase64PaddingDefect,
    errors.InvalidBase64CharactersDefect,
    errors.InvalidBase64LengthDefect,
)
# Defects after which the parser could not find the parts and fell back to
# treating the whole body as one opaque payload.
_STRUCTURE_DEFECTS = (
    errors.StartBoundaryNotFoundDefect,
    errors.NoBoundaryInMultipartDefect,
    errors.MultipartInvariantViolationDefect,
)

_UNNAMED = "unnamed"
_UNNAMED_MESSAGE = "forwarded message"
# Files inside containers carry no content type; their names and bytes decide.
_MEMBER_TYPE = "application/octet-stream"


class _ReadingPolicy(EmailPolicy):
    """``policy.default``, remembering the header fields it has parsed.

    The email package parses a field again on every read, and the walk reads
    each part's Content-Type several times; with one text part, header
    parsing was about a fifth of a short message's analysis. A parsed field
    is an immutable string whose value depends on nothing but the field's
    name and raw value, so equal fields can share one. Long values are
    parsed each time, so a hostile message cannot fill the memory.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        if hasattr(value, "name") or len(value) > _MAX_REMEMBERED_FIELD:
            return super().header_fetch_parse(name, value)  # type: ignore[no-any-return]
        return _parsed_field(name, value)


_MAX_REMEMBERED_FIELD = 1_000
_READING_POLICY = _ReadingPolicy()


@lru_cache(maxsize=4_096)
def _parsed_field(name: str, value: str) -> str:
    return EmailPolicy.header_fetch_parse(_READING_POLICY, name, value)  # type: ignore[no-any-return]


def _parser() -> BytesParser:
    return BytesParser(policy=_READING_POLICY)


@dataclass
class _Collector:
    """Everything gathered while walking one message, and the limits spent.

    One per :func:`parse_message` call; never shared.
    """

    limits: Limits
    # Knows the agency's own disclaimers, to read them as boilerplate.
    boilerplate: BoilerplateReader = field(default_factory=BoilerplateReader)
    segments: list[Segment] = field(default_factory=list)
    extra_segments: list[Segment] = field(default_factory=list)
    # Header fields and HTML side text, read once the parts are read (so the
    # text limit falls on the same body text as before): (entity, where).
    pending_fields: list[tuple[Message, str | None]] = field(default_factory=list)
    pending_text: list[tuple[str, str]] = field(default_factory=list)
    full_text: dict[str, str] = field(default_factory=dict)
    unscannable: list[Unscannable] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    used_sources: dict[str, int] = field(default_factory=dict)
    parts: int = 0
    decoded_bytes: int = 0
    chars: int = 0
    archive_members: int = 0
    archive_bytes: int = 0
    out_of_parts: bool = False
    out_of_text: bool = False
    named_parts: int = 0

    def problem(self, source: str, reason: str) -> None:
        record = Unscannable(source, reason)
        if record not in self.unscannable:
            self.unscannable.append(record)

    def new_source(self, base: str) -> str:
        """``base``, or ``base#2``, ``base#3``... when it is already taken."""
        count = self.used_sources.get(base, 0) + 1
        self.used_sources[base] = count
        name = base if count == 1 else f"{base}#{count}"
        while name in self.full_text:  # a filename that itself ends in "#2"
            count += 1
            self.used_sources[base] = count
            name = f"{base}#{count}"
        self.full_text[name] = ""
        return name

    def count_part(self) -> bool:
        """Spend one part; False once the message has too many."""
        if self.out_of_parts:
            return False
        self.parts += 1
        if self.parts > self.limits.max_parts:
            self.out_of_parts = True
            self.problem(MESSAGE_SOURCE, REASON_TOO_MANY_PARTS)
            return False
        return True

    def spend_bytes(self, size: int) -> bool:
        """Spend decoded bytes; False (and skip the part) if they do not fit."""
        if self.decoded_bytes + size > self.limits.max_decoded_bytes:
            self.problem(MESSAGE_SOURCE, REASON_TOO_LARGE)
            return False
        self.decoded_bytes += size
        return True

    @property
    def bytes_left(self) -> int:
        return self.limits.max_decoded_bytes - self.decoded_bytes

    @property
    def chars_left(self) -> int:
        return self.limits.max_text_chars - self.chars

    def add_text(
        self,
        source: str,
        text: str,
        *,
        split_quotes: bool,
        extra: bool = False,
        signature: bool = False,
    ) -> None:
        """Append ``text`` to ``source``'s full text and segment it.

        Several pieces of one embedded message share a source; they are
        joined by a blank line so that offsets still index the full text.
        ``full_text`` keeps the text as written; each segment's ``text`` is
        normalised for the detectors (:mod:`proxy.lint.normalise`).
        """
        text = _normalise_newlines(text)
        if not text.strip() or self.out_of_text:
            return
        if len(text) > self.chars_left:
            text = text[: self.chars_left]
            self.out_of_text = True
            self.problem(MESSAGE_SOURCE, REASON_TOO_MUCH_TEXT)
        existing = self.full_text.get(source, "")
        separator = "\n\n" if existing else ""
        base = len(existing) + len(separator)
        self.full_text[source] = existing + separator + text
        self.chars += len(text)
        pieces: Sequence[Segment] = (
            split_segments(source, text, base=base, reader=self.boilerplate)
            if split_quotes
            else [Segment(source=source, text=text, offset=base, signature=signature)]
        )
        into = self.extra_segments if extra else self.segments
        into.extend(normalise_segment(piece) for piece in pieces)

    def read_fields_later(self, entity: Message, embedded: str | None) -> None:
        self.pending_fields.append((entity, embedded))

    def add_text_later(self, source: str, text: str) -> None:
        self.pending_text.append((source, text))

    def finish(self) -> None:
        """Read what was put off: HTML side text, then every header field
        that carries text and every file name. They are relayed, so they
        are scanned like the body, as extra segments.

        Each field is its own source (``header:To``; inside a forwarded
        message ``attachment:NAME header:To``), each field value, display
        name list or file name its own segment, so that two of them never
        run together into one false match. ``filename:N`` holds the file
        names of the N-th part that has one.
        """
        for source, text in self.pending_text:
            self.add_text(source, text, split_quotes=False, extra=True)
        for entity, embedded in self.pending_fields:
            prefix = f"{embedded} " if embedded else ""
            for name, text in text_fields(entity):
                # Address fields are names and addresses by design, like a
                # signature block: a name, phone or address there is not
                # news, while an SSN or a client's name still counts.
                self.add_text(
                    f"{prefix}header:{name}",
                    text,
                    split_quotes=False,
                    extra=True,
                    signature=is_address_field(name),
                )
            names = file_names(entity)
            if names:
                self.named_parts += 1
            for name in names:
                source = f"filename:{self.named_parts}"
                self.add_text(source, name, split_quotes=False, extra=True)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_message(
    raw: bytes,
    *,
    limits: Limits,
    sender: str | None = None,
    recipients: Sequence[str] | None = None,
    disclaimers: Sequence[str] = (),
) -> ParsedMessage:
    """Parse one message; never raises, whatever the bytes.

    ``sender``/``recipients`` are the SMTP envelope (or CLI arguments); when
    None they are taken from From and To/Cc/Bcc. ``disclaimers`` are the
    agency's own (``agency.disclaimers``), read as boilerplate like the
    signature.
    """
    try:
        message = _parser().parsebytes(bytes(raw))
    except RecursionError:
        return _unreadable(sender, recipients, REASON_TOO_DEEP)
    # The email package is lenient, but a hostile message must not take the
    # proxy down with it: any failure becomes a record, never a traceback.
    except Exception as exc:
        log.warning("message could not be parsed (%s)", type(exc).__name__)
        return _unreadable(sender, recipients, REASON_UNREADABLE)
    try:
        return _build(message, limits, sender, recipients, BoilerplateReader(disclaimers))
    except RecursionError:
        return _unreadable(sender, recipients, REASON_TOO_DEEP)
    except Exception as exc:
        log.warning("message could not be read (%s)", type(exc).__name__)
        return _unreadable(sender, recipients, REASON_UNREADABLE)


def _unreadable(sender: str | None, recipients: Sequence[str] | None, reason: str) -> ParsedMessage:
    return ParsedMessage(
        envelope=Envelope(
            sender=normalise_address(sender) if sender is not None else "",
            recipients=tuple(normalise_address(r) for r in recipients or ()),
        ),
        subject="",
        tags=SubjectTags(),
        from_name="",
        to=(),
        cc=(),
        segments=(),
        unscannable=(Unscannable(MESSAGE_SOURCE, reason),),
    )


def _build(
    message: Message,
    limits: Limits,
    sender: str | None,
    recipients: Sequence[str] | None,
    boilerplate: BoilerplateReader,
) -> ParsedMessage:
    collector = _Collector(limits, boilerplate)
    subject, tags = parse_subject_tags(header_text(message, "Subject"))
    if subject:
        collector.add_text(collector.new_source("subject"), subject, split_quotes=False)
    collector.read_fields_later(message, None)
    _walk(message, 0, None, collector, root=True)
    collector.finish()

    from_list = addresses(message, ("From",))
    to = unique(addr for _, addr in addresses(message, ("To",)))
    cc = unique(addr for _, addr in addresses(message, ("Cc",)))
    if sender is None:
        sender = from_list[0][1] if from_list else ""
    if recipients is None:
        everyone = unique(addr for _, addr in addresses(message, ("To", "Cc", "Bcc")))
    else:
        everyone = unique(normalise_address(r) for r in recipients)
    message_id = header_text(message, "Message-ID").strip() or None
    return ParsedMessage(
        envelope=Envelope(sender=normalise_address(sender), recipients=everyone),
        subject=subject,
        tags=tags,
        from_name=from_list[0][0] if from_list else "",
        to=to,
        cc=cc,
        segments=tuple(collector.segments),
        extra_segments=tuple(collector.extra_segments),
        unscannable=tuple(collector.unscannable),
        attachments=tuple(collector.attachments),
        message_id=message_id,
        full_text={k: v for k, v in collector.full_text.items() if v},
    )


# -- the walk over the MIME tree ---------------------------------------------


def _walk(
    part: Message,
    depth: int,
    embedded: str | None,
    collector: _Collector,
    *,
    root: bool = False,
) -> None:
    """Visit ``part`` and everything below it.

    ``embedded`` is the source name of the forwarded message this part sits
    in, or None at the top level: an embedded message's text all belongs to
    its own ``attachment:NAME`` source. A message's ``root`` had its header
    fields read with the message's own.
    """
    if not collector.count_part():
        return
    if not root:
        collector.read_fields_later(part, embedded)
    where = embedded or MESSAGE_SOURCE
    if read_two_ways(part):
        # Held, not guessed; the part is still read the one way we read it.
        collector.problem(where, REASON_AMBIGUOUS)
    ctype = part.get_content_type()
    if part.is_multipart():
        if ctype == "multipart/encrypted":
            collector.problem(where, REASON_ENCRYPTED)
            return
        if depth >= collector.limits.max_depth:
            collector.problem(where, REASON_TOO_DEEP)
            return
        if ctype == "message/rfc822":
            _embedded_message(part, depth, collector)
            return
        children = part.get_payload()
        for child in children if isinstance(children, list) else ():
            if isinstance(child, Message):
                _walk(child, depth + 1, embedded, collector)
        return
    # One damaged leaf must not cost us the rest of the message.
    try:
        _leaf(part, depth, embedded, collector)
    except RecursionError:
        collector.problem(where, REASON_TOO_DEEP)
    except Exception as exc:
        log.warning("message part could not be read (%s)", type(exc).__name__)
        collector.problem(where, REASON_BAD_PART)


def read_as(part: Message, payload: bytes) -> Kind:
    """How the scan reads a leaf part whose decoded bytes are ``payload``: a
    text body as TEXT or HTML, anything else as :func:`classify` says.

    Public so that whatever must treat a part the way the scan did uses this
    one decision: redaction (:mod:`proxy.pipeline.redact`) masks values in
    place exactly where the scan read a part as text, and checks the rest.
    """
    filename = file_name(part)
    if _is_body(part, filename):
        return Kind.HTML if _content_type(part) == "text/html" else Kind.TEXT
    return classify(filename, _content_type(part), payload[:SNIFF_BYTES])


def _content_type(part: Message) -> str:
    """The part's type as read: a multipart part in which the parser found no
    parts (a missing boundary) is read as plain text."""
    if part.get_content_maintype() == "multipart":
        return "text/plain"
    return part.get_content_type()


def _is_body(part: Message, filename: str) -> bool:
    """Unnamed text that is not marked as an attachment is a message body."""
    return (
        _content_type(part).startswith("text/")
        and part.get_content_disposition() != "attachment"
        and not filename
    )


def _leaf(part: Message, depth: int, embedded: str | None, collector: _Collector) -> None:
    ctype = _content_type(part)
    filename = file_name(part)
    decoded = part.get_payload(decode=True)
    payload = decoded if isinstance(decoded, bytes) else b""
    damaged_base64 = any(isinstance(d, _BASE64_DEFECTS) for d in part.defects)
    if part.get_content_maintype() == "multipart":
        # No parts found (missing boundary): read as plain text, and say so.
        collector.problem(embedded or MESSAGE_SOURCE, REASON_BAD_STRUCTURE)
    kind = read_as(part, payload)
    if _is_body(part, filename):
        _body(part, kind, payload, damaged_base64, depth, embedded, collector)
        return
    name = filename or (_UNNAMED_MESSAGE if kind is Kind.MESSAGE else _UNNAMED)
    source = collector.new_source(f"attachment:{name}")
    if damaged_base64:
        collector.problem(source, REASON_BAD_BASE64)
    file = _File(source, name, ctype, part.get_content_charset(), payload, kind)
    _file(file, depth, 0, collector, damaged=damaged_base64)


@dataclass(frozen=True, slots=True)
class _File:
    """A file to read: an attachment, or one found inside another file."""

    source: str
    name: str
    content_type: str
    charset: str | None
    payload: bytes
    kind: Kind


def _file(file: _File, depth: int, nesting: int, collector: _Collector, *, damaged: bool) -> None:
    """Read one file the way the recipient's programs would open it.

    ``depth`` is the MIME depth of the part it came from; ``nesting`` how
    many containers it sits in (a zip in a zip is 2).
    """
    name, ctype, payload, kind = file.name, file.content_type, file.payload, file.kind
    if not collector.spend_bytes(len(payload)):
        collector.attachments.append(Attachment(name, ctype, len(payload), scanned=False))
        return
    if kind is Kind.MESSAGE:
        inner = _parse_embedded_bytes(payload, file.source, collector)
        if inner is not None:
            before = collector.decoded_bytes
            _walk_embedded(inner, depth, file.source, collector)
            size = len(payload) + collector.decoded_bytes - before
            collector.attachments.append(Attachment(name, ctype, size, scanned=True))
        return
    if kind is Kind.ARCHIVE or kind is Kind.TNEF:
        _container(file, depth, nesting + 1, collector)
        return
    extracted = extract(
        kind,
        payload,
        content_type=ctype,
        charset=file.charset,
        max_chars=max(collector.chars_left, 1),
        max_bytes=collector.bytes_left,
    )
    scanned = extracted.scanned and not damaged
    collector.attachments.append(Attachment(name, ctype, len(payload), scanned=scanned))
    collector.add_text(file.source, extracted.text, split_quotes=False)
    if extracted.problem:
        collector.problem(file.source, extracted.problem)
    if kind is Kind.TEXT and is_calendar(extracted.text):
        members, problems = calendar_files(decode_text(payload, file.charset).text)
        _members(file, members, problems, depth, nesting, collector)


def _container(file: _File, depth: int, nesting: int, collector: _Collector) -> None:
    """A zip file or winmail.dat: every file in it is read in turn."""
    limits = collector.limits
    if nesting > limits.max_archive_depth:
        collector.problem(file.source, REASON_NESTED_FILES)
        collector.attachments.append(
            Attachment(file.name, file.content_type, len(file.payload), scanned=False)
        )
        return
    members_left = limits.max_archive_members - collector.archive_members
    bytes_left = min(limits.max_archive_bytes - collector.archive_bytes, collector.bytes_left)
    if file.kind is Kind.ARCHIVE:
        opened = open_zip(
            file.payload,
            max_members=members_left,
            max_bytes=bytes_left,
            max_ratio=limits.max_compression_ratio,
        )
    else:
        opened = open_tnef(file.payload, max_members=members_left, max_bytes=bytes_left)
    collector.archive_members += len(opened.members)
    collector.archive_bytes += sum(len(m.data) for m in opened.members)
    collector.attachments.append(
        Attachment(
            file.name, file.content_type, len(file.payload), scanned=not opened.problems
        )
    )
    _members(file, list(opened.members), list(opened.problems), depth, nesting, collector)


def _members(
    file: _File,
    members: list[Member],
    problems: list[str],
    depth: int,
    nesting: int,
    collector: _Collector,
) -> None:
    """Read the files found inside ``file``, each as its own source."""
    for problem in problems:
        collector.problem(file.source, problem)
    for member in members:
        if collector.out_of_parts:
            return
        # What a body carries is an attachment to the reader; what a file
        # carries is named by the path to it.
        parent = file.source if file.source.startswith("attachment:") else "attachment:"
        source = collector.new_source(f"{parent.rstrip('/')}/{member.name}".replace(":/", ":"))
        name = source.removeprefix("attachment:")
        kind = classify(member.name, _MEMBER_TYPE, member.data[:SNIFF_BYTES])
        inner = _File(source, name, _MEMBER_TYPE, None, member.data, kind)
        _file(inner, depth, nesting, collector, damaged=False)


def _body(
    part: Message,
    kind: Kind,
    payload: bytes,
    damaged_base64: bool,
    depth: int,
    embedded: str | None,
    collector: _Collector,
) -> None:
    is_html = kind is Kind.HTML
    source = embedded or collector.new_source("html" if is_html else "body")
    if damaged_base64:
        collector.problem(source, REASON_BAD_BASE64)
    if not collector.spend_bytes(len(payload)):
        return
    decoded = decode_text(payload, part.get_content_charset())
    if decoded.garbled:
        collector.problem(source, REASON_GARBLED)
    if not is_html:
        collector.add_text(source, readable_text(decoded.text), split_quotes=True)
        # Mail programs show a uuencoded block in a plain body as an attachment.
        members, problems = uuencoded_files(decoded.text)
        if is_calendar(decoded.text):
            found, trouble = calendar_files(decoded.text)
            members, problems = members + found, problems + trouble
        if members or problems:
            holder = _File(source, source, "text/plain", None, b"", Kind.TEXT)
            _members(holder, members, problems, depth, 0, collector)
        return
    read = read_html(decoded.text)
    collector.add_text(source, read.text, split_quotes=True)
    # Attribute text and what is never shown are relayed too: read them as
    # their own sources (inside a forwarded message, as part of it).
    for extra, text in (("html-attributes", read.attributes), ("html-hidden", read.hidden)):
        if text.strip():
            where = f"{embedded} {extra}" if embedded else collector.new_source(extra)
            collector.add_text_later(where, text)


def _embedded_message(part: Message, depth: int, collector: _Collector) -> None:
    """A ``message/rfc822`` part, which the parser has already parsed."""
    name = file_name(part) or _UNNAMED_MESSAGE
    source = collector.new_source(f"attachment:{name}")
    inner = part.get_payload(0)
    before = collector.decoded_bytes
    if isinstance(inner, Message):
        _walk_embedded(inner, depth, source, collector)
    size = collector.decoded_bytes - before
    collector.attachments.append(Attachment(name, "message/rfc822", size, scanned=True))


def _parse_embedded_bytes(payload: bytes, source: str, collector: _Collector) -> Message | None:
    """An ``.eml`` sent as a generic file: parse its bytes ourselves."""
    try:
        return _parser().parsebytes(payload)
    except RecursionError:
        collector.problem(source, REASON_TOO_DEEP)
    except Exception as exc:
        log.warning("attached message could not be parsed (%s)", type(exc).__name__)
        collector.problem(source, REASON_UNREADABLE)
    return None


def _walk_embedded(inner: Message, depth: int, source: str, collector: _Collector) -> None:
    """Walk a forwarded message found in the container part at ``depth``."""
    if depth >= collector.limits.max_depth:
        collector.problem(source, REASON_TOO_DEEP)
        return
    subject = header_text(inner, "Subject")
    if subject.strip():
        collector.add_text(source, f"Subject: {subject}", split_quotes=False)
    collector.read_fields_later(inner, source)
    _walk(inner, depth + 1, source, collector, root=True)
