"""What the worker and the recipient are told, through the real pipeline
(the real engine, a real spool database, a real aiosmtpd upstream).

The worker hears every outcome, worded for its moment, and the message is
named by its subject; the recipient is told nothing about findings unless
the agency turns the header on. The README's masking examples and its
sample notice are checked against what the product writes, byte for byte.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import pytest

from proxy.core.submission import Submission
from proxy.pipeline.notices import MASK_EXAMPLE
from proxy.store.audit import AuditTrail
from proxy.store.db import make_engine
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import SpoolStore
from tests.pipeline.test_act import WORKER, build, settings_with, submission
from tests.support.upstream_fixtures import Sink, run_sink

README = Path(__file__).resolve().parents[2] / "README.md"
CLIENT = "rosa.diaz@example.com"
COLLEAGUE = "sam@example.org"


@pytest.fixture
def sink() -> Iterator[Sink]:
    with run_sink() as running:
        yield running


def notices(spool: SpoolStore) -> list[tuple[str, str]]:
    """Subject and body of each notice queued for the worker, as read."""
    found = []
    for row in spool.by_state([SpoolState.DEFERRED]):
        if row.user == "tactful" and row.recipients == (WORKER,):
            raw = spool.raw(row.id)
            assert raw is not None
            mail = message_from_bytes(raw, policy=email_policy.default)
            body = mail.get_content()  # type: ignore[attr-defined]
            found.append((str(mail["Subject"]), body.replace("\r\n", "\n")))
    return found


def readme_block(after: str) -> str:
    """The fenced block that follows the line ``after`` in the README."""
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    fence = text.index("```text\n", start) + len("```text\n")
    return text[fence : text.index("```\n", fence)]


def test_a_masked_message_matches_the_readme(tmp_path: Path, sink: Sink, nlp_service: Any) -> None:
    """One masking format: what the client receives, what the notice says
    and what the README shows are the same string."""
    pipeline, spool = build(tmp_path, sink.port, nlp_service)
    job = submission("03-ssn-client-redact.eml", CLIENT)
    reply = asyncio.run(pipeline.process(job))
    assert reply.code == 250
    (arrived,) = sink.received
    text = arrived.data.decode("ascii")
    masked = re.search(r"\*{3}-\*{2}-8821", text.replace("=\r\n", ""))
    assert masked is not None and "512-44-8821" not in text
    assert masked.group(0) == MASK_EXAMPLE == "***-**-8821"
    readme = README.read_text(encoding="utf-8")
    assert f"# redacted: the SSN reaches the client as {MASK_EXAMPLE}; Jane gets a notice" in readme
    assert f"masked (`{MASK_EXAMPLE}`)" in readme  # the SMS table
    # The recipient learns nothing of the findings.
    assert b"X-Tactful-Findings" not in arrived.data

    [(subject, body)] = notices(spool)
    assert subject == 'Sent with 1 detail masked: "SNAP form"'
    sample = readme_block("A masked message's notice reads:")
    shown = f"Subject: {subject}\n\n{body}".replace(job.id, "9f1c2e4b7a6d4c0e8b5a3f2d1e0c9b8a")
    assert shown == sample


def test_a_warning_reaches_the_worker_and_not_the_recipient(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    """An SSN to a colleague goes as written (warn); the advice used to be
    lost, and a header told the recipient which kinds of detail it had."""
    pipeline, spool = build(tmp_path, sink.port, nlp_service)
    job = submission("16-internal-ssn.eml", COLLEAGUE)
    reply = asyncio.run(pipeline.process(job))
    assert reply.code == 250
    (arrived,) = sink.received
    assert b"512-44-8821" in arrived.data  # sent as written
    assert b"X-Tactful-Findings" not in arrived.data
    [(subject, body)] = notices(spool)
    assert subject == 'Sent, with advice for next time: "Benefits form"'
    assert body == (
        'Tactful has sent your message "Benefits form" to 1 recipient as you wrote it.\n'
        "It has gone; you do not need to do anything now.\n\n"
        "Tactful noticed something worth knowing for next time:\n"
        "  - There is a Social Security number in the message. Even inside the agency, share "
        "it only if your colleague needs it; the secure client portal is safer.\n\n"
        f"Reference (for the helpdesk): {job.id}\n"
    )
    # The audit trail keeps the rule codes, as before.
    trail = AuditTrail(make_engine(f"sqlite:///{tmp_path / 'spool.db'}")).entries()
    (entry,) = [e for e in trail if e.action == "message.warn"]
    assert entry.target == job.id and entry.details["rules"] == "financial-identifier"


def test_an_agency_can_keep_a_rule_s_warnings_quiet_and_turn_the_header_on(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    rules = {"financial-identifier": {"default": "redact", "internal": "warn",
                                      "warn_notice": False}}  # fmt: skip
    settings = settings_with(policy={"rules": rules}, notices={"findings_header": True})
    pipeline, spool = build(tmp_path, sink.port, nlp_service, settings=settings)
    reply = asyncio.run(pipeline.process(submission("16-internal-ssn.eml", COLLEAGUE)))
    assert reply.code == 250
    (arrived,) = sink.received
    assert b"X-Tactful-Findings: financial-identifier" in arrived.data
    assert notices(spool) == []


def test_a_scheduled_message_gives_its_time_with_the_zone(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    """Shipped working hours (Mon-Fri 08:00-18:00, Chicago): sent on a
    Tuesday at 23:00, it goes on Wednesday at 08:00 CST."""
    settings = settings_with(agency={"holidays": []})
    pipeline, spool = build(tmp_path, sink.port, nlp_service, settings=settings)
    raw = (
        f"From: Jane Worker <{WORKER}>\r\nTo: Rosa Diaz <{CLIENT}>\r\n"
        "Subject: Visit on Thursday\r\nMessage-ID: <visit@example.org>\r\n\r\n"
        "See you on Thursday at 3.\r\n"
    ).encode()
    at = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # Tuesday 23:00 in Chicago
    job = Submission(uuid.uuid4().hex, WORKER, (CLIENT,), WORKER, raw, at)
    reply = asyncio.run(pipeline.process(job))
    assert reply.code == 250 and sink.received == []
    [(subject, body)] = notices(spool)
    when = "Wednesday 25 November at 08:00 CST (America/Chicago)"
    # The mail program's reply says the same.
    assert f"it will be sent on {when} (start of the next working window)" in str(reply)
    assert subject == f'Scheduled for {when}: "Visit on Thursday"'
    assert body.startswith(
        f'Tactful will send your message "Visit on Thursday" to 1 recipient on {when},\n'
        "at the start of the next working window.\nIt has NOT been sent yet.\n"
    )
    assert "  - It was sent outside the agency's working hours.\n" in body
    assert "sending this one\nagain now would send it twice" in body


def test_a_held_message_is_named_by_its_subject_with_values_masked(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    pipeline, spool = build(tmp_path, sink.port, nlp_service)
    raw = (
        f"From: Jane Worker <{WORKER}>\r\nTo: intake@partner.example.net\r\n"
        "Subject: Referral, DOB 03/14/1988\r\nMessage-ID: <ref@example.org>\r\n\r\n"
        "Please see the referral. Date of birth 03/14/1988.\r\n"
    ).encode()
    job = Submission(uuid.uuid4().hex, WORKER, ("intake@partner.example.net",), WORKER, raw,
                     datetime(2026, 11, 24, 16, 0, tzinfo=UTC))  # fmt: skip
    assert asyncio.run(pipeline.process(job)).code == 250
    [(subject, body)] = notices(spool)
    assert subject == 'Held for review, not sent yet: "Referral, DOB **/**/****"'
    assert "03/14/1988" not in subject + body
    held = spool.get(job.id)
    assert held is not None and held.summary.title == "Referral, DOB **/**/****"
    assert "If you send it as it is" not in body
