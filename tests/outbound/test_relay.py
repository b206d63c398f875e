"""Upstream delivery against real servers: aiosmtpd and Postfix smtp-sink."""

from __future__ import annotations

import asyncio
import mailbox
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.core.config import ConfigError, settings_from_mapping
from proxy.outbound.maildir_outbox import ENVELOPE_TO_HEADER, MaildirOutbox
from proxy.outbound.relay import (
    DeliveryResult,
    SmtpUpstream,
    UpstreamConfigError,
    split_enhanced,
)
from proxy.outbound.target import parse_target, probe_extensions, upstream_from_settings
from tests.support.upstream_fixtures import (
    RecordingHandler,
    Sink,
    accept_login,
    free_port,
    needs_smtp_sink,
    run_sink,
    run_smtp_sink,
    self_signed_tls,
    sink,
)

__all__ = ["sink"]

MESSAGE = (
    b"From: Worker <worker@agency.example>\r\n"
    b"To: Partner <partner@clinic.example>\r\n"
    b"Subject: Visit notes\r\n"
    b"Message-ID: <m1@agency.example>\r\n"
    b"\r\n"
    b"Hello,\r\n"
    b".A line starting with a dot must survive dot-stuffing.\r\n"
    b"Bye\r\n"
)
SENDER = "worker@agency.example"


def deliver(
    upstream: SmtpUpstream | MaildirOutbox, rcpts: list[str], data: bytes = MESSAGE
) -> DeliveryResult:
    return asyncio.run(upstream.deliver(SENDER, rcpts, data))


def local(port: int, **kwargs: object) -> SmtpUpstream:
    kwargs.setdefault("starttls", "off")
    kwargs.setdefault("timeout", 5.0)
    return SmtpUpstream("127.0.0.1", port, **kwargs)  # type: ignore[arg-type]


def assert_tempfail(result: DeliveryResult, rcpts: list[str]) -> None:
    assert not result.accepted
    assert (result.code, result.enhanced) == (451, "4.4.1")
    assert set(result.per_recipient) == set(rcpts)
    assert all(not r.accepted for r in result.per_recipient.values())


# --- aiosmtpd: the happy path and per-recipient results --------------------


def test_delivers_exact_bytes_and_envelope(sink: Sink) -> None:
    result = deliver(local(sink.port), ["a@clinic.example", "b@clinic.example"])
    assert result.accepted and result.code == 250 and result.enhanced == "2.0.0"
    assert result.text == "Ok: queued as Q1"
    assert not result.partial
    assert len(sink.received) == 1
    got = sink.received[0]
    assert got.sender == SENDER
    assert got.recipients == ["a@clinic.example", "b@clinic.example"]
    assert got.data == MESSAGE


def test_eight_bit_body_is_announced(sink: Sink) -> None:
    data = MESSAGE.replace(b"Bye", "Adiós".encode())
    result = deliver(local(sink.port), ["a@clinic.example"], data)
    assert result.accepted
    assert sink.received[0].data == data
    assert "BODY=8BITMIME" in sink.received[0].mail_options


def test_partial_refusal_is_reported_per_recipient() -> None:
    handler = RecordingHandler(rcpt_replies={"full@clinic.example": "452 4.2.2 Mailbox full"})
    with run_sink(handler) as running:
        result = deliver(local(running.port), ["ok@clinic.example", "full@clinic.example"])
    assert result.accepted and result.partial
    assert result.per_recipient["ok@clinic.example"].accepted
    full = result.per_recipient["full@clinic.example"]
    assert (full.code, full.enhanced, full.text) == (452, "4.2.2", "Mailbox full")
    assert list(result.refused) == ["full@clinic.example"]
    assert running.received[0].recipients == ["ok@clinic.example"]


def test_all_refused_passes_the_upstream_reply_through() -> None:
    handler = RecordingHandler(rcpt_replies={"full@clinic.example": "452 4.2.2 Mailbox full"})
    with run_sink(handler) as running:
        result = deliver(local(running.port), ["full@clinic.example"])
    assert not result.accepted
    assert (result.code, result.enhanced, result.text) == (452, "4.2.2", "Mailbox full")
    assert str(result.to_reply()) == "452 4.2.2 Mailbox full"
    assert running.received == []


def test_temporary_refusal_wins_when_all_are_refused() -> None:
    handler = RecordingHandler(
        rcpt_replies={
            "gone@clinic.example": "550 5.1.1 No such user",
            "busy@clinic.example": "451 4.3.2 Try later",
        }
    )
    with run_sink(handler) as running:
        result = deliver(local(running.port), ["gone@clinic.example", "busy@clinic.example"])
    assert not result.accepted
    assert (result.code, result.enhanced) == (451, "4.3.2")
    assert result.per_recipient["gone@clinic.example"].code == 550


def test_data_refusal_is_passed_through() -> None:
    handler = RecordingHandler(data_reply="554 5.7.1 Message rejected by policy")
    with run_sink(handler) as running:
        result = deliver(local(running.port), ["a@clinic.example"])
    assert not result.accepted
    assert (result.code, result.enhanced, result.text) == (
        554,
        "5.7.1",
        "Message rejected by policy",
    )
    assert result.per_recipient["a@clinic.example"].code == 554


def test_auth_with_password_from_environment() -> None:
    with run_sink(
        authenticator=accept_login("tactful", "s3cret"), auth_require_tls=False
    ) as running:
        settings = settings_from_mapping(
            {
                "upstream": {
                    "target": f"127.0.0.1:{running.port}",
                    "starttls": "off",
                    "username": "tactful",
                    "password_env": "UPSTREAM_PW",
                }
            }
        )
        good = upstream_from_settings(settings, environ={"UPSTREAM_PW": "s3cret"})
        assert "s3cret" not in repr(good)
        assert asyncio.run(good.deliver(SENDER, ["a@clinic.example"], MESSAGE)).accepted
        bad = upstream_from_settings(settings, environ={"UPSTREAM_PW": "wrong"})
        result = asyncio.run(bad.deliver(SENDER, ["a@clinic.example"], MESSAGE))
        assert_tempfail(result, ["a@clinic.example"])
        assert len(running.received) == 1


def test_missing_password_variable_is_a_clear_config_error() -> None:
    settings = settings_from_mapping(
        {"upstream": {"target": "mail.example:25", "username": "u", "password_env": "NOPE_PW"}}
    )
    with pytest.raises(ConfigError, match="NOPE_PW"):
        upstream_from_settings(settings, environ={})


@pytest.fixture
def tls_sink(tmp_path: Path) -> Iterator[tuple[Sink, Path]]:
    context, cert = self_signed_tls(tmp_path)
    with run_sink(tls_context=context, require_starttls=True) as running:
        yield running, cert


def test_starttls_require_against_tls_server(tls_sink: tuple[Sink, Path]) -> None:
    running, cert = tls_sink
    upstream = local(running.port, starttls="require", ca_file=str(cert))
    assert deliver(upstream, ["a@clinic.example"]).accepted
    assert len(running.received) == 1


def test_starttls_auto_upgrades(tls_sink: tuple[Sink, Path]) -> None:
    running, cert = tls_sink
    # The server insists on STARTTLS, so only an upgraded session can deliver.
    upstream = local(running.port, starttls="auto", ca_file=str(cert))
    assert deliver(upstream, ["a@clinic.example"]).accepted


def test_untrusted_certificate_is_a_temporary_failure(tls_sink: tuple[Sink, Path]) -> None:
    running, _ = tls_sink
    result = deliver(local(running.port, starttls="require"), ["a@clinic.example"])
    assert_tempfail(result, ["a@clinic.example"])
    assert running.received == []


def test_starttls_require_without_server_support(sink: Sink) -> None:
    result = deliver(local(sink.port, starttls="require"), ["a@clinic.example"])
    assert_tempfail(result, ["a@clinic.example"])
    assert sink.received == []


def test_probe_extensions(sink: Sink) -> None:
    settings = settings_from_mapping(
        {"upstream": {"target": f"127.0.0.1:{sink.port}", "starttls": "off"}}
    )
    found = asyncio.run(probe_extensions(settings))
    assert found is not None
    assert {"8bitmime", "smtputf8", "size"} <= found
    maildir = settings_from_mapping({"upstream": {"target": "maildir:var/outbox"}})
    assert asyncio.run(probe_extensions(maildir)) is None
    down = settings_from_mapping({"upstream": {"target": f"127.0.0.1:{free_port()}"}})
    assert asyncio.run(probe_extensions(down)) == frozenset()


# --- broken upstreams -------------------------------------------------------


def test_connection_refused_is_451() -> None:
    result = deliver(local(free_port()), ["a@clinic.example"])
    assert_tempfail(result, ["a@clinic.example"])


def test_silent_server_times_out_as_451() -> None:
    async def scenario() -> DeliveryResult:
        async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # hold the connection open, say nothing
            writer.close()

        server = await asyncio.start_server(never_greet, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await local(port, timeout=0.5).deliver(SENDER, ["a@clinic.example"], MESSAGE)

    assert_tempfail(asyncio.run(scenario()), ["a@clinic.example"])


def test_bad_addresses_never_reach_the_wire(sink: Sink) -> None:
    result = deliver(local(sink.port), ["a@clinic.example>\r\nRCPT TO:<evil@x.example"])
    assert not result.accepted and result.code == 553
    assert "evil" not in result.text
    assert sink.received == []


@needs_smtp_sink
def test_smtp_sink_accepts() -> None:
    with run_smtp_sink([]) as server:
        result = deliver(local(server.port), ["a@clinic.example"])
        assert result.accepted and result.code == 250
        dumps = server.dumps()
    assert len(dumps) == 1
    assert b"X-Rcpt-Args: <a@clinic.example>" in dumps[0]
    assert b"Subject: Visit notes" in dumps[0]


@needs_smtp_sink
def test_smtp_sink_disconnect_after_data_is_451() -> None:
    with run_smtp_sink(["-q", "."]) as server:
        result = deliver(local(server.port), ["a@clinic.example"])
    assert_tempfail(result, ["a@clinic.example"])


@needs_smtp_sink
def test_smtp_sink_421_after_data_is_passed_through() -> None:
    with run_smtp_sink(["-Q", "."]) as server:
        result = deliver(local(server.port), ["a@clinic.example"])
    assert not result.accepted
    assert result.code == 421
    assert result.per_recipient["a@clinic.example"].code == 421


@needs_smtp_sink
def test_smtp_sink_custom_soft_bounce_after_data() -> None:
    with run_smtp_sink(["-r", ".", "-b", "452 4.2.2 Mailbox full"]) as server:
        result = deliver(local(server.port), ["a@clinic.example"])
    assert not result.accepted
    assert str(result.to_reply()) == "452 4.2.2 Mailbox full"


@needs_smtp_sink
def test_smtp_sink_soft_rcpt_refusal() -> None:
    with run_smtp_sink(["-r", "RCPT"]) as server:
        result = deliver(local(server.port), ["a@clinic.example", "b@clinic.example"])
    assert not result.accepted
    assert (result.code, result.enhanced) == (450, "4.3.0")
    assert {r.code for r in result.per_recipient.values()} == {450}


@needs_smtp_sink
def test_smtp_sink_hard_refusal_after_data() -> None:
    with run_smtp_sink(["-f", "."]) as server:
        result = deliver(local(server.port), ["a@clinic.example"])
    assert not result.accepted
    assert (result.code, result.enhanced) == (500, "5.3.0")


@needs_smtp_sink
def test_smtp_sink_abort_during_data() -> None:
    with run_smtp_sink(["-A", "0"]) as server:
        result = deliver(local(server.port), ["a@clinic.example"])
    assert not result.accepted
    assert result.code != 250


@needs_smtp_sink
def test_smtp_sink_hangs_up_at_mail_from() -> None:
    with run_smtp_sink(["-q", "MAIL"]) as server:
        result = deliver(local(server.port), ["a@clinic.example"])
    assert_tempfail(result, ["a@clinic.example"])


# --- maildir outbox ---------------------------------------------------------


def test_maildir_outbox_stores_durably(tmp_path: Path) -> None:
    box_path = tmp_path / "outbox"
    outbox = MaildirOutbox(box_path)
    result = deliver(outbox, ["a@clinic.example", "hidden-bcc@clinic.example"])
    assert result.accepted and result.code == 250
    box = mailbox.Maildir(box_path, factory=None, create=False)
    keys = box.keys()
    assert len(keys) == 1
    stored = box.get_bytes(keys[0])
    assert stored.endswith(MESSAGE)
    assert stored.startswith(b"Return-Path: <worker@agency.example>\r\n")
    assert f"{ENVELOPE_TO_HEADER}: hidden-bcc@clinic.example".encode() in stored
    assert os.listdir(box_path / "tmp") == []


def test_maildir_outbox_refuses_header_injection(tmp_path: Path) -> None:
    outbox = MaildirOutbox(tmp_path / "outbox")
    result = deliver(outbox, ["a@clinic.example\r\nBcc: x@evil.example"])
    assert not result.accepted and result.code == 553


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_maildir_write_failure_is_temporary(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    result = deliver(MaildirOutbox(locked / "outbox"), ["a@clinic.example"])
    assert not result.accepted and (result.code, result.enhanced) == (451, "4.3.0")


def test_maildir_path_is_a_file_is_temporary(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("not a directory")
    result = deliver(MaildirOutbox(blocker), ["a@clinic.example"])
    assert not result.accepted and (result.code, result.enhanced) == (451, "4.3.0")


# --- configuration ----------------------------------------------------------


def test_parse_target() -> None:
    assert parse_target("mail.agency.example:587") == ("mail.agency.example", 587)
    assert parse_target("[::1]:25") == ("::1", 25)
    assert parse_target("maildir:var/outbox") == Path("var/outbox")
    for bad in ("mail.agency.example", "mail:smtp", ":25", "host:0", "host:70000", "maildir:"):
        with pytest.raises(UpstreamConfigError, match=r"upstream\.target"):
            parse_target(bad)


def test_upstream_from_settings_kinds(tmp_path: Path) -> None:
    maildir = settings_from_mapping({"upstream": {"target": f"maildir:{tmp_path}/box"}})
    assert isinstance(upstream_from_settings(maildir), MaildirOutbox)
    smtp = settings_from_mapping({"upstream": {"target": "127.0.0.1:2525"}})
    assert isinstance(upstream_from_settings(smtp), SmtpUpstream)
    bad = settings_from_mapping({"upstream": {"target": "nonsense"}})
    with pytest.raises(ConfigError, match="HOST:PORT"):
        upstream_from_settings(bad)


def test_split_enhanced_multiline() -> None:
    assert split_enhanced(250, "2.0.0 Ok\n2.0.0 queued") == ("2.0.0", "Ok\nqueued")
    assert split_enhanced(550, "No such user") == ("5.0.0", "No such user")
    # An enhanced code of the wrong class is not trusted.
    assert split_enhanced(451, "2.0.0 odd") == ("4.0.0", "2.0.0 odd")
