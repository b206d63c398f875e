"""The SMTP submission front door, driven by real mail clients (smtplib,
swaks, msmtp) against the real server, with a real aiosmtpd sink behind a
relaying processor: every test asserts what actually arrived upstream."""

from __future__ import annotations

import asyncio
import logging
import shutil
import smtplib
import ssl
import subprocess
import time
from datetime import UTC
from email.message import EmailMessage
from pathlib import Path

import pytest

from proxy.core.clock import system_clock
from proxy.core.config import ConfigError, settings_from_mapping
from proxy.smtp.server import serve
from tests.support.smtp_fixtures import (
    ALICE,
    ALICE_EXTRA,
    BOB,
    BOB_ADDRESS,
    PASSWORD,
    ExplodingProcessor,
    FrontDoor,
    FrontDoorFactory,
    RawClient,
    RelayProcessor,
    bg_loop,
    front_door,
    session,
    tls_files,
    users_file,
)

__all__ = ["bg_loop", "front_door", "tls_files", "users_file"]  # fixtures, imported for pytest

RECIPIENT = "caseworker@partner.example"


def message(subject: str = "Visit next week", sender: str = ALICE) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = RECIPIENT
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@client.example>"
    msg.set_content("Hello,\n\nSee you on Tuesday.\n.\n..leading dots survive\n")
    return msg


def client_context(door: FrontDoor) -> ssl.SSLContext:
    """Clients verify our certificate for real, against the test CA file."""
    return ssl.create_default_context(cafile=str(door.cert_file))


def test_starttls_and_auth_plain_delivers_upstream(front_door: FrontDoorFactory) -> None:
    door = front_door()
    with smtplib.SMTP(door.host, door.port, timeout=20) as client:
        client.ehlo("client.example")
        assert client.has_extn("starttls")
        client.starttls(context=client_context(door))
        client.ehlo("client.example")
        client.login(ALICE, PASSWORD)
        refused = client.send_message(message(), from_addr=ALICE, to_addrs=[RECIPIENT])
    assert refused == {}
    delivered = door.delivered()
    assert len(delivered) == 1
    assert delivered[0].mail_from == ALICE
    assert delivered[0].rcpt_tos == [RECIPIENT]
    assert b"Subject: Visit next week\r\n" in delivered[0].content
    # Dot-stuffing was undone exactly once, in both directions.
    assert b"\r\n.\r\n..leading dots survive\r\n" in delivered[0].content

    assert isinstance(door.processor, RelayProcessor)
    (submission,) = door.processor.submissions
    assert submission.user == ALICE
    assert submission.sender == ALICE
    assert submission.recipients == (RECIPIENT,)
    assert len(submission.id) == 32 and int(submission.id, 16) >= 0
    assert submission.received_at.tzinfo is UTC
    assert submission.raw == delivered[0].content
    assert b"\n" not in submission.raw.replace(b"\r\n", b"")


def test_auth_login_mechanism_and_extra_sender_address(front_door: FrontDoorFactory) -> None:
    door = front_door()
    with smtplib.SMTP(door.host, door.port, timeout=20) as client:
        client.starttls(context=client_context(door))
        client.ehlo("client.example")
        client.user, client.password = ALICE, PASSWORD
        code, _ = client.auth("LOGIN", client.auth_login)
        assert code == 235
        client.send_message(message(sender=ALICE_EXTRA), ALICE_EXTRA, [RECIPIENT])
    assert [d.mail_from for d in door.delivered()] == [ALICE_EXTRA]


def test_reply_of_processor_reaches_client(front_door: FrontDoorFactory) -> None:
    door = front_door()
    client = session(door)
    assert client.command(f"MAIL FROM:<{ALICE}>")[0] == 250
    assert client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 250
    assert client.command("DATA")[0] == 354
    client.send(b"Subject: hi\r\n\r\nhello\r\n.\r\n")
    code, text = client.reply()
    assert isinstance(door.processor, RelayProcessor)
    (submission,) = door.processor.submissions
    assert (code, text) == (250, f"250 2.0.0 Accepted, reference {submission.id}")
    client.close()


def test_implicit_tls_listener(front_door: FrontDoorFactory) -> None:
    door = front_door()
    with smtplib.SMTP_SSL(
        door.host, door.tls_port, context=client_context(door), timeout=20
    ) as client:
        code, features = client.ehlo("client.example")
        assert code == 250
        assert b"STARTTLS" not in features  # already encrypted
        client.login(BOB, PASSWORD)
        client.send_message(message(sender=BOB_ADDRESS), BOB_ADDRESS, [RECIPIENT])
    (delivered,) = door.delivered()
    assert delivered.mail_from == BOB_ADDRESS


def test_unauthenticated_clients_cannot_relay(front_door: FrontDoorFactory) -> None:
    door = front_door()
    client = RawClient(door.host, door.port)
    assert client.reply()[0] == 220
    assert client.command("EHLO attacker.example")[0] == 250
    assert client.command(f"MAIL FROM:<{ALICE}>") == (530, "530 5.7.0 Authentication required")
    assert client.command(f"RCPT TO:<{RECIPIENT}>") == (530, "530 5.7.0 Authentication required")
    assert client.command("DATA")[0] == 530
    client.close()
    with smtplib.SMTP(door.host, door.port, timeout=20) as smtp:
        smtp.starttls(context=client_context(door))
        with pytest.raises(smtplib.SMTPSenderRefused) as err:
            smtp.sendmail(ALICE, [RECIPIENT], b"Subject: relay?\r\n\r\nx\r\n")
        assert err.value.smtp_code == 530
    assert door.delivered() == []


def test_wrong_password_is_refused_and_repeated_failures_disconnect(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door()
    client = RawClient(door.host, door.port)
    client.reply()
    client.command("EHLO client.example")
    assert client.login(ALICE, "wrong")[0] == 535
    assert client.login("nobody@example.org", PASSWORD)[0] == 535
    assert client.login(ALICE, "still wrong")[0] == 535
    assert client.reply()[0] == 421  # third failure: goodbye
    assert client.closed_by_server()
    client.close()


def test_mail_from_must_belong_to_the_user(front_door: FrontDoorFactory) -> None:
    door = front_door()
    client = session(door, user=BOB)
    code, text = client.command(f"MAIL FROM:<{ALICE}>")
    assert code == 553 and text.startswith("553 5.7.1 ")
    assert client.command(f"MAIL FROM:<{BOB_ADDRESS.upper()}>")[0] == 250
    client.close()
    with smtplib.SMTP(door.host, door.port, timeout=20) as smtp:
        smtp.starttls(context=client_context(door))
        smtp.login(BOB, PASSWORD)
        with pytest.raises(smtplib.SMTPSenderRefused) as err:
            smtp.sendmail("ceo@example.org", [RECIPIENT], b"Subject: x\r\n\r\nx\r\n")
        assert err.value.smtp_code == 553
    assert door.delivered() == []


def test_plaintext_auth_refused_off_loopback_exemption(front_door: FrontDoorFactory) -> None:
    door = front_door(allow_plaintext_auth_on_loopback=False)
    client = RawClient(door.host, door.port)
    client.reply()
    code, features = client.command("EHLO client.example")
    assert "STARTTLS" in features
    assert "AUTH" not in features
    code, text = client.login(ALICE, PASSWORD)
    assert code == 538 and "5.7.11" in text
    client.close()
    # The same credentials work once the connection is encrypted.
    client = RawClient(door.host, door.port)
    client.reply()
    client.command("EHLO client.example")
    client.starttls()
    code, features = client.command("EHLO client.example")
    assert "AUTH LOGIN PLAIN" in features
    assert client.login(ALICE, PASSWORD)[0] == 235
    client.close()


def test_ehlo_offers_only_what_is_implemented(front_door: FrontDoorFactory) -> None:
    door = front_door(smtp={"max_message_size": 2048})
    client = RawClient(door.host, door.port)
    client.reply()
    code, text = client.command("EHLO client.example")
    keywords = [line[4:].split(" ")[0] for line in text.splitlines()[1:]]
    assert "PIPELINING" not in keywords
    assert "CHUNKING" not in keywords
    assert "SIZE 2048" in text
    assert {"8BITMIME", "SMTPUTF8", "STARTTLS"} <= set(keywords)
    client.starttls()
    code, text = client.command("EHLO client.example")
    assert code == 250
    auth_line = next(line for line in text.splitlines() if line[4:].startswith("AUTH"))
    assert auth_line[4:].split()[1:] == ["LOGIN", "PLAIN"]
    client.close()


def test_extensions_the_upstream_lacks_are_not_offered(front_door: FrontDoorFactory) -> None:
    door = front_door(upstream_extensions=frozenset({"size", "starttls", "auth"}))
    client = RawClient(door.host, door.port)
    client.reply()
    code, text = client.command("EHLO client.example")
    assert code == 250
    assert "8BITMIME" not in text
    assert "SMTPUTF8" not in text
    client.command("QUIT")
    client.close()
    client = session(door)
    assert client.command(f"MAIL FROM:<{ALICE}> BODY=8BITMIME")[0] == 555
    assert client.command(f"MAIL FROM:<{ALICE}> SMTPUTF8")[0] == 501
    assert client.command(f"MAIL FROM:<{ALICE}> BODY=7BIT")[0] == 250
    client.close()


def test_declared_and_actual_size_limits(front_door: FrontDoorFactory) -> None:
    door = front_door(smtp={"max_message_size": 2048})
    client = session(door)
    code, text = client.command(f"MAIL FROM:<{ALICE}> SIZE=999999")
    assert code == 552 and "5.3.4" in text
    assert client.command(f"MAIL FROM:<{ALICE}> SIZE=100")[0] == 250
    assert client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 250
    assert client.command("DATA")[0] == 354
    client.send(b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" + (b"y" * 70 + b"\r\n") * 60)
    client.send(b".\r\n")
    code, text = client.reply()
    assert code == 552 and text.startswith("552 5.3.4 ")
    # The connection is still in step: a small message goes through.
    assert client.command(f"MAIL FROM:<{ALICE}>")[0] == 250
    assert client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 250
    assert client.command("DATA")[0] == 354
    client.send(b"Subject: small\r\n\r\nok\r\n.\r\n")
    assert client.reply()[0] == 250
    client.close()
    assert [b"Subject: small" in d.content for d in door.delivered()] == [True]


def test_recipient_limit(front_door: FrontDoorFactory) -> None:
    door = front_door(smtp={"max_recipients": 2})
    client = session(door)
    client.command(f"MAIL FROM:<{ALICE}>")
    assert client.command("RCPT TO:<a@partner.example>")[0] == 250
    assert client.command("RCPT TO:<b@partner.example>")[0] == 250
    assert client.command("RCPT TO:<A@partner.example>")[0] == 250  # duplicate, not counted
    code, text = client.command("RCPT TO:<c@partner.example>")
    assert code == 452 and text.startswith("452 4.5.3 ")
    assert client.command("DATA")[0] == 354
    client.send(b"Subject: two\r\n\r\nhi\r\n.\r\n")
    assert client.reply()[0] == 250
    client.close()
    (delivered,) = door.delivered()
    assert delivered.rcpt_tos == ["a@partner.example", "b@partner.example"]


def test_recipient_without_domain_is_refused(front_door: FrontDoorFactory) -> None:
    door = front_door()
    client = session(door)
    client.command(f"MAIL FROM:<{ALICE}>")
    code, text = client.command("RCPT TO:<postmaster>")
    assert code == 553 and text.startswith("553 5.1.3 ")
    client.close()


def test_long_lines_are_refused(front_door: FrontDoorFactory) -> None:
    door = front_door(smtp={"max_line_length": 100})
    client = session(door)
    assert client.command("NOOP " + "x" * 300)[0] == 500  # command line too long
    client.command(f"MAIL FROM:<{ALICE}>")
    client.command(f"RCPT TO:<{RECIPIENT}>")
    assert client.command("DATA")[0] == 354
    client.send(b"Subject: long\r\n\r\n" + b"z" * 101 + b"\r\nshort\r\n.\r\n")
    code, text = client.reply()
    assert code == 500 and text.startswith("500 5.5.2 ")
    # Far longer than the reader's buffer: still read to the end, then refused.
    client.command(f"MAIL FROM:<{ALICE}>")
    client.command(f"RCPT TO:<{RECIPIENT}>")
    assert client.command("DATA")[0] == 354
    client.send(b"Subject: longer\r\n\r\n" + b"w" * 50_000 + b"\r\n.\r\n")
    assert client.reply()[0] == 500
    assert client.command("NOOP")[0] == 250
    client.close()
    assert door.delivered() == []


def test_too_many_connections_get_421(front_door: FrontDoorFactory) -> None:
    door = front_door(smtp={"max_connections": 2})
    first, second = RawClient(door.host, door.port), RawClient(door.host, door.port)
    assert first.reply()[0] == 220
    assert second.reply()[0] == 220
    third = RawClient(door.host, door.port)
    code, text = third.reply()
    assert code == 421 and text.startswith("421 4.7.0 ")
    assert third.closed_by_server()
    third.close()
    first.command("QUIT")
    first.close()
    assert first.closed_by_server()
    # A slot is free again once the first client has gone.
    for _ in range(100):
        fourth = RawClient(door.host, door.port)
        code, _ = fourth.reply()
        fourth.close()
        if code == 220:
            break
        time.sleep(0.05)
    assert code == 220
    second.close()


def test_idle_client_is_told_and_disconnected(front_door: FrontDoorFactory) -> None:
    door = front_door(smtp={"idle_timeout_seconds": 0.5})
    client = RawClient(door.host, door.port)
    assert client.reply()[0] == 220
    code, text = client.reply()  # nothing sent: the server gives up
    assert code == 421 and "4.4.2" in text
    assert client.closed_by_server()
    client.close()


def test_processor_failure_is_a_temporary_error_without_client_data(
    front_door: FrontDoorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    processor = ExplodingProcessor()
    door = front_door(processor=processor)
    caplog.set_level(logging.DEBUG)
    with smtplib.SMTP(door.host, door.port, timeout=20) as client:
        client.starttls(context=client_context(door))
        client.login(ALICE, PASSWORD)
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.send_message(message("Jane Client DOB"), ALICE, [RECIPIENT])
    assert err.value.smtp_code == 451
    assert err.value.smtp_error.startswith(b"4.3.0 ")
    assert processor.calls == 1
    text = caplog.text
    assert "RuntimeError" in text
    assert ExplodingProcessor.SECRET not in text
    assert "Jane Client" not in text
    assert RECIPIENT not in text  # aiosmtpd's own address logging is filtered
    assert door.delivered() == []


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed (apt swaks)")
def test_swaks_with_starttls_and_auth(front_door: FrontDoorFactory) -> None:
    door = front_door()
    result = subprocess.run(
        [
            "swaks", "--server", door.host, "--port", str(door.port),
            "--tls", "--auth", "PLAIN", "--auth-user", ALICE, "--auth-password", PASSWORD,
            "--from", ALICE, "--to", RECIPIENT, "--header", "Subject: sent by swaks",
            "--body", "Hello from swaks", "--helo", "swaks.example",
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (delivered,) = door.delivered()
    assert b"Subject: sent by swaks" in delivered.content
    assert delivered.rcpt_tos == [RECIPIENT]


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed (apt swaks)")
def test_swaks_open_relay_attempt_fails(front_door: FrontDoorFactory) -> None:
    door = front_door()
    result = subprocess.run(
        ["swaks", "--server", door.host, "--port", str(door.port), "--tls",
         "--from", "spammer@elsewhere.example", "--to", RECIPIENT],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "530 5.7.0" in result.stdout
    assert door.delivered() == []


@pytest.mark.skipif(shutil.which("msmtp") is None, reason="msmtp not installed (apt msmtp)")
@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_msmtp_with_config_file(front_door: FrontDoorFactory, tmp_path: Path, mode: str) -> None:
    door = front_door()
    port = door.port if mode == "starttls" else door.tls_port
    config = tmp_path / "msmtprc"
    config.write_text(
        "account tactful\n"
        f"host {door.host}\n"
        f"port {port}\n"
        "tls on\n"
        f"tls_starttls {'on' if mode == 'starttls' else 'off'}\n"
        f"tls_trust_file {door.cert_file}\n"
        "auth on\n"
        f"user {ALICE}\n"
        f"password {PASSWORD}\n"
        f"from {ALICE}\n"
        "account default : tactful\n"
    )
    config.chmod(0o600)
    body = f"From: {ALICE}\nTo: {RECIPIENT}\nSubject: sent by msmtp\n\nHello from msmtp\n"
    result = subprocess.run(
        ["msmtp", "-C", str(config), RECIPIENT],
        input=body, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (delivered,) = door.delivered()
    assert b"Subject: sent by msmtp\r\n" in delivered.content
    assert delivered.mail_from == ALICE


def test_non_loopback_listener_without_tls_is_a_config_error(
    bg_loop: object, users_file: Path
) -> None:
    settings = settings_from_mapping(
        {"smtp": {"listen": "0.0.0.0:0", "users_file": str(users_file)}}
    )
    processor = RelayProcessor("127.0.0.1", 9)
    with pytest.raises(ConfigError, match="cert_file"):
        asyncio.run(serve(settings, processor, clock=system_clock))


def test_unreadable_certificate_is_a_config_error(tmp_path: Path, users_file: Path) -> None:
    settings = settings_from_mapping(
        {
            "smtp": {
                "listen": "127.0.0.1:0",
                "users_file": str(users_file),
                "tls": {"cert_file": str(tmp_path / "missing.pem"), "key_file": "k.pem"},
            }
        }
    )
    with pytest.raises(ConfigError, match="cannot load the TLS certificate"):
        asyncio.run(serve(settings, RelayProcessor("127.0.0.1", 9), clock=system_clock))
