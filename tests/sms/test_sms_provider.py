"""When the provider fails: the program gets a 5xx or 429 with a retry
hint and no 201 (so it keeps the text), Tactful never invents a status,
and spooled texts the provider cannot take yet are retried by the
scheduler, while a permanent refusal goes back to the worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app.server import channel_forwarders
from proxy.core.consent import Channel
from proxy.pipeline.scheduler import Scheduler
from proxy.sms.deliver import sms_forwarder
from proxy.store.spool_model import SpoolState
from tests.support.sms_fixtures import (
    AGENCY_NUMBER,
    CLIENT_SID,
    MARIA,
    WORKER,
    WORKER_PASSWORD,
    FailingLinter,
    SmsWorld,
    chicago,
    sms_world,
)
from tests.support.upstream_fixtures import free_port

DAYTIME = chicago(2026, 11, 24, 10)
GOOD = {"To": MARIA, "From": AGENCY_NUMBER, "Body": "See you at 3."}
HELD = {**GOOD, "Body": "Your date of birth 03/14/1988 is on the form."}


@pytest.fixture
def world(tmp_path: Path, nlp_service: Any) -> Iterator[SmsWorld]:
    url = f"sqlite:///{tmp_path / 'tactful.db'}"
    with sms_world(tmp_path, url, nlp_service, now=DAYTIME) as running:
        yield running


def post(world: SmsWorld, data: dict[str, str]) -> httpx.Response:
    url = f"{world.base_url}/2010-04-01/Accounts/{CLIENT_SID}/Messages.json"
    return httpx.post(url, data=data, auth=(WORKER, WORKER_PASSWORD), timeout=30)


def run_scheduler(world: SmsWorld) -> int:
    forwarders = channel_forwarders(world.services, world.environ)
    assert Channel.SMS in forwarders
    return asyncio.run(Scheduler(world.services, forwarders).run_once())


def own_texts(world: SmsWorld) -> list[Any]:
    return [m for m in world.services.spool.by_state() if m.user != "tactful"]


def test_a_provider_500_is_passed_back_with_a_retry_hint(world: SmsWorld) -> None:
    world.provider.then(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
    response = post(world, GOOD)
    assert response.status_code == 500
    assert response.json()["code"] == 20500
    assert int(response.headers["retry-after"]) > 0
    assert own_texts(world) == []


def test_a_provider_429_keeps_its_own_retry_after(world: SmsWorld) -> None:
    world.provider.then(
        429, {"code": 20429, "message": "Too Many Requests"}, **{"Retry-After": "7"}
    )
    response = post(world, GOOD)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["code"] == 20429


def test_a_provider_400_is_passed_back_faithfully(world: SmsWorld) -> None:
    world.provider.then(
        400, {"code": 21408, "message": "Permission to send an SMS has not been enabled"}
    )
    response = post(world, GOOD)
    assert response.status_code == 400
    assert response.json()["code"] == 21408
    assert "retry-after" not in response.headers


def test_an_unreachable_provider_is_a_503_with_retry_after(
    tmp_path: Path, nlp_service: Any
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    url = f"sqlite:///{tmp_path / 'tactful.db'}"
    with sms_world(tmp_path, url, nlp_service, now=DAYTIME, provider_url=nowhere) as world:
        response = post(world, GOOD)
        assert response.status_code == 503
        assert response.json()["code"] == 20503
        assert "could not be reached" in response.json()["message"]
        assert int(response.headers["retry-after"]) > 0


def test_a_provider_that_hangs_past_the_timeout_is_a_503(world: SmsWorld) -> None:
    world.provider.hang(5)  # the configured timeout is 2 seconds
    response = post(world, GOOD)
    assert response.status_code == 503
    assert "retry-after" in response.headers


def test_analysis_failure_is_a_503_with_retry_after_and_nothing_is_sent(
    tmp_path: Path, nlp_service: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'tactful.db'}"
    with sms_world(tmp_path, url, nlp_service, now=DAYTIME, linter=FailingLinter()) as world:
        response = post(world, GOOD)
        assert response.status_code == 503
        assert response.json()["code"] == 20503
        assert "could not check this text" in response.json()["message"]
        assert int(response.headers["retry-after"]) > 0
        assert world.provider.calls == []
        assert world.services.spool.by_state() == []


def test_no_provider_configured_is_a_clear_503(tmp_path: Path, nlp_service: Any) -> None:
    url = f"sqlite:///{tmp_path / 'tactful.db'}"
    with sms_world(tmp_path, url, nlp_service, now=DAYTIME, no_provider=True) as world:
        response = post(world, GOOD)
        assert response.status_code == 503
        assert response.json()["code"] == 93002
        assert "sms.provider" in response.json()["message"]
        assert sms_forwarder(world.services.settings, world.environ) is None


def test_a_released_text_is_retried_until_the_provider_takes_it(world: SmsWorld) -> None:
    assert post(world, HELD).json()["status"] == "accepted"
    (held,) = own_texts(world)
    world.services.spool.release(held.id, "sam@example.org", "fine", now=world.clock.now)

    world.provider.then(503, {"code": 20503, "message": "Service Unavailable"})
    run_scheduler(world)
    after = world.services.spool.get(held.id)
    assert after is not None and after.state is SpoolState.RELEASED
    assert after.attempts == 1 and after.next_attempt_at is not None
    assert after.next_attempt_at > world.clock.now

    world.clock.now = after.next_attempt_at + timedelta(seconds=1)
    world.provider.then(429, {"code": 20429, "message": "Too Many Requests"})
    run_scheduler(world)
    again = world.services.spool.get(held.id)
    assert again is not None and again.state is SpoolState.RELEASED and again.attempts == 2

    world.clock.now = (again.next_attempt_at or world.clock.now) + timedelta(seconds=1)
    run_scheduler(world)
    sent = world.services.spool.get(held.id)
    assert sent is not None and sent.state is SpoolState.SENT
    # Three requests reached the provider; only the last was taken.
    assert len(world.provider.calls) == 3
    assert world.provider.bodies[-1] == HELD["Body"]


def test_a_released_text_the_provider_refuses_goes_back_to_the_worker(world: SmsWorld) -> None:
    post(world, HELD)
    (held,) = own_texts(world)
    world.services.spool.release(held.id, "sam@example.org", "fine", now=world.clock.now)

    def notices() -> int:
        return sum(
            1 for m in world.services.spool.by_state() if m.user == "tactful"
            and m.recipients == (WORKER,)
        )  # fmt: skip

    before = notices()
    world.provider.then(
        400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}
    )
    run_scheduler(world)
    after = world.services.spool.get(held.id)
    assert after is not None and after.state is SpoolState.RETURNED
    assert after.last_error is not None and after.last_error.startswith("554")
    assert notices() == before + 1  # the worker is told it was not delivered


def test_a_stored_text_without_a_recipient_is_not_reported_sent(world: SmsWorld) -> None:
    post(world, HELD)
    (held,) = own_texts(world)
    raw = world.services.spool.raw(held.id)
    assert raw is not None
    forwarder = sms_forwarder(world.services.settings, world.environ)
    assert forwarder is not None
    result = asyncio.run(forwarder.forward(held.sender, (), raw, ())).status
    assert not result.accepted and result.code == 554
    assert "no recipient" in result.text
    assert world.provider.calls == []
