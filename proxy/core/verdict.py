"""Actions, rule hits and verdicts: what the policy hands to the actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from proxy.core.findings import Finding


class Action(StrEnum):
    """Ordered from mildest to most severe; the most severe wins."""

    PASS = "pass"
    WARN = "warn"
    REDACT = "redact"
    DEFER = "defer"
    HOLD = "hold"
    REJECT = "reject"

    @property
    def severity(self) -> int:
        return _ORDER[self]

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Action):
            return NotImplemented
        return _ORDER[self] < _ORDER[other]

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Action):
            return NotImplemented
        return _ORDER[self] <= _ORDER[other]

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Action):
            return NotImplemented
        return _ORDER[self] > _ORDER[other]

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Action):
            return NotImplemented
        return _ORDER[self] >= _ORDER[other]


_ORDER = {a: i for i, a in enumerate(Action)}


def most_severe(actions: list[Action] | tuple[Action, ...]) -> Action:
    return max(actions, default=Action.PASS)


class RecipientKind(StrEnum):
    INTERNAL = "internal"
    CLIENT = "client"
    AUTHORIZED = "authorized"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class Recipient:
    """A classified recipient.

    ``client_ids`` are the clients this recipient *is* (relationship self) or
    is authorised for; mentioning anyone else to them is a disclosure.
    ``phone`` is E.164 for sms recipients.
    """

    address: str
    kind: RecipientKind
    channel: str  # "email" | "sms"
    client_ids: frozenset[str] = frozenset()
    phone: str | None = None
    visible: bool = True  # in To/Cc rather than Bcc


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule firing for one recipient (or the whole message).

    ``message`` is plain words for the worker: what is wrong and how to fix
    it. It never contains the matched value.
    """

    rule: str
    action: Action
    message: str
    recipient: str | None = None
    finding: Finding | None = None
    overridable: bool = True
    overridden: bool = False


@dataclass(frozen=True, slots=True)
class RecipientVerdict:
    recipient: Recipient
    verdict: Action
    hits: tuple[RuleHit, ...]


@dataclass(frozen=True, slots=True)
class ReleaseTerms:
    """The terms of the release of information a recipient is authorised
    under, as the registry said when the message was judged: the scope line
    of the 42 CFR Part 2 notice and the purpose in the accounting of
    disclosures come from here. ``part2``: this recipient gets the notice."""

    recipient: str = field(repr=False)
    client_id: str
    recipient_name: str = field(default="", repr=False)
    scope: tuple[str, ...] = ()
    purpose: str = field(default="", repr=False)
    part2: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one message.

    ``verdict`` is what the policy decided; ``enforced`` is what Tactful will
    actually do (equal in enforce mode, at most ``warn`` in monitor mode).
    """

    verdict: Action
    enforced: Action
    mode: str
    recipients: tuple[RecipientVerdict, ...]
    hits: tuple[RuleHit, ...]
    findings: tuple[Finding, ...]
    defer_until: datetime | None = None
    urgent: bool = False
    override_reason: str | None = None
    # Recipients' release terms, and whether the message needs the 42 CFR
    # Part 2 notice (substance-use information about a Part 2 client going
    # to someone the client authorised or someone outside the agency).
    terms: tuple[ReleaseTerms, ...] = ()
    part2_notice: bool = False

    def masked_values(self) -> list[str]:
        """The matched values that are masked before sending, each once: none
        when the enforced action is below redact (monitor mode sends the
        message as written). The email and SMS paths mask these; the
        disclosure log counts them as withheld."""
        if self.enforced < Action.REDACT:
            return []
        return sorted(
            {
                h.finding.text
                for h in self.hits
                if h.action is Action.REDACT and not h.overridden
                and h.finding is not None and h.finding.text
            }
        )  # fmt: skip

    def reasons(self, action: Action) -> list[str]:
        """The plain-words reasons for ``action``, each once, in rule order,
        whitespace folded onto one line."""
        seen: dict[str, None] = {}
        for hit in self.hits:
            if hit.action is action and not hit.overridden:
                seen.setdefault(" ".join(hit.message.split()), None)
        return list(seen)
