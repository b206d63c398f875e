"""Recipient classification: kind, channel, client ids, visibility."""

from __future__ import annotations

from datetime import date

import pytest

from proxy.core.config import settings_from_mapping
from proxy.core.consent import Channel, ConsentRecord, ConsentStatus, Registry, Relationship
from proxy.core.message import Envelope, ParsedMessage, SubjectTags
from proxy.core.verdict import Recipient, RecipientKind
from proxy.lint.recipients import UnknownChannelError, classify_recipients

SETTINGS = settings_from_mapping({})  # agency domain example.org, vtext.com is a gateway


def row(
    client_id: str,
    address: str,
    *,
    channel: Channel = Channel.EMAIL,
    relationship: Relationship = Relationship.SELF,
    status: ConsentStatus = ConsentStatus.GRANTED,
) -> ConsentRecord:
    return ConsentRecord(
        client_id=client_id,
        name="",
        aliases=(),
        address=address,
        channel=channel,
        relationship=relationship,
        status=status,
        granted_on=date(2025, 1, 1),
        expires_on=None,
        preferred=False,
        identifiers=(),
    )


REGISTRY = Registry(
    [
        row("C-1001", "ann.client@mail.test"),
        row("C-1001", "+13125550142", channel=Channel.SMS),
        row("C-1002", "bo@mail.test", status=ConsentStatus.REVOKED),
        row("C-1001", "sis@mail.test", relationship=Relationship.AUTHORIZED),
        row("C-1003", "sis@mail.test", relationship=Relationship.AUTHORIZED),
        # A parent who is a client and also authorised for their child.
        row("C-1004", "parent@mail.test"),
        row("C-1005", "parent@mail.test", relationship=Relationship.AUTHORIZED),
        # A colleague who is also a client of the agency.
        row("C-1006", "pat@example.org"),
    ]
)


def message(
    recipients: tuple[str, ...], to: tuple[str, ...] = (), cc: tuple[str, ...] = ()
) -> ParsedMessage:
    return ParsedMessage(
        envelope=Envelope(sender="worker@example.org", recipients=recipients),
        subject="Visit",
        tags=SubjectTags(),
        from_name="Worker",
        to=to,
        cc=cc,
        segments=(),
    )


def classify_one(address: str, force_channel: str | None = None) -> Recipient:
    result = classify_recipients(
        message((address,), to=(address,)), SETTINGS, REGISTRY, force_channel=force_channel
    )
    assert len(result) == 1
    return result[0]


@pytest.mark.parametrize(
    ("address", "kind", "channel", "client_ids", "phone"),
    [
        ("colleague@example.org", RecipientKind.INTERNAL, "email", set(), None),
        ("Colleague@EXAMPLE.ORG", RecipientKind.INTERNAL, "email", set(), None),
        ("ann.client@mail.test", RecipientKind.CLIENT, "email", {"C-1001"}, None),
        ("Ann.Client@Mail.TEST", RecipientKind.CLIENT, "email", {"C-1001"}, None),
        # Revoked rows still make the address a client (any status).
        ("bo@mail.test", RecipientKind.CLIENT, "email", {"C-1002"}, None),
        ("sis@mail.test", RecipientKind.AUTHORIZED, "email", {"C-1001", "C-1003"}, None),
        ("parent@mail.test", RecipientKind.CLIENT, "email", {"C-1004", "C-1005"}, None),
        # Registry beats the agency domain: the stricter reading.
        ("pat@example.org", RecipientKind.CLIENT, "email", {"C-1006"}, None),
        ("landlord@rentals.test", RecipientKind.EXTERNAL, "email", set(), None),
        # Gateway: the local part is the phone number, looked up on the sms channel.
        ("3125550142@vtext.com", RecipientKind.CLIENT, "sms", {"C-1001"}, "+13125550142"),
        ("3125550142@VTEXT.COM", RecipientKind.CLIENT, "sms", {"C-1001"}, "+13125550142"),
        ("13125550142@tmomail.net", RecipientKind.CLIENT, "sms", {"C-1001"}, "+13125550142"),
        ("7735550199@vtext.com", RecipientKind.EXTERNAL, "sms", set(), "+17735550199"),
        # An unreadable gateway number stays sms (strict rules) with no phone.
        ("not-a-number@vtext.com", RecipientKind.EXTERNAL, "sms", set(), None),
    ],
)
def test_classification(
    address: str, kind: RecipientKind, channel: str, client_ids: set[str], phone: str | None
) -> None:
    recipient = classify_one(address)
    assert recipient.kind is kind
    assert recipient.channel == channel
    assert recipient.client_ids == frozenset(client_ids)
    assert recipient.phone == phone
    assert recipient.address == address  # kept as given, for delivery


def test_email_row_does_not_match_the_same_client_on_sms() -> None:
    # C-1001's sms row is a phone number; an email address never matches it.
    registry = Registry([row("C-1001", "+13125550142", channel=Channel.SMS)])
    result = classify_recipients(
        message(("3125550142@vtext.com",)), SETTINGS, registry, force_channel=None
    )
    assert result[0].kind is RecipientKind.CLIENT
    email_only = Registry([row("C-1001", "3125550142@vtext.com")])
    result = classify_recipients(message(("3125550142@vtext.com",)), SETTINGS, email_only)
    assert result[0].kind is RecipientKind.EXTERNAL
    assert result[0].channel == "sms"


@pytest.mark.parametrize("address", ["+13125550142", "(312) 555-0142", "3125550142@vtext.com"])
def test_forced_sms_channel_reads_phone_numbers(address: str) -> None:
    recipient = classify_one(address, force_channel="sms")
    assert recipient.channel == "sms"
    assert recipient.phone == "+13125550142"
    assert recipient.kind is RecipientKind.CLIENT
    assert recipient.client_ids == frozenset({"C-1001"})


def test_forced_email_channel_is_ordinary_classification() -> None:
    assert classify_one("ann.client@mail.test", force_channel="email").kind is RecipientKind.CLIENT


def test_unknown_forced_channel_is_a_clear_error() -> None:
    with pytest.raises(UnknownChannelError, match="unknown channel 'fax'"):
        classify_recipients(message(("a@b.test",)), SETTINGS, REGISTRY, force_channel="fax")


def test_visibility_follows_to_and_cc_not_bcc() -> None:
    msg = message(
        ("ann.client@mail.test", "bo@mail.test", "sis@mail.test", "3125550142@vtext.com"),
        to=("Ann <ANN.CLIENT@mail.test>",),
        cc=("3125550142@vtext.com",),
    )
    result = {r.address: r.visible for r in classify_recipients(msg, SETTINGS, REGISTRY)}
    assert result == {
        "ann.client@mail.test": True,
        "bo@mail.test": False,
        "sis@mail.test": False,
        "3125550142@vtext.com": True,
    }


def test_duplicate_envelope_addresses_are_judged_once_in_order() -> None:
    msg = message(("b@x.test", "A@x.test", "a@X.test", "b@x.test"))
    result = classify_recipients(msg, SETTINGS, REGISTRY)
    assert [r.address for r in result] == ["b@x.test", "A@x.test"]


def test_no_recipients_gives_no_recipients() -> None:
    assert classify_recipients(message(()), SETTINGS, REGISTRY) == ()


def test_address_without_domain_is_external_not_a_crash() -> None:
    recipient = classify_one("postmaster")
    assert recipient.kind is RecipientKind.EXTERNAL
    assert recipient.channel == "email"
