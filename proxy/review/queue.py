"""The review queue as rows a template can show, and its filters.

Recipients are shown with their kind (client, authorized contact,
internal, external) and channel, looked up in the consent registry the way
the linter does, so the reviewer sees at a glance who would receive what.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from proxy.accounts.users import UserDirectory
from proxy.core.config import Settings
from proxy.core.consent import Registry
from proxy.core.verdict import Recipient, RecipientKind
from proxy.lint.recipients import gateway_phone, is_gateway_address, kind_from_rows, matching_rows
from proxy.review.routing import Assignment, assign
from proxy.store.spool_model import SpoolState
from proxy.store.spool_view import SpooledMessage

KIND_WORDS = {
    RecipientKind.CLIENT: "client",
    RecipientKind.AUTHORIZED: "authorized contact",
    RecipientKind.INTERNAL: "internal",
    RecipientKind.EXTERNAL: "external",
}

STATE_WORDS = {
    SpoolState.HELD: "held",
    SpoolState.RELEASED: "released",
    SpoolState.RETURNED: "returned to the sender",
    SpoolState.DELETED: "deleted",
    SpoolState.CANCELLED: "cancelled by the sender",
    SpoolState.EXPIRED: "expired (nobody decided in time)",
    SpoolState.SENT: "released and sent",
    SpoolState.DEFERRED: "scheduled",
}


@dataclass(frozen=True, slots=True)
class RecipientView:
    address: str
    kind: str
    channel: str


@dataclass(frozen=True, slots=True)
class QueueRow:
    message: SpooledMessage
    age: str
    recipients: tuple[RecipientView, ...]
    codes: tuple[str, ...]
    reasons: tuple[str, ...]
    assignment: Assignment
    state: str
    # The subject (or a text's first words): what supervisors call it.
    title: str = ""

    def waits_for(self, me: str) -> str:
        """Who is to decide, in words, naming the reader "you"."""
        names = ["you" if name == me else name for name in self.assignment.reviewers]
        if not names:
            return "nobody yet (no reviewer account)"
        if not self.assignment.by_mapping:
            return "any reviewer"
        return ", ".join(names)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    text: str = ""
    rule: str = ""
    mine: bool = False

    def matches(self, row: QueueRow, me: str) -> bool:
        if self.mine and not row.assignment.includes(me):
            return False
        if self.rule and self.rule not in row.codes:
            return False
        needle = self.text.strip().lower()
        if not needle:
            return True
        haystack = [row.title, row.message.id, row.message.sender, row.message.user, *row.codes]
        haystack += list(row.reasons)
        haystack += [r.address for r in row.recipients]
        return any(needle in value.lower() for value in haystack)


def age_words(since: datetime, now: datetime) -> str:
    minutes = max(int((now - since).total_seconds() // 60), 0)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} days"


def recipient_views(
    message: SpooledMessage, settings: Settings, registry: Registry
) -> tuple[RecipientView, ...]:
    """How the policy saw each recipient when the message was held (stored
    with it); only rows stored without that are classified again now."""
    stored = {r.address.lower(): r for r in message.summary.recipients}
    views = []
    for envelope_address in message.recipients:
        address = envelope_address.removeprefix("sms:")  # texts from the SMS API
        known = stored.get(address.lower())
        if known is not None:
            kind = KIND_WORDS.get(RecipientKind(known.kind), known.kind)
            channel = "text message" if known.channel == "sms" else "email"
            views.append(RecipientView(address, kind, channel))
        elif envelope_address.startswith("sms:"):
            views.append(RecipientView(address, KIND_WORDS[RecipientKind.EXTERNAL], "text message"))
        else:
            views.append(describe_recipient(address, settings, registry))
    return tuple(views)


def describe_recipient(address: str, settings: Settings, registry: Registry) -> RecipientView:
    sms = is_gateway_address(address, settings)
    channel = "sms" if sms else "email"
    probe = Recipient(
        address=address,
        kind=RecipientKind.EXTERNAL,
        channel=channel,
        phone=gateway_phone(address, settings) if sms else None,
    )
    kind = kind_from_rows(matching_rows(probe, registry), address, settings)
    return RecipientView(address, KIND_WORDS[kind], "text message" if sms else "email")


def reasons_in_words(message: SpooledMessage) -> tuple[str, ...]:
    """Why it was held, as the rules explained it to the sender; every
    active hit when no hold or reject hit is recorded (never a bare code)."""
    hits = [h for h in message.summary.hits if not h.overridden]
    deciding = [h.message for h in hits if h.action in ("hold", "reject")]
    return tuple(dict.fromkeys(deciding or [h.message for h in hits]))


def mine_first(rows: Sequence[QueueRow], me: str) -> list[QueueRow]:
    """The rows routed to ``me`` first, each group in its given order."""
    return sorted(rows, key=lambda row: not row.assignment.includes(me))


def queue_rows(
    messages: Sequence[SpooledMessage],
    *,
    settings: Settings,
    registry: Registry,
    directory: UserDirectory,
    now: datetime,
    titles: Mapping[str, str] | None = None,
) -> list[QueueRow]:
    rows = []
    for message in messages:
        rows.append(
            QueueRow(
                message=message,
                age=age_words(message.received_at, now),
                recipients=recipient_views(message, settings, registry),
                codes=message.summary.rule_codes,
                reasons=reasons_in_words(message),
                assignment=assign(
                    message.sender, message.user, settings.review.supervisors, directory
                ),
                state=STATE_WORDS.get(message.state, message.state.value),
                title=(titles or {}).get(message.id, ""),
            )
        )
    return rows
