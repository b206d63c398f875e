"""Plain words for every rule and entity: what is wrong and how to fix it.

Workers read these in a hurry, between visits, so each says one problem and
one fix in everyday language. They never quote what was found or name a
client: the text lands in notices and logs that outlive the message. Client
ids (``C-1002``) are internal reference numbers and may appear.
"""

from __future__ import annotations

from datetime import datetime

from proxy.core.config import Settings
from proxy.core.consent import SCOPE_IDENTIFIERS, Channel
from proxy.core.findings import Category, Entity, Finding
from proxy.core.verdict import Action, Recipient, RecipientKind
from proxy.lint import rules
from proxy.lint.rules import RuleMatch

ENTITY_NOUNS: dict[Entity, str] = {
    Entity.US_SSN: "Social Security number",
    Entity.CREDIT_CARD: "credit or debit card number",
    Entity.US_BANK_NUMBER: "bank account number",
    Entity.PHONE_NUMBER: "phone number",
    Entity.EMAIL_ADDRESS: "email address",
    Entity.PERSON: "person's name",
    Entity.DATE_OF_BIRTH: "date of birth",
    Entity.MEDICAID_ID: "Medicaid number",
    Entity.MEDICARE_ID: "Medicare number",
    Entity.CASE_NUMBER: "case number",
    Entity.STREET_ADDRESS: "home address",
    Entity.SENSITIVE_CONDITION: "sensitive health or legal detail",
    Entity.CLIENT: "client",
    Entity.UNSCANNABLE: "part Tactful could not read",
}

CATEGORY_NOUNS: dict[Category, str] = {
    Category.MENTAL_HEALTH: "mental health",
    Category.SUBSTANCE_USE: "substance use",
    Category.HIV_STI: "HIV or STI status",
    Category.REPRODUCTIVE_HEALTH: "reproductive health",
    Category.ABUSE_NEGLECT: "experience of abuse or neglect",
    Category.IMMIGRATION: "immigration status",
    Category.CRIMINAL_JUSTICE: "involvement with the justice system",
}


def entity_noun(entity: Entity) -> str:
    return ENTITY_NOUNS[entity]


def category_noun(category: Category | None) -> str:
    return CATEGORY_NOUNS[category] if category is not None else "health or legal situation"


def where(finding: Finding | None) -> str:
    """Which part of the message, to follow "in" or "from". Attachment names
    are left out: they often contain a client's name."""
    if finding is None:
        return "the message"
    if finding.location.startswith("attachment:"):
        return "an attachment"
    if finding.location.startswith("filename:"):
        return "an attachment's file name"
    if finding.location.startswith("header:"):
        return f"the {finding.location.removeprefix('header:')} header"
    if finding.quoted:
        return "the quoted earlier message (it goes out with your reply)"
    if finding.location == "subject":
        return "the subject line"
    return "the message"


def _channel_words(channel: str) -> str:
    """Follows "by": "by text message", "by email"."""
    return "text message" if channel == Channel.SMS else "email"


def _ids(client_ids: tuple[str, ...]) -> str:
    return ", ".join(client_ids)


def when(moment: datetime) -> str:
    """``Monday 2 March at 08:00 CST (America/Chicago)``, in the zone the
    caller gives (the agency's). The zone is spelt out because a worker on
    a visit, a reviewer in another office or a client abroad reads "08:00"
    in their own zone."""
    text = f"{moment:%A} {moment.day} {moment:%B} at {moment:%H:%M}"
    if moment.tzinfo is None:
        return text
    short = moment.tzname() or ""
    key = getattr(moment.tzinfo, "key", None)
    if key and key != short:
        return f"{text} {short} ({key})" if short else f"{text} ({key})"
    return f"{text} {short}".rstrip()


def _sms_note(recipient: Recipient | None) -> str:
    if recipient is not None and recipient.channel == Channel.SMS:
        return " Text messages can be read by anyone who picks up the phone."
    return ""


def _consent_revoked(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    channel = _channel_words(r.channel if r else Channel.EMAIL)
    return (
        f"This recipient has withdrawn consent to be contacted by {channel} "
        f"(client {_ids(m.client_ids)}). Do not send this; talk to your supervisor about "
        "another way to reach them."
    )


def _consent_expired(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    channel = _channel_words(r.channel if r else Channel.EMAIL)
    since = f" on {m.expired_on.isoformat()}" if m.expired_on else ""
    return (
        f"The consent to contact this recipient by {channel} (client {_ids(m.client_ids)}) "
        f"expired{since}. Renew the consent form first, or send this through "
        f"{s.agency.secure_portal}."
    )


def _channel_preference(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    preferred = _channel_words(m.channel or Channel.EMAIL)
    used = _channel_words(r.channel if r else Channel.EMAIL)
    return (
        f"Client {_ids(m.client_ids)} prefers to be contacted by {preferred}, but this goes "
        f"by {used}. Consider reaching them by {preferred} instead."
    )


def _financial(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    noun = entity_noun(m.finding.entity) if m.finding else "financial number"
    place = where(m.finding)
    if a is Action.REDACT:
        return (
            f"Remove the {noun} from {place}, or send it through {s.agency.secure_portal}. "
            "If you send it as it is, all but the last 4 digits will be hidden."
        )
    if r is not None and r.kind is RecipientKind.INTERNAL:
        return (
            f"There is a {noun} in {place}. Even inside the agency, share it only if your "
            f"colleague needs it; {s.agency.secure_portal} is safer."
        )
    return f"Remove the {noun} from {place}, or send it through {s.agency.secure_portal}."


def _personal(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    noun = entity_noun(m.finding.entity) if m.finding else "personal detail"
    return (
        f"Remove the {noun} from {where(m.finding)}, or send it through "
        f"{s.agency.secure_portal}." + _sms_note(r)
    )


def _condition(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    topic = category_noun(m.finding.category if m.finding else None)
    return (
        f"Someone's {topic} is mentioned in {where(m.finding)}. That is private: remove it, "
        f"or send it through {s.agency.secure_portal}." + _sms_note(r)
    )


def _topic(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    topic = category_noun(m.finding.category if m.finding else None)
    return (
        f"{topic[0].upper()}{topic[1:]} is mentioned in {where(m.finding)}. Even in general "
        "terms, it can hint at the client's situation: remove it, or send it through "
        f"{s.agency.secure_portal}." + _sms_note(r)
    )


def _other_client(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    cid = m.finding.client_id if m.finding and m.finding.client_id else None
    who = f"Another client ({cid})" if cid else "Another client"
    return (
        f"{who} is mentioned in {where(m.finding)}. Being someone's client is confidential: "
        "remove their details or write to them separately."
    )


def _exposed(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    if m.outsiders and len(m.recipients) == 1:
        return (
            f"Someone outside the agency can see the address of client {_ids(m.client_ids)} "
            "in To or Cc. Being someone's client is confidential: send separate messages or "
            "use Bcc, or, if the client agreed, add this person to the consent registry as "
            "authorised."
        )
    if len(m.recipients) == 1:
        # The other client (or their helper) reads it from Bcc.
        return (
            f"Another client on this message can see the address of client "
            f"{_ids(m.client_ids)} in To or Cc. Being someone's client is confidential: "
            "put the address in Bcc, or send separate messages."
        )
    outsider = " Someone outside the agency can see them too." if m.outsiders else ""
    return (
        f"Different clients ({_ids(m.client_ids)}) can see each other's addresses in To or Cc."
        f"{outsider} Being someone's client is confidential: put them in Bcc, or send "
        "separate messages."
    )


# A text has no subject to tag, so the way round a wait is a phone call.
_TEXT_CANNOT_BE_URGENT = (
    "A text cannot be marked urgent; if it cannot wait, phone the client instead."
)


def _after_hours(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    text = r is not None and r.channel == Channel.SMS
    if a is Action.DEFER and m.until is not None:
        what = "this text" if text else "this"
        urgent = (
            _TEXT_CANNOT_BE_URGENT if text else "If it cannot wait, add [urgent] to the subject."
        )
        return (
            f"It is outside working hours, so {what} will be sent on {when(m.until)}. {urgent}"
        )
    if text:
        return (
            "It is outside working hours for texts to clients. Send it during working hours. "
            + _TEXT_CANNOT_BE_URGENT
        )
    return (
        "It is outside working hours for messages to clients. Send it during working hours, "
        "or add [urgent] to the subject if it cannot wait."
    )


def _quiet_hours(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    if a is Action.DEFER and m.until is not None:
        return (
            "It is within quiet hours for text messages, so this text will be sent on "
            f"{when(m.until)}."
        )
    return "It is within quiet hours for text messages. Send the text in the daytime."


def _sms_length(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    size = f"{m.segments} parts" if m.segments else "several parts"
    return (
        f"This text is long: it will arrive in {size} and may be shown out of order. "
        f"Keep texts short (at most {s.sms.max_segments} parts), and put details in "
        f"{s.agency.secure_portal}."
    )


def _unscannable(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    place = (
        "An attachment"
        if m.finding and m.finding.location.startswith("attachment:")
        else "Part of this message"
    )
    reason = f" ({m.finding.reason})" if m.finding and m.finding.reason else ""
    return (
        f"{place} could not be read{reason}, so Tactful could not check it for private "
        f"details. Send it through {s.agency.secure_portal}, or attach it in a readable "
        "format such as an ordinary PDF or Word file."
    )


def _scope_words(item: str) -> str:
    if item == SCOPE_IDENTIFIERS:
        return "identifying details (such as a date of birth, case number or address)"
    known = {c.value: c for c in Category}
    return category_noun(known.get(item))


def _listed(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _consent_scope(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    party = m.party or "the person this client authorised"
    outside = _listed([_scope_words(item) for item in m.outside])
    covered = _listed([_scope_words(item) for item in m.covered])
    return (
        f"Client {_ids(m.client_ids)}'s release of information lets {party} receive only "
        f"information about {covered}, but this message also tells them about {outside}. "
        "Remove that, or ask "
        "the client to sign a release that covers it; only a reviewer can send it as it is."
    )


def _part2_notice(m: RuleMatch, r: Recipient | None, a: Action, s: Settings) -> str:
    over = f"{m.over_by} characters" if m.over_by else "a little"
    return (
        f"This text mentions substance use treatment of client {_ids(m.client_ids)}, whose "
        "records are protected by federal rules (42 CFR Part 2): every text about it must "
        f"end with a short legal notice, and this one is too long to carry it. Shorten it by "
        f"{over}, or send it by email."
    )


_TEXTS = {
    rules.CONSENT_REVOKED: _consent_revoked,
    rules.CONSENT_EXPIRED: _consent_expired,
    rules.CHANNEL_PREFERENCE: _channel_preference,
    rules.FINANCIAL_IDENTIFIER: _financial,
    rules.PERSONAL_IDENTIFIER: _personal,
    rules.SENSITIVE_CONDITION: _condition,
    rules.SENSITIVE_TOPIC: _topic,
    rules.OTHER_CLIENT: _other_client,
    rules.EXPOSED_CLIENTS: _exposed,
    rules.AFTER_HOURS: _after_hours,
    rules.UNSCANNABLE: _unscannable,
    rules.QUIET_HOURS: _quiet_hours,
    rules.SMS_LENGTH: _sms_length,
    rules.CONSENT_SCOPE: _consent_scope,
    rules.PART2_NOTICE: _part2_notice,
}


def explain(
    match: RuleMatch, recipient: Recipient | None, action: Action, settings: Settings
) -> str:
    """The message for one rule hit. Unknown rule names (a third-party rule
    without text) still get an honest, generic sentence."""
    text = _TEXTS.get(match.rule)
    if text is None:
        return (
            f"The agency rule '{match.rule}' flagged this message. Check it with your "
            "supervisor before sending."
        )
    return text(match, recipient, action, settings)


def urgent_skipped(until: datetime) -> str:
    return (
        "Sent now, outside working hours, because the subject is marked [urgent]; "
        f"otherwise it would have waited until {when(until)}."
    )


def overridden(message: str) -> str:
    return f"{message} You overrode this hold; your reason is recorded."


def not_overridable(message: str, recipient: Recipient | None) -> str:
    """Said when the worker asked for an override that cannot apply, so they
    know why the message is still held."""
    if recipient is not None and recipient.channel == Channel.SMS:
        return f"{message} Holds on text messages cannot be overridden."
    return (
        f"{message} Your agency's policy does not allow overriding this; "
        "talk to your supervisor."
    )
