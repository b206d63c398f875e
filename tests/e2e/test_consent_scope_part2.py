"""End to end through the shipped ``tactful serve``: a release with a scope
passes what it covers and holds what it does not; the 42 CFR Part 2 notice
and the consent's scope line are in what the upstream (aiosmtpd) receives,
intact, in plain and HTML bodies, DKIM-signed, also after masking and after
a reviewer's release; and the accounting lists exactly what left, with the
purpose and the reviewer.

The example registry is the shipped one: client C-1006 (a Part 2 client)
authorised Dana Ortiz, attorney, to receive substance-use information for
legal representation. One more release, imported here, covers identifying
details too (so a masked SSN can go out to that party).
"""

from __future__ import annotations

import csv
import html
import io
import re
import smtplib
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest

from proxy.cli import main
from proxy.core.clock import system_clock
from proxy.pipeline.accounting import FIELDS
from proxy.store.crypto import MessageCipher, load_or_create_key
from proxy.store.db import make_engine
from proxy.store.spool_decisions import Decided
from proxy.store.spool_store import SpoolStore
from tests.support.proxy_fixtures import (
    REVIEWER,
    WORKER,
    WORKER_PASSWORD,
    TactfulServer,
    dns_for,
    example,
    run_cli,
)
from tests.support.upstream_fixtures import Received, RecordingHandler, Sink, run_sink

pytestmark = pytest.mark.timeout(600)

ATTORNEY = "dortiz@ortiz-law.example.com"
OFFICER = "pat.reyes@probation.example.gov"
OFFICER_ROW = (
    "C-1006,Pat Reyes,,pat.reyes@probation.example.gov,email,authorized,granted,2026-03-01,,"
    'no,,,"Pat Reyes, probation officer",substance_use;identifiers,court-ordered supervision,yes'
)
SSN = "512-44-8821"
# Message ids that reached a party of C-1006, by test: what the accounting must list.
SENT: dict[str, str] = {}


@pytest.fixture(scope="module")
def upstream() -> Iterator[Sink]:
    with run_sink(RecordingHandler()) as sink:
        yield sink


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: Sink) -> Iterator[TactfulServer]:
    home = tmp_path_factory.mktemp("tactful")
    instance = TactfulServer(
        home=home, upstream=f"127.0.0.1:{upstream.port}",
        db_url=f"sqlite:///{home / 'tactful.db'}",
    )  # fmt: skip
    instance.prepare()
    extra = home / "officer.csv"
    header = (Path(__file__).resolve().parents[2] / "config" / "consent.example.csv").read_text()
    extra.write_text(header.splitlines()[0] + "\n" + OFFICER_ROW + "\n")
    done = run_cli("consent", "import", str(extra), "--config", str(instance.config_file),
                   cwd=home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    instance.start()
    yield instance
    instance.stop()
    assert "Traceback" not in instance.log_text()


def submit(server: TactfulServer, raw: bytes, recipients: list[str]) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", server.port, timeout=120) as client:
        client.login(WORKER, WORKER_PASSWORD)
        client.mail(WORKER)
        for rcpt in recipients:
            code, text = client.rcpt(rcpt)
            assert code == 250, text
        code, text = client.data(raw)
        return code, text.decode()


def arrived(sink: Sink, address: str, marker: bytes, timeout: float = 60) -> Received:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in sink.received if address in r.recipients and marker in r.data]
        if found:
            assert len(found) == 1
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"nothing with {marker!r} reached {address}")


def words(text: str) -> str:
    return " ".join(text.split())


def notice_of(server: TactfulServer) -> str:
    return words(server.settings().part2.notice)


def bodies(data: bytes) -> tuple[str, str | None]:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    plain = msg.get_body(("plain",))
    rich = msg.get_body(("html",))
    assert plain is not None
    return plain.get_content(), rich.get_content() if rich is not None else None  # type: ignore[attr-defined]


def assert_signed_notice(server: TactfulServer, received: Received, scope_line: str) -> str:
    """The notice and the scope line, whole, in the plain body, under a
    signature that verifies; returns the plain body."""
    assert dkim.verify(received.data, dnsfunc=dns_for(server))
    plain, _ = bodies(received.data)
    assert notice_of(server) in words(plain)
    assert words(scope_line) in words(plain)
    # Lines are broken between words only, never inside one.
    assert all(not line.endswith("-") for line in plain.splitlines())
    return plain


def message_id(received: Received) -> str:
    match = re.search(rb"Message-ID: <([^>]+)>", received.data)
    assert match
    return match.group(1).decode()


ATTORNEY_SCOPE = (
    "Scope of the patient's consent: Dana Ortiz, attorney may receive information about "
    "substance use; purpose: legal representation."
)


def test_in_scope_mail_passes_with_the_notice_signed(
    server: TactfulServer, upstream: Sink
) -> None:
    code, text = submit(server, example("18-scope-in.eml"), [ATTORNEY])
    assert code == 250, text
    received = arrived(upstream, ATTORNEY, b"<18-scope-in@example.org>")
    plain = assert_signed_notice(server, received, ATTORNEY_SCOPE)
    # What the worker wrote is there, before the notice.
    assert plain.index("every methadone treatment session") < plain.index("42 CFR part 2")
    SENT["in-scope"] = "18-scope-in@example.org"


def test_out_of_scope_mail_is_held_then_released_with_the_notice(
    server: TactfulServer, upstream: Sink
) -> None:
    code, text = submit(server, example("19-scope-out.eml"), [ATTORNEY])
    assert code == 250, text
    ref = re.search(r"Held for review, reference ([0-9a-f]{32})", text)
    assert ref, text
    lines = text.splitlines()
    # The README shows this reply; it must be what the product says.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = [
        line.split("250-2.0.0 ", 1)[1]
        for line in readme.splitlines()
        if "250-2.0.0 Client C-1006's release" in line
    ]
    assert shown == [lines[1].removeprefix("2.0.0 ")], (shown, lines)
    assert "C-1006" in lines[1] and "Dana Ortiz, attorney" in lines[1]
    assert "depression" not in text
    assert not [r for r in upstream.received if b"<19-scope-out@example.org>" in r.data]
    # A worker cannot override it with a subject tag.
    tagged = example("19-scope-out.eml").replace(
        b"Subject: Treatment", b"Subject: [override: she agreed] Treatment"
    ).replace(b"<19-scope-out@", b"<19-scope-out-tagged@")
    code, text = submit(server, tagged, [ATTORNEY])
    assert code == 250 and "Held for review" in text, text

    engine = make_engine(server.db_url)
    spool = SpoolStore(
        engine, MessageCipher(load_or_create_key(server.settings().hold)), clock=system_clock
    )
    assert isinstance(spool.release(ref.group(1), REVIEWER, "client agreed in writing"), Decided)
    engine.dispose()
    received = arrived(upstream, ATTORNEY, b"<19-scope-out@example.org>")
    assert_signed_notice(server, received, ATTORNEY_SCOPE)
    SENT["released"] = "19-scope-out@example.org"


def test_html_mail_gets_the_notice_in_both_bodies(server: TactfulServer, upstream: Sink) -> None:
    msg = EmailMessage()
    msg["From"] = "Jane Worker <jworker@example.org>"
    msg["To"] = f"Dana Ortiz <{ATTORNEY}>"
    msg["Subject"] = "Treatment update"
    msg["Message-ID"] = "<part2-html@example.org>"
    msg.set_content("Hi Dana,\n\nAlex Morgan completed the methadone treatment program.\n")
    msg.add_alternative(
        "<html><body><p>Hi Dana,</p><p>Alex Morgan completed the methadone treatment "
        "program.</p></body></html>\n",
        subtype="html",
    )
    code, text = submit(server, msg.as_bytes(policy=policy.SMTP), [ATTORNEY])
    assert code == 250, text
    received = arrived(upstream, ATTORNEY, b"<part2-html@example.org>")
    assert_signed_notice(server, received, ATTORNEY_SCOPE)
    _, rich = bodies(received.data)
    assert rich is not None
    assert words(html.escape(notice_of(server))) in words(rich)
    assert words(html.escape(ATTORNEY_SCOPE)) in words(rich)
    assert rich.index("completed the methadone") < rich.index("42 CFR part 2")
    assert rich.rstrip().endswith("</html>")  # inside the body, not after the document
    SENT["html"] = "part2-html@example.org"


def test_masked_mail_gets_the_notice_after_masking(server: TactfulServer, upstream: Sink) -> None:
    raw = (
        "From: Jane Worker <jworker@example.org>\r\n"
        f"To: Pat Reyes <{OFFICER}>\r\n"
        "Subject: Supervision report\r\n"
        "Message-ID: <part2-masked@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Alex Morgan attends methadone treatment weekly. For the benefits form: SSN {SSN}.\r\n"
    ).encode()
    code, text = submit(server, raw, [OFFICER])
    assert code == 250, text
    received = arrived(upstream, OFFICER, b"<part2-masked@example.org>")
    plain = assert_signed_notice(
        server, received,
        "Scope of the patient's consent: Pat Reyes, probation officer may receive "
        "information about substance use and identifying details; purpose: court-ordered "
        "supervision.",
    )  # fmt: skip
    assert SSN not in received.data.decode("latin-1") and SSN not in plain
    assert "8821" in plain
    SENT["masked"] = "part2-masked@example.org"


def test_no_notice_for_the_client_herself(server: TactfulServer, upstream: Sink) -> None:
    raw = example("18-scope-in.eml").replace(
        f"Dana Ortiz <{ATTORNEY}>".encode(), b"Alex Morgan <alex.morgan@example.com>"
    ).replace(b"<18-scope-in@", b"<18-to-client@")
    code, text = submit(server, raw, ["alex.morgan@example.com"])
    assert code == 250, text
    received = arrived(upstream, "alex.morgan@example.com", b"<18-to-client@example.org>")
    assert b"42 CFR part 2" not in received.data
    assert dkim.verify(received.data, dnsfunc=dns_for(server))
    SENT["client"] = "18-to-client@example.org"


def test_the_accounting_lists_exactly_what_left(
    server: TactfulServer, upstream: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    assert set(SENT) == {"in-scope", "released", "html", "masked", "client"}
    assert main(["disclosures", "C-1006", "--format", "csv", "--db", server.db_url]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert tuple(rows[0]) == FIELDS
    listed = [dict(zip(FIELDS, r, strict=True)) for r in rows[1:]]
    # Every message that reached someone for C-1006, once; nothing that was held.
    left = {
        message_id(r)
        for r in upstream.received
        if set(r.recipients) & {ATTORNEY, OFFICER, "alex.morgan@example.com"}
    }
    spool = SpoolStore(
        make_engine(server.db_url),
        MessageCipher(load_or_create_key(server.settings().hold)),
        clock=system_clock,
    )
    by_ref = {row["message_id"]: row for row in listed}
    assert len(by_ref) == len(listed) == len(left) == 5
    # The accounting names Tactful's references; the upstream saw the Message-IDs.
    released = next(r for r in listed if r["reviewed"] == "yes")
    assert released["released_by"] == REVIEWER
    held = spool.get(released["message_id"])
    assert held is not None and held.decided_by == REVIEWER
    for row in listed:
        if row["recipient_address"] == ATTORNEY:
            assert row["recipient_name"] == "Dana Ortiz, attorney"
            assert row["purpose"] == "legal representation"
            assert row["part2_notice"] == "yes" and "substance use" in row["description"]
        elif row["recipient_address"] == OFFICER:
            assert row["purpose"] == "court-ordered supervision"
            assert row["part2_notice"] == "yes"
            assert "Social Security number" not in row["description"]  # it was masked
        else:
            assert row["recipient_address"] == "alex.morgan@example.com"
            assert row["purpose"] == "not stated" and row["recipient_kind"] == "the client"
    assert sum(r["reviewed"] == "yes" for r in listed) == 1
