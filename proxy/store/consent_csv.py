"""The consent registry as a CSV file: what admins edit, import and export.

The file is the registry's human interface, so every problem is reported at
once, by line and column, and nothing is imported until the whole file is
clean: a half-imported registry would silently allow or refuse the wrong
messages. Error texts never repeat names, addresses or notes (they end up in
terminals and logs); for enum and date columns the bad value is shown,
because it is what the admin has to fix and it is not client data.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, TextIO, TypeVar

from proxy.core.consent import (
    ALL_CSV_COLUMNS,
    CSV_COLUMNS,
    SCOPE_COLUMNS,
    SCOPE_NAMES,
    Channel,
    ConsentRecord,
    ConsentStatus,
    Relationship,
)
from proxy.store.consent_address import AddressError, address_channel, normalize_address

LIST_SEPARATOR = ";"
# Column sizes of the consent table (proxy.store.consent_store).
MAX_CLIENT_ID = 64
MAX_NAME = 200
MAX_PURPOSE = 500
# Shorter identifiers would match ordinary numbers in message text.
MIN_IDENTIFIER_CHARS = 4

_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ALNUM = re.compile(r"[^\W_]", re.UNICODE)

E = TypeVar("E", Channel, Relationship, ConsentStatus)


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one cell; ``column`` is None for whole-row/file problems."""

    line: int
    column: str | None
    message: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}:"
        if self.column is None:
            return f"{where} {self.message}"
        return f"{where} column '{self.column}': {self.message}"


class ConsentCsvError(ValueError):
    """The file has problems; ``errors`` lists every one of them."""

    def __init__(self, errors: Sequence[RowError], source: str = "consent.csv") -> None:
        self.errors: list[RowError] = list(errors)
        self.source = source
        super().__init__("\n".join(e.render(source) for e in self.errors))


def split_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(LIST_SEPARATOR) if part.strip())


def _enum_choice(kind: type[E], value: str) -> E | None:
    try:
        return kind(value.strip().lower())
    except ValueError:
        return None


def _quoted_choices(kind: type[Channel] | type[Relationship] | type[ConsentStatus]) -> str:
    names = [f"'{member.value}'" for member in kind]
    return " or ".join(names) if len(names) == 2 else ", ".join(names)


def _parse_date(value: str) -> date | None:
    text = value.strip()
    if not _DATE_SHAPE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _shown(value: str) -> str:
    """A short, safe rendering of a bad enum/date value for error messages."""
    text = value.strip()
    return repr(text if len(text) <= 20 else text[:20] + "…")


class _RowParser:
    """Validates one data row, collecting every error instead of stopping."""

    def __init__(self, line: int, default_region: str) -> None:
        self.line = line
        self.default_region = default_region
        self.errors: list[RowError] = []

    def error(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.line, column, message))

    def required(self, cells: dict[str, str], column: str, *, max_length: int) -> str:
        value = cells[column].strip()
        if not value:
            self.error(column, "is empty; every row needs a value here")
        elif len(value) > max_length:
            self.error(column, f"is longer than {max_length} characters")
        return value

    def parse(self, cells: dict[str, str]) -> ConsentRecord | None:
        client_id = self.required(cells, "client_id", max_length=MAX_CLIENT_ID)
        name = self.required(cells, "name", max_length=MAX_NAME)
        aliases = split_list(cells["aliases"])
        channel = self._choice(cells, "channel", Channel)
        relationship = self._choice(cells, "relationship", Relationship)
        status = self._choice(cells, "status", ConsentStatus)
        address = self._address(cells, channel)
        granted_on = self._date(cells, "granted_on", required=True)
        expires_on = self._date(cells, "expires_on", required=False)
        if granted_on is not None and expires_on is not None and expires_on < granted_on:
            self.error(
                "expires_on",
                f"{expires_on.isoformat()} is before granted_on {granted_on.isoformat()}; "
                "fix one of the dates or leave expires_on empty for no expiry",
            )
        preferred = self._preferred(cells)
        identifiers = self._identifiers(cells)
        recipient_name = cells.get("recipient_name", "").strip()
        if len(recipient_name) > MAX_NAME:
            self.error("recipient_name", f"is longer than {MAX_NAME} characters")
        purpose = cells.get("purpose", "").strip()
        if len(purpose) > MAX_PURPOSE:
            self.error("purpose", f"is longer than {MAX_PURPOSE} characters")
        scope = self._scope(cells, relationship)
        part2 = self._yes_no(cells, "part2")
        if self.errors:
            return None
        assert channel is not None and relationship is not None and status is not None
        assert address is not None and granted_on is not None and preferred is not None
        return ConsentRecord(
            client_id=client_id,
            name=name,
            aliases=aliases,
            address=address,
            channel=channel,
            relationship=relationship,
            status=status,
            granted_on=granted_on,
            expires_on=expires_on,
            preferred=preferred,
            identifiers=identifiers,
            notes=cells["notes"].strip(),
            recipient_name=recipient_name,
            scope=scope,
            purpose=purpose,
            part2=bool(part2),
        )

    def _choice(self, cells: dict[str, str], column: str, kind: type[E]) -> E | None:
        raw = cells[column]
        choice = _enum_choice(kind, raw)
        if choice is None:
            self.error(column, f"must be {_quoted_choices(kind)}, got {_shown(raw)}")
        return choice

    def _address(self, cells: dict[str, str], channel: Channel | None) -> str | None:
        raw = cells["address"].strip()
        if not raw:
            self.error("address", "is empty; put the client's email address or phone number here")
            return None
        shape = address_channel(raw)
        try:
            address = normalize_address(raw, shape, self.default_region)
        except AddressError as exc:
            problem = str(exc)
            # Judge a malformed address by the row's own channel: an email
            # row with a typo (no @) is told it is not an email address,
            # not that it is not a phone number.
            if channel is not None and channel is not shape:
                try:
                    normalize_address(raw, channel, self.default_region)
                except AddressError as own:
                    problem = str(own)
            self.error("address", problem)
            return None
        if channel is not None and channel is not shape:
            kind = "an email address" if shape is Channel.EMAIL else "a phone number"
            self.error(
                "channel",
                f"is '{channel.value}' but the address is {kind}; "
                f"use '{shape.value}' or change the address",
            )
        return address

    def _date(self, cells: dict[str, str], column: str, *, required: bool) -> date | None:
        raw = cells[column]
        if not raw.strip():
            if required:
                self.error(column, "is empty; write the date consent was given as YYYY-MM-DD")
            return None
        parsed = _parse_date(raw)
        if parsed is None:
            self.error(column, f"must be a date written YYYY-MM-DD, got {_shown(raw)}")
        return parsed

    def _preferred(self, cells: dict[str, str]) -> bool | None:
        raw = cells["preferred"].strip().lower()
        if raw in ("yes", ""):
            return raw == "yes"
        if raw == "no":
            return False
        self.error("preferred", f"must be 'yes' or 'no', got {_shown(cells['preferred'])}")
        return None

    def _yes_no(self, cells: dict[str, str], column: str) -> bool | None:
        raw = cells.get(column, "")
        value = raw.strip().lower()
        if value in ("yes", "no", ""):
            return value == "yes"
        self.error(column, f"must be 'yes' or 'no' (or empty for no), got {_shown(raw)}")
        return None

    def _scope(self, cells: dict[str, str], relationship: Relationship | None) -> tuple[str, ...]:
        """Known category names and ``identifiers``; a scope only means
        something on a release to someone else, so a client's own row with
        one is a mistake worth naming rather than a rule silently ignored."""
        items = [item.lower() for item in split_list(cells.get("scope", ""))]
        for position, item in enumerate(items, start=1):
            if item not in SCOPE_NAMES:
                self.error(
                    "scope",
                    f"item {position} {_shown(item)} is not a category Tactful knows; "
                    f"use {', '.join(SCOPE_NAMES)}, separated by '{LIST_SEPARATOR}'",
                )
        if items and relationship is Relationship.SELF:
            self.error(
                "scope",
                "is only for a release to someone the client authorised "
                "(relationship 'authorized'); leave it empty on the client's own rows",
            )
        return tuple(dict.fromkeys(items))

    def _identifiers(self, cells: dict[str, str]) -> tuple[str, ...]:
        identifiers = split_list(cells["identifiers"])
        for position, identifier in enumerate(identifiers, start=1):
            if len(_ALNUM.findall(identifier)) < MIN_IDENTIFIER_CHARS:
                self.error(
                    "identifiers",
                    f"identifier {position} is too short to recognise safely "
                    f"(fewer than {MIN_IDENTIFIER_CHARS} letters or digits)",
                )
        return identifiers


def _header_errors(header: Sequence[str]) -> list[RowError]:
    """The required columns in their order, then any of the optional
    release-terms columns (:data:`SCOPE_COLUMNS`) in any order."""
    found = [cell.strip().lower() for cell in header]
    required, optional = found[: len(CSV_COLUMNS)], found[len(CSV_COLUMNS) :]
    if (
        tuple(required) == CSV_COLUMNS
        and all(c in SCOPE_COLUMNS for c in optional)
        and len(set(optional)) == len(optional)
    ):
        return []
    expected = ",".join(CSV_COLUMNS)
    missing = [c for c in CSV_COLUMNS if c not in found]
    unexpected = [c for c in found if c not in ALL_CSV_COLUMNS]
    repeated = sorted({c for c in found if c in ALL_CSV_COLUMNS and found.count(c) > 1})
    problems: list[str] = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unexpected:
        shown = ", ".join(repr(c[:30]) for c in unexpected)
        problems.append(f"unexpected column(s): {shown}")
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    if not problems:
        problems.append("the columns are in the wrong order")
    message = (
        f"bad header: {'; '.join(problems)}. The first line must be: {expected} "
        f"(optionally followed by {','.join(SCOPE_COLUMNS)})"
    )
    return [RowError(1, None, message)]


def _read_text(
    stream_or_path: str | os.PathLike[str] | IO[str] | IO[bytes], source: str | None
) -> tuple[str, str]:
    """The whole file as text plus a name for messages; raises ConsentCsvError
    for undecodable bytes (with the line they are on)."""
    if isinstance(stream_or_path, str | os.PathLike):
        path = os.fspath(stream_or_path)
        source = source if source is not None else path
        data: str | bytes = Path(path).read_bytes()
    else:
        if source is None:
            source = str(getattr(stream_or_path, "name", "consent.csv"))
        data = stream_or_path.read()
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), source
    try:
        return data.decode("utf-8-sig"), source
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        error = RowError(line, None, "is not UTF-8 text; save the file as 'CSV UTF-8' and retry")
        raise ConsentCsvError([error], source) from None


def read_consent_csv(
    stream_or_path: str | os.PathLike[str] | IO[str] | IO[bytes],
    *,
    default_region: str = "US",
    source: str | None = None,
) -> list[ConsentRecord]:
    """Parse and validate a whole consent file.

    Raises :class:`ConsentCsvError` listing every problem; returns records
    only when there are none. ``source`` names the file in messages (default:
    the path, or the stream's name).
    """
    text, source = _read_text(stream_or_path, source)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[RowError] = []
    records: list[ConsentRecord] = []
    first_line_of: dict[tuple[str, str, Channel], int] = {}
    try:
        header = next(reader, None)
        if header is None:
            expected = ",".join(CSV_COLUMNS)
            raise ConsentCsvError(
                [RowError(1, None, f"the file is empty; the first line must be: {expected}")],
                source,
            )
        header_errors = _header_errors(header)
        if header_errors:
            raise ConsentCsvError(header_errors, source)
        columns = tuple(cell.strip().lower() for cell in header)
        line = reader.line_num + 1
        for row in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                errors.append(
                    RowError(
                        start,
                        None,
                        f"has {len(row)} fields but the header has {len(columns)}; "
                        "check for a missing or extra comma (quote values that contain commas)",
                    )
                )
                continue
            parser = _RowParser(start, default_region)
            record = parser.parse(dict(zip(columns, row, strict=True)))
            errors.extend(parser.errors)
            if record is None:
                continue
            key = (record.client_id, record.address, record.channel)
            if key in first_line_of:
                errors.append(
                    RowError(
                        start,
                        "address",
                        f"repeats line {first_line_of[key]} (same client_id, address and "
                        "channel); keep one of the two rows",
                    )
                )
                continue
            first_line_of[key] = start
            records.append(record)
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, None, f"is not valid CSV ({exc})"))
    if errors:
        raise ConsentCsvError(errors, source)
    return records


def _list_cell(values: Iterable[str]) -> str:
    values = tuple(values)
    if any(LIST_SEPARATOR in v for v in values):
        raise ValueError(f"aliases, identifiers and scope cannot contain {LIST_SEPARATOR!r}")
    return LIST_SEPARATOR.join(values)


def has_terms(record: ConsentRecord) -> bool:
    """Whether the row uses any of the optional release-terms columns."""
    return bool(record.recipient_name or record.scope or record.purpose or record.part2)


def record_to_row(record: ConsentRecord, *, terms: bool = True) -> list[str]:
    """The row's cells; ``terms`` adds the release-terms columns."""
    row = [
        record.client_id,
        record.name,
        _list_cell(record.aliases),
        record.address,
        record.channel.value,
        record.relationship.value,
        record.status.value,
        record.granted_on.isoformat(),
        record.expires_on.isoformat() if record.expires_on is not None else "",
        "yes" if record.preferred else "no",
        _list_cell(record.identifiers),
        record.notes,
    ]
    if terms:
        row += [
            record.recipient_name,
            _list_cell(record.scope),
            record.purpose,
            "yes" if record.part2 else "no",
        ]
    return row


def write_consent_csv(records: Iterable[ConsentRecord], stream: TextIO) -> None:
    """Write records in the same format :func:`read_consent_csv` reads.

    The release-terms columns are written when any record uses them, so a
    registry without them exports in the format older tools read."""
    records = list(records)
    terms = any(has_terms(r) for r in records)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(ALL_CSV_COLUMNS if terms else CSV_COLUMNS)
    for record in records:
        writer.writerow(record_to_row(record, terms=terms))
