"""The header From: and Sender: belong to the login, like MAIL FROM.

A worker logged in as themselves writes a colleague's address (or
something a second reader could take for one) in the header; the real
front door refuses it at DATA with 553 5.7.1 and nothing reaches the sink
upstream. Addresses listed for the worker in the users file pass.
"""

from __future__ import annotations

import smtplib

import pytest

from tests.support.smtp_fixtures import (
    ALICE,
    ALICE_EXTRA,
    BOB,
    BOB_ADDRESS,
    PASSWORD,
    FrontDoor,
    FrontDoorFactory,
    RelayProcessor,
    bg_loop,
    front_door,
    session,
    tls_files,
    users_file,
)

__all__ = ["bg_loop", "front_door", "tls_files", "users_file"]  # fixtures, imported for pytest

RECIPIENT = "caseworker@partner.example"


def send(door: FrontDoor, header: str, *, user: str = ALICE, mail_from: str = ALICE) -> str:
    """One transaction over a raw client; the final reply's text."""
    client = session(door, user=user)
    try:
        assert client.command(f"MAIL FROM:<{mail_from}>")[0] == 250
        assert client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 250
        assert client.command("DATA")[0] == 354
        client.send(
            f"{header}To: {RECIPIENT}\r\nSubject: Visit\r\n\r\nSee you Tuesday.\r\n.\r\n".encode()
        )
        return client.reply()[1]
    finally:
        client.close()


def nothing_relayed(door: FrontDoor) -> bool:
    assert isinstance(door.processor, RelayProcessor)
    return door.delivered() == [] and door.processor.submissions == []


def test_a_colleagues_address_in_from_is_refused_and_nothing_is_relayed(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door()
    with smtplib.SMTP(door.host, door.port, timeout=20) as client:
        client.login(ALICE, PASSWORD)
        forged = f"From: Bob <{BOB_ADDRESS}>\r\nTo: {RECIPIENT}\r\nSubject: x\r\n\r\nx\r\n"
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(ALICE, [RECIPIENT], forged.encode())  # MAIL FROM is her own
    assert refused.value.smtp_code == 553
    reason = refused.value.smtp_error.decode()
    assert reason.startswith("5.7.1 The From: line of your message names an address")
    assert "your own address" in reason
    assert nothing_relayed(door)


def test_own_address_and_a_listed_alias_pass_in_from_and_sender(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door()
    assert send(door, f"From: Alice <{ALICE.upper()}>\r\n").startswith("250 ")
    assert send(door, f"From: Intake <{ALICE_EXTRA}>\r\nSender: {ALICE}\r\n").startswith("250 ")
    # The alias in From while MAIL FROM is the login: both are hers.
    assert send(door, f"From: {ALICE_EXTRA}\r\n", mail_from=ALICE).startswith("250 ")
    # A display name that is her own address, as some mail programs write it.
    assert send(door, f'From: "{ALICE}" <{ALICE}>\r\n').startswith("250 ")
    # A reviewer whose login is not an address sends as the address listed for him.
    assert send(door, f"From: {BOB_ADDRESS}\r\n", user=BOB, mail_from=BOB_ADDRESS).startswith(
        "250 "
    )
    assert len(door.delivered()) == 5


def test_sender_is_held_to_the_same_rule(front_door: FrontDoorFactory) -> None:
    door = front_door()
    text = send(door, f"From: {ALICE}\r\nSender: {BOB_ADDRESS}\r\n")
    assert text.startswith("553 5.7.1 The Sender: line of your message names an address")
    assert nothing_relayed(door)


FORGERIES = {
    "two addresses": f"From: {ALICE}, {BOB_ADDRESS}\r\n",
    "From twice": f"From: {ALICE}\r\nFrom: {BOB_ADDRESS}\r\n",
    "From twice, different case": f"From: {ALICE}\r\nfROM: {BOB_ADDRESS}\r\n",
    "Sender twice": f"From: {ALICE}\r\nSender: {ALICE}\r\nSender: {BOB_ADDRESS}\r\n",
    "a group": f"From: Team: {ALICE};\r\n",
    "not an address": "From: Alice\r\n",
    "empty": "From: \r\n",
    "address in the display name": f"From: {BOB_ADDRESS} <{ALICE}>\r\n",
    "quoted address in the display name": f'From: "{BOB_ADDRESS}" <{ALICE}>\r\n',
    "address in a comment": f"From: {ALICE} ({BOB_ADDRESS})\r\n",
    "encoded address in the display name": f"From: =?utf-8?q?bob=40example.org?= <{ALICE}>\r\n",
    "space before the colon": f"From : {BOB_ADDRESS}\r\nFrom: {ALICE}\r\n",
    "mbox From line": f"From {BOB_ADDRESS} Tue Nov 24 2026\r\nFrom: {ALICE}\r\n",
    "source route": f"From: <@example.net:{BOB_ADDRESS}>\r\n",
    "unclosed angle": f"From: <{BOB_ADDRESS}\r\n",
    "folded onto two lines": f"From: Bob\r\n <{BOB_ADDRESS}>\r\n",
}


def test_every_ambiguous_or_foreign_author_is_refused_with_553(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door()
    for case, header in FORGERIES.items():
        text = send(door, header)
        assert text.startswith("553 5.7.1 "), (case, text)
        assert "send again" in text, (case, text)
    assert nothing_relayed(door)


def test_a_message_without_from_claims_no_one_and_still_goes(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door()
    assert send(door, "").startswith("250 ")
    assert len(door.delivered()) == 1
