"""The default SMS policy: segment counting as carriers do it, the
sms-length warning, quiet hours, and the same decision for a text whether
it comes through the SMS API or by email to a carrier's email-to-SMS
gateway."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any

import pytest

from proxy.core.config import settings_from_mapping
from proxy.core.consent import Registry
from proxy.core.verdict import Action
from proxy.lint.engine import LintEngine, LintResult
from proxy.lint.segments import count_segments
from proxy.sms.provider import OutgoingText
from proxy.sms.textmail import body_of, from_message, to_message
from proxy.store.consent_csv import read_consent_csv
from tests.support.proxy_fixtures import ALL_DAY, CONSENT_CSV
from tests.support.sms_fixtures import AGENCY_NUMBER, MARIA, chicago

SETTINGS = settings_from_mapping({"agency": {"working_hours": ALL_DAY, "holidays": []}})
DAYTIME = chicago(2026, 11, 24, 10)
WORKER = "jane@example.org"


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("a" * 459, "GSM-7", 3),
        ("a" * 460, "GSM-7", 4),
        ("€" * 80, "GSM-7", 1),  # extension characters cost two septets each
        ("€" * 81, "GSM-7", 2),
        ("[x]" * 32, "GSM-7", 1),  # 64 brackets at two septets + 32 letters = 160
        ("[x]" * 33, "GSM-7", 2),
        ("é" * 160, "GSM-7", 1),  # é is in the GSM alphabet
        ("ê" * 70, "UCS-2", 1),  # ê is not
        ("ê" * 71, "UCS-2", 2),
        ("Thanks \u2019" + "a" * 60, "UCS-2", 1),  # one curly quote switches encoding
        ("a" * 159 + "\U0001f600", "UCS-2", 3),  # an emoji: two UTF-16 units
        ("\U0001f600" * 35, "UCS-2", 1),
        ("\U0001f600" * 36, "UCS-2", 2),
    ],
)
def test_segments_are_counted_like_a_phone_does(text: str, encoding: str, segments: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.segments) == (encoding, segments)


def test_an_escape_pair_is_never_split_across_segments() -> None:
    # 152 plain characters then '€' (2 septets): 154 > 153, so the pair moves on.
    assert count_segments("a" * 152 + "€" + "a" * 10).segments == 2
    assert count_segments("a" * 152 + "€" + "a" * 152).segments == 3


@pytest.fixture(scope="module")
def engine(nlp_service: Any) -> LintEngine:
    return LintEngine(SETTINGS, Registry(read_consent_csv(CONSENT_CSV)), nlp=nlp_service)


def via_api(engine: LintEngine, body: str, at: datetime) -> LintResult:
    """How the Messages endpoint lints a text."""
    raw = to_message(
        sender=WORKER,
        text=OutgoingText(to=MARIA, body=body, from_=AGENCY_NUMBER),
        message_id="0" * 32,
        at=at,
    )
    return engine.lint(raw, sender=WORKER, recipients=(MARIA,), at=at, channel="sms")


def via_gateway(engine: LintEngine, body: str, at: datetime) -> LintResult:
    """The same words mailed to the client's carrier gateway address."""
    message = EmailMessage()
    message["From"] = WORKER
    message["To"] = "3125550142@vtext.com"
    message["Subject"] = "Text"
    message.set_content(body)
    return engine.lint(
        message.as_bytes(), sender=WORKER, recipients=("3125550142@vtext.com",), at=at
    )


LONG = "Please bring the lease, two pay stubs and the utility bill to the office. " * 7

CASES = [
    ("See you Thursday at 3.", DAYTIME, Action.PASS, set()),
    ("I put your SSN 512-44-8821 on the SNAP form.", DAYTIME, Action.REDACT,
     {"financial-identifier"}),
    ("Your date of birth 03/14/1988 is on the form.", DAYTIME, Action.HOLD,
     {"personal-identifier"}),
    ("Reminder: your methadone appointment is tomorrow at 9.", DAYTIME, Action.HOLD,
     {"sensitive-condition"}),
    (LONG, DAYTIME, Action.WARN, {"sms-length"}),
    ("See you Thursday at 3.", chicago(2026, 11, 24, 21, 15), Action.DEFER, {"quiet-hours"}),
]  # fmt: skip


@pytest.mark.parametrize(("body", "at", "verdict", "rule_names"), CASES)
def test_a_text_gets_the_same_decision_by_api_and_by_gateway_email(
    engine: LintEngine, body: str, at: datetime, verdict: Action, rule_names: set[str]
) -> None:
    api = via_api(engine, body, at)
    mail = via_gateway(engine, body, at)
    assert api.verdict.verdict is verdict
    assert mail.verdict.verdict is verdict
    assert {h.rule for h in api.verdict.hits} == rule_names
    assert {h.rule for h in mail.verdict.hits} == rule_names
    (recipient,) = api.verdict.recipients
    assert recipient.recipient.kind.value == "client"
    assert recipient.recipient.phone == MARIA


def test_quiet_hours_defer_a_text_to_their_end_not_to_the_working_day(
    engine: LintEngine,
) -> None:
    result = via_api(engine, "See you Thursday at 3.", chicago(2026, 11, 24, 23, 50))
    assert result.verdict.defer_until == chicago(2026, 11, 25, 8)
    early = via_api(engine, "See you Thursday at 3.", chicago(2026, 11, 25, 6, 0))
    assert early.verdict.defer_until == chicago(2026, 11, 25, 8)
    assert via_api(engine, "See you Thursday at 3.", chicago(2026, 11, 25, 8)).verdict.hits == ()


def test_quiet_hours_do_not_apply_to_email(engine: LintEngine) -> None:
    message = EmailMessage()
    message["From"] = WORKER
    message["To"] = "maria.lopez@example.com"
    message["Subject"] = "Thursday"
    message.set_content("See you Thursday at 3.")
    at = chicago(2026, 11, 24, 22)
    result = engine.lint(message.as_bytes(), at=at)
    assert "quiet-hours" not in {h.rule for h in result.verdict.hits}


def test_the_length_warning_names_the_parts_and_no_words_of_the_text(
    engine: LintEngine,
) -> None:
    result = via_api(engine, LONG, DAYTIME)
    (hit,) = result.verdict.hits
    assert "arrive in 4 parts" in hit.message
    assert "lease" not in hit.message


def test_three_segments_is_still_fine(engine: LintEngine) -> None:
    assert via_api(engine, "a" * 459, DAYTIME).verdict.hits == ()
    assert {h.rule for h in via_api(engine, "a" * 460, DAYTIME).verdict.hits} == {"sms-length"}


def test_a_spooled_text_reads_back_exactly() -> None:
    text = OutgoingText(
        to=MARIA,
        body="Line one\nLine two — with ümlauts and an emoji \U0001f600",
        from_=AGENCY_NUMBER,
        messaging_service_sid="MG0000000000000000000000000000000",
        status_callback="https://tools.example.org/status?id=1",
    )
    raw = to_message(sender=WORKER, text=text, message_id="1" * 32, at=DAYTIME)
    assert body_of(raw) == text.body
    assert from_message(raw, MARIA) == text


def test_a_text_after_hours_is_not_told_to_tag_a_subject(nlp_service: Any) -> None:
    """Texts have no subject: the after-hours advice for a text says it
    cannot be marked urgent, and gives the time with its zone, whether the
    text came through the API or a carrier gateway address."""
    office = LintEngine(
        settings_from_mapping({"agency": {"holidays": []}}),  # the shipped working hours
        Registry(read_consent_csv(CONSENT_CSV)),
        nlp=nlp_service,
    )
    saturday = chicago(2026, 11, 28, 14, 0)  # not quiet hours, outside working hours
    for result in (via_api(office, "See you Monday.", saturday),
                   via_gateway(office, "See you Monday.", saturday)):  # fmt: skip
        (hit,) = result.verdict.hits
        assert hit.rule == "after-hours" and hit.action is Action.DEFER
        assert hit.message == (
            "It is outside working hours, so this text will be sent on Monday 30 November at "
            "08:00 CST (America/Chicago). A text cannot be marked urgent; if it cannot wait, "
            "phone the client instead."
        )
