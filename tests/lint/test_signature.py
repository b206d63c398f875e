"""The sender's signature, standard disclaimers and reply headers.

The signature and the disclaimers are boilerplate: the sender's own office
address and numbers there are nobody's secret. They are still scanned: a
client's number or address written under the sign-off still counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from proxy.core.config import settings_from_mapping
from proxy.core.consent import Registry
from proxy.core.findings import Entity, Finding
from proxy.core.verdict import Action
from proxy.lint.engine import LintEngine
from proxy.lint.public_details import AGENCY, SIGNATURE, PublicDetails
from proxy.lint.quoting import split_segments
from proxy.lint.signature import BoilerplateReader, is_contact_line
from tests.support.proxy_fixtures import ALL_DAY

F, Q, S = "fresh", "quoted", "signature"
AT = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Chicago
OUTSIDER = "intake@partner.example.net"
NOTICE = (
    "CONFIDENTIALITY NOTICE: This e-mail, including any attachments, is intended only for "
    "the named recipient and may contain privileged information protected under 42 CFR "
    "Part 2. If you are not the intended recipient, notify the sender and delete it.\n"
)


def kinds(text: str, reader: BoilerplateReader | None = None) -> list[tuple[str, str]]:
    segments = split_segments("body", text, reader=reader)
    for segment in segments:
        assert text[segment.offset : segment.offset + len(segment.text)] == segment.text
    return [(s.text, Q if s.quoted else S if s.signature else F) for s in segments]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Sign-offs standing alone on their line start the signature.
        ("Hi Bob,\n\nSee you Monday.\n\nThanks,\nJane Smith\nCase Manager\n",
         [("Hi Bob,\n\nSee you Monday.\n\n", F), ("Thanks,\nJane Smith\nCase Manager\n", S)]),
        ("Confirmed.\nBest regards,\nJane\n(312) 555-0100\n",
         [("Confirmed.\n", F), ("Best regards,\nJane\n(312) 555-0100\n", S)]),
        ("Nos vemos el lunes.\n\nSaludos,\nAna Pérez\nTrabajadora social\n",
         [("Nos vemos el lunes.\n\n", F), ("Saludos,\nAna Pérez\nTrabajadora social\n", S)]),
        ("On my way.\n\nSent from my iPhone\n",
         [("On my way.\n\n", F), ("Sent from my iPhone\n", S)]),
        ("Ok\n-- \nJane\n", [("Ok\n", F), ("-- \nJane\n", S)]),
        # A standard disclaimer is boilerplate, like the signature.
        ("Noted.\n\n" + NOTICE, [("Noted.\n\n", F), (NOTICE, S)]),
        ("Ok.\nThanks,\nJane\n\n" + NOTICE, [("Ok.\n", F), ("Thanks,\nJane\n\n" + NOTICE, S)]),
        # A "Thanks," that opens a sentence or a long message is not a sign-off.
        ("Hi,\nThanks, I will call her tomorrow about the lease and the school.\n",
         [("Hi,\nThanks, I will call her tomorrow about the lease and the school.\n", F)]),
        ("Hi,\nThanks,\n" + "".join(f"Point {n} about the plan.\n" for n in range(14)),
         [("Hi,\nThanks,\n" + "".join(f"Point {n} about the plan.\n" for n in range(14)), F)]),
        # A warning in the worker's own words is not a disclaimer.
        ("Warning: her ex may call the office, do not give out her email.\n",
         [("Warning: her ex may call the office, do not give out her email.\n", F)]),
        # Lists are not signatures.
        ("Bring:\n- ID\n- lease\n", [("Bring:\n- ID\n- lease\n", F)]),
        # Reply headers in Spanish.
        ("Gracias.\n\nEl lun, 3 mar 2026 a las 10:00, Ana <ana@x.org> escribió:\n> hola\n",
         [("Gracias.\n\n", F),
          ("El lun, 3 mar 2026 a las 10:00, Ana <ana@x.org> escribió:\n> hola\n", Q)]),
        ("Listo.\n\nDe: Ana Pérez\nEnviado: lunes, 2 de marzo de 2026\nPara: Jane\n"
         "Asunto: Ana\n\nSu DOB 1/2/1980\n",
         [("Listo.\n\n", F),
          ("De: Ana Pérez\nEnviado: lunes, 2 de marzo de 2026\nPara: Jane\nAsunto: Ana\n\n"
           "Su DOB 1/2/1980\n", Q)]),
        # A quoted reply's own signature stays quoted.
        ("Yes.\n\nOn Mon, Mar 2, 2026 Bob <b@x.org> wrote:\n> Her DOB?\n> Thanks,\n> Bob\n",
         [("Yes.\n\n", F),
          ("On Mon, Mar 2, 2026 Bob <b@x.org> wrote:\n> Her DOB?\n> Thanks,\n> Bob\n", Q)]),
    ],
)  # fmt: skip
def test_signatures_disclaimers_and_reply_headers(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert kinds(text) == expected


def test_the_agencys_own_disclaimer_is_found_however_it_is_wrapped() -> None:
    reader = BoilerplateReader(["Example Family Services keeps what you share private."])
    text = "See you at 3.\n\nExample Family Services keeps what\nyou share   private.\n"
    assert kinds(text, reader) == [
        ("See you at 3.\n\n", F),
        ("Example Family Services keeps what\nyou share   private.\n", S),
    ]
    # Without it listed, that sentence is the worker's own.
    assert kinds(text) == [(text, F)]


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        ("Office:  | Fax: ", True),
        ("C ", True),
        ("Tel.  ext. 204", True),
        ("  www.example.org", True),
        ("Example Family Services, ", True),
        ("Maria's new cell is ", False),
        ("Client address:", False),
        ("Her mom: ", False),
    ],
)
def test_contact_lines(rest: str, expected: bool) -> None:
    assert is_contact_line(rest, ["Example Family Services"]) is expected


def test_email_at_the_agencys_domains_is_the_agencys() -> None:
    details = PublicDetails(domains=["example.org", "examplefamily.org"])

    def owner(text: str) -> str | None:
        return details.owner(Finding(Entity.EMAIL_ADDRESS, "body", 0, 1, 0.9, "t", text=text))

    assert owner("jane.smith@example.org") == AGENCY
    assert owner("intake@mail.examplefamily.org") == AGENCY
    assert owner("maria.lopez@gmail.com") is None
    assert owner("someone@notexample.org") is None


# -- through the engine --------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(nlp_service: Any) -> LintEngine:
    # No contact details listed: the signature alone says whose they are.
    settings = settings_from_mapping({"agency": {"working_hours": ALL_DAY, "holidays": []}})
    return LintEngine(settings, Registry(), nlp=nlp_service)


def lint(engine: LintEngine, body: str) -> Any:
    raw = (
        (
            f"From: Jane Worker <jane@example.org>\r\nTo: {OUTSIDER}\r\nSubject: Referral\r\n"
            f"\r\n{body}"
        )
        .replace("\n", "\r\n")
        .replace("\r\r\n", "\r\n")
        .encode()
    )
    return engine.lint(raw, sender="jane@example.org", recipients=(OUTSIDER,), at=AT)


SIGNED = (
    "Best regards,\nJane Worker, LCSW\nCase Manager\nExample Family Services\n"
    "200 W Adams Street, Suite 1200\nChicago, IL 60606\nOffice: (312) 555-0100 | "
    "Fax: (312) 555-0101\njane@example.org | www.example.org\n"
)


def test_the_senders_own_signature_does_not_hold_outside_mail(engine: LintEngine) -> None:
    result = lint(engine, "Thanks for the meeting today.\n\n" + SIGNED + "\n" + NOTICE)
    addresses = [f for f in result.findings if f.entity is Entity.STREET_ADDRESS]
    assert addresses and all(f.public == SIGNATURE for f in addresses)
    assert not [f for f in result.findings if f.entity is Entity.PHONE_NUMBER]
    assert result.verdict.verdict is Action.PASS, [h.rule for h in result.verdict.hits]


@pytest.mark.parametrize(
    ("below_sign_off", "entity", "value"),
    [
        ("P.S. Maria's new cell is 773-555-0199.\n", Entity.PHONE_NUMBER, "773-555-0199"),
        ("Client address:\n4417 N Kedzie Ave, Chicago, IL 60625\n",
         Entity.STREET_ADDRESS, "4417 N Kedzie Ave, Chicago, IL 60625"),
        ("Her DOB: 3/14/2009\n", Entity.DATE_OF_BIRTH, "3/14/2009"),
    ],
)  # fmt: skip
def test_a_clients_detail_in_the_signature_still_counts(
    engine: LintEngine, below_sign_off: str, entity: Entity, value: str
) -> None:
    result = lint(engine, "See you Monday.\n\n" + SIGNED + below_sign_off)
    found = [f for f in result.findings if f.entity is entity and f.public is None]
    assert [f.text for f in found] == [value]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "Thanks, got it." opens a message; what follows is the message.
        ("Hi Bob,\nThanks, got it.\nMaria relapsed last weekend and is back in detox.\nJane\n",
         [("Hi Bob,\nThanks, got it.\nMaria relapsed last weekend and is back in detox.\nJane\n",
           F)]),
        # Prose under a sign-off or a "-- " line is the sender's message.
        ("Ok.\nThanks,\nJane\nP.S. Maria's new cell is 773-555-0199.\n",
         [("Ok.\n", F), ("Thanks,\nJane\n", S), ("P.S. Maria's new cell is 773-555-0199.\n", F)]),
        ("Ok.\n-- \nJane\nshe was admitted to the unit last night\n",
         [("Ok.\n", F), ("-- \nJane\n", S), ("she was admitted to the unit last night\n", F)]),
        # A name after the sign-off, titles and places: the signature.
        ("Ok.\nThanks, Jane\nCase Manager | Example Family Services\n",
         [("Ok.\n", F), ("Thanks, Jane\nCase Manager | Example Family Services\n", S)]),
    ],
)  # fmt: skip
def test_the_signature_holds_only_signature_lines(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert kinds(text) == expected
