"""The 42 CFR Part 2 notice, added to a message as it leaves.

§2.32 asks that every disclosure of a Part 2 patient's substance-use
records made with their consent carry the prohibition on re-disclosure
and a copy or clear explanation of the consent's scope. The policy decides
whether a message needs it (:attr:`proxy.core.verdict.Verdict.part2_notice`,
kept in the spool's summary for mail sent later); this module writes it
into the message the recipient reads, after any masking and before the
forwarder signs it, so the DKIM signature covers it.

Email gets the full notice (``part2.notice``) and one line per authorised
recipient saying what their consent covers, at the end of the first plain
text and the first HTML body part (both alternatives of a
``multipart/alternative`` message), never inside attachments or attached
messages. A message with no body part to carry it gets one in front of its
attachments; one that cannot (a single non-text part) raises
:class:`NoticeError` and must not be sent. Texts get the short form
(``part2.short_notice``) on a line of its own; a text that would then be
longer than ``sms.max_body_chars`` raises :class:`NoticeError` too.

Unchanged parts keep their bytes; a changed part keeps its transfer
encoding, switching a 7bit part to quoted-printable (and an ASCII charset
to UTF-8) only when the names or purpose added are not ASCII.
"""

from __future__ import annotations

import codecs
import html
import io
import re
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from email import policy
from email.base64mime import body_encode as base64_body_encode
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.quoprimime import body_encode as qp_body_encode

from proxy.core.config import Settings
from proxy.core.consent import SCOPE_IDENTIFIERS, Channel
from proxy.core.findings import Category
from proxy.core.verdict import ReleaseTerms
from proxy.lint.explain import CATEGORY_NOUNS

_POLICY = policy.SMTP.clone(refold_source="none")
_WIDTH = 76
_BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)
_ASCII = ("us-ascii", "ascii")


class NoticeError(ValueError):
    """The notice cannot be added; the message must not go out without it.
    The text names no client data."""


def scope_words(scope: Sequence[str]) -> str:
    """What a release covers, in the words of the accounting and the notice."""
    if not scope:
        return "information of any kind"
    known = {c.value: c for c in Category}
    words = [
        "identifying details" if item == SCOPE_IDENTIFIERS else CATEGORY_NOUNS[known[item]]
        for item in scope
        if item == SCOPE_IDENTIFIERS or item in known
    ]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return "information about " + listed


def scope_line(terms: ReleaseTerms) -> str:
    """One line explaining the consent a recipient is authorised under."""
    who = terms.recipient_name or terms.recipient
    purpose = terms.purpose or "not stated"
    return (
        f"Scope of the patient's consent: {who} may receive {scope_words(terms.scope)}; "
        f"purpose: {purpose}."
    )


def notice_lines(settings: Settings, terms: Sequence[ReleaseTerms]) -> list[str]:
    """The full notice, then a scope line for each Part 2 release involved."""
    lines = [" ".join(settings.part2.notice.split())]
    lines += list(dict.fromkeys(scope_line(t) for t in terms if t.part2))
    return lines


def _codec(part: Message) -> str:
    charset = part.get_content_charset() or "us-ascii"
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return "ascii"


def _body_parts(entity: Message) -> Iterator[Message]:
    """Text and HTML parts a reader sees as the message, in order; never
    attachments or what is inside attached messages."""
    if entity.get_content_maintype() == "message":
        return
    if entity.is_multipart():
        for sub in entity.get_payload():
            if isinstance(sub, Message):
                yield from _body_parts(sub)
        return
    if entity.get_content_type() not in ("text/plain", "text/html"):
        return
    if entity.get_content_disposition() == "attachment" or entity.get_filename():
        return
    yield entity


def _set_body(part: Message, data: bytes) -> None:
    """Replace the part's body, keeping its transfer encoding where it can
    carry the new bytes."""
    cte = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if cte in ("7bit", "") and not data.isascii():
        cte = "quoted-printable"
        if "Content-Transfer-Encoding" in part:
            part.replace_header("Content-Transfer-Encoding", cte)
        else:
            part["Content-Transfer-Encoding"] = cte
    if cte == "base64":
        payload = base64_body_encode(data)
    elif cte == "quoted-printable":
        payload = qp_body_encode(data.decode("latin-1"))
    else:
        payload = data.decode("ascii", errors="surrogateescape")
    part.set_payload(payload)


def _append(part: Message, addition: str, *, is_html: bool) -> None:
    decoded = part.get_payload(decode=True)
    data = decoded if isinstance(decoded, bytes) else b""
    codec = _codec(part)
    try:
        extra = addition.encode(codec)
    except UnicodeEncodeError:
        if is_html:
            extra = addition.encode(codec, errors="xmlcharrefreplace")
        else:
            # Names in other scripts: the part becomes UTF-8 (ASCII text
            # reads the same in it).
            text = data.decode(codec, errors="surrogateescape")
            data = text.encode("utf-8", errors="surrogateescape")
            extra = addition.encode("utf-8")
            part.set_param("charset", "utf-8")
    if not is_html:
        _set_body(part, data + extra)
        return
    ends = list(_BODY_END.finditer(data))
    at = ends[-1].start() if ends else len(data)
    _set_body(part, data[:at] + extra + data[at:])


def _plain(lines: Sequence[str]) -> str:
    # Words are never split (a hyphenated word stays whole), so the notice
    # reads, and can be found, exactly as written.
    paragraphs = [
        textwrap.fill(line, _WIDTH, break_long_words=False, break_on_hyphens=False)
        for line in lines
    ]
    return "\r\n\r\n" + "\r\n\r\n".join(paragraphs).replace("\n", "\r\n") + "\r\n"


def _html(lines: Sequence[str]) -> str:
    paragraphs = "\r\n".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return f'\r\n<hr>\r\n<div class="part2-notice">\r\n{paragraphs}\r\n</div>\r\n'


def _flatten(message: EmailMessage) -> bytes:
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_POLICY).flatten(message)
    return out.getvalue()


def add_email_notice(raw: bytes, lines: Sequence[str]) -> bytes:
    """``raw`` with the notice at the end of its plain and HTML bodies."""
    message = BytesParser(policy=_POLICY).parsebytes(raw)
    plain = html_part = None
    for part in _body_parts(message):
        if part.get_content_type() == "text/plain" and plain is None:
            plain = part
        elif part.get_content_type() == "text/html" and html_part is None:
            html_part = part
    if plain is None and html_part is None:
        if message.get_content_type() != "multipart/mixed":
            raise NoticeError("the message has no text part to carry the 42 CFR Part 2 notice")
        text = MIMEText(_plain(lines).lstrip("\r\n"), "plain", "utf-8")
        message.get_payload().insert(0, text)  # type: ignore[union-attr]
        return _flatten(message)
    if plain is not None:
        _append(plain, _plain(lines), is_html=False)
    if html_part is not None:
        _append(html_part, _html(lines), is_html=True)
    return _flatten(message)


def add_text_notice(raw: bytes, short_notice: str, max_chars: int) -> bytes:
    """A spooled or submitted text (see :mod:`proxy.sms.textmail`) with the
    short form on its own last line."""
    message = BytesParser(policy=_POLICY).parsebytes(raw)
    part = next(
        (p for p in _body_parts(message) if p.get_content_type() == "text/plain"), None
    )
    if part is None:
        raise NoticeError("the text has no words to add the 42 CFR Part 2 notice to")
    decoded = part.get_payload(decode=True)
    text = (decoded if isinstance(decoded, bytes) else b"").decode(_codec(part), "replace")
    words = text.replace("\r\n", "\n").rstrip("\n")
    if len(words) + 1 + len(short_notice) > max_chars:
        raise NoticeError("the text is too long to carry the 42 CFR Part 2 notice")
    addition = ("" if text.endswith("\n") else "\n") + short_notice + "\n"
    _append(part, addition, is_html=False)
    return _flatten(message)


def goes_as_text(channel: Channel, recipient_channels: Iterable[str]) -> bool:
    """Whether the message is a text (sent through the SMS API, or mailed
    only to text-message recipients): it gets the short form of the notice."""
    channels = list(recipient_channels)
    return channel is Channel.SMS or (bool(channels) and all(c == Channel.SMS for c in channels))


def with_notice(
    raw: bytes,
    settings: Settings,
    terms: Sequence[ReleaseTerms],
    *,
    text_message: bool,
) -> bytes:
    """The message as it must leave: the short form for a text, the full
    notice and scope lines for email. Raises :class:`NoticeError`."""
    if text_message:
        return add_text_notice(raw, settings.part2.short_notice, settings.sms.max_body_chars)
    return add_email_notice(raw, notice_lines(settings, terms))
