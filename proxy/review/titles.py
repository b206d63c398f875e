"""What a reviewer calls a message: its subject, or for a text its first
words, and whether a person sent it at all.

A queue of 32-character references cannot be worked through: supervisors
know mail by its subject. Texts have no subject (the spool gives every one
the same placeholder), so the first words of the text stand in for it.
Only the headers are parsed for an email, so listing a hundred held
messages with large attachments stays cheap.

Tactful's own notices to workers travel through the spool like any mail,
but nobody reviews them: :func:`sent_by_person` keeps them out of every
list a reviewer sees (web queue, recently decided, ``tactful held list``).
"""

from __future__ import annotations

from collections.abc import Iterable
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser

from proxy.core.consent import Channel
from proxy.lint.headers import header_text
from proxy.lint.subject_tags import parse_subject_tags
from proxy.pipeline.scheduler import NOTICE_USER
from proxy.store.crypto import DecryptionError
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_view import SpooledMessage

# Long enough to tell five texts apart, short enough for a table cell.
TEXT_WORDS = 12
MAX_TITLE = 120
NO_SUBJECT = "(no subject)"
NO_CONTENT = "(content no longer stored)"
UNREADABLE = "(cannot be decrypted with this key)"


def sent_by_person(message: SpooledMessage) -> bool:
    """False for Tactful's own notices, which are never review items."""
    return message.user != NOTICE_USER


def _shorten(text: str, limit: int = MAX_TITLE) -> str:
    words = " ".join(text.split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def _text_body(raw: bytes) -> str:
    parsed: Message = message_from_bytes(raw, policy=email_policy.default)
    if not isinstance(parsed, EmailMessage):
        return ""
    part = parsed.get_body(("plain",)) if parsed.is_multipart() else parsed
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        return ""
    return content if isinstance(content, str) else ""


def text_opening(text: str) -> str:
    """The first words of a text, as a title."""
    words = text.split()
    opening = " ".join(words[:TEXT_WORDS])
    if len(words) > TEXT_WORDS:
        opening += " …"
    return _shorten(opening)


def headline(raw: bytes | None, channel: Channel) -> str:
    """The subject of an email (tags such as [urgent] removed), or the
    first words of a text, in quotes."""
    if raw is None:
        return NO_CONTENT
    if channel is Channel.SMS:
        opening = text_opening(_text_body(raw))
        return f"Text: “{opening}”" if opening else "Text: (empty)"
    headers = BytesHeaderParser(policy=email_policy.default).parsebytes(raw)
    subject, _ = parse_subject_tags(header_text(headers, "Subject"))
    subject = _shorten(subject)
    return subject or NO_SUBJECT


def titles_in(spool: SpoolStore, messages: Iterable[SpooledMessage]) -> dict[str, str]:
    """Blocking: the title of each message, read from the spool (decrypted;
    a message whose content is gone or unreadable says so)."""
    titles = {}
    for message in messages:
        try:
            raw = spool.raw(message.id) if message.has_content else None
        except DecryptionError:
            titles[message.id] = UNREADABLE
            continue
        titles[message.id] = headline(raw, message.channel)
    return titles
