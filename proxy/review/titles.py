"""What a reviewer calls a message: its subject, or for a text its first
words, and whether a person sent it at all.

A queue of 32-character references cannot be worked through: supervisors
know mail by its subject. Texts have no subject, so the first words of the
text stand in for it. The pipeline keeps that title with every held or
deferred message (encrypted, found values masked, see
:func:`proxy.pipeline.notices.title_of`), so the queue, ``tactful held
list`` and the notices all name a message the same way, and a decided
message whose content is gone is still named.

Tactful's own notices to workers travel through the spool like any mail,
but nobody reviews them: :func:`sent_by_person` keeps them out of every
list a reviewer sees (web queue, recently decided, ``tactful held list``).
"""

from __future__ import annotations

from collections.abc import Iterable
from email import policy as email_policy
from email.parser import BytesHeaderParser

from proxy.core.consent import Channel
from proxy.lint.headers import header_text
from proxy.lint.subject_tags import parse_subject_tags
from proxy.pipeline.notices import title_of
from proxy.pipeline.scheduler import NOTICE_USER
from proxy.store.crypto import DecryptionError
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_view import SpooledMessage

NO_SUBJECT = "(no subject)"
NO_CONTENT = "(content no longer stored)"
UNREADABLE = "(cannot be decrypted with this key)"


def sent_by_person(message: SpooledMessage) -> bool:
    """False for Tactful's own notices, which are never review items."""
    return message.user != NOTICE_USER


def shown(title: str | None, channel: Channel) -> str:
    """A title as a list shows it: a text's first words marked as a text."""
    if channel is Channel.SMS:
        return f"Text: “{title}”" if title else "Text: (empty)"
    return title or NO_SUBJECT


def headline(raw: bytes | None, channel: Channel) -> str:
    """The title read from the content, for mail spooled before titles were
    kept with it (tags such as [urgent] removed from a subject)."""
    if raw is None:
        return NO_CONTENT
    headers = BytesHeaderParser(policy=email_policy.default).parsebytes(raw)
    subject, _ = parse_subject_tags(header_text(headers, "Subject"))
    return shown(title_of(subject=subject, raw=raw, channel=channel), channel)


def titles_in(spool: SpoolStore, messages: Iterable[SpooledMessage]) -> dict[str, str]:
    """Blocking: the title of each message: the one kept with it, else read
    from its content (mail spooled before titles were kept; a message whose
    content is gone or unreadable says so)."""
    titles = {}
    for message in messages:
        if message.summary.title:
            titles[message.id] = shown(message.summary.title, message.channel)
            continue
        try:
            raw = spool.raw(message.id) if message.has_content else None
        except DecryptionError:
            titles[message.id] = UNREADABLE
            continue
        titles[message.id] = headline(raw, message.channel)
    return titles
