"""What the spool keeps about a verdict and about a failed delivery.

A held or deferred message is stored with a summary of why: rule codes,
entity types, locations, client ids and how the policy saw each recipient
-- never a matched value, and never the worker's free-text override reason.
Likewise ``last_error`` holds the upstream's reply codes and a fixed phrase,
never the upstream's own text, which can quote the message or its
recipients.

These shapes live apart from the store because the pipeline, the sender's
notices, the disclosure log and the SMS path build and read them without
touching the spool's table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from proxy.core.verdict import ReleaseTerms, Verdict

# Fixed phrases for ``last_error``: the upstream's own text can quote the
# message or its recipients, so it is never stored.
_TEMPORARY_PHRASE = "the agency mail server could not take it yet; it will be retried"
_PERMANENT_PHRASE = "the agency mail server refused it"
_PARTIAL_PHRASE = "the agency mail server refused some recipients"


@dataclass(frozen=True, slots=True)
class FindingSummary:
    """Where a finding was and what kind it was; never the matched text."""

    entity: str
    location: str
    category: str | None = None
    client_id: str | None = None
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class HitSummary:
    """A rule hit; ``message`` is the policy's plain-words text, which never
    contains the matched value."""

    rule: str
    action: str
    message: str
    recipient: str | None = None
    overridden: bool = False


@dataclass(frozen=True, slots=True)
class RecipientSummary:
    """How the policy saw one recipient: reviewers see it in the queue, and
    the disclosure log needs it when deferred or released mail goes out."""

    address: str
    kind: str  # internal | client | authorized | external
    channel: str  # email | sms
    client_ids: tuple[str, ...] = ()
    verdict: str = "pass"


@dataclass(frozen=True, slots=True)
class VerdictSummary:
    verdict: str
    enforced: str
    mode: str
    urgent: bool = False
    override: bool = False
    hits: tuple[HitSummary, ...] = ()
    findings: tuple[FindingSummary, ...] = ()
    recipients: tuple[RecipientSummary, ...] = ()
    # How the sender knows the message (subject, or a text's first words),
    # every detected value masked: notices after the content is purged
    # (expired, cancelled, returned) still name it.
    title: str | None = None
    # The release terms of authorised recipients, and whether the 42 CFR
    # Part 2 notice goes with the message when it is sent from the spool.
    terms: tuple[ReleaseTerms, ...] = ()
    part2_notice: bool = False

    @property
    def rule_codes(self) -> tuple[str, ...]:
        return tuple(sorted({hit.rule for hit in self.hits}))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VerdictSummary:
        return cls(
            verdict=str(data["verdict"]),
            enforced=str(data["enforced"]),
            mode=str(data["mode"]),
            urgent=bool(data.get("urgent", False)),
            override=bool(data.get("override", False)),
            hits=tuple(HitSummary(**hit) for hit in data.get("hits", ())),
            findings=tuple(FindingSummary(**f) for f in data.get("findings", ())),
            recipients=tuple(
                RecipientSummary(**{**r, "client_ids": tuple(r.get("client_ids", ()))})
                for r in data.get("recipients", ())
            ),
            title=str(data["title"]) if data.get("title") else None,
            terms=tuple(
                ReleaseTerms(**{**t, "scope": tuple(t.get("scope", ()))})
                for t in data.get("terms", ())
            ),
            part2_notice=bool(data.get("part2_notice", False)),
        )


def summarize(verdict: Verdict) -> VerdictSummary:
    """The parts of a verdict worth keeping with a held message.

    The worker's override reason is free text and may name the client, so
    only the fact of an override is kept.
    """
    findings = dict.fromkeys(
        FindingSummary(
            entity=f.entity.value,
            location=f.location,
            category=f.category.value if f.category is not None else None,
            client_id=f.client_id,
            quoted=f.quoted,
        )
        for f in verdict.findings
    )
    hits = dict.fromkeys(
        HitSummary(
            rule=h.rule,
            action=h.action.value,
            message=h.message,
            recipient=h.recipient,
            overridden=h.overridden,
        )
        for h in verdict.hits
    )
    return VerdictSummary(
        verdict=verdict.verdict.value,
        enforced=verdict.enforced.value,
        mode=verdict.mode,
        urgent=verdict.urgent,
        override=verdict.override_reason is not None,
        hits=tuple(hits),
        findings=tuple(findings),
        recipients=tuple(
            RecipientSummary(
                address=rv.recipient.address,
                kind=rv.recipient.kind.value,
                channel=rv.recipient.channel,
                client_ids=tuple(sorted(rv.recipient.client_ids)),
                verdict=rv.verdict.value,
            )
            for rv in verdict.recipients
        ),
        terms=verdict.terms,
        part2_notice=verdict.part2_notice,
    )


def error_summary(code: int, enhanced: str, *, permanent: bool) -> str:
    """``last_error`` text: the upstream's codes and a fixed phrase."""
    phrase = _PERMANENT_PHRASE if permanent else _TEMPORARY_PHRASE
    return f"{code} {enhanced}: {phrase}".strip()[:200]


def partial_summary(refused: Iterable[int]) -> str:
    codes = ",".join(str(c) for c in sorted(set(refused)))
    return f"{codes}: {_PARTIAL_PHRASE}"[:200]
