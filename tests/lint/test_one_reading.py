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
from proxy.lint.attachments import DecodedText, Kind, classify, decode_text
from proxy.lint.parse import REASON_AMBIGUOUS, parse_message
from proxy.lint.sniff import SNIFF_BYTES
from tests.support.mime_builders import attach, message, to_bytes

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
            'Content-Disposition: attachment; filename="Resume.txt"; '
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


# -- a part is read as what its bytes are -----------------------------------------

TEXT = f"Client SSN {SSN}, see you Tuesday.\n".encode()
HTML = f"<html><body><p>Client SSN {SSN}</p></body></html>".encode()
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "kind"),
    [
        ("photo.png", "image/png", TEXT, Kind.TEXT),
        ("photo.jpg", "image/jpeg", HTML, Kind.HTML),
        ("", "image/gif", TEXT, Kind.TEXT),
        ("scan", "application/octet-stream", TEXT, Kind.TEXT),
        ("scan.bin", "application/octet-stream", HTML, Kind.HTML),
        ("photo.png", "image/png", b"%PDF-1.7\n", Kind.PDF),
        ("photo.png", "image/png", b"PK\x03\x04rest", Kind.ARCHIVE),
        ("notes.txt", "text/plain", b"PK\x03\x04rest", Kind.ARCHIVE),
        ("data", "application/octet-stream", bytes.fromhex("789F3E220100"), Kind.TNEF),
        ("photo.png", "image/png", b"\x1f\x8b\x08\x00rest", Kind.UNKNOWN),  # gzip
        ("photo", "application/octet-stream", PNG, Kind.IMAGE),  # a real picture
        ("photo.png", "image/png", PNG, Kind.IMAGE),
        ("photo.png", "image/png", bytes(range(256)), Kind.IMAGE),  # unrecognised picture
        ("photo.png", "image/png", f"SSN {SSN}".encode("utf-16"), Kind.TEXT),
        ("photo.png", "image/png", f"SSN {SSN}".encode("utf-16-le"), Kind.TEXT),
        ("BMI.bin", "application/octet-stream", b"BMI: 31, SSN 123-45-6789", Kind.TEXT),
        ("logo.svg", "image/svg+xml", b"<svg><text>SSN</text></svg>", Kind.HTML),
        ("sig.asc", "application/pgp-signature", TEXT, Kind.TEXT),
        ("sig.asc", "application/pgp-signature", b"-----BEGIN PGP SIGNATURE-----\n",
         Kind.SIGNATURE),
        ("winmail.dat", "application/ms-tnef", b"", Kind.TNEF),
        ("", "message/global", b"", Kind.MESSAGE),
    ],
)  # fmt: skip
def test_a_part_is_classified_by_its_bytes(
    filename: str, content_type: str, data: bytes, kind: Kind
) -> None:
    assert classify(filename, content_type, data[:SNIFF_BYTES]) is kind


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("image/png", TEXT),
        ("image/jpeg", HTML),
        ("application/octet-stream", TEXT),
        ("image/png", f"Client SSN {SSN}".encode("utf-16")),
    ],
)
def test_text_labelled_as_a_picture_or_binary_is_scanned(content_type: str, data: bytes) -> None:
    msg = message("See attached.\n")
    attach(msg, data, content_type, "photo.png")
    parsed = parse(to_bytes(msg))
    assert SSN in parsed.full_text["attachment:photo.png"]
    assert parsed.unscannable == ()


# -- charsets: what the bytes spell, label or no label -----------------------------

WORDS = f"Señora Núñez, SSN {SSN}"


@pytest.mark.parametrize(
    ("payload", "charset"),
    [
        (WORDS.encode("utf-16"), None),  # BOM, no label
        (WORDS.encode("utf-16"), "us-ascii"),  # BOM beats a wrong label
        (WORDS.encode("utf-8-sig"), "iso-8859-1"),
        (WORDS.encode("utf-32"), None),
        (WORDS.encode("utf-16-le"), None),  # no BOM, no label
        (WORDS.encode("utf-16-be"), None),
        (WORDS.encode("utf-16-le"), "us-ascii"),  # NULs are ASCII: the label lies
        (WORDS.encode("utf-16-le"), "x-made-up"),
        (WORDS.encode("utf-32-le"), None),
        (WORDS.encode("cp1252"), None),
        (WORDS.encode("cp1252"), "x-made-up"),
    ],
)
def test_undeclared_or_wrong_charsets_are_detected(payload: bytes, charset: str | None) -> None:
    assert decode_text(payload, charset) == DecodedText(WORDS, garbled=False)


def test_multibyte_text_without_a_label_is_guessed() -> None:
    words = f"张伟的社会安全号码是 {SSN}，请在星期二之前把表格交回办公室。"
    decoded = decode_text(words.encode("gb18030"), None)
    assert words in decoded.text


@pytest.mark.parametrize(
    "charset_header",
    ["Content-Type: text/plain", "Content-Type: text/plain; charset=x-unknown"],
)
def test_utf16_body_without_a_usable_charset_is_read(charset_header: str) -> None:
    body = base64.b64encode(f"Client SSN {SSN}\n".encode("utf-16-le")).decode()
    parsed = parse(one_part(charset_header, "Content-Transfer-Encoding: base64", body=body))
    assert parsed.full_text["body"] == f"Client SSN {SSN}\n"
