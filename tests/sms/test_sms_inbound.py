"""Replies from clients' phones: the provider's signed webhook, STOP ending
texts to that client at once (the next text is refused with Twilio's
"unsubscribed recipient" error), START undoing only what STOP did, HELP
recorded, and unsigned or forged requests changing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from proxy.core.consent import Channel, ConsentStatus
from proxy.sms.keywords import EVIDENCE_MARK
from proxy.store.audit import AuditTrail
from tests.support.sms_fixtures import (
    AGENCY_NUMBER,
    CLIENT_SID,
    JAMES,
    MARIA,
    PROVIDER_TOKEN,
    WORKER,
    WORKER_PASSWORD,
    SmsWorld,
    chicago,
    sms_world,
)

DAYTIME = chicago(2026, 11, 24, 10)


@pytest.fixture
def world(tmp_path: Path, db_url: str, nlp_service: Any) -> Iterator[SmsWorld]:
    with sms_world(tmp_path, db_url, nlp_service, now=DAYTIME) as running:
        yield running


def reply(
    world: SmsWorld, number: str, body: str, *, token: str = PROVIDER_TOKEN
) -> httpx.Response:
    """Post an inbound text the way Twilio does, signed with ``token``."""
    url = f"{world.base_url}/sms/inbound"
    params = {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": "ACagency0000000000000000000000000",
        "From": number,
        "To": AGENCY_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(token).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})


def send(world: SmsWorld, to: str, body: str) -> Any:
    client = Client(WORKER, WORKER_PASSWORD, account_sid=CLIENT_SID)
    client.api.base_url = world.base_url
    return client.messages.create(to=to, from_=AGENCY_NUMBER, body=body)


def sms_rows(world: SmsWorld, client_id: str) -> list[Any]:
    return [r for r in world.consent.list(client_id) if r.channel is Channel.SMS]


def test_stop_revokes_consent_and_the_next_text_is_refused(world: SmsWorld) -> None:
    assert send(world, JAMES, "Your appointment is confirmed.").status == "queued"
    assert len(world.provider.calls) == 1

    answer = reply(world, JAMES, "  Stop ")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<Response>" in answer.text and "<Message" not in answer.text

    (row,) = sms_rows(world, "C-1002")
    assert row.status is ConsentStatus.REVOKED
    # Other clients' numbers are untouched.
    assert [r.status for r in sms_rows(world, "C-1001")] == [ConsentStatus.GRANTED]

    with pytest.raises(TwilioRestException) as raised:
        send(world, JAMES, "Are you still coming on Friday?")
    assert raised.value.status == 400
    assert raised.value.code == 21610
    assert "withdrawn consent" in raised.value.msg
    assert len(world.provider.calls) == 1  # nothing more was forwarded


def test_stop_is_recorded_with_evidence_and_audited_without_the_number(world: SmsWorld) -> None:
    reply(world, "(312) 555-0163", "UNSUBSCRIBE")
    from sqlalchemy import select

    from proxy.store.consent_store import ConsentRow
    from proxy.store.db import session_factory

    with session_factory(world.services.engine)() as session:
        (row,) = session.scalars(
            select(ConsentRow).where(ConsentRow.address == JAMES, ConsentRow.channel == "sms")
        )
        assert row.status == "revoked"
        assert row.revocation_evidence is not None
        assert row.revocation_evidence.startswith(EVIDENCE_MARK)
        assert "UNSUBSCRIBE" in row.revocation_evidence
        assert "SM" + "1" * 32 in row.revocation_evidence
        assert row.revoked_at is not None

    entries = AuditTrail(world.services.engine).entries()
    actions = [(e.action, e.target) for e in entries]
    assert ("consent.revoke", "C-1002") in actions
    assert ("sms.stop", None) in actions
    stop = next(e for e in entries if e.action == "sms.stop")
    assert stop.details["rows"] == 1 and stop.details["keyword"] == "UNSUBSCRIBE"
    for entry in entries:
        flat = repr(entry.details) + (entry.target or "")
        assert "555" not in flat and "0163" not in flat
    assert AuditTrail(world.services.engine).verify().ok


@pytest.mark.parametrize("word", ["STOP", "stopall", "Unsubscribe", "CANCEL", "end", "Quit."])
def test_every_stop_word_revokes(world: SmsWorld, word: str) -> None:
    assert reply(world, MARIA, word).status_code == 200
    assert [r.status for r in sms_rows(world, "C-1001")] == [ConsentStatus.REVOKED]
    # A text reply says nothing about email: her email consent stands.
    email = [r for r in world.consent.list("C-1001") if r.channel is Channel.EMAIL]
    assert email and all(r.status is ConsentStatus.GRANTED for r in email)


def test_a_sentence_containing_stop_is_not_an_opt_out(world: SmsWorld) -> None:
    assert reply(world, MARIA, "Please stop by on Monday").status_code == 200
    assert [r.status for r in sms_rows(world, "C-1001")] == [ConsentStatus.GRANTED]


def test_start_restores_only_what_stop_revoked(world: SmsWorld) -> None:
    reply(world, MARIA, "STOP")
    assert [r.status for r in sms_rows(world, "C-1001")] == [ConsentStatus.REVOKED]
    reply(world, MARIA, "unstop")
    assert [r.status for r in sms_rows(world, "C-1001")] == [ConsentStatus.GRANTED]
    assert send(world, MARIA, "Welcome back! See you Monday.").status == "queued"
    entries = AuditTrail(world.services.engine).entries()
    actions = [(e.action, e.target) for e in entries]
    assert ("consent.grant", "C-1001") in actions and ("sms.start", None) in actions
    # The grant is dated when the reply came, like the revocation before it.
    grant = next(e for e in entries if e.action == "consent.grant")
    assert grant.at == DAYTIME


def test_start_does_not_undo_a_withdrawal_recorded_by_the_agency(world: SmsWorld) -> None:
    from datetime import UTC, datetime

    world.consent.revoke(
        "C-1004",
        address="+13125550177",
        channel=Channel.SMS,
        evidence="Client asked by phone on 2026-11-20 not to be texted",
        at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    reply(world, "+13125550177", "START")
    assert [r.status for r in sms_rows(world, "C-1004")] == [ConsentStatus.REVOKED]


def test_start_from_an_unknown_number_grants_nothing(world: SmsWorld) -> None:
    before = world.consent.list()
    assert reply(world, "+13125550199", "START").status_code == 200
    assert world.consent.list() == before
    start = [e for e in AuditTrail(world.services.engine).entries() if e.action == "sms.start"]
    assert [e.details["known_number"] for e in start] == [False]
    assert [e.details["rows"] for e in start] == [0]


def test_help_is_logged_and_changes_nothing(world: SmsWorld) -> None:
    before = world.consent.list()
    assert reply(world, MARIA, "help").status_code == 200
    assert world.consent.list() == before
    help_entries = [
        e for e in AuditTrail(world.services.engine).entries() if e.action == "sms.help"
    ]
    assert len(help_entries) == 1 and help_entries[0].details["known_number"] is True


def test_a_forged_or_unsigned_stop_changes_nothing(world: SmsWorld) -> None:
    forged = reply(world, MARIA, "STOP", token="someone-elses-token")
    assert forged.status_code == 403
    unsigned = httpx.post(
        f"{world.base_url}/sms/inbound", data={"From": MARIA, "Body": "STOP", "To": AGENCY_NUMBER}
    )
    assert unsigned.status_code == 403
    assert [r.status for r in sms_rows(world, "C-1001")] == [ConsentStatus.GRANTED]
    assert not [e for e in AuditTrail(world.services.engine).entries() if e.action == "sms.stop"]


def test_a_signed_request_whose_body_was_changed_is_refused(world: SmsWorld) -> None:
    url = f"{world.base_url}/sms/inbound"
    signed = {"From": MARIA, "To": AGENCY_NUMBER, "Body": "Thanks!"}
    signature = RequestValidator(PROVIDER_TOKEN).compute_signature(url, signed)
    tampered = {**signed, "Body": "STOP"}
    answer = httpx.post(url, data=tampered, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 403
    assert [r.status for r in sms_rows(world, "C-1001")] == [ConsentStatus.GRANTED]
