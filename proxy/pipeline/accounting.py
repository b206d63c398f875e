"""The accounting of disclosures a client may ask for, in plain words.

HIPAA (45 CFR 164.528) and 42 CFR Part 2 (§2.25) give a client the right
to a list of disclosures of their information: for each, the date, the
recipient's name and address if known, a brief description of what was
disclosed and a brief statement of its purpose. The disclosure log
(:mod:`proxy.store.disclosures`) records each delivered message; this
module turns its entries into those lines, once, for ``tactful
disclosures`` and the review app's printable page alike.

This is the client's own record, so names and addresses belong in it; it
is shown only to admins and auditors and never logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from proxy.core.findings import Category, Entity
from proxy.lint.explain import CATEGORY_NOUNS, ENTITY_NOUNS
from proxy.store.disclosures import Disclosure

NOT_STATED = "not stated"
KIND_WORDS = {
    "client": "the client",
    "authorized": "authorised representative",
    "external": "outside the agency",
}
FIELDS: tuple[str, ...] = (
    "date",
    "recipient_name",
    "recipient_address",
    "recipient_kind",
    "channel",
    "description",
    "purpose",
    "reviewed",
    "released_by",
    "part2_notice",
    "message_id",
)


@dataclass(frozen=True, slots=True)
class AccountingEntry:
    """One line of a client's accounting of disclosures."""

    at: datetime  # agency-local
    recipient_name: str  # from the consent row, or "" when none names them
    recipient_address: str
    recipient_kind: str  # in words
    channel: str  # "email" or "text message"
    description: str
    purpose: str
    released_by: str | None  # the reviewer; None: sent without review
    part2_notice: bool
    message_id: str

    @property
    def date(self) -> str:
        return self.at.strftime("%Y-%m-%d %H:%M %Z").strip()

    @property
    def reviewed(self) -> str:
        return f"yes, released by {self.released_by}" if self.released_by else "no"

    def as_dict(self) -> dict[str, str | bool | None]:
        return {
            "date": self.at.isoformat(),
            "recipient_name": self.recipient_name,
            "recipient_address": self.recipient_address,
            "recipient_kind": self.recipient_kind,
            "channel": self.channel,
            "description": self.description,
            "purpose": self.purpose,
            "reviewed": self.released_by is not None,
            "released_by": self.released_by,
            "part2_notice": self.part2_notice,
            "message_id": self.message_id,
        }

    def as_row(self) -> list[str]:
        """The CSV cells, in :data:`FIELDS` order, as words a person reads."""
        return [
            self.at.isoformat(timespec="minutes"),
            self.recipient_name,
            self.recipient_address,
            self.recipient_kind,
            self.channel,
            self.description,
            self.purpose,
            "yes" if self.released_by else "no",
            self.released_by or "",
            "yes" if self.part2_notice else "no",
            self.message_id,
        ]


def _entity_words(value: str) -> str:
    return ENTITY_NOUNS[Entity(value)] if value in Entity.__members__ else value


def _category_words(value: str) -> str:
    known = {c.value: c for c in Category}
    return CATEGORY_NOUNS[known[value]] if value in known else value


def describe(disclosure: Disclosure, client_id: str) -> str:
    """What went out, by kind: categories and kinds of identifiers, never values."""
    parts = [_entity_words(e) for e in disclosure.entity_types]
    parts += [_category_words(c) for c in disclosure.categories]
    others = [c for c in disclosure.client_ids if c != client_id]
    if others:
        parts.append(f"also about {', '.join(others)}")
    return "; ".join(parts) or "a message to or about the client"


def accounting(
    disclosures: Sequence[Disclosure], client_id: str, tz: tzinfo
) -> list[AccountingEntry]:
    """The client's accounting, oldest first, times in the agency's zone."""
    return [
        AccountingEntry(
            at=d.at.astimezone(tz),
            recipient_name=d.recipient_name or "",
            recipient_address=d.recipient,
            recipient_kind=KIND_WORDS.get(d.recipient_kind, d.recipient_kind),
            channel="text message" if d.channel == "sms" else "email",
            description=describe(d, client_id),
            purpose=d.purpose or NOT_STATED,
            released_by=d.released_by,
            part2_notice=d.part2_notice,
            message_id=d.message_id,
        )
        for d in disclosures
    ]
