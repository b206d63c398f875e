"""The consent CSV: every problem reported by line and column, no client data
in the messages, and a lossless round trip."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from proxy.core.consent import CSV_COLUMNS, Channel, ConsentStatus, Relationship
from proxy.store.consent_address import normalize_email, normalize_phone
from proxy.store.consent_csv import ConsentCsvError, RowError, read_consent_csv, write_consent_csv

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "consent.example.csv"
HEADER = ",".join(CSV_COLUMNS)
GOOD = (
    "C-1,Maria Lopez,Mari Lopez;Maria Elena Lopez,Maria.Lopez@Example.com,email,self,granted,"
    "2025-09-01,2027-08-31,no,CASE-2026-00412;MCD-480219377,Prefers texts"
)
GOOD_SMS = "C-1,Maria Lopez,,(312) 555-0142,sms,self,granted,2025-09-01,,yes,,"


def parse(*rows: str, header: str = HEADER) -> list:  # type: ignore[type-arg]
    return read_consent_csv(io.StringIO("\n".join([header, *rows]) + "\n"), source="consent.csv")


def errors_of(*rows: str, header: str = HEADER) -> list[RowError]:
    with pytest.raises(ConsentCsvError) as info:
        parse(*rows, header=header)
    return info.value.errors


def test_valid_rows_are_normalised() -> None:
    email, sms = parse(GOOD, GOOD_SMS)
    assert email.client_id == "C-1"
    assert email.address == "maria.lopez@example.com"
    assert email.channel is Channel.EMAIL
    assert email.relationship is Relationship.SELF
    assert email.status is ConsentStatus.GRANTED
    assert email.aliases == ("Mari Lopez", "Maria Elena Lopez")
    assert email.identifiers == ("CASE-2026-00412", "MCD-480219377")
    assert email.granted_on == date(2025, 9, 1)
    assert email.expires_on == date(2027, 8, 31)
    assert email.preferred is False
    assert sms.address == "+13125550142"
    assert sms.channel is Channel.SMS
    assert sms.expires_on is None
    assert sms.preferred is True


def test_shipped_example_parses_and_covers_the_documented_cases() -> None:
    records = read_consent_csv(EXAMPLE)
    assert len(records) >= 6
    assert any(r.relationship is Relationship.AUTHORIZED for r in records)
    assert any(r.status is ConsentStatus.REVOKED for r in records)
    assert any(r.expired(date(2026, 1, 1)) for r in records)
    assert any(r.channel is Channel.SMS and r.preferred for r in records)
    assert any(i.startswith("CASE-") for r in records for i in r.identifiers)
    for record in records:
        if record.channel is Channel.EMAIL:
            assert record.address.endswith((".example.com", "@example.com", "example.net"))
        else:
            assert record.address.startswith("+131255501")


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        (GOOD.replace(",email,", ",fax,"), "channel", "must be 'email' or 'sms', got 'fax'"),
        (GOOD.replace(",self,", ",cousin,"), "relationship", "'self' or 'authorized'"),
        (GOOD.replace(",granted,", ",maybe,"), "status", "'granted' or 'revoked'"),
        (GOOD.replace("2025-09-01", "09/01/2025"), "granted_on", "YYYY-MM-DD, got '09/01/2025'"),
        (GOOD.replace("2025-09-01", "2025-02-30"), "granted_on", "YYYY-MM-DD"),
        (GOOD.replace("2025-09-01", ""), "granted_on", "is empty"),
        (GOOD.replace("2027-08-31", "2025-01-01"), "expires_on", "is before granted_on"),
        (GOOD.replace(",no,", ",sometimes,"), "preferred", "'yes' or 'no'"),
        (GOOD.replace("Maria.Lopez@Example.com", "maria lopez@example.com"), "address", "email"),
        (GOOD.replace("Maria.Lopez@Example.com", "maria@example"), "address", "domain"),
        (GOOD.replace("Maria.Lopez@Example.com", "maria@@example.com"), "address", "email"),
        (GOOD_SMS.replace("(312) 555-0142", "555-01"), "address", "phone number"),
        (GOOD_SMS.replace("(312) 555-0142", "call me maybe"), "address", "phone number"),
        (GOOD_SMS.replace(",sms,", ",email,"), "channel", "the address is a phone number"),
        (GOOD.replace(",email,", ",sms,"), "channel", "the address is an email address"),
        (GOOD.replace("C-1,", ",", 1), "client_id", "is empty"),
        (GOOD.replace("Maria Lopez,Mari", ",Mari"), "name", "is empty"),
        (GOOD.replace("CASE-2026-00412", "A-1"), "identifiers", "too short"),
        (GOOD.replace("C-1,", "C" * 65 + ",", 1), "client_id", "longer than 64"),
    ],
)
def test_each_bad_cell_names_line_and_column(row: str, column: str, fragment: str) -> None:
    errors = errors_of(GOOD_SMS, row)
    assert len(errors) == 1, errors
    assert errors[0].line == 3
    assert errors[0].column == column
    assert fragment in errors[0].message


def test_message_format_is_file_line_column() -> None:
    with pytest.raises(ConsentCsvError) as info:
        parse(GOOD_SMS, GOOD_SMS, GOOD.replace(",email,", ",fax,"))
    text = str(info.value)
    assert "consent.csv:4: column 'channel': must be 'email' or 'sms', got 'fax'" in text


def test_all_errors_are_collected_not_just_the_first() -> None:
    errors = errors_of(
        GOOD.replace(",email,", ",fax,").replace("2025-09-01", "yesterday"),
        GOOD_SMS,
        GOOD_SMS.replace(",yes,", ",maybe,"),
    )
    assert [(e.line, e.column) for e in errors] == [
        (2, "channel"),
        (2, "granted_on"),
        (4, "preferred"),
    ]


def test_duplicate_client_address_channel_is_an_error_on_the_later_line() -> None:
    same_number_written_differently = GOOD_SMS.replace("(312) 555-0142", "+1 312 555 0142")
    errors = errors_of(GOOD, GOOD_SMS, same_number_written_differently)
    assert [(e.line, e.column) for e in errors] == [(4, "address")]
    assert "repeats line 3" in errors[0].message


def test_same_address_for_two_clients_is_allowed() -> None:
    # A parent may be the contact for two children who are both clients.
    records = parse(GOOD, GOOD.replace("C-1,", "C-2,", 1))
    assert [r.client_id for r in records] == ["C-1", "C-2"]


def test_errors_never_echo_names_addresses_or_notes() -> None:
    secret_row = (
        "C-1,Zebulon Quartermaine,Zeb Q,zebulon quartermaine@example.com,fax,self,granted,"
        "2025-09-01,2024-01-01,no,,Lives at 12 Hidden Lane"
    )
    with pytest.raises(ConsentCsvError) as info:
        parse(secret_row)
    text = str(info.value)
    assert len(info.value.errors) == 3
    for secret in ("Zebulon", "Quartermaine", "Zeb Q", "zebulon", "Hidden Lane"):
        assert secret not in text


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (HEADER.replace("channel", "medium"), "missing column(s): channel"),
        (HEADER.replace("channel", "medium"), "unexpected column(s): 'medium'"),
        (HEADER.replace(",notes", ""), "missing column(s): notes"),
        (HEADER + ",extra", "unexpected column(s): 'extra'"),
        (HEADER.replace("name,aliases", "aliases,name"), "wrong order"),
    ],
)
def test_header_mismatch_names_the_columns(header: str, fragment: str) -> None:
    errors = errors_of(GOOD, header=header)
    assert len(errors) == 1
    assert errors[0].line == 1
    assert fragment in errors[0].message
    assert HEADER in errors[0].message


def test_empty_file_is_a_clear_error() -> None:
    with pytest.raises(ConsentCsvError) as info:
        read_consent_csv(io.StringIO(""), source="consent.csv")
    assert "consent.csv:1: the file is empty" in str(info.value)


def test_row_with_wrong_number_of_fields() -> None:
    errors = errors_of(GOOD + ",surplus")
    assert errors[0].line == 2 and errors[0].column is None
    assert "13 fields" in errors[0].message


def test_bom_and_crlf_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "consent.csv"
    path.write_bytes(("\ufeff" + HEADER + "\r\n" + GOOD + "\r\n\r\n" + GOOD_SMS + "\r\n").encode())
    records = read_consent_csv(path)
    assert [r.channel for r in records] == [Channel.EMAIL, Channel.SMS]


def test_quoted_multiline_notes_keep_line_numbers_right() -> None:
    multiline = GOOD.replace("Prefers texts", '"first line\nsecond line"')
    errors = errors_of(multiline, GOOD_SMS.replace(",sms,", ",fax,"))
    # Row 1 spans lines 2-3, so the bad row starts on line 4.
    assert [(e.line, e.column) for e in errors] == [(4, "channel")]


def test_binary_stream_that_is_not_utf8_names_the_line() -> None:
    data = (HEADER + "\n" + GOOD + "\n").encode() + "C-2,Jos\xe9".encode("latin-1") + b"\n"
    with pytest.raises(ConsentCsvError) as info:
        read_consent_csv(io.BytesIO(data), source="upload.csv")
    assert str(info.value).startswith("upload.csv:3: is not UTF-8 text")


def test_round_trip_is_lossless() -> None:
    records = read_consent_csv(EXAMPLE)
    out = io.StringIO()
    write_consent_csv(records, out)
    # The example uses the release-terms columns, so the export has them too.
    assert out.getvalue().splitlines()[0] == EXAMPLE.read_text().splitlines()[0]
    assert out.getvalue().splitlines()[0].startswith(HEADER + ",")
    again = read_consent_csv(io.StringIO(out.getvalue()))
    assert again == records
    assert [r.notes for r in again] == [r.notes for r in records]


def test_round_trip_keeps_commas_quotes_and_newlines_in_notes() -> None:
    (record,) = parse(GOOD.replace("Prefers texts", '"Said ""call after 5, not before""\nok"'))
    out = io.StringIO()
    write_consent_csv([record], out)
    (again,) = read_consent_csv(io.StringIO(out.getvalue()))
    assert again.notes == 'Said "call after 5, not before"\nok'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Maria.Lopez@Example.COM", "maria.lopez@example.com"),
        (" a+b@sub.example.org ", "a+b@sub.example.org"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(312) 555-0142", "US", "+13125550142"),
        ("312.555.0199", "US", "+13125550199"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_normalize_phone(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


def test_default_region_changes_how_national_numbers_read() -> None:
    row = "C-1,Maria Lopez,,020 7946 0958,sms,self,granted,2025-09-01,,yes,,"
    (record,) = read_consent_csv(io.StringIO(HEADER + "\n" + row + "\n"), default_region="GB")
    assert record.address == "+442079460958"
    with pytest.raises(ConsentCsvError):
        read_consent_csv(io.StringIO(HEADER + "\n" + row + "\n"), default_region="US")
