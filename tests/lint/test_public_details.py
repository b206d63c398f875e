"""Whose detail is it: the agency's own address and phone number, and a
public place's, are never a personal identifier; a client's still is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from proxy.core.config import ConfigError, settings_from_mapping
from proxy.core.consent import Registry
from proxy.core.findings import Entity, Finding
from proxy.core.verdict import Action
from proxy.lint.engine import LintEngine
from proxy.lint.public_details import AGENCY, DIRECTORY, PublicDetails, read_directory
from tests.support.proxy_fixtures import ALL_DAY

AGENCY_ADDRESS = "200 W Adams Street, Suite 1200, Chicago, IL 60606"
AGENCY_PHONE = "(312) 555-0100"
COURT = "Cook County Juvenile Court,1100 S Hamilton Ave,(312) 433-6500\n"
AT = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Chicago
OUTSIDER = "intake@partner.example.net"


def finding(entity: Entity, text: str) -> Finding:
    return Finding(entity, "body", 0, len(text), 0.9, "test", text=text)


@pytest.fixture(scope="module")
def details() -> PublicDetails:
    return PublicDetails(agency=[AGENCY_ADDRESS, AGENCY_PHONE],
                         directory=["1100 S Hamilton Ave", "(312) 433-6500"])  # fmt: skip


@pytest.mark.parametrize(
    ("entity", "text", "owner"),
    [
        (Entity.STREET_ADDRESS, "200 W Adams Street", AGENCY),
        (Entity.STREET_ADDRESS, "200 W. Adams St.", AGENCY),
        (Entity.STREET_ADDRESS, "200 West Adams Street, Suite 1200", AGENCY),
        (Entity.STREET_ADDRESS, "200 W Adams St Ste 1200 Chicago IL 60606", AGENCY),
        (Entity.STREET_ADDRESS, "1100 South Hamilton Avenue", DIRECTORY),
        (Entity.PHONE_NUMBER, "312.555.0100", AGENCY),
        (Entity.PHONE_NUMBER, "+1 312 555 0100", AGENCY),
        (Entity.PHONE_NUMBER, "(312) 555-0100 ext. 214", AGENCY),
        (Entity.PHONE_NUMBER, "312-555-0100 x214", AGENCY),
        (Entity.PHONE_NUMBER, "(312) 433-6500", DIRECTORY),
        # A client's details, even next door, stay personal.
        (Entity.STREET_ADDRESS, "202 W Adams Street", None),
        (Entity.STREET_ADDRESS, "200 W Adams Boulevard", None),
        (Entity.STREET_ADDRESS, "200 Adams", None),
        (Entity.PHONE_NUMBER, "(312) 555-0142", None),
        # Other entities are never public, whatever their text.
        (Entity.DATE_OF_BIRTH, "200 W Adams Street", None),
    ],
)
def test_whose_detail_it_is(
    details: PublicDetails, entity: Entity, text: str, owner: str | None
) -> None:
    assert details.owner(finding(entity, text)) == owner


@pytest.mark.parametrize(
    ("text", "owner"),
    [
        # USPS abbreviations in any mix, and parts a writer leaves out.
        ("200 W. Adams, Ste. 1200", AGENCY),
        ("200 West Adams, Suite 1200", AGENCY),
        ("200 W Adams St., Ste 1200, Chicago", AGENCY),
        ("200 W. Adams St. #1200", AGENCY),
        ("200 W Adams, Chicago, IL 60606", AGENCY),
        ("1100 S. Hamilton Ave.", DIRECTORY),
        ("1100 South Hamilton, Chicago IL", DIRECTORY),
        # Another unit, a home in the building, another city, another street.
        ("200 W. Adams, Ste. 1400", None),
        ("200 W Adams St, Apt. 5", None),
        ("200 W Adams St, Evanston, IL", None),
        ("200 E. Adams, Ste. 1200", None),
        ("200 Adams, Ste. 1200", None),
        ("200 W Adams Blvd., Ste 1200", None),
        ("1100 S Hamilton Blvd", None),
    ],
)
def test_an_address_is_compared_by_its_parts(
    details: PublicDetails, text: str, owner: str | None
) -> None:
    assert details.owner(finding(Entity.STREET_ADDRESS, text)) == owner


def test_marking_keeps_every_finding(details: PublicDetails) -> None:
    found = (finding(Entity.STREET_ADDRESS, "200 W Adams St"),
             finding(Entity.STREET_ADDRESS, "4417 N Kedzie Ave"))  # fmt: skip
    marked = details.mark(found)
    assert [f.public for f in marked] == [AGENCY, None]
    assert [f.text for f in marked] == [f.text for f in found]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, nlp_service: Any) -> LintEngine:
    directory = tmp_path_factory.mktemp("directory") / "places.csv"
    directory.write_text("name,address,phone\n" + COURT, encoding="utf-8")
    settings = settings_from_mapping(
        {"agency": {"working_hours": ALL_DAY, "holidays": [],
                    "contact_details": [AGENCY_ADDRESS, AGENCY_PHONE],
                    "public_directory": str(directory)}}
    )  # fmt: skip
    return LintEngine(settings, Registry(), nlp=nlp_service)


def mail(body: str) -> bytes:
    return (
        f"From: Jane Worker <jane@example.org>\r\nTo: {OUTSIDER}\r\nSubject: Referral\r\n"
        f"\r\n{body}\r\n"
    ).encode()


SIGNATURE = (
    "-- \r\nJane Worker, LCSW\r\nExample Family Services\r\n"
    "200 W Adams Street, Suite 1200, Chicago, IL 60606\r\n(312) 555-0100\r\n"
)


def test_the_agency_signature_does_not_hold_outside_mail(engine: LintEngine) -> None:
    result = engine.lint(mail("Thanks for the meeting today.\r\n\r\n" + SIGNATURE),
                         sender="jane@example.org", recipients=(OUTSIDER,), at=AT)  # fmt: skip
    addresses = [f for f in result.findings if f.entity is Entity.STREET_ADDRESS]
    assert addresses and all(f.public == AGENCY for f in addresses)
    assert result.verdict.verdict is Action.PASS


def test_a_court_address_from_the_directory_does_not_hold(engine: LintEngine) -> None:
    body = "The hearing is at 1100 S Hamilton Ave, Chicago, IL 60612, room 4.\r\n"
    result = engine.lint(mail(body), sender="jane@example.org", recipients=(OUTSIDER,), at=AT)
    assert result.verdict.verdict is Action.PASS


def test_a_clients_address_beside_the_signature_still_holds(engine: LintEngine) -> None:
    body = "She now lives at 4417 N Kedzie Ave, Chicago, IL 60625.\r\n\r\n" + SIGNATURE
    result = engine.lint(mail(body), sender="jane@example.org", recipients=(OUTSIDER,), at=AT)
    assert result.verdict.verdict is Action.HOLD
    held = [h.finding for h in result.verdict.hits if h.action is Action.HOLD and h.finding]
    held_addresses = [f for f in held if f.entity is Entity.STREET_ADDRESS]
    assert held_addresses, [h.rule for h in result.verdict.hits]
    assert all("Kedzie" in f.text and f.public is None for f in held_addresses)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("place,street,number\nCourt,1 Main St,\n", "first line must be name,address,phone"),
        ("name,address,phone\n,1100 S Hamilton Ave,\n", "line 2"),
        ("name,address,phone\nHotline,,\n", "line 2"),
    ],
)
def test_a_bad_directory_is_a_clear_error(tmp_path: Path, content: str, complaint: str) -> None:
    path = tmp_path / "places.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=complaint):
        read_directory(path)


def test_a_missing_directory_stops_the_engine_with_the_path(
    tmp_path: Path, nlp_service: Any
) -> None:
    settings = settings_from_mapping(
        {"agency": {"public_directory": str(tmp_path / "nope.csv")}}
    )
    with pytest.raises(ConfigError, match=r"nope\.csv"):
        LintEngine(settings, Registry(), nlp=nlp_service)
