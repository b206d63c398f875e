"""The masked preview marks what masking changed, value by value, so a
screen reader can say "masked" instead of spelling out the mask; header
fields appear only where something in them was masked."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from proxy.core.config import Limits
from proxy.core.message import ParsedMessage
from proxy.lint.parse import parse_message
from proxy.review.highlight import masked_parts


def _parsed(body: str, to: str = "intake@partner.example.net") -> ParsedMessage:
    mail = EmailMessage()
    mail["From"] = "jane@example.org"
    mail["To"] = to
    mail["Subject"] = "Referral"
    mail.set_content(body)
    return parse_message(mail.as_bytes(), limits=Limits())


@pytest.mark.parametrize(
    ("before", "after", "masked"),
    [
        ("SSN 123-45-6789.", "SSN XXX-XX-6789.", ["XXX-XX-6789"]),
        ("DOB: 03/14/1988, thanks", "DOB: XX/XX/XXXX, thanks", ["XX/XX/XXXX"]),
        ("SSN 123-45-6789 and DOB 03/14/1988.", "SSN ***-**-6789 and DOB **/**/****.",
         ["***-**-6789", "**/**/****"]),
        ("Nothing to hide here.", "Nothing to hide here.", []),
    ],
)  # fmt: skip
def test_each_masked_value_is_one_marked_piece(before: str, after: str, masked: list[str]) -> None:
    parts = masked_parts(_parsed(before), _parsed(after))
    body = next(p for p in parts if p.source == "body")
    assert [p.text for p in body.pieces if p.masked] == masked
    assert body.text.rstrip("\n") == after
    assert [p.source for p in parts if p.source.startswith("header:")] == []
