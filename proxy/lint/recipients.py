"""Who each recipient is to the agency: colleague, client, someone a client
authorised, or a stranger; and whether the message reaches them as email or as
a text message.

The same words mean different risks for each: a date of birth is routine to a
colleague, fine to the client themselves, and a disclosure to anyone else.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import parseaddr

import phonenumbers

from proxy.core.config import Settings
from proxy.core.consent import Channel, ConsentRecord, Registry, Relationship
from proxy.core.message import ParsedMessage
from proxy.core.verdict import Recipient, RecipientKind

FORCEABLE_CHANNELS = frozenset({"sms", "email"})


class UnknownChannelError(ValueError):
    """``force_channel`` named a channel Tactful does not know."""


def bare_address(address: str) -> str:
    """``Name <a@b>`` or ``a@b`` -> ``a@b``, stripped (case kept for delivery)."""
    _, addr = parseaddr(address)
    return (addr or address).strip()


def domain_of(address: str) -> str:
    _, at, domain = address.rpartition("@")
    return domain.lower() if at else ""


def to_e164(text: str, region: str) -> str | None:
    """A phone number as E.164, or ``None`` when it is not a valid number."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def gateway_phone(address: str, settings: Settings) -> str | None:
    """E.164 number behind an email-to-SMS gateway address, if it is one."""
    local, _, _ = address.rpartition("@")
    return to_e164(local, settings.agency.default_region)


def is_gateway_address(address: str, settings: Settings) -> bool:
    return domain_of(address) in settings.sms.gateway_domains


def lookup_key(recipient: Recipient) -> str | None:
    """How the registry stores this recipient's address: lower-cased email, or
    E.164 for text messages (``None`` when the number could not be read)."""
    if recipient.channel == Channel.SMS:
        return recipient.phone
    return recipient.address.lower()


def matching_rows(recipient: Recipient, registry: Registry) -> tuple[ConsentRecord, ...]:
    """Registry rows for this recipient's address on the channel it is reached by."""
    key = lookup_key(recipient)
    if key is None:
        return ()
    return tuple(r for r in registry.for_address(key) if r.channel == recipient.channel)


def kind_from_rows(
    rows: Iterable[ConsentRecord], address: str, settings: Settings
) -> RecipientKind:
    """Registry rows win over the agency domain: a colleague who is also a
    client is treated as a client, the stricter of the two."""
    relationships = {r.relationship for r in rows}
    if Relationship.SELF in relationships:
        return RecipientKind.CLIENT
    if Relationship.AUTHORIZED in relationships:
        return RecipientKind.AUTHORIZED
    if domain_of(address) in settings.agency.domains:
        return RecipientKind.INTERNAL
    return RecipientKind.EXTERNAL


def _identity(address: str, settings: Settings, force_sms: bool) -> tuple[str, str | None]:
    """(channel, phone) for one bare address."""
    if force_sms:
        number = gateway_phone(address, settings) if "@" in address else None
        return Channel.SMS.value, number or to_e164(address, settings.agency.default_region)
    if is_gateway_address(address, settings):
        return Channel.SMS.value, gateway_phone(address, settings)
    return Channel.EMAIL.value, None


def _dedupe_key(channel: str, phone: str | None, address: str) -> str:
    return phone if channel == Channel.SMS and phone else address.lower()


def classify_recipients(
    message: ParsedMessage,
    settings: Settings,
    registry: Registry,
    *,
    force_channel: str | None = None,
) -> tuple[Recipient, ...]:
    """One :class:`Recipient` per distinct envelope recipient, in envelope order.

    ``force_channel="sms"`` is for the SMS API, whose addresses are phone
    numbers. An address that appears twice (even in different case) is
    judged once. A gateway address whose number cannot be read stays an sms
    recipient with no phone, so the strict sms rules still apply to it.
    """
    if force_channel is not None and force_channel not in FORCEABLE_CHANNELS:
        raise UnknownChannelError(
            f"unknown channel {force_channel!r}; use one of {', '.join(sorted(FORCEABLE_CHANNELS))}"
        )
    force_sms = force_channel == Channel.SMS
    # Phone numbers are not RFC 5322 addresses: "(312) 555-0142" would lose its
    # area code to comment parsing, so they are only stripped.
    clean = (lambda a: a.strip()) if force_sms else bare_address
    visible = {
        _dedupe_key(*_identity(bare, settings, force_sms), bare)
        for bare in (clean(a) for a in message.visible_recipients)
    }
    seen: set[str] = set()
    recipients: list[Recipient] = []
    for raw in message.envelope.recipients:
        address = clean(raw)
        channel, phone = _identity(address, settings, force_sms)
        key = _dedupe_key(channel, phone, address)
        if key in seen:
            continue
        seen.add(key)
        probe = Recipient(
            address=address, kind=RecipientKind.EXTERNAL, channel=channel, phone=phone
        )
        rows = matching_rows(probe, registry)
        recipients.append(
            Recipient(
                address=address,
                kind=kind_from_rows(rows, address, settings),
                channel=channel,
                client_ids=frozenset(r.client_id for r in rows),
                phone=phone,
                visible=key in visible,
            )
        )
    return tuple(recipients)
