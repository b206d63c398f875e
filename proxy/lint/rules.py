"""The policy's rules: small pure predicates, one reason each.

A rule only says *that* something is the case (this recipient revoked
consent, this finding is a date of birth); it never says what to do about it.
The YAML policy maps each rule name to an action per recipient kind, so an
agency can retune severity without touching code, and the policy collects
every reason rather than stopping at the first (Mailman's design).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from proxy.core.config import Settings
from proxy.core.consent import (
    SCOPE_IDENTIFIERS,
    Channel,
    ConsentRecord,
    ConsentStatus,
    Registry,
    Relationship,
)
from proxy.core.findings import (
    FINANCIAL_ENTITIES,
    PERSONAL_IDENTIFIER_ENTITIES,
    Category,
    Entity,
    Finding,
)
from proxy.core.message import ParsedMessage
from proxy.core.verdict import Recipient, RecipientKind
from proxy.lint.hours import local_time, next_working_start, quiet_hours_end
from proxy.lint.recipients import matching_rows
from proxy.lint.segments import count_segments

CONSENT_REVOKED = "consent-revoked"
CONSENT_EXPIRED = "consent-expired"
CHANNEL_PREFERENCE = "channel-preference"
FINANCIAL_IDENTIFIER = "financial-identifier"
PERSONAL_IDENTIFIER = "personal-identifier"
SENSITIVE_CONDITION = "sensitive-condition"
SENSITIVE_TOPIC = "sensitive-topic"
OTHER_CLIENT = "other-client"
EXPOSED_CLIENTS = "exposed-clients"
AFTER_HOURS = "after-hours"
QUIET_HOURS = "quiet-hours"
SMS_LENGTH = "sms-length"
UNSCANNABLE = "unscannable"
CONSENT_SCOPE = "consent-scope"
PART2_NOTICE = "part2-notice"

RULE_NAMES: tuple[str, ...] = (
    CONSENT_REVOKED,
    CONSENT_EXPIRED,
    CHANNEL_PREFERENCE,
    FINANCIAL_IDENTIFIER,
    PERSONAL_IDENTIFIER,
    SENSITIVE_CONDITION,
    SENSITIVE_TOPIC,
    OTHER_CLIENT,
    EXPOSED_CLIENTS,
    AFTER_HOURS,
    UNSCANNABLE,
    QUIET_HOURS,
    SMS_LENGTH,
    CONSENT_SCOPE,
    PART2_NOTICE,
)


@dataclass(frozen=True, slots=True)
class RuleInput:
    """Everything a rule may look at; the same for every recipient."""

    message: ParsedMessage
    findings: tuple[Finding, ...]
    registry: Registry
    settings: Settings
    now: datetime

    @property
    def today(self) -> date:
        """Consent expires by the agency's calendar, not the server's."""
        return local_time(self.now, self.settings.agency.tz).date()


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One reason a rule fired. The optional fields carry what the plain-words
    explanation needs; none of them is client data (client ids are internal
    ids, not names)."""

    rule: str
    finding: Finding | None = None
    client_ids: tuple[str, ...] = ()
    channel: str | None = None  # channel-preference: the channel the client prefers
    until: datetime | None = None  # after-hours: when the next working window opens
    expired_on: date | None = None  # consent-expired: the earliest lapsed expiry
    recipients: tuple[str, ...] = ()  # exposed-clients: the addresses involved
    outsiders: tuple[str, ...] = ()  # exposed-clients: outside recipients who can see them
    segments: int | None = None  # sms-length: how many segments the text takes
    # consent-scope: what the release does not cover (category names or
    # "identifiers"), and the authorised party's name from the registry.
    outside: tuple[str, ...] = ()
    covered: tuple[str, ...] = ()
    party: str | None = None
    over_by: int | None = None  # part2-notice: characters too many for the notice


RecipientRule = Callable[[RuleInput, Recipient], tuple[RuleMatch, ...]]
MessageRule = Callable[[RuleInput, Sequence[Recipient]], tuple[RuleMatch, ...]]


def consent_revoked(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    """Any revoked row for this address and channel: a withdrawn consent for
    one client is not cancelled out by a granted one for another."""
    ids = sorted(
        {
            r.client_id
            for r in matching_rows(recipient, inp.registry)
            if r.status is ConsentStatus.REVOKED
        }
    )
    return (RuleMatch(CONSENT_REVOKED, client_ids=tuple(ids)),) if ids else ()


def consent_expired(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    lapsed = [
        r
        for r in matching_rows(recipient, inp.registry)
        if r.status is ConsentStatus.GRANTED and r.expired(inp.today)
    ]
    if not lapsed:
        return ()
    expiries = [r.expires_on for r in lapsed if r.expires_on is not None]
    return (
        RuleMatch(
            CONSENT_EXPIRED,
            client_ids=tuple(sorted({r.client_id for r in lapsed})),
            expired_on=min(expiries, default=None),
        ),
    )


def channel_preference(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    """Only the client's own preference counts: it is about how *they* want to
    be reached, so it applies when writing to the client themselves."""
    own_ids = {
        r.client_id
        for r in matching_rows(recipient, inp.registry)
        if r.relationship is Relationship.SELF
    }
    matches: list[RuleMatch] = []
    for client_id in sorted(own_ids):
        preferred = {
            r.channel.value
            for r in inp.registry.rows_for_client(client_id)
            if r.relationship is Relationship.SELF and r.preferred
        }
        if preferred and recipient.channel not in preferred:
            # Several preferred channels is a registry oddity; name one stably.
            chosen = Channel.SMS.value if Channel.SMS.value in preferred else min(preferred)
            matches.append(RuleMatch(CHANNEL_PREFERENCE, client_ids=(client_id,), channel=chosen))
    return tuple(matches)


def _per_finding(
    rule: str, findings: Sequence[Finding], keep: Callable[[Finding], bool]
) -> tuple[RuleMatch, ...]:
    return tuple(RuleMatch(rule, finding=f) for f in findings if keep(f))


def financial_identifier(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    return _per_finding(
        FINANCIAL_IDENTIFIER, inp.findings, lambda f: f.entity in FINANCIAL_ENTITIES
    )


def personal_identifier(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    return _per_finding(
        PERSONAL_IDENTIFIER,
        inp.findings,
        lambda f: f.entity in PERSONAL_IDENTIFIER_ENTITIES and f.public is None,
    )


def sensitive_condition(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    """A condition the detector could not place (``about_person`` unknown) is
    treated as being about a person: the safer reading."""
    return _per_finding(
        SENSITIVE_CONDITION,
        inp.findings,
        lambda f: f.entity is Entity.SENSITIVE_CONDITION and f.about_person is not False,
    )


def sensitive_topic(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    return _per_finding(
        SENSITIVE_TOPIC,
        inp.findings,
        lambda f: f.entity is Entity.SENSITIVE_CONDITION and f.about_person is False,
    )


def other_client(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    """A client mention with no client id cannot be shown to be this
    recipient's own, so it counts as someone else's."""
    return _per_finding(
        OTHER_CLIENT,
        inp.findings,
        lambda f: f.entity is Entity.CLIENT and f.client_id not in recipient.client_ids,
    )


def unscannable(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    return _per_finding(UNSCANNABLE, inp.findings, lambda f: f.entity is Entity.UNSCANNABLE)


def after_hours(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    until = next_working_start(inp.now, inp.settings.agency)
    return (RuleMatch(AFTER_HOURS, until=until),) if until is not None else ()


def quiet_hours(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    """Texts only: a phone buzzes on the nightstand, an email waits."""
    if recipient.channel != Channel.SMS:
        return ()
    until = quiet_hours_end(inp.now, inp.settings.sms, inp.settings.agency.tz)
    return (RuleMatch(QUIET_HOURS, until=until),) if until is not None else ()


def sms_length(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    """Texts only: a long text arrives in pieces, and costs one message each."""
    if recipient.channel != Channel.SMS:
        return ()
    count = count_segments(text_body(inp).rstrip("\r\n"))
    if count.segments <= inp.settings.sms.max_segments:
        return ()
    return (RuleMatch(SMS_LENGTH, segments=count.segments),)


def granted_releases(inp: RuleInput, recipient: Recipient) -> list[ConsentRecord]:
    """The granted releases of information this recipient is authorised under."""
    if recipient.kind is not RecipientKind.AUTHORIZED:
        return []
    rows = [
        r
        for r in matching_rows(recipient, inp.registry)
        if r.relationship is Relationship.AUTHORIZED and r.status is ConsentStatus.GRANTED
    ]
    return sorted(rows, key=lambda r: r.client_id)


# A condition without a category cannot be shown to be inside any scope.
UNCATEGORISED = "uncategorised"


def scope_item(finding: Finding) -> str | None:
    """What a release must cover for this finding to go out: its category,
    ``identifiers`` for identifying details, or None (nothing to cover)."""
    if finding.entity is Entity.SENSITIVE_CONDITION and finding.about_person is not False:
        return finding.category.value if finding.category is not None else UNCATEGORISED
    entities = PERSONAL_IDENTIFIER_ENTITIES | FINANCIAL_ENTITIES
    if finding.entity in entities and finding.public is None:
        return SCOPE_IDENTIFIERS
    return None


def consent_scope(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    """A release covers what it names. A finding attributed to another
    client is not this release's business (other-client is); one nobody
    could attribute is read as being about the client who authorised this
    recipient, the safer reading. One match per finding outside the scope,
    each naming everything outside it, so the worker reads one reason and
    a reviewer sees every place highlighted."""
    matches: list[RuleMatch] = []
    for row in granted_releases(inp, recipient):
        if not row.scope:
            continue
        outside: dict[str, list[Finding]] = {}
        for finding in inp.findings:
            if finding.client_id is not None and finding.client_id != row.client_id:
                continue
            item = scope_item(finding)
            if item is not None and not row.covers(item):
                outside.setdefault(item, []).append(finding)
        items = tuple(outside)
        matches.extend(
            RuleMatch(
                CONSENT_SCOPE,
                finding=finding,
                client_ids=(row.client_id,),
                outside=items,
                covered=row.scope,
                party=row.recipient_name or None,
            )
            for found in outside.values()
            for finding in found
        )
    return tuple(matches)


_NOTICE_KINDS = frozenset({RecipientKind.AUTHORIZED, RecipientKind.EXTERNAL})


def part2_clients(inp: RuleInput, recipient: Recipient) -> tuple[str, ...]:
    """The Part 2 clients whose substance-use information this message
    carries to ``recipient``: §2.32 asks for the notice on every such
    disclosure to a third party (not to the client themselves, not inside
    the agency). A finding nobody could attribute counts for every Part 2
    client the recipient stands for or the message names: a notice too
    many costs a paragraph, one too few breaks the rule."""
    if recipient.kind not in _NOTICE_KINDS or not inp.registry.part2_clients:
        return ()
    named = {f.client_id for f in inp.findings if f.entity is Entity.CLIENT and f.client_id}
    found: set[str] = set()
    for finding in inp.findings:
        if (
            finding.entity is not Entity.SENSITIVE_CONDITION
            or finding.category is not Category.SUBSTANCE_USE
            or finding.about_person is False
        ):
            continue
        if finding.client_id is not None:
            found.add(finding.client_id)
        else:
            found.update(recipient.client_ids | named)
    return tuple(sorted(found & inp.registry.part2_clients))


def text_body(inp: RuleInput) -> str:
    """The words a text carries (what the SMS rules count)."""
    return inp.message.full_text.get("body") or inp.message.full_text.get("html") or ""


def part2_notice(inp: RuleInput, recipient: Recipient) -> tuple[RuleMatch, ...]:
    """Texts only: the short form of the notice is added on a line of its
    own; a text that would then be longer than a text may be cannot carry
    it, so it must not go out as it is."""
    if recipient.channel != Channel.SMS:
        return ()
    clients = part2_clients(inp, recipient)
    if not clients:
        return ()
    length = len(text_body(inp).rstrip("\r\n")) + 1 + len(inp.settings.part2.short_notice)
    over = length - inp.settings.sms.max_body_chars
    if over <= 0:
        return ()
    return (RuleMatch(PART2_NOTICE, client_ids=clients, over_by=over),)


_CLIENT_SIDE = frozenset({RecipientKind.CLIENT, RecipientKind.AUTHORIZED})


def exposed_clients(inp: RuleInput, recipients: Sequence[Recipient]) -> tuple[RuleMatch, ...]:
    """A client's address in To or Cc is read by every recipient, Bcc
    included. Anyone who does not stand for that client -- another client,
    someone authorised for another client, or an outsider -- thereby learns
    who the agency serves.

    A client and the person they authorised stand for the same client and are
    fine together. Colleagues (internal) may see anyone.
    """
    visible = [r for r in recipients if r.visible and r.kind in _CLIENT_SIDE and r.client_ids]
    readers = [
        r
        for r in recipients
        if r.kind is RecipientKind.EXTERNAL or (r.kind in _CLIENT_SIDE and r.client_ids)
    ]
    exposed = [
        v
        for v in visible
        if any(
            o is not v and (o.kind is RecipientKind.EXTERNAL or o.client_ids != v.client_ids)
            for o in readers
        )
    ]
    if not exposed:
        return ()
    outsiders = [r for r in readers if r.kind is RecipientKind.EXTERNAL]
    return (
        RuleMatch(
            EXPOSED_CLIENTS,
            client_ids=tuple(sorted({cid for r in exposed for cid in r.client_ids})),
            recipients=tuple(r.address for r in exposed),
            outsiders=tuple(r.address for r in outsiders),
        ),
    )


RECIPIENT_RULES: tuple[RecipientRule, ...] = (
    consent_revoked,
    consent_expired,
    channel_preference,
    financial_identifier,
    personal_identifier,
    sensitive_condition,
    sensitive_topic,
    other_client,
    after_hours,
    unscannable,
    quiet_hours,
    sms_length,
    consent_scope,
    part2_notice,
)
MESSAGE_RULES: tuple[MessageRule, ...] = (exposed_clients,)
