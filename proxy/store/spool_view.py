"""What callers see of a spooled message: a read-only view, without content.

Every part of the spool (storing, sending, deciding) hands back rows as
:class:`SpooledMessage`, so reviewers, the scheduler and the disclosure log
never hold a live ORM row or the encrypted content.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from proxy.core.consent import Channel
from proxy.store.crypto import DecryptionError, MessageCipher
from proxy.store.db import aware
from proxy.store.spool_model import SpoolKind, SpoolRow, SpoolState, aware_or_none
from proxy.store.spool_summary import VerdictSummary

# Key added to the stored summary JSON when a reviewer released the message
# with details masked (see :meth:`proxy.store.spool_decisions.SpoolDecisions.release`):
# the released notice says so, and no schema change is needed for one flag.
REDACTED_ON_RELEASE = "redacted_on_release"

# The message's title (its subject, or a text's first words) is the sender's
# own words and can name a client, so it is stored encrypted like the
# content, under its own associated data so it cannot stand in for it. It
# outlives the content: notices about expired, returned or cancelled mail
# still name the message.
SEALED_TITLE = "title_sealed"


def _title_aad(message_id: str) -> str:
    return f"{message_id}#title"


def sealed_summary(
    summary: VerdictSummary, message_id: str, cipher: MessageCipher
) -> dict[str, Any]:
    """The summary as stored: everything but the title in the clear (rule
    codes, entity kinds, recipients' kinds), the title encrypted."""
    data = summary.to_json()
    title = data.pop("title", None)
    if title:
        blob = cipher.encrypt(_title_aad(message_id), str(title).encode("utf-8"))
        data[SEALED_TITLE] = base64.b64encode(blob).decode("ascii")
    return data


def opened_summary(
    stored: Mapping[str, Any], message_id: str, cipher: MessageCipher
) -> VerdictSummary:
    data = dict(stored)
    sealed = data.pop(SEALED_TITLE, None)
    data.pop("title", None)  # never trusted from the clear part
    if sealed:
        try:
            blob = base64.b64decode(sealed)
            data["title"] = cipher.decrypt(_title_aad(message_id), blob).decode("utf-8")
        except (DecryptionError, ValueError):
            data["title"] = None  # a notice then names the message by its reference
    return VerdictSummary.from_json(data)


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    """A read-only view of one row, without its content."""

    id: str
    state: SpoolState
    kind: SpoolKind
    channel: Channel
    sender: str = field(repr=False)
    recipients: tuple[str, ...] = field(repr=False)
    user: str = field(repr=False)
    received_at: datetime
    release_after: datetime | None
    summary: VerdictSummary = field(repr=False)
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None = field(repr=False)
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    expires_at: datetime
    updated_at: datetime
    version: int
    has_content: bool
    content_size: int
    # A reviewer released it with some details masked (release replacement).
    redacted_on_release: bool = False


def view(row: SpoolRow, cipher: MessageCipher) -> SpooledMessage:
    return SpooledMessage(
        id=row.id,
        state=SpoolState(row.state),
        kind=SpoolKind(row.kind),
        channel=Channel(row.channel),
        sender=row.sender,
        recipients=tuple(row.recipients),
        user=row.user,
        received_at=aware(row.received_at),
        release_after=aware_or_none(row.release_after),
        summary=opened_summary(row.summary, row.id, cipher),
        decided_by=row.decided_by,
        decided_at=aware_or_none(row.decided_at),
        decision_reason=row.decision_reason,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=aware_or_none(row.next_attempt_at),
        expires_at=aware(row.expires_at),
        updated_at=aware(row.updated_at),
        version=row.version,
        has_content=row.content is not None,
        content_size=row.content_size,
        redacted_on_release=bool(row.summary.get(REDACTED_ON_RELEASE, False)),
    )
