"""Whose detail is it? The agency's own, and public places', are nobody's secret.

Most outside mail ends with the worker's signature: the agency's street
address and phone number. A street address is a personal identifier, so
without this every such message was held, and a tool that holds most mail
gets switched off. The same goes for a court's, a clinic's or a hotline's
published address and number.

So the agency lists its own contact details (``agency.contact_details``)
and may keep a directory of public places (``agency.public_directory``, a
CSV of ``name,address,phone``); email addresses at the agency's own email
and web domains (``agency.domains``, ``agency.web_domains``) are the
agency's too. A finding whose value *is* one of those is
marked ``public`` and no rule treats it as a personal identifier. The
match is on the value, not on where it sits: a client's phone number in a
signature is still a client's phone number.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import phonenumbers
import usaddress

from proxy.core.config import ConfigError, Settings
from proxy.core.findings import Entity, Finding

AGENCY = "agency"  # Finding.public for the agency's own details
DIRECTORY = "public directory"  # ... and for a listed public place's
# ... and for the office address on the sender's signature contact lines,
# set by the detector that reads the signature (the agency's, unlisted).
SIGNATURE = "signature"
DIRECTORY_COLUMNS = ("name", "address", "phone")

# USPS abbreviations, so "100 Main Street, Suite 2" and "100 Main St Ste 2"
# are one address.
_ABBREVIATIONS = {
    "street": "st", "avenue": "ave", "av": "ave", "road": "rd", "boulevard": "blvd",
    "drive": "dr", "lane": "ln", "court": "ct", "place": "pl", "parkway": "pkwy",
    "highway": "hwy", "square": "sq", "terrace": "ter", "circle": "cir", "suite": "ste",
    "apartment": "apt", "floor": "fl", "building": "bldg", "room": "rm", "north": "n",
    "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw",
    "southeast": "se", "southwest": "sw", "expressway": "expy", "trail": "trl",
    "plaza": "plz", "center": "ctr", "alley": "aly", "crossing": "xing", "point": "pt",
}  # fmt: skip
_WORD = re.compile(r"[0-9a-z]+")
_MIN_ADDRESS_WORDS = 3  # a number, a name and a street type at least
_EXTENSION = re.compile(r"[\s,]*(?:ext(?:ension)?\.?|x|\#)\s*\d{1,6}\s*$", re.IGNORECASE)


def address_key(text: str) -> tuple[str, ...]:
    """The words of an address, lower case, abbreviated the USPS way."""
    words = _WORD.findall(text.casefold())
    return tuple(_ABBREVIATIONS.get(w, w) for w in words)


# The parts of an address (usaddress's labels) that must agree, and those a
# writer may leave out: "200 W. Adams, Ste. 1200" is 200 W Adams Street,
# Suite 1200, Chicago; "200 Adams St" (which Adams?) and "200 W Adams St,
# Apt 5" (a home in the building) are not.
_REQUIRED_PARTS = frozenset({
    "AddressNumber", "StreetNamePreDirectional", "StreetName", "StreetNamePostDirectional",
})  # fmt: skip
_OPTIONAL_PARTS = frozenset({
    "StreetNamePostType", "StreetNamePreType", "OccupancyType", "OccupancyIdentifier",
    "SubaddressType", "SubaddressIdentifier", "PlaceName", "StateName", "ZipCode",
    "CountryName",
})  # fmt: skip
_PARTS = _REQUIRED_PARTS | _OPTIONAL_PARTS
# The town and ZIP a registered address may leave out (a directory listing
# "1100 S Hamilton Ave"): written, they add nothing that could differ.
_TOWN_PARTS = frozenset({"PlaceName", "StateName", "ZipCode", "CountryName"})


def address_parts(text: str) -> dict[str, tuple[str, ...]] | None:
    """The address's parts as usaddress tags them, each in :func:`address_key`
    form; None when it is not read as one street address (then only the
    words are compared)."""
    try:
        tagged, kind = usaddress.tag(text)
    except usaddress.RepeatedLabelError:
        return None
    if kind != "Street Address":
        return None
    parts = {label: address_key(value) for label, value in tagged.items()}
    if not parts.get("AddressNumber") or not parts.get("StreetName"):
        return None
    if not set(parts) <= _PARTS:
        return None  # a PO box, a landmark, an intersection: not compared by parts
    return {label: value for label, value in parts.items() if value}


def _same_place(registered: dict[str, tuple[str, ...]], found: dict[str, tuple[str, ...]]) -> bool:
    """Every part written agrees with the registered address, nothing but a
    town is added to it, and the number, the street and its direction are all there."""
    if any(
        registered.get(label) != value
        for label, value in found.items()
        if label in registered or label not in _TOWN_PARTS
    ):
        return False
    return all(label in found for label in _REQUIRED_PARTS if label in registered)


def _street_line(text: str) -> tuple[str, ...]:
    """The address up to the first comma or line break: the street line."""
    return address_key(re.split(r"[,\n]", text, maxsplit=1)[0])


@dataclass(frozen=True, slots=True)
class _Address:
    full: tuple[str, ...]
    street: tuple[str, ...]
    parts: dict[str, tuple[str, ...]] | None

    def matches(
        self, found: tuple[str, ...], found_parts: dict[str, tuple[str, ...]] | None
    ) -> bool:
        if len(found) < _MIN_ADDRESS_WORDS:
            return False
        # Read as parts, the parts decide: "Ste. 1200" without the "Street" is
        # the agency's suite, "Apt 5" in its building someone's home.
        if self.parts is not None and found_parts is not None:
            return _same_place(self.parts, found_parts)
        # Otherwise the words: the detector may see less (just the street line)
        # or the same.
        return self.full[: len(found)] == found or found[: len(self.street)] == self.street


class PublicDetails:
    """The agency's and the directory's addresses and phone numbers."""

    def __init__(
        self,
        *,
        agency: Iterable[str] = (),
        directory: Iterable[str] = (),
        region: str = "US",
        domains: Iterable[str] = (),
    ) -> None:
        self._region = region
        self._domains = tuple(d.strip().lower().lstrip("@.") for d in domains if d.strip())
        self._phones: dict[str, str] = {}
        self._addresses: list[tuple[_Address, str]] = []
        for owner, values in ((AGENCY, agency), (DIRECTORY, directory)):
            for value in values:
                phone = self._phone(value)
                if phone is not None:
                    self._phones.setdefault(phone, owner)
                    continue
                key = address_key(value)
                if len(key) >= _MIN_ADDRESS_WORDS:
                    address = _Address(key, _street_line(value), address_parts(value))
                    self._addresses.append((address, owner))

    @classmethod
    def from_settings(cls, settings: Settings) -> PublicDetails:
        agency = settings.agency
        directory: list[str] = []
        if agency.public_directory:
            directory = read_directory(Path(agency.public_directory))
        return cls(
            agency=agency.contact_details,
            directory=directory,
            region=agency.default_region,
            domains=(*agency.domains, *agency.web_domains),
        )

    def _phone(self, text: str) -> str | None:
        """E.164 for a string that is only a phone number, else None; an
        extension ("ext. 214") is a line at that number, so it is left off."""
        text = _EXTENSION.sub("", text)
        if sum(c.isdigit() for c in text) < 7 or re.search(r"[a-zA-Z]{2,}", text):
            return None
        try:
            number = phonenumbers.parse(text, self._region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def owner(self, finding: Finding) -> str | None:
        """Whose public detail ``finding`` is, or None (it may be a person's)."""
        if finding.entity is Entity.PHONE_NUMBER:
            phone = self._phone(finding.text)
            return self._phones.get(phone) if phone is not None else None
        if finding.entity is Entity.STREET_ADDRESS:
            found = address_key(finding.text)
            parts = address_parts(finding.text)
            return next((o for a, o in self._addresses if a.matches(found, parts)), None)
        if finding.entity is Entity.EMAIL_ADDRESS:
            domain = finding.text.rpartition("@")[2].strip().lower().rstrip(".")
            own = any(domain == d or domain.endswith("." + d) for d in self._domains)
            return AGENCY if own else None
        return None

    def mark(self, findings: Sequence[Finding]) -> tuple[Finding, ...]:
        """The findings, with the public ones marked (none are dropped: the
        report still shows them, as the agency's or a public place's)."""
        if not self._phones and not self._addresses and not self._domains:
            return tuple(findings)
        marked = []
        for finding in findings:
            owner = self.owner(finding)
            marked.append(finding if owner is None else replace(finding, public=owner))
        return tuple(marked)


def read_directory(path: Path) -> list[str]:
    """Addresses and phone numbers of the public places in a directory CSV.

    Raises :class:`ConfigError` naming the file and row of any problem, so
    ``tactful serve`` refuses to start rather than guess."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as source:
            reader = csv.DictReader(source)
            header = tuple(h.strip().lower() for h in reader.fieldnames or ())
            if header != DIRECTORY_COLUMNS:
                raise ConfigError(
                    f"agency.public_directory {path}: the first line must be "
                    f"{','.join(DIRECTORY_COLUMNS)} (found {','.join(header) or 'nothing'})"
                )
            values: list[str] = []
            for line, row in enumerate(reader, start=2):
                address = (row.get("address") or "").strip()
                phone = (row.get("phone") or "").strip()
                if not (row.get("name") or "").strip() or not (address or phone):
                    raise ConfigError(
                        f"agency.public_directory {path}, line {line}: each place needs a "
                        "name and an address or a phone number"
                    )
                values += [v for v in (address, phone) if v]
            return values
    except OSError as exc:
        raise ConfigError(f"agency.public_directory: cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(
            f"agency.public_directory {path} is not a UTF-8 CSV file: {exc}"
        ) from None
