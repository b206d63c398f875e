"""End to end: real mail programs → ``tactful serve`` (a subprocess) → a
real upstream (aiosmtpd), for every action the proxy takes.

What arrived upstream is checked byte for byte where it matters: the
DKIM signature verifies against the published key, a masked value leaves
no trace in any part or encoding, and held or rejected mail never reaches
its recipient.
"""

from __future__ import annotations

import re
import shutil
import smtplib
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest

from proxy.core.clock import ManualClock, system_clock
from proxy.store.crypto import MessageCipher, load_or_create_key
from proxy.store.db import make_engine
from proxy.store.spool_decisions import Decided
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import SpoolStore
from tests.support.proxy_fixtures import (
    REVIEWER,
    WORKER,
    WORKER_PASSWORD,
    TactfulServer,
    dns_for,
    example,
)
from tests.support.upstream_fixtures import (
    Received,
    RecordingHandler,
    Sink,
    free_port,
    run_sink,
    run_smtp_sink,
)

pytestmark = pytest.mark.timeout(600)

BUSY = "busy@example.org"
GONE = "gone@example.org"
COLLEAGUE = "scolleague@example.org"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Sink]:
    handler = RecordingHandler(
        rcpt_replies={
            BUSY: "451 4.3.0 Mailbox busy, try again later",
            GONE: "550 5.1.1 No such user here",
        }
    )
    with run_sink(handler) as sink:
        yield sink


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: Sink) -> Iterator[TactfulServer]:
    home = tmp_path_factory.mktemp("tactful")
    instance = TactfulServer(
        home=home,
        upstream=f"127.0.0.1:{upstream.port}",
        db_url=f"sqlite:///{home / 'tactful.db'}",
    )
    instance.prepare()
    instance.start()
    yield instance
    instance.stop()
    assert "Traceback" not in instance.log_text()


def wait_for(predicate: Callable[[], list[Received]], timeout: float = 30) -> list[Received]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    return []


def to(sink: Sink, address: str, marker: bytes = b"") -> Callable[[], list[Received]]:
    return lambda: [r for r in sink.received if address in r.recipients and marker in r.data]


def submit(server: TactfulServer, raw: bytes, recipients: list[str]) -> tuple[int, str]:
    """Send with smtplib; return the final reply (code, text)."""
    with smtplib.SMTP("127.0.0.1", server.port, timeout=120) as client:
        client.login(WORKER, WORKER_PASSWORD)
        client.mail(WORKER)
        for rcpt in recipients:
            code, text = client.rcpt(rcpt)
            assert code == 250, text
        code, text = client.data(raw)
        return code, text.decode()


def spool_of(server: TactfulServer) -> SpoolStore:
    settings = server.settings()
    cipher = MessageCipher(load_or_create_key(settings.hold))
    # The server runs on the real clock; a spool sharing its database does too.
    return SpoolStore(make_engine(server.db_url), cipher, clock=system_clock)


def all_text(data: bytes) -> str:
    """Every header and every decoded part, so a masked value cannot hide
    in an encoding."""
    msg = message_from_bytes(data, policy=policy.default)
    chunks = [data.decode("latin-1")]
    chunks += [f"{k}: {v}" for k, v in msg.items()]
    for part in msg.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                chunks.append(payload.decode("utf-8", errors="replace"))
    return "\n".join(chunks)


def test_passed_mail_arrives_signed_with_tags_stripped(
    server: TactfulServer, upstream: Sink
) -> None:
    raw = example("01-pass-internal.eml").replace(
        b"Subject: Coverage Thursday", b"Subject: [urgent] Coverage Thursday"
    )
    code, text = submit(server, raw, [COLLEAGUE])
    assert code == 250, text
    arrived = wait_for(to(upstream, COLLEAGUE, b"<01-pass-internal@example.org>"))
    assert len(arrived) == 1
    data = arrived[0].data
    assert arrived[0].sender == WORKER
    assert dkim.verify(data, dnsfunc=dns_for(server))
    msg = message_from_bytes(data, policy=policy.default)
    assert msg["Subject"] == "Coverage Thursday"
    assert "cover my 2pm group" in msg.get_body().get_content()  # type: ignore[union-attr]


def test_a_forged_from_is_refused_and_nothing_is_signed_or_relayed(
    server: TactfulServer, upstream: Sink
) -> None:
    """The shipped `tactful serve`: the worker logs in as herself, gives her
    own MAIL FROM, and writes a colleague in the header From:. 553, and
    nothing (signed or not) reaches the upstream."""
    raw = (
        example("01-pass-internal.eml")
        .replace(b"From: Jane Worker <jworker@example.org>", f"From: Sam <{REVIEWER}>".encode())
        .replace(b"<01-pass-internal@example.org>", b"<forged-from@example.org>")
    )
    assert f"From: Sam <{REVIEWER}>".encode() in raw
    code, text = submit(server, raw, [COLLEAGUE])
    assert code == 553, text
    assert text.startswith("5.7.1 The From: line of your message names an address")
    # Refused at DATA, before the pipeline: nothing was queued to arrive later.
    assert to(upstream, COLLEAGUE, b"<forged-from@example.org>")() == []


def test_masked_value_leaves_no_trace_and_sender_is_told(
    server: TactfulServer, upstream: Sink
) -> None:
    code, text = submit(server, example("03-ssn-client-redact.eml"), ["rosa.diaz@example.com"])
    assert code == 250, text
    arrived = wait_for(to(upstream, "rosa.diaz@example.com", b"03-ssn-client-redact"))
    assert len(arrived) == 1
    everything = all_text(arrived[0].data)
    for trace in ("512-44-8821", "512448821", "512 44 8821", "512=2D44"):
        assert trace not in everything
    # The README's format, the last four kept so the client can recognise it.
    assert "***-**-8821" in everything
    assert "sign page 2" in everything
    # The shipped settings tell the client nothing about what was found.
    assert b"X-Tactful-Findings" not in arrived[0].data
    assert dkim.verify(arrived[0].data, dnsfunc=dns_for(server))
    notice = wait_for(to(upstream, WORKER, b"masked"))
    assert notice, "the sender was not told what was masked"
    assert b"512-44-8821" not in notice[0].data
    told = message_from_bytes(notice[0].data, policy=policy.default)
    assert told["Subject"] == 'Sent with 1 detail masked: "SNAP form"'
    assert "The recipient sees each masked detail like this: ***-**-8821" in (
        told.get_body().get_content()  # type: ignore[union-attr]
    )


def test_held_mail_waits_for_a_reviewer_then_goes_out_signed(
    server: TactfulServer, upstream: Sink
) -> None:
    recipient = "intake@partner-clinic.example"
    raw = example("02-dob-external.eml")
    code, text = submit(server, raw, [recipient])
    assert code == 250, text
    match = re.search(r"Held for review, reference ([0-9a-f]{32})", text)
    assert match, text
    ref = match.group(1)
    assert "date of birth" in text.lower()

    notice = wait_for(to(upstream, WORKER, ref.encode()))
    assert notice, "no held notice reached the sender"
    body = message_from_bytes(notice[0].data, policy=policy.default)
    assert body["Auto-Submitted"] == "auto-generated"
    assert "reviewer" in body.get_body().get_content()  # type: ignore[union-attr]
    assert not [r for r in upstream.received if recipient in r.recipients]

    spool = spool_of(server)
    held = spool.get(ref)
    assert held is not None and held.state == SpoolState.HELD
    stored = spool.raw(ref)
    assert stored is not None and b"Message-ID: <02-dob-external" in stored

    decided = spool.release(ref, by="sam@example.org", reason="parent consented")
    assert isinstance(decided, Decided)
    arrived = wait_for(to(upstream, recipient), timeout=60)
    assert len(arrived) == 1
    assert dkim.verify(arrived[0].data, dnsfunc=dns_for(server))
    final = spool.get(ref)
    assert final is not None and final.state == SpoolState.SENT
    assert spool.raw(ref) is None  # content purged once sent


def test_rejection_is_readable_in_swaks(server: TactfulServer, upstream: Sink) -> None:
    if shutil.which("swaks") is None:
        pytest.skip("swaks not installed (apt swaks)")
    path = server.home / "revoked.eml"
    path.write_bytes(example("04-consent-revoked.eml"))
    result = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{server.port}", "--auth", "PLAIN",
         "--auth-user", WORKER, "--auth-password", WORKER_PASSWORD,
         "--from", WORKER, "--to", "james.okafor@example.net", "--data", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "550-5.7.1 Not sent: Tactful blocked this message." in result.stdout
    assert "withdrawn consent" in result.stdout
    assert not [r for r in upstream.received if "james.okafor@example.net" in r.recipients]


def test_msmtp_sends_through_the_proxy(server: TactfulServer, upstream: Sink) -> None:
    if shutil.which("msmtp") is None:
        pytest.skip("msmtp not installed (apt msmtp)")
    config = server.home / "msmtprc"
    config.write_text(
        f"account default\nhost 127.0.0.1\nport {server.port}\nauth plain\ntls off\n"
        f"user {WORKER}\npassword {WORKER_PASSWORD}\nfrom {WORKER}\n"
    )
    config.chmod(0o600)
    msg = EmailMessage()
    msg["From"] = WORKER
    msg["To"] = COLLEAGUE
    msg["Subject"] = "Team lunch"
    msg["Message-ID"] = "<msmtp-e2e@example.org>"
    msg.set_content("Lunch at noon on Friday?")
    result = subprocess.run(
        ["msmtp", "-C", str(config), COLLEAGUE],
        input=msg.as_bytes(), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    arrived = wait_for(to(upstream, COLLEAGUE, b"<msmtp-e2e@example.org>"))
    assert len(arrived) == 1 and dkim.verify(arrived[0].data, dnsfunc=dns_for(server))


@pytest.mark.parametrize(
    ("recipient", "code", "words"),
    [(BUSY, 451, "Mailbox busy"), (GONE, 550, "No such user")],
)
def test_upstream_replies_are_passed_back_faithfully(
    server: TactfulServer, recipient: str, code: int, words: str
) -> None:
    raw = example("01-pass-internal.eml")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=120) as client:
        client.login(WORKER, WORKER_PASSWORD)
        client.mail(WORKER)
        assert client.rcpt(recipient)[0] == 250
        got, text = client.data(raw)
    assert got == code
    assert words in text.decode()


def test_deferred_mail_is_sent_when_the_window_opens(tmp_path: Path, upstream: Sink) -> None:
    """After hours, mail to a client waits in the spool; the scheduler sends
    it at the next working start -- checked with the real scheduler and a
    clock moved past that start."""
    import asyncio

    from proxy.app.server import build_services
    from proxy.pipeline.scheduler import Scheduler

    now = datetime.now(UTC)
    # A one-hour working window that does not contain now and does not
    # cross midnight: later today if it fits, else earlier today.
    zone = "UTC"
    later = now + timedelta(hours=1)
    first = later if (later + timedelta(hours=1)).date() == now.date() else now - timedelta(hours=2)
    start = first.time().replace(second=0, microsecond=0)
    end = (first + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    instance = TactfulServer(
        home=tmp_path,
        upstream=f"127.0.0.1:{upstream.port}",
        db_url=f"sqlite:///{tmp_path / 'tactful.db'}",
        overrides={
            "agency": {
                "timezone": zone,
                "working_hours": {
                    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                },
            }
        },
    )
    instance.prepare()
    instance.start()
    try:
        code, text = submit(instance, example("09-after-hours.eml"), ["rosa.diaz@example.com"])
    finally:
        instance.stop()
    assert code == 250, text
    assert "Scheduled" in text
    ref = re.search(r"reference ([0-9a-f]{32})", text)
    assert ref
    clock = ManualClock(now)
    services = build_services(instance.settings(), instance.db_url, clock=clock)
    row = services.spool.get(ref.group(1))
    assert row is not None and row.state == SpoolState.DEFERRED and row.release_after
    assert not [r for r in upstream.received if b"09-after-hours" in r.data]

    clock.now = row.release_after - timedelta(seconds=1)
    asyncio.run(Scheduler(services).run_once())
    assert not [r for r in upstream.received if b"09-after-hours" in r.data]
    clock.now = row.release_after + timedelta(seconds=1)
    asyncio.run(Scheduler(services).run_once())
    arrived = [r for r in upstream.received if b"09-after-hours" in r.data]
    assert len(arrived) == 1
    assert arrived[0].recipients == ["rosa.diaz@example.com"]
    sent = services.spool.get(ref.group(1))
    assert sent is not None and sent.state == SpoolState.SENT


def test_unreachable_upstream_gives_a_temporary_failure(tmp_path: Path) -> None:
    instance = TactfulServer(
        home=tmp_path,
        upstream=f"127.0.0.1:{free_port()}",  # nothing listens there
        db_url=f"sqlite:///{tmp_path / 'tactful.db'}",
    )
    instance.prepare()
    instance.start("--no-lint")
    try:
        with smtplib.SMTP("127.0.0.1", instance.port, timeout=120) as client:
            client.login(WORKER, WORKER_PASSWORD)
            client.mail(WORKER)
            assert client.rcpt(COLLEAGUE)[0] == 250
            code, text = client.data(example("01-pass-internal.eml"))
    finally:
        instance.stop()
    assert 400 <= code < 500, text


@pytest.mark.parametrize(
    ("options", "expected"),
    [(["-q", "."], 451), (["-Q", "."], 421), (["-r", ".", "-b", "452 4.3.1 Out of space"], 452)],
    ids=["disconnect-after-data", "421-after-data", "452-after-data"],
)
def test_misbehaving_smtp_sink_upstream_means_4xx_to_the_client(
    tmp_path: Path, options: list[str], expected: int
) -> None:
    """Postfix smtp-sink as an upstream that hangs up or refuses after the
    message: the mail program is told to try again, so it keeps the message."""
    with run_smtp_sink(options) as upstream_sink:
        instance = TactfulServer(
            home=tmp_path,
            upstream=f"127.0.0.1:{upstream_sink.port}",
            db_url=f"sqlite:///{tmp_path / 'tactful.db'}",
        )
        instance.prepare()
        instance.start("--no-lint")
        try:
            with smtplib.SMTP("127.0.0.1", instance.port, timeout=120) as client:
                client.login(WORKER, WORKER_PASSWORD)
                client.mail(WORKER)
                assert client.rcpt(COLLEAGUE)[0] == 250
                code, text = client.data(example("01-pass-internal.eml"))
                # The session is still usable: the client may retry at once.
                assert client.noop()[0] == 250
        finally:
            instance.stop()
    assert code == expected, text
