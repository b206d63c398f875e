"""The SMS API end to end: the official ``twilio`` client, with only its
base URL changed, sends through Tactful's Messages endpoint (uvicorn on a
real port) to a local Twilio-compatible provider that records what it got.

Each verdict is provoked with real text and the real lint engine: pass,
redact (the provider gets the masked words), hold (spooled, then released
and delivered by the scheduler), defer (delivered when the quiet hours end)
and reject (consent withdrawn by a STOP reply).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from proxy.app.server import channel_forwarders
from proxy.core.consent import Channel
from proxy.pipeline.scheduler import Scheduler
from proxy.store.audit import AuditTrail
from proxy.store.db import make_engine
from proxy.store.disclosures import DisclosureLog, DisclosureRecorder, record_spooled_delivery
from proxy.store.spool_model import SpoolState
from tests.support.sms_fixtures import (
    AGENCY_NUMBER,
    CLIENT_SID,
    MARIA,
    PROVIDER_SID,
    PROVIDER_TOKEN,
    WORKER,
    WORKER_PASSWORD,
    SmsWorld,
    chicago,
    sms_world,
)

DAYTIME = chicago(2026, 11, 24, 10)  # a Tuesday morning


def twilio_client(world: SmsWorld, user: str = WORKER, password: str = WORKER_PASSWORD) -> Client:
    client = Client(user, password, account_sid=CLIENT_SID)
    client.api.base_url = world.base_url  # the one change a program makes
    return client


@pytest.fixture
def world(tmp_path: Path, db_url: str, nlp_service: Any) -> Iterator[SmsWorld]:
    with sms_world(tmp_path, db_url, nlp_service, now=DAYTIME) as running:
        yield running


def scheduler(world: SmsWorld) -> Scheduler:
    forwarders = channel_forwarders(world.services, world.environ)
    assert Channel.SMS in forwarders
    return Scheduler(world.services, forwarders)


def test_a_plain_text_goes_to_the_provider_and_its_answer_comes_back(world: SmsWorld) -> None:
    message = twilio_client(world).messages.create(
        to="(312) 555-0142", from_=AGENCY_NUMBER, body="See you Thursday at 3."
    )
    assert len(world.provider.calls) == 1
    call = world.provider.calls[0]
    assert call.form == {"To": MARIA, "From": AGENCY_NUMBER, "Body": "See you Thursday at 3."}
    # Tactful's own provider account and token, not the worker's login.
    assert call.account_sid == PROVIDER_SID
    assert call.auth == (PROVIDER_SID, PROVIDER_TOKEN)
    assert message.status == "queued"
    assert message.to == MARIA
    assert message.sid is not None and message.sid.startswith("SM")
    assert world.services.spool.by_state() == []


def test_a_social_security_number_is_masked_before_the_provider_sees_it(
    world: SmsWorld,
) -> None:
    message = twilio_client(world).messages.create(
        to=MARIA, from_=AGENCY_NUMBER, body="I put your SSN 512-44-8821 on the SNAP form."
    )
    assert message.status == "queued"
    assert len(world.provider.calls) == 1
    sent = world.provider.bodies[0]
    assert "512-44" not in sent
    assert "8821" in sent and "SNAP form" in sent
    # The worker is told (a notice waits in the spool for the mail server).
    notices = [m for m in world.services.spool.by_state() if m.user == "tactful"]
    assert [n.recipients for n in notices] == [(WORKER,)]


def test_a_date_of_birth_is_held_then_released_and_delivered(world: SmsWorld) -> None:
    message = twilio_client(world).messages.create(
        to=MARIA, from_=AGENCY_NUMBER, body="Your date of birth 03/14/1988 is on the form."
    )
    assert message.status == "accepted"
    assert world.provider.calls == []
    held = world.services.spool.list_held()
    assert len(held) == 1
    assert held[0].recipients == (f"sms:{MARIA}",)
    assert held[0].sender == WORKER
    assert message.sid == f"SM{held[0].id}"
    raw = world.services.spool.raw(held[0].id)
    assert raw is not None and b"Text message" in raw

    # Nothing leaves while it is held, even when the scheduler runs.
    asyncio.run(scheduler(world).run_once())
    assert world.provider.calls == []
    world.services.spool.release(held[0].id, "sam@example.org", "checked with the client")
    asyncio.run(scheduler(world).run_once())
    assert world.provider.bodies == ["Your date of birth 03/14/1988 is on the form."]
    assert world.provider.calls[0].form["To"] == MARIA
    assert world.provider.calls[0].form["From"] == AGENCY_NUMBER
    stored = world.services.spool.get(held[0].id)
    assert stored is not None and stored.state is SpoolState.SENT


def test_a_text_in_quiet_hours_is_scheduled_and_sent_when_they_end(world: SmsWorld) -> None:
    world.clock.now = chicago(2026, 11, 24, 22, 30)
    message = twilio_client(world).messages.create(
        to=MARIA, from_=AGENCY_NUMBER, body="Reminder: visit tomorrow at 10."
    )
    assert message.status == "scheduled"
    assert world.provider.calls == []
    (deferred,) = [m for m in world.services.spool.by_state() if m.user != "tactful"]
    assert deferred.state is SpoolState.DEFERRED
    assert deferred.release_after == chicago(2026, 11, 25, 8)

    world.clock.now = chicago(2026, 11, 25, 7, 59)
    asyncio.run(scheduler(world).run_once())
    assert world.provider.calls == []
    world.clock.now = chicago(2026, 11, 25, 8, 0)
    asyncio.run(scheduler(world).run_once())
    assert world.provider.bodies == ["Reminder: visit tomorrow at 10."]
    stored = world.services.spool.get(deferred.id)
    assert stored is not None and stored.state is SpoolState.SENT


def test_a_long_text_is_sent_with_a_warning(
    world: SmsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="proxy.pipeline.act")  # the one pipeline logs it
    body = "Please bring the lease, two pay stubs and the utility bill. " * 9
    message = twilio_client(world).messages.create(to=MARIA, from_=AGENCY_NUMBER, body=body)
    assert message.status == "queued"
    assert world.provider.bodies == [body]
    verdicts = [r.getMessage() for r in caplog.records if r.name == "proxy.pipeline.act"]
    assert any(": warn (rules: sms-length)" in line for line in verdicts), verdicts


def test_a_warned_text_is_on_record_like_a_warned_email(world: SmsWorld) -> None:
    """The audit trail holds every message that went out with a warning,
    whatever its channel (texts used to be missing): rule codes, no words."""
    body = "Please bring the lease, two pay stubs and the utility bill. " * 9
    message = twilio_client(world).messages.create(to=MARIA, from_=AGENCY_NUMBER, body=body)
    assert message.status == "queued"
    trail = AuditTrail(world.services.engine).entries()
    (entry,) = [e for e in trail if e.action == "message.warn"]
    assert entry.actor == WORKER
    assert entry.target is not None and re.fullmatch(r"[0-9a-f]{32}", entry.target)
    assert entry.details["rules"] == "sms-length"
    assert entry.details["channel"] == "sms" and entry.details["monitor"] is False
    assert "lease" not in repr(entry.details)


def test_wrong_password_is_a_401_and_nothing_is_sent(world: SmsWorld) -> None:
    with pytest.raises(TwilioRestException) as raised:
        twilio_client(world, password="not-the-password").messages.create(
            to=MARIA, from_=AGENCY_NUMBER, body="Hello"
        )
    assert raised.value.status == 401
    assert raised.value.code == 20003
    assert world.provider.calls == []


def test_wrong_passwords_lock_the_login_out_like_smtp_and_the_review_app(
    world: SmsWorld,
) -> None:
    """The SMS API counts in the one login throttle: after five wrong
    passwords even the right one gets 429 (Twilio's 20429), nothing is sent,
    and the lock-out is in the audit trail without the password."""
    for _ in range(5):
        with pytest.raises(TwilioRestException) as raised:
            twilio_client(world, password="not-the-password").messages.create(
                to=MARIA, from_=AGENCY_NUMBER, body="Hello"
            )
        assert raised.value.status == 401
    with pytest.raises(TwilioRestException) as raised:
        twilio_client(world).messages.create(to=MARIA, from_=AGENCY_NUMBER, body="Hello")
    assert raised.value.status == 429
    assert raised.value.code == 20429
    assert "paused for 15 more minutes" in str(raised.value.msg)
    assert world.provider.calls == []
    entries = AuditTrail(world.services.engine).entries()
    locks = [e for e in entries if e.action == "login.locked_out"]
    assert [(e.actor, e.details["door"]) for e in locks] == [(WORKER, "sms")]
    assert "not-the-password" not in repr([(e.details, e.target) for e in entries])


def test_a_scheduled_text_wakes_the_scheduler(tmp_path: Path, nlp_service: Any) -> None:
    kicks: list[int] = []
    url = f"sqlite:///{tmp_path / 'tactful.db'}"
    evening = chicago(2026, 11, 24, 22)
    with sms_world(tmp_path, url, nlp_service, now=evening, kick=lambda: kicks.append(1)) as world:
        twilio_client(world).messages.create(to=MARIA, from_=AGENCY_NUMBER, body="Tomorrow?")
        assert kicks  # so a restart-free scheduler notices the new row
        assert world.provider.calls == []


def test_a_text_the_provider_took_is_in_the_disclosure_log(
    tmp_path: Path, nlp_service: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'tactful.db'}"
    log_engine = make_engine(url)  # the recorder's own connection to the same database
    recorder = DisclosureRecorder(log_engine)
    with sms_world(tmp_path, url, nlp_service, now=DAYTIME, recorder=recorder) as world:
        twilio_client(world).messages.create(to=MARIA, from_=AGENCY_NUMBER, body="See you at 3.")
        (entry,) = DisclosureLog(world.services.engine).for_client("C-1001")
        assert entry.channel == "sms" and entry.recipient == MARIA
        assert entry.recipient_kind == "client"
    log_engine.dispose()


def test_monitor_mode_sends_what_enforce_would_hold(tmp_path: Path, nlp_service: Any) -> None:
    url = f"sqlite:///{tmp_path / 'tactful.db'}"
    overrides = {"mode": "monitor"}
    with sms_world(
        tmp_path, url, nlp_service, now=DAYTIME, settings_overrides=overrides
    ) as world:
        message = twilio_client(world).messages.create(
            to=MARIA, from_=AGENCY_NUMBER, body="Your date of birth 03/14/1988 is on the form."
        )
        assert message.status == "queued"
        assert world.provider.bodies == ["Your date of birth 03/14/1988 is on the form."]
        assert world.services.spool.list_held() == []


# --- 42 CFR Part 2: texts carry the short form, or are held -------------------

ATTORNEY_PHONE = "+13125550199"


def authorise_attorney_by_text(world: SmsWorld) -> None:
    """The example registry's attorney for Part 2 client C-1006, by text too."""
    import io
    from datetime import UTC, datetime

    from proxy.core.consent import ALL_CSV_COLUMNS
    from proxy.store.consent_csv import read_consent_csv

    row = (
        f"C-1006,Dana Ortiz,,{ATTORNEY_PHONE},sms,authorized,granted,2026-03-01,,no,,,"
        '"Dana Ortiz, attorney",substance_use,legal representation,yes'
    )
    records = read_consent_csv(io.StringIO(",".join(ALL_CSV_COLUMNS) + "\n" + row + "\n"))
    world.consent.import_records(records, at=datetime(2026, 11, 2, tzinfo=UTC))


def test_a_released_text_carries_the_short_part2_notice(world: SmsWorld) -> None:
    authorise_attorney_by_text(world)
    body = "Alex Morgan started methadone treatment on Monday."
    message = twilio_client(world).messages.create(to=ATTORNEY_PHONE, from_=AGENCY_NUMBER,
                                                   body=body)  # fmt: skip
    assert message.status == "accepted"  # any condition in a text is held
    (held,) = world.services.spool.list_held()
    world.services.spool.release(held.id, "sam@example.org", "client asked for it")

    async def account(message: Any, at: Any) -> None:  # what tactful serve hooks in
        record_spooled_delivery(world.services.engine, message, at)

    forwarders = channel_forwarders(world.services, world.environ)
    asyncio.run(Scheduler(world.services, forwarders, on_sent=account).run_once())
    short = world.services.settings.part2.short_notice
    assert world.provider.bodies == [f"{body}\n{short}"]
    (entry,) = DisclosureLog(world.services.engine).for_client("C-1006")
    assert entry.part2_notice and entry.released_by == "sam@example.org"
    assert entry.purpose == "legal representation" and entry.recipient == ATTORNEY_PHONE
    assert entry.recipient_kind == "authorized"


def test_a_text_too_long_for_the_notice_is_held_and_never_sent_without_it(
    world: SmsWorld,
) -> None:
    authorise_attorney_by_text(world)
    limit = world.services.settings.sms.max_body_chars
    body = ("Alex Morgan started methadone treatment on Monday. " * 40)[: limit - 10]
    client = twilio_client(world)
    message = client.messages.create(to=ATTORNEY_PHONE, from_=AGENCY_NUMBER, body=body)
    assert message.status == "accepted"
    (held,) = world.services.spool.list_held()
    assert "part2-notice" in held.summary.rule_codes
    # A reviewer releases it anyway: it is too long to carry the notice, so
    # it goes back to the worker instead of going out without it.
    world.services.spool.release(held.id, "sam@example.org", "released")
    asyncio.run(scheduler(world).run_once())
    assert world.provider.calls == []
    after = world.services.spool.get(held.id)
    assert after is not None and after.state is SpoolState.RETURNED
