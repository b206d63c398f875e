"""``smtp.gateway``: the agency's own mail system relays through Tactful.

The gateway is trusted by network (optionally with a TLS client
certificate from the agency's CA) or by a relay account; the worker is the
envelope sender, which must be the agency's, and the header From: must be
that same address. Everyone else is refused as before: never an open relay.

Driven with smtplib and a raw client against the real front door, with a
real aiosmtpd sink behind it; every test looks at what arrived.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

import pytest

from proxy.core.clock import ManualClock
from proxy.core.config import ConfigError, settings_from_mapping
from proxy.smtp.receive import FrontDoorPolicy, certificate_names
from proxy.smtp.server import serve
from tests.support.pki import MAIL_SYSTEM, make_pki
from tests.support.smtp_fixtures import (
    ALICE,
    BOB,
    PASSWORD,
    RECEIVED_AT,
    FrontDoorFactory,
    RawClient,
    RelayProcessor,
    bg_loop,
    front_door,
    tls_files,
    users_file,
)

__all__ = ["bg_loop", "front_door", "tls_files", "users_file"]  # fixtures, imported for pytest

WORKER = "maria.lopez@example.org"  # a worker with no Tactful account at all
RECIPIENT = "caseworker@partner.example"
LOOPBACK = ["127.0.0.0/8"]


def message(author: str, *, subject: str = "Meeting on Thursday") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = author
    msg["To"] = RECIPIENT
    msg["Subject"] = subject
    msg.set_content("See you on Thursday at ten.\n")
    return msg


def raw_client(host: str, port: int) -> RawClient:
    client = RawClient(host, port)
    assert client.reply()[0] == 220
    assert client.command(f"EHLO {MAIL_SYSTEM}")[0] == 250
    return client


def test_mail_from_the_gateway_network_goes_out_as_the_worker_without_a_login(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door(tls=False, smtp={"gateway": {"networks": LOOPBACK}})
    with smtplib.SMTP(door.host, door.port, timeout=20) as smtp:
        smtp.ehlo(MAIL_SYSTEM)
        refused = smtp.send_message(message(WORKER), from_addr=WORKER, to_addrs=[RECIPIENT])
    assert refused == {}
    (delivered,) = door.delivered()
    assert delivered.mail_from == WORKER
    assert delivered.rcpt_tos == [RECIPIENT]
    assert isinstance(door.processor, RelayProcessor)
    (submission,) = door.processor.submissions
    # The worker is the sender: the review queue, the supervisor routing and
    # the notices all go by this.
    assert submission.user == WORKER
    assert submission.sender == WORKER


@pytest.mark.parametrize(
    ("sender", "code", "words"),
    [
        ("someone@elsewhere.example", 553, "agency's own addresses"),
        ("maria@example.org.evil.example", 553, "agency's own addresses"),
        ("", 550, "does not relay bounces"),
    ],
)
def test_the_gateway_relays_only_agency_senders(
    front_door: FrontDoorFactory, sender: str, code: int, words: str
) -> None:
    door = front_door(tls=False, smtp={"gateway": {"networks": LOOPBACK}})
    client = raw_client(door.host, door.port)
    try:
        reply_code, text = client.command(f"MAIL FROM:<{sender}>")
        assert reply_code == code, text
        assert words in text
        assert client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 503
    finally:
        client.close()
    assert door.delivered() == []


@pytest.mark.parametrize(
    "author",
    [
        "director@example.org",  # a colleague
        "Maria <maria.lopez@example.org.evil.example>",
        "maria.lopez@example.org, director@example.org",
        '"director@example.org" <maria.lopez@example.org>',
    ],
)
def test_the_header_from_must_be_the_envelope_sender(
    front_door: FrontDoorFactory, author: str
) -> None:
    door = front_door(tls=False, smtp={"gateway": {"networks": LOOPBACK}})
    raw = (f"From: {author}\r\nTo: {RECIPIENT}\r\nSubject: Hello\r\n\r\nHello.\r\n").encode()
    with smtplib.SMTP(door.host, door.port, timeout=20) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail(WORKER, [RECIPIENT], raw)
    assert refused.value.smtp_code == 553
    assert door.delivered() == []


def test_a_client_outside_the_gateway_network_must_still_log_in(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door(tls=False, smtp={"gateway": {"networks": ["10.20.0.0/24"]}})
    client = raw_client(door.host, door.port)  # from 127.0.0.1
    try:
        assert client.command(f"MAIL FROM:<{WORKER}>")[0] == 530
        assert client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 530
    finally:
        client.close()
    assert door.delivered() == []


def test_a_relay_account_sends_for_any_agency_worker_and_nobody_else(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door(tls=False, smtp={"gateway": {"relay_accounts": [BOB]}})
    with smtplib.SMTP(door.host, door.port, timeout=20) as smtp:
        smtp.login(BOB, PASSWORD)
        smtp.send_message(message(WORKER), from_addr=WORKER, to_addrs=[RECIPIENT])
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.send_message(
                message("x@elsewhere.example"),
                from_addr="x@elsewhere.example",
                to_addrs=[RECIPIENT],
            )
        assert refused.value.smtp_code == 553
    # An ordinary worker's login still ties the sender to the worker.
    with smtplib.SMTP(door.host, door.port, timeout=20) as smtp:
        smtp.login(ALICE, PASSWORD)
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.send_message(message(WORKER), from_addr=WORKER, to_addrs=[RECIPIENT])
        assert refused.value.smtp_code == 553
    (delivered,) = door.delivered()
    assert delivered.mail_from == WORKER
    assert isinstance(door.processor, RelayProcessor)
    assert [s.user for s in door.processor.submissions] == [WORKER]


def _send_over_tls(
    door_host: str, door_port: int, server_cert: Path, client: tuple[Path, Path] | None
) -> dict[str, tuple[int, bytes]]:
    context = ssl.create_default_context(cafile=str(server_cert))
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    with smtplib.SMTP(door_host, door_port, timeout=20) as smtp:
        smtp.starttls(context=context)
        return smtp.send_message(message(WORKER), from_addr=WORKER, to_addrs=[RECIPIENT])


def test_a_required_client_certificate_must_be_shown_and_carry_a_listed_name(
    front_door: FrontDoorFactory, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    door = front_door(
        implicit_tls=False,
        smtp={
            "gateway": {
                "networks": LOOPBACK,
                "client_ca_file": str(pki.ca_file),
                "client_names": [MAIL_SYSTEM.upper()],
            }
        },
    )
    with pytest.raises(smtplib.SMTPSenderRefused) as no_tls:
        with smtplib.SMTP(door.host, door.port, timeout=20) as smtp:
            smtp.send_message(message(WORKER), from_addr=WORKER, to_addrs=[RECIPIENT])
    assert no_tls.value.smtp_code == 530
    with pytest.raises(smtplib.SMTPSenderRefused) as no_cert:
        _send_over_tls(door.host, door.port, door.cert_file, None)
    assert no_cert.value.smtp_code == 530
    assert b"client certificate" in no_cert.value.smtp_error
    with pytest.raises(smtplib.SMTPSenderRefused) as other_name:
        _send_over_tls(door.host, door.port, door.cert_file, (pki.stranger_cert, pki.stranger_key))
    assert other_name.value.smtp_code == 530
    assert door.delivered() == []
    refused = _send_over_tls(
        door.host, door.port, door.cert_file, (pki.client_cert, pki.client_key)
    )
    assert refused == {}
    (delivered,) = door.delivered()
    assert delivered.mail_from == WORKER


def test_a_certificate_from_another_ca_fails_the_handshake(
    front_door: FrontDoorFactory, tmp_path: Path
) -> None:
    (tmp_path / "agency").mkdir()
    (tmp_path / "outsider").mkdir()
    agency = make_pki(tmp_path / "agency")
    outsider = make_pki(tmp_path / "outsider")
    door = front_door(
        implicit_tls=False,
        smtp={"gateway": {"networks": LOOPBACK, "client_ca_file": str(agency.ca_file)}},
    )
    with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
        _send_over_tls(
            door.host, door.port, door.cert_file, (outsider.client_cert, outsider.client_key)
        )
    assert door.delivered() == []


@pytest.mark.parametrize(
    ("certificate", "names"),
    [
        (None, frozenset()),
        ({}, frozenset()),
        (
            {
                "subject": ((("commonName", "Mail.Example.org"),),),
                "subjectAltName": (("DNS", "smtp.example.org"), ("IP Address", "10.0.0.1")),
            },
            frozenset({"mail.example.org", "smtp.example.org"}),
        ),
    ],
)
def test_certificate_names(certificate: dict[str, object] | None, names: frozenset[str]) -> None:
    assert certificate_names(certificate) == names


def test_gateway_networks_are_not_the_trusted_networks() -> None:
    """A client on both lists gets the gateway's stricter rules."""
    settings = settings_from_mapping(
        {"smtp": {"trusted_networks": LOOPBACK, "gateway": {"networks": ["127.0.0.0/24"]}}}
    )
    policy = FrontDoorPolicy(
        1024,
        10,
        None,
        settings.smtp.trusted_networks,
        gateway=settings.smtp.gateway,
        agency_domains=settings.agency.domains,
    )
    assert not policy.trusts(("127.0.0.1", 25))
    assert policy.on_gateway_network(("127.0.0.1", 25))
    assert policy.trusts(("127.0.1.1", 25))
    assert policy.on_gateway_network(("::ffff:127.0.0.9", 25, 0, 0))
    assert not policy.on_gateway_network(("10.0.0.1", 25))
    assert not policy.on_gateway_network(None)


def test_gateway_without_agency_domains_does_not_start(front_door: FrontDoorFactory) -> None:
    settings = settings_from_mapping(
        {
            "agency": {"domains": []},
            "smtp": {"listen": "127.0.0.1:0", "gateway": {"networks": LOOPBACK}},
        }
    )
    with pytest.raises(ConfigError, match=r"agency\.domains"):
        front_door.bg.run(
            serve(
                settings,
                RelayProcessor("127.0.0.1", 9),
                clock=ManualClock(RECEIVED_AT),
                logins=front_door.login_failures(),
            )
        )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (["10.20.0.1/24"], "has host bits set"),
        (["mail server"], "not a network in CIDR form"),
    ],
)
def test_a_bad_gateway_network_is_a_clear_config_error(value: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=r"smtp\.gateway\.networks") as error:
        settings_from_mapping({"smtp": {"gateway": {"networks": value}}})
    assert fragment in str(error.value)
