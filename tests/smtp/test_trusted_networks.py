"""``smtp.trusted_networks``: machines on a listed network may submit
without AUTH (Postfix's permit_mynetworks), everyone else still must log in.

Driven with smtplib and a raw socket client against the real front door,
with a real aiosmtpd sink behind it; every test looks at what arrived.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from proxy.core.config import ConfigError, settings_from_mapping
from proxy.smtp.receive import TRUSTED_NETWORK_USER
from tests.support.smtp_fixtures import (
    ALICE,
    PASSWORD,
    FrontDoorFactory,
    RawClient,
    RelayProcessor,
    bg_loop,
    front_door,
    tls_files,
    users_file,
)

__all__ = ["bg_loop", "front_door", "tls_files", "users_file"]  # fixtures, imported for pytest

RECIPIENT = "caseworker@partner.example"
MACHINE = "scanner@copier.example"  # an address no user owns


def message(sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = RECIPIENT
    msg["Subject"] = "Scanned document"
    msg.set_content("Your scan is attached.\n")
    return msg


def raw_client(host: str, port: int) -> RawClient:
    client = RawClient(host, port)
    assert client.reply()[0] == 220
    assert client.command("EHLO client.example")[0] == 250
    return client


def test_default_is_empty_so_unauthenticated_rcpt_from_loopback_gets_530(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door(tls=False)
    assert door.settings.smtp.trusted_networks == ()
    client = raw_client(door.host, door.port)
    try:
        # MAIL is refused first; RCPT without a login is refused on its own too.
        assert client.command(f"MAIL FROM:<{ALICE}>")[0] == 530
        code, text = client.command(f"RCPT TO:<{RECIPIENT}>")
        assert code == 530, text
        assert client.command("DATA")[0] in (503, 530)
    finally:
        client.close()
    with smtplib.SMTP(door.host, door.port, timeout=20) as smtp, pytest.raises(
        smtplib.SMTPSenderRefused
    ) as refused:
        smtp.send_message(message(ALICE), from_addr=ALICE, to_addrs=[RECIPIENT])
    assert refused.value.smtp_code == 530
    assert door.delivered() == []


def test_client_on_a_trusted_network_submits_without_auth_as_any_sender(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door(tls=False, smtp={"trusted_networks": ["127.0.0.0/8"]})
    with smtplib.SMTP(door.host, door.port, timeout=20) as smtp:
        smtp.ehlo("copier.example")
        refused = smtp.send_message(message(MACHINE), from_addr=MACHINE, to_addrs=[RECIPIENT])
    assert refused == {}
    (delivered,) = door.delivered()
    assert delivered.mail_from == MACHINE
    assert delivered.rcpt_tos == [RECIPIENT]
    assert b"Subject: Scanned document" in delivered.content
    # The message went through the same processor as every other message
    # (in tactful serve: the linting pipeline), marked as not from a user.
    assert isinstance(door.processor, RelayProcessor)
    (submission,) = door.processor.submissions
    assert submission.user == TRUSTED_NETWORK_USER
    assert submission.sender == MACHINE


def test_a_login_from_a_trusted_network_still_ties_the_sender_to_the_user(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door(tls=False, smtp={"trusted_networks": ["127.0.0.0/8"]})
    with smtplib.SMTP(door.host, door.port, timeout=20) as smtp:
        smtp.login(ALICE, PASSWORD)
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.send_message(message(MACHINE), from_addr=MACHINE, to_addrs=[RECIPIENT])
        assert refused.value.smtp_code == 553
        smtp.send_message(message(ALICE), from_addr=ALICE, to_addrs=[RECIPIENT])
    (delivered,) = door.delivered()
    assert delivered.mail_from == ALICE
    assert isinstance(door.processor, RelayProcessor)
    assert [s.user for s in door.processor.submissions] == [ALICE]


def test_a_network_that_does_not_contain_the_client_grants_nothing(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door(tls=False, smtp={"trusted_networks": ["10.0.0.0/8", "::1/128"]})
    client = raw_client(door.host, door.port)  # connects from 127.0.0.1
    try:
        assert client.command(f"MAIL FROM:<{MACHINE}>")[0] == 530
        assert client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 530
    finally:
        client.close()
    assert door.delivered() == []


def test_trusted_submission_keeps_the_recipient_checks(front_door: FrontDoorFactory) -> None:
    door = front_door(
        tls=False, smtp={"trusted_networks": ["127.0.0.0/8"], "max_recipients": 2}
    )
    client = raw_client(door.host, door.port)
    try:
        assert client.command(f"MAIL FROM:<{MACHINE}>")[0] == 250
        assert client.command("RCPT TO:<not an address>")[0] == 553
        assert client.command("RCPT TO:<a@partner.example>")[0] == 250
        assert client.command("RCPT TO:<b@partner.example>")[0] == 250
        assert client.command("RCPT TO:<c@partner.example>")[0] == 452
    finally:
        client.close()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (["127.0.0.1/8"], "has host bits set"),
        (["the office"], "not a network in CIDR form"),
    ],
)
def test_a_bad_network_is_a_clear_config_error(value: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=r"smtp\.trusted_networks") as error:
        settings_from_mapping({"smtp": {"trusted_networks": value}})
    assert fragment in str(error.value)
