"""Bad input to the Messages endpoint: a Twilio-style error in plain words
(``code``, ``message``, ``more_info``, ``status``), and nothing linted,
spooled or forwarded. Also the ways in: worker passwords and API keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.support.sms_fixtures import (
    AGENCY_NUMBER,
    CLIENT_SID,
    MARIA,
    WORKER,
    WORKER_PASSWORD,
    SmsWorld,
    chicago,
    sms_world,
)

DAYTIME = chicago(2026, 11, 24, 10)
KEY_SID = "SKreminders000000000000000000001"
KEY_SECRET = "key-secret-for-the-reminder-script"


@pytest.fixture
def world(tmp_path: Path, nlp_service: Any) -> Iterator[SmsWorld]:
    overrides = {
        "sms": {
            "api_keys": [{"sid": KEY_SID, "secret_env": "REMINDER_KEY", "user": WORKER}],
        }
    }
    with sms_world(
        tmp_path,
        f"sqlite:///{tmp_path / 'tactful.db'}",
        nlp_service,
        now=DAYTIME,
        settings_overrides=overrides,
        extra_env={"REMINDER_KEY": KEY_SECRET},
    ) as running:
        yield running


def messages_url(world: SmsWorld) -> str:
    return f"{world.base_url}/2010-04-01/Accounts/{CLIENT_SID}/Messages.json"


def post(
    world: SmsWorld, data: dict[str, str], auth: tuple[str, str] | None = (WORKER, WORKER_PASSWORD)
) -> httpx.Response:
    return httpx.post(messages_url(world), data=data, auth=auth)


def assert_twilio_error(response: httpx.Response, status: int, code: int, words: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["status"] == status and body["code"] == code
    assert words in body["message"]
    assert body["more_info"]


def assert_nothing_happened(world: SmsWorld) -> None:
    assert world.provider.calls == []
    assert world.services.spool.by_state() == []


GOOD = {"To": MARIA, "From": AGENCY_NUMBER, "Body": "See you at 3."}


@pytest.mark.parametrize(
    ("data", "status", "code", "words"),
    [
        ({"From": AGENCY_NUMBER, "Body": "Hi"}, 400, 21604, "'To' phone number is required"),
        ({**GOOD, "To": "   "}, 400, 21604, "'To' phone number is required"),
        ({**GOOD, "To": "555-0100"}, 400, 21211, "not a valid phone number"),
        ({**GOOD, "To": "+1 312 555 01"}, 400, 21211, "not a valid phone number"),
        ({**GOOD, "To": "call me maybe"}, 400, 21211, "not a valid phone number"),
        ({"To": MARIA, "Body": "Hi"}, 400, 21603, "'From' phone number"),
        ({**GOOD, "Body": ""}, 400, 21602, "The text is empty"),
        ({**GOOD, "Body": "  \n "}, 400, 21602, "The text is empty"),
        ({To: v for To, v in GOOD.items() if To != "Body"}, 400, 21602, "The text is empty"),
        ({**GOOD, "Body": "x" * 1601}, 400, 21617, "at most 1600 characters"),
        ({**GOOD, "MediaUrl": "https://example.org/a.jpg"}, 400, 93003, "MediaUrl"),
        ({**GOOD, "StatusCallback": "javascript:alert(1)"}, 400, 93003, "must be a URL"),
    ],
)
def test_bad_input_is_a_twilio_style_400_and_nothing_is_sent(
    world: SmsWorld, data: dict[str, str], status: int, code: int, words: str
) -> None:
    assert_twilio_error(post(world, data), status, code, words)
    assert_nothing_happened(world)


def test_the_longest_allowed_text_is_accepted(world: SmsWorld) -> None:
    body = ("Bring the forms. " * 100)[:1600]
    assert post(world, {**GOOD, "Body": body}).status_code == 201
    assert world.provider.bodies == [body]


def test_a_huge_request_is_refused_before_it_is_read(world: SmsWorld) -> None:
    response = post(world, {**GOOD, "Body": "x" * 200_000})
    assert_twilio_error(response, 400, 21617, "too long")
    assert_nothing_happened(world)


def test_a_huge_request_without_a_length_is_cut_off(world: SmsWorld) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"To=%2B13125550142&From=%2B13125550100&Body="
        for _ in range(100):
            yield b"x" * 4096

    response = httpx.post(
        messages_url(world),
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(WORKER, WORKER_PASSWORD),
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_twilio_error(response, 400, 21617, "too long")
    assert_nothing_happened(world)


def test_json_instead_of_form_fields_is_refused(world: SmsWorld) -> None:
    response = httpx.post(messages_url(world), json=GOOD, auth=(WORKER, WORKER_PASSWORD))
    assert_twilio_error(response, 400, 93003, "application/x-www-form-urlencoded")
    assert_nothing_happened(world)


@pytest.mark.parametrize(
    "auth",
    [
        None,
        (WORKER, "wrong-password"),
        ("nobody@example.org", WORKER_PASSWORD),
        (KEY_SID, "not-the-key-secret"),
        (KEY_SID, ""),
    ],
)
def test_bad_auth_is_a_401_and_nothing_is_sent(
    world: SmsWorld, auth: tuple[str, str] | None
) -> None:
    response = post(world, GOOD, auth=auth)
    assert_twilio_error(response, 401, 20003, "user name or password is wrong")
    assert response.headers["www-authenticate"].startswith("Basic")
    assert_nothing_happened(world)


def test_a_malformed_authorization_header_is_a_401(world: SmsWorld) -> None:
    response = httpx.post(
        messages_url(world), data=GOOD, headers={"Authorization": "Basic !!!not-base64"}
    )
    assert_twilio_error(response, 401, 20003, "user name or password is wrong")
    assert_nothing_happened(world)


def test_the_twilio_client_sees_the_error_code_and_plain_words(world: SmsWorld) -> None:
    client = Client(WORKER, WORKER_PASSWORD, account_sid=CLIENT_SID)
    client.api.base_url = world.base_url
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to="555-0100", from_=AGENCY_NUMBER, body="Hello")
    assert raised.value.status == 400 and raised.value.code == 21211
    assert "area code" in raised.value.msg
    assert_nothing_happened(world)


def test_an_api_key_sends_as_its_worker(world: SmsWorld) -> None:
    client = Client(KEY_SID, KEY_SECRET, account_sid=CLIENT_SID)
    client.api.base_url = world.base_url
    held = client.messages.create(to=MARIA, from_=AGENCY_NUMBER, body="Born 03/14/1988, right?")
    assert held.status == "accepted"
    (message,) = world.services.spool.list_held()
    assert message.sender == WORKER and message.user == WORKER
