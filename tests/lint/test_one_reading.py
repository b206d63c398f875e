"""One reading of MIME: a part a mail program could read differently from
Tactful is held as unscannable, never read one way and relayed for the
recipient's program to read another.

Messages are written byte for byte: no well-behaved library produces them.
"""

from __future__ import annotations

import base64

import pytest

from proxy.core.config import Limits
from proxy.core.message import ParsedMessage, Unscannable
from proxy.lint.parse import REASON_AMBIGUOUS, parse_message

SSN = "123-45-6789"
B64_SSN = base64.b64encode(f"SSN {SSN}\n".encode()).decode()


def parse(raw: bytes) -> ParsedMessage:
    return parse_message(raw, limits=Limits())


def one_part(*headers: str, body: str = f"SSN {SSN}") -> bytes:
    lines = ["From: jane@example.org", "To: bob@partner.org", "Subject: x", *headers, "", body, ""]
    return "\r\n".join(lines).encode()


def mixed(part_headers: list[str], body: str, *, outer: list[str] | None = None) -> bytes:
    """A multipart/mixed message whose second part has ``part_headers``."""
    head = outer or ['Content-Type: multipart/mixed; boundary="B"']
    lines = [
        "From: jane@example.org",
        "To: bob@partner.org",
        "Subject: x",
        *head,
        "",
        "--B",
        "Content-Type: text/plain",
        "",
        "See attached.",
        "--B",
        *part_headers,
        "",
        body,
        "--B--",
        "",
    ]
    return "\r\n".join(lines).encode()


AMBIGUOUS_SHAPES = {
    "two-content-types-top-level": one_part("Content-Type: image/png", "Content-Type: text/plain"),
    "two-encodings-top-level": one_part(
        "Content-Type: text/plain",
        "Content-Transfer-Encoding: 7bit",
        "Content-Transfer-Encoding: base64",
        body=B64_SSN,
    ),
    "two-content-types-in-a-part": mixed(
        ["Content-Type: image/png", "Content-Type: text/plain; name=a.txt"], f"SSN {SSN}"
    ),
    "two-encodings-in-a-part": mixed(
        [
            "Content-Type: text/plain",
            "Content-Transfer-Encoding: base64",
            "Content-Transfer-Encoding: quoted-printable",
        ],
        B64_SSN,
    ),
    "two-boundaries": mixed(
        ["Content-Type: text/plain"],
        "hello",
        outer=['Content-Type: multipart/mixed; boundary="B"; boundary="C"'],
    ),
    "two-charsets": mixed(
        ["Content-Type: text/plain; charset=us-ascii; charset=utf-16"], f"SSN {SSN}"
    ),
    "two-names": mixed(
        ['Content-Type: application/octet-stream; name="a.png"; name="a.txt"'], f"SSN {SSN}"
    ),
    "two-dispositions": mixed(
        [
            "Content-Type: text/plain",
            "Content-Disposition: inline",
            "Content-Disposition: attachment; filename=a.txt",
        ],
        f"SSN {SSN}",
    ),
    "two-filenames": mixed(
        [
            "Content-Type: application/octet-stream",
            'Content-Disposition: attachment; filename="a.png"; filename="a.txt"',
        ],
        f"SSN {SSN}",
    ),
    "two-content-types-in-a-forwarded-message": mixed(
        ["Content-Type: message/rfc822"],
        "From: a@b.org\r\nSubject: fwd\r\nContent-Type: image/gif\r\n"
        f"Content-Type: text/plain\r\n\r\nSSN {SSN}",
    ),
}


@pytest.mark.parametrize("raw", AMBIGUOUS_SHAPES.values(), ids=AMBIGUOUS_SHAPES.keys())
def test_a_part_read_two_ways_is_unscannable(raw: bytes) -> None:
    parsed = parse(raw)
    assert any(u.reason == REASON_AMBIGUOUS for u in parsed.unscannable), parsed.unscannable


def test_the_reason_names_where_it_is() -> None:
    parsed = parse(one_part("Content-Type: image/png", "Content-Type: text/plain"))
    assert Unscannable("message", REASON_AMBIGUOUS) in parsed.unscannable


def test_an_ambiguous_forwarded_message_is_named_by_its_attachment() -> None:
    parsed = parse(AMBIGUOUS_SHAPES["two-content-types-in-a-forwarded-message"])
    assert Unscannable("attachment:forwarded message", REASON_AMBIGUOUS) in parsed.unscannable


ONE_READING_SHAPES = {
    "same-content-type-twice": one_part("Content-Type: text/plain", "Content-Type: text/plain"),
    "same-type-folded-differently": one_part(
        "Content-Type: text/plain;\r\n charset=utf-8", "Content-Type: text/plain; charset=utf-8"
    ),
    "same-boundary-twice": mixed(
        ["Content-Type: text/plain"],
        "hello",
        outer=['Content-Type: multipart/mixed; boundary="B"; boundary=B'],
    ),
    # Mail programs send a plain file name beside its RFC 2231 encoded form.
    "plain-and-encoded-filename": mixed(
        [
            "Content-Type: text/plain",
            "Content-Disposition: attachment; filename=\"Resume.txt\"; "
            "filename*=UTF-8''R%C3%A9sum%C3%A9.txt",
        ],
        "hello",
    ),
    "continued-filename": mixed(
        [
            "Content-Type: text/plain",
            'Content-Disposition: attachment; filename*0="long"; filename*1="name.txt"',
        ],
        "hello",
    ),
    "semicolon-in-a-quoted-name": mixed(
        ['Content-Type: text/plain; name="a;name=b.txt"; name="a;name=b.txt"'], "hello"
    ),
}


@pytest.mark.parametrize("raw", ONE_READING_SHAPES.values(), ids=ONE_READING_SHAPES.keys())
def test_repeats_that_agree_are_not_reported(raw: bytes) -> None:
    assert parse(raw).unscannable == ()
