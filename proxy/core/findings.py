"""Typed, frozen findings: the only thing a detector may hand back.

Detectors never change a message and never decide; they describe what they saw
(entity, where, how sure) and the policy turns that into an action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Entity(StrEnum):
    """Canonical entity names. Outside tools and tests rely on these spellings."""

    US_SSN = "US_SSN"
    CREDIT_CARD = "CREDIT_CARD"
    US_BANK_NUMBER = "US_BANK_NUMBER"
    PHONE_NUMBER = "PHONE_NUMBER"
    EMAIL_ADDRESS = "EMAIL_ADDRESS"
    PERSON = "PERSON"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    MEDICAID_ID = "MEDICAID_ID"
    MEDICARE_ID = "MEDICARE_ID"
    CASE_NUMBER = "CASE_NUMBER"
    STREET_ADDRESS = "STREET_ADDRESS"
    SENSITIVE_CONDITION = "SENSITIVE_CONDITION"
    CLIENT = "CLIENT"
    UNSCANNABLE = "UNSCANNABLE"


class Category(StrEnum):
    """Categories of SENSITIVE_CONDITION."""

    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_USE = "substance_use"
    HIV_STI = "hiv_sti"
    REPRODUCTIVE_HEALTH = "reproductive_health"
    ABUSE_NEGLECT = "abuse_neglect"
    IMMIGRATION = "immigration"
    CRIMINAL_JUSTICE = "criminal_justice"


FINANCIAL_ENTITIES = frozenset({Entity.US_SSN, Entity.CREDIT_CARD, Entity.US_BANK_NUMBER})
PERSONAL_IDENTIFIER_ENTITIES = frozenset(
    {
        Entity.DATE_OF_BIRTH,
        Entity.MEDICAID_ID,
        Entity.MEDICARE_ID,
        Entity.CASE_NUMBER,
        Entity.STREET_ADDRESS,
        # A client's phone number identifies and locates them as surely as
        # an address; the agency's own and public numbers are marked public
        # (agency.contact_details, agency.public_directory) and never count.
        Entity.PHONE_NUMBER,
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a detector saw in one place of a message.

    ``location`` is the segment source (``subject``, ``body``, ``html`` or
    ``attachment:NAME``); ``start``/``end`` are character offsets into that
    source's full text. ``text`` is the matched value: actions need it to mask
    the value wherever it occurs, but it is client data, so it is excluded from
    ``repr`` and from every serialisation (see ``proxy.lint.report``).
    """

    entity: Entity
    location: str
    start: int
    end: int
    score: float
    detector: str
    text: str = field(default="", repr=False, compare=False)
    category: Category | None = None
    client_id: str | None = None
    # SENSITIVE_CONDITION only: is the condition attributed to a person?
    about_person: bool | None = None
    # True when the text sits in quoted reply or forwarded text.
    quoted: bool = False
    # UNSCANNABLE only: a short, client-data-free reason ("encrypted PDF").
    reason: str | None = None
    # Set when the value is the agency's own or a listed public place's
    # contact detail ("agency", "public directory"): nobody's personal data.
    public: str | None = None
