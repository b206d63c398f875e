"""The message parser, fed real MIME built with the standard library.

Every test asserts exact text and exact sources: a detector can only find a
Social Security number the parser handed it, in the place it said.
"""

from __future__ import annotations

import random
from email.message import EmailMessage

import pytest

from proxy.core.config import Limits
from proxy.core.message import Attachment, ParsedMessage, Segment, SubjectTags, Unscannable
from proxy.lint.attachments import DOCX_TYPE
from proxy.lint.parse import (
    REASON_BAD_BASE64,
    REASON_BAD_STRUCTURE,
    REASON_ENCRYPTED,
    REASON_TOO_DEEP,
    REASON_TOO_LARGE,
    REASON_TOO_MANY_PARTS,
    REASON_TOO_MUCH_TEXT,
    REASON_UNREADABLE,
    parse_message,
)
from proxy.lint.quoting import split_segments
from proxy.lint.subject_tags import parse_subject_tags, strip_subject_tags
from tests.support.mime_builders import (
    alternative_message,
    attach,
    attach_message,
    attach_text,
    docx_bytes,
    encrypted_pdf_bytes,
    fake_encrypted_docx_bytes,
    html_message,
    message,
    pdf_bytes,
    png_bytes,
    raw_message,
    to_bytes,
)

LIMITS = Limits()


def parse(raw: bytes | EmailMessage, limits: Limits = LIMITS, **kwargs: object) -> ParsedMessage:
    data = to_bytes(raw) if isinstance(raw, EmailMessage) else raw
    return parse_message(data, limits=limits, **kwargs)  # type: ignore[arg-type]


def texts(parsed: ParsedMessage, source: str) -> list[str]:
    return [s.text for s in parsed.segments if s.source == source]


def sources(parsed: ParsedMessage) -> list[str]:
    return list(dict.fromkeys(s.source for s in parsed.segments))


def assert_offsets_consistent(parsed: ParsedMessage) -> None:
    """Every segment is the exact slice of its source's full text it claims."""
    for seg in parsed.segments:
        full = parsed.full_text[seg.source]
        assert full[seg.offset : seg.offset + len(seg.text)] == seg.text


# -- envelope and headers -------------------------------------------------------


def test_envelope_and_visible_recipients_come_from_headers() -> None:
    msg = message(
        "Hello.\n",
        to=["Bob Partner <bob@Partner.ORG>", "ann@partner.org"],
        cc=["Carol <carol@example.org>"],
        bcc=["dan@example.org"],
    )
    parsed = parse(msg)
    assert parsed.envelope.sender == "jane@example.org"
    assert parsed.envelope.recipients == (
        "bob@partner.org",
        "ann@partner.org",
        "carol@example.org",
        "dan@example.org",
    )
    assert parsed.to == ("bob@partner.org", "ann@partner.org")
    assert parsed.cc == ("carol@example.org",)
    assert parsed.from_name == "Jane Worker"
    assert parsed.message_id == "<visit-1@example.org>"
    assert parsed.unscannable == ()


def test_envelope_arguments_win_over_headers() -> None:
    parsed = parse(
        message("Hello.\n"),
        sender="Relay@Example.ORG",
        recipients=["<x@Other.org>", "y@other.org"],
    )
    assert parsed.envelope.sender == "Relay@example.org"
    assert parsed.envelope.recipients == ("x@other.org", "y@other.org")
    # The visible header recipients are still reported.
    assert parsed.to == ("bob@partner.org",)


def test_empty_envelope_sender_is_kept() -> None:
    parsed = parse(message("Bounce.\n"), sender="", recipients=["a@b.org"])
    assert parsed.envelope.sender == ""


def test_missing_headers_give_empty_values_not_errors() -> None:
    parsed = parse(b"\r\nJust a body 123-45-6789\r\n")
    assert parsed.envelope == parsed.envelope.__class__(sender="", recipients=())
    assert parsed.subject == ""
    assert parsed.message_id is None
    assert texts(parsed, "body") == ["Just a body 123-45-6789\n"]


def test_undisclosed_recipients_group_is_not_an_address() -> None:
    raw = raw_message(
        ["From: jane@example.org", "To: undisclosed-recipients:;", "Subject: x"], "Hi\r\n"
    )
    parsed = parse(raw)
    assert parsed.to == ()
    assert parsed.envelope.recipients == ()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?b?Q2FzZSBmb3IgSm9zw6k=?=", "Case for José"),
        ("=?iso-8859-1?q?Visita_a_Mar=EDa?=", "Visita a María"),
        ("Plain =?utf-8?q?and_encoded?= mix", "Plain and encoded mix"),
    ],
)
def test_rfc2047_subject_is_decoded(header: str, expected: str) -> None:
    raw = raw_message(["From: jane@example.org", f"Subject: {header}"], "Body\r\n")
    parsed = parse(raw)
    assert parsed.subject == expected
    assert parsed.segments[0] == Segment(source="subject", text=expected)
    assert parsed.full_text["subject"] == expected


def test_subject_tags_are_parsed_and_removed_from_the_subject() -> None:
    raw = raw_message(
        ["From: jane@example.org", "Subject: [URGENT] Visit [Override: court order] today"],
        "Body\r\n",
    )
    parsed = parse(raw)
    assert parsed.subject == "Visit today"
    assert parsed.tags == SubjectTags(urgent=True, override_reason="court order")
    assert texts(parsed, "subject") == ["Visit today"]


# -- subject tags on their own ----------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "stripped", "tags"),
    [
        ("Visit", "Visit", SubjectTags()),
        ("[urgent] Visit", "Visit", SubjectTags(urgent=True)),
        ("Re: [ Urgent ] Visit", "Re: Visit", SubjectTags(urgent=True)),
        ("Visit [override: client asked]", "Visit", SubjectTags(override_reason="client asked")),
        (
            "Visit[override:  spaced   out ]now",
            "Visit now",
            SubjectTags(override_reason="spaced out"),
        ),
        ("[override] Visit", "Visit", SubjectTags(override_reason="")),
        ("[override:] Visit", "Visit", SubjectTags(override_reason="")),
        (
            "[override: a] [urgent] [override: b] Visit",
            "Visit",
            SubjectTags(urgent=True, override_reason="a; b"),
        ),
        ("[urgently] Visit", "[urgently] Visit", SubjectTags()),
        ("[overrides] Visit", "[overrides] Visit", SubjectTags()),
    ],
)
def test_parse_subject_tags(subject: str, stripped: str, tags: SubjectTags) -> None:
    assert parse_subject_tags(subject) == (stripped, tags)
    assert strip_subject_tags(subject) == stripped


# -- transfer encodings and charsets ------------------------------------------------


@pytest.mark.parametrize("cte", ["base64", "quoted-printable", "8bit", "7bit"])
def test_body_in_every_transfer_encoding(cte: str) -> None:
    body = "Client SSN 123-45-6789, born 02/03/1980.\n"
    parsed = parse(message(body, cte=cte))
    assert texts(parsed, "body") == [body]
    assert parsed.full_text["body"] == body
    assert parsed.unscannable == ()


def test_quoted_printable_soft_line_break_joins_a_split_number() -> None:
    raw = raw_message(
        [
            "From: jane@example.org",
            "Subject: qp",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
        ],
        "Client SSN 123-45=\r\n-6789 and caf=C3=A9 =3D ok\r\n",
    )
    parsed = parse(raw)
    assert texts(parsed, "body") == ["Client SSN 123-45-6789 and café = ok\n"]


def test_long_line_wrapped_by_the_encoder_comes_back_whole() -> None:
    body = "x" * 70 + " SSN 123-45-6789 end\n"
    raw = to_bytes(message(body, cte="quoted-printable"))
    assert b"=\n" in raw or b"=\r\n" in raw  # the encoder really did split the line
    assert texts(parse(raw), "body") == [body]


@pytest.mark.parametrize(
    ("charset", "payload", "expected"),
    [
        ("utf-8", "María 123".encode(), "María 123"),
        ("iso-8859-1", "María 123".encode("latin-1"), "María 123"),
        ("x-made-up-charset", "María 123".encode(), "María 123"),  # unknown label
        ("us-ascii", "María 123".encode(), "María 123"),  # wrong label
        ("x-made-up-charset", "María 123".encode("cp1252"), "María 123"),
    ],
)
def test_charset_labels_wrong_or_unknown_still_give_text(
    charset: str, payload: bytes, expected: str
) -> None:
    head = (
        "From: jane@example.org\r\nSubject: cs\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset={charset}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode()
    parsed = parse(head + payload + b"\r\n")
    assert texts(parsed, "body") == [expected + "\n"]
    assert parsed.unscannable == ()


def test_text_in_no_known_charset_is_unscannable() -> None:
    head = (
        b"From: jane@example.org\r\nSubject: cs\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    parsed = parse(head + b"\x81\x8d\x8f\x90\x9d" * 4)
    assert parsed.unscannable == (Unscannable("body", "text in an unreadable character set"),)


def test_damaged_base64_body_is_unscannable_but_what_decodes_is_scanned() -> None:
    raw = raw_message(
        [
            "From: jane@example.org",
            "Subject: b64",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
        ],
        "U1NOIDEyMy00NS02Nzg5\r\nIG9uIGZpbG\r\n",  # last group cut short
    )
    parsed = parse(raw)
    assert parsed.unscannable == (Unscannable("body", REASON_BAD_BASE64),)
    assert texts(parsed, "body") == ["SSN 123-45-6789 on fil"]


def test_damaged_base64_attachment_is_unscannable() -> None:
    raw = raw_message(
        [
            "From: jane@example.org",
            "Subject: b64",
            'Content-Type: multipart/mixed; boundary="B"',
        ],
        "--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        "--B\r\nContent-Type: text/plain\r\n"
        'Content-Disposition: attachment; filename="notes.txt"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nTm90ZXMg!!!MTIz\r\nNA\r\n--B--\r\n",
    )
    parsed = parse(raw)
    assert Unscannable("attachment:notes.txt", REASON_BAD_BASE64) in parsed.unscannable
    assert parsed.attachments[0].filename == "notes.txt"
    assert parsed.attachments[0].scanned is False


# -- HTML ---------------------------------------------------------------------------


def test_html_only_body_is_rendered_with_entities_and_comments_removed() -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<p>SSN &#49;23-45-6789&nbsp;on file &amp; verified</p>"
        "<p>Card 4111-1111<!-- split -->-1111-1111 and 12<b>3</b>45</p>"
        "<script>var ssn = '999-99-9999';</script></body></html>"
    )
    parsed = parse(html_message(html))
    assert sources(parsed) == ["subject", "html"]
    assert parsed.full_text["html"] == (
        "SSN 123-45-6789 on file & verified\n\nCard 4111-1111-1111-1111 and 12345"
    )
    assert "999" not in parsed.full_text["html"]


def test_alternative_scans_both_plain_and_html() -> None:
    parsed = parse(alternative_message("Plain 123-45-6789\n", "<p>Rich <i>123</i>-45-6789</p>"))
    assert sources(parsed) == ["subject", "body", "html"]
    assert texts(parsed, "body") == ["Plain 123-45-6789\n"]
    assert texts(parsed, "html") == ["Rich 123-45-6789"]


def test_html_blockquote_reply_is_marked_quoted() -> None:
    html = (
        "<div>Thanks, see you then.</div>"
        "<div>On Mon, Mar 2, 2026 at 9:00 AM Bob &lt;bob@partner.org&gt; wrote:</div>"
        "<blockquote><div>Her SSN is 123-45-6789</div></blockquote>"
    )
    parsed = parse(html_message(html))
    html_segments = [s for s in parsed.segments if s.source == "html"]
    assert [(s.text, s.quoted) for s in html_segments] == [
        ("Thanks, see you then.\n", False),
        (
            "On Mon, Mar 2, 2026 at 9:00 AM Bob <bob@partner.org> wrote:\n"
            "> Her SSN is 123-45-6789",
            True,
        ),
    ]


# -- structure ----------------------------------------------------------------------


def nested_message() -> EmailMessage:
    """mixed > (alternative > (plain, related > (html, inline image)), pdf)."""
    msg = message("Plain part 111-22-3333\n")
    msg.add_alternative("<p>HTML part <img src='cid:logo'></p>", subtype="html")
    html_part = list(msg.iter_parts())[1]
    html_part.add_related(png_bytes(), "image", "png", cid="<logo>")
    attach(msg, pdf_bytes(["Referral for client 444-55-6666"]), "application/pdf", "referral.pdf")
    return msg


def test_nested_mixed_alternative_related() -> None:
    msg = nested_message()
    assert msg.get_content_type() == "multipart/mixed"
    parsed = parse(msg)
    assert sources(parsed) == ["subject", "body", "html", "attachment:referral.pdf"]
    assert texts(parsed, "body") == ["Plain part 111-22-3333\n"]
    assert texts(parsed, "html") == ["HTML part"]
    assert texts(parsed, "attachment:referral.pdf") == ["Referral for client 444-55-6666"]
    assert [(a.filename, a.content_type, a.scanned) for a in parsed.attachments] == [
        ("unnamed", "image/png", False),
        ("referral.pdf", "application/pdf", True),
    ]
    assert parsed.unscannable == ()
    assert_offsets_consistent(parsed)


def test_two_text_bodies_and_duplicate_filenames_get_unique_sources() -> None:
    raw = raw_message(
        ["From: jane@example.org", "Subject: dup", 'Content-Type: multipart/mixed; boundary="B"'],
        "--B\r\nContent-Type: text/plain\r\n\r\nFirst body\r\n"
        "--B\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "iVBORw0KGgo=\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nSecond body\r\n"
        '--B\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="n.txt"'
        "\r\n\r\nnote one\r\n"
        '--B\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="n.txt"'
        "\r\n\r\nnote two\r\n--B--\r\n",
    )
    parsed = parse(raw)
    assert sources(parsed) == [
        "subject",
        "body",
        "body#2",
        "attachment:n.txt",
        "attachment:n.txt#2",
    ]
    # The line break before a boundary belongs to the boundary (RFC 2046).
    assert parsed.full_text["body#2"] == "Second body"
    assert parsed.full_text["attachment:n.txt#2"] == "note two"


def test_missing_boundary_is_damaged_structure_but_text_is_still_scanned() -> None:
    raw = raw_message(
        ["From: jane@example.org", "Subject: x", 'Content-Type: multipart/mixed; boundary="NOPE"'],
        "SSN 123-45-6789\r\n",
    )
    parsed = parse(raw)
    assert parsed.unscannable == (Unscannable("message", REASON_BAD_STRUCTURE),)
    assert texts(parsed, "body") == ["SSN 123-45-6789\n"]


def test_multipart_encrypted_is_unscannable() -> None:
    raw = raw_message(
        [
            "From: jane@example.org",
            "Subject: x",
            'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="B"',
        ],
        "--B\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        "--B\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n"
        "--B--\r\n",
    )
    assert parse(raw).unscannable == (Unscannable("message", REASON_ENCRYPTED),)


# -- attachments ----------------------------------------------------------------------


def test_pdf_and_docx_attachments_are_read() -> None:
    msg = message("See attached.\n")
    attach(msg, pdf_bytes(["Client: Ana Ruiz", "DOB 04/05/1990"]), "application/pdf", "a.pdf")
    attach(
        msg,
        docx_bytes(["Case note", "Medicaid 12345678"], [["Name", "Phone"], ["Ana", "555-0100"]]),
        DOCX_TYPE,
        "note.docx",
    )
    parsed = parse(msg)
    assert parsed.full_text["attachment:a.pdf"] == "Client: Ana Ruiz\nDOB 04/05/1990"
    assert parsed.full_text["attachment:note.docx"] == (
        "Case note\nMedicaid 12345678\nName\tPhone\nAna\t555-0100"
    )
    assert [a.scanned for a in parsed.attachments] == [True, True]
    assert parsed.unscannable == ()


@pytest.mark.parametrize(
    ("data", "content_type", "filename", "reason"),
    [
        (encrypted_pdf_bytes(["secret"], user_password="pw"), "application/pdf", "x.pdf",
         "encrypted PDF"),
        (fake_encrypted_docx_bytes(), DOCX_TYPE, "x.docx", "password-protected Word document"),
        (fake_encrypted_docx_bytes(), "application/octet-stream", "x.docx",
         "password-protected Word document"),
        (b"%PDF-1.7\nthis is not really a pdf", "application/pdf", "x.pdf", "damaged PDF"),
        (b"PK\x03\x04 truncated zip", DOCX_TYPE, "x.docx", "damaged Word document"),
        (b"\x00\x01\x02binary", "application/octet-stream", "x.bin",
         "unknown file type application/octet-stream"),
        (b"PK\x03\x04zip", "application/zip", "x.zip", "damaged zip file"),  # opened since h-mime
        (fake_encrypted_docx_bytes(), "application/msword", "x.doc",
         "old-format Word document (.doc)"),
    ],
)  # fmt: skip
def test_unreadable_attachments_are_unscannable(
    data: bytes, content_type: str, filename: str, reason: str
) -> None:
    msg = message("See attached.\n")
    attach(msg, data, content_type, filename)
    parsed = parse(msg)
    assert parsed.unscannable == (Unscannable(f"attachment:{filename}", reason),)
    assert parsed.attachments == (Attachment(filename, content_type, len(data), scanned=False),)
    assert sources(parsed) == ["subject", "body"]


def test_owner_only_encrypted_pdf_opens_without_a_password_and_is_read() -> None:
    msg = message("See attached.\n")
    data = encrypted_pdf_bytes(["DOB 01/02/1980"], user_password="")
    attach(msg, data, "application/pdf", "p.pdf")
    parsed = parse(msg)
    assert parsed.unscannable == ()
    assert parsed.full_text["attachment:p.pdf"] == "DOB 01/02/1980"


def test_reasons_never_contain_the_filename() -> None:
    msg = message("See attached.\n")
    name = "Ana Ruiz 123-45-6789.pdf"
    attach(msg, encrypted_pdf_bytes(["x"], user_password="pw"), "application/pdf", name)
    parsed = parse(msg)
    assert parsed.unscannable == (Unscannable(f"attachment:{name}", "encrypted PDF"),)


def test_image_is_listed_but_not_unscannable() -> None:
    msg = message("Photo of the flat.\n")
    attach(msg, png_bytes(), "image/png", "flat.png")
    parsed = parse(msg)
    assert parsed.unscannable == ()
    assert parsed.attachments == (Attachment("flat.png", "image/png", len(png_bytes()), False),)


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "expected"),
    [
        ("list.csv", "text/csv", b"name,ssn\nAna,123-45-6789\n", "name,ssn\nAna,123-45-6789\n"),
        ("list.csv", "application/octet-stream", b"a,b\n1,2\n", "a,b\n1,2\n"),
        ("readme.md", "application/octet-stream", b"# Notes\n\nDOB 1/2/1980\n",
         "# Notes\n\nDOB 1/2/1980\n"),
        ("page.html", "text/html", b"<p>SSN 123-45<!--x-->-6789</p>", "SSN 123-45-6789"),
    ],
)  # fmt: skip
def test_text_attachments_are_read_as_text(
    filename: str, content_type: str, data: bytes, expected: str
) -> None:
    msg = message("See attached.\n")
    attach(msg, data, content_type, filename)
    parsed = parse(msg)
    assert texts(parsed, f"attachment:{filename}") == [expected]
    assert parsed.unscannable == ()


def test_attached_text_with_charset_is_decoded() -> None:
    msg = message("See attached.\n")
    attach_text(msg, "Señora López 123-45-6789\n", "note.txt")
    parsed = parse(msg)
    assert texts(parsed, "attachment:note.txt") == ["Señora López 123-45-6789\n"]


def test_attached_message_is_parsed_recursively() -> None:
    inner = message("Forwarded SSN 123-45-6789\n", subject="Referral for Ana")
    attach(inner, pdf_bytes(["Inner PDF 987-65-4321"]), "application/pdf", "inner.pdf")
    outer = message("Forwarding this.\n")
    attach_message(outer, inner, "referral.eml")
    parsed = parse(outer)
    assert sources(parsed) == ["subject", "body", "attachment:referral.eml", "attachment:inner.pdf"]
    assert parsed.full_text["attachment:referral.eml"] == (
        "Subject: Referral for Ana\n\nForwarded SSN 123-45-6789\n"
    )
    assert parsed.full_text["attachment:inner.pdf"] == "Inner PDF 987-65-4321"
    assert [a.filename for a in parsed.attachments] == ["inner.pdf", "referral.eml"]
    assert_offsets_consistent(parsed)


def test_eml_sent_as_a_generic_file_is_parsed_too() -> None:
    inner = message("Old note 123-45-6789\n", subject="Old")
    outer = message("See attached.\n")
    attach(outer, to_bytes(inner), "application/octet-stream", "old.eml")
    parsed = parse(outer)
    assert parsed.full_text["attachment:old.eml"] == "Subject: Old\n\nOld note 123-45-6789\n"
    assert parsed.unscannable == ()


def test_problems_inside_a_forwarded_message_are_reported() -> None:
    inner = message("Inner\n", subject="Inner")
    attach(inner, encrypted_pdf_bytes(["x"], user_password="pw"), "application/pdf", "lock.pdf")
    outer = message("Fwd.\n")
    attach_message(outer, inner, "fwd.eml")
    parsed = parse(outer)
    assert parsed.unscannable == (Unscannable("attachment:lock.pdf", "encrypted PDF"),)
    assert parsed.full_text["attachment:fwd.eml"] == "Subject: Inner\n\nInner\n"


def test_smime_signature_is_listed_but_not_unscannable() -> None:
    raw = raw_message(
        [
            "From: jane@example.org",
            "Subject: signed",
            'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
            'micalg=sha-256; boundary="S"',
        ],
        "--S\r\nContent-Type: text/plain\r\n\r\nSigned text\r\n"
        "--S\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="smime.p7s"\r\n\r\nMIIB\r\n--S--\r\n',
    )
    parsed = parse(raw)
    assert parsed.unscannable == ()
    assert texts(parsed, "body") == ["Signed text"]
    assert parsed.attachments == (
        Attachment("smime.p7s", "application/pkcs7-signature", 3, scanned=False),
    )


def test_unnamed_forwarded_message_gets_a_plain_name() -> None:
    outer = message("Fwd.\n")
    attach_message(outer, message("Inner text\n", subject="S"), None)
    parsed = parse(outer)
    assert "attachment:forwarded message" in parsed.full_text


# -- quoting and signatures ------------------------------------------------------------


def test_quoted_reply_and_signature_are_marked() -> None:
    body = (
        "Hi Bob,\n\nConfirmed for 3pm.\n"
        "-- \nJane Worker\nCase manager, 555-0100\n\n"
        "On Tue, Mar 3, 2026 at 10:00 AM Bob Partner <bob@partner.org> wrote:\n"
        "> Can you confirm Ana's SSN 123-45-6789?\n"
    )
    parsed = parse(message(body))
    body_segments = [s for s in parsed.segments if s.source == "body"]
    segs = [(s.text, s.offset, s.quoted, s.signature) for s in body_segments]
    assert segs == [
        ("Hi Bob,\n\nConfirmed for 3pm.\n", 0, False, False),
        ("-- \nJane Worker\nCase manager, 555-0100\n\n", 28, False, True),
        (
            "On Tue, Mar 3, 2026 at 10:00 AM Bob Partner <bob@partner.org> wrote:\n"
            "> Can you confirm Ana's SSN 123-45-6789?\n",
            68,
            True,
            False,
        ),
    ]
    assert_offsets_consistent(parsed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Fresh\n> quoted 1\n> quoted 2\nFresh again\n",
            [("Fresh\n", False), ("> quoted 1\n> quoted 2\n", True), ("Fresh again\n", False)],
        ),
        (
            "See below.\n\n-----Original Message-----\nFrom: Bob\nSSN 123-45-6789\n",
            [("See below.\n\n", False),
             ("-----Original Message-----\nFrom: Bob\nSSN 123-45-6789\n", True)],
        ),
        (
            "FYI\n\n---------- Forwarded message ---------\nFrom: Bob\n\nDetails\n",
            [("FYI\n\n", False),
             ("---------- Forwarded message ---------\nFrom: Bob\n\nDetails\n", True)],
        ),
        (
            "Noted.\n\n________________________________\nFrom: Bob Partner\n"
            "Sent: Monday, March 2, 2026 9:00 AM\nTo: Jane\nSubject: Ana\n\nHer DOB 1/2/1980\n",
            [("Noted.\n\n", False),
             ("________________________________\nFrom: Bob Partner\n"
              "Sent: Monday, March 2, 2026 9:00 AM\nTo: Jane\nSubject: Ana\n\nHer DOB 1/2/1980\n",
              True)],
        ),
        (
            "Ok\n\nOn Mon, Mar 2, 2026 at 9:00 AM Bob Partner <\nbob@partner.org> wrote:\n\n> x\n",
            [("Ok\n\n", False),
             ("On Mon, Mar 2, 2026 at 9:00 AM Bob Partner <\nbob@partner.org> wrote:\n\n> x\n",
              True)],
        ),
        (
            "Ok\nBob Partner wrote:\n> x\n",
            [("Ok\n", False), ("Bob Partner wrote:\n> x\n", True)],
        ),
        (
            "My supervisor wrote: please call.\nThanks\n",
            [("My supervisor wrote: please call.\nThanks\n", False)],
        ),
        ("Thanks\n--\nJane\n", [("Thanks\n", False), ("--\nJane\n", False)]),
        ("A line with -- in it\n", [("A line with -- in it\n", False)]),
        ("\n\n   \n", []),
    ],
)  # fmt: skip
def test_split_segments(text: str, expected: list[tuple[str, bool]]) -> None:
    segments = split_segments("body", text)
    assert [(s.text, s.quoted) for s in segments] == expected
    for seg in segments:
        assert text[seg.offset : seg.offset + len(seg.text)] == seg.text


def test_bare_double_dash_starts_a_signature() -> None:
    segments = split_segments("body", "Thanks\n--\nJane\n")
    assert [s.signature for s in segments] == [False, True]


def test_split_segments_offsets_are_shifted_by_base() -> None:
    segments = split_segments("x", "a\n> b\n", base=10)
    assert [(s.offset, s.text) for s in segments] == [(10, "a\n"), (12, "> b\n")]


# -- limits ---------------------------------------------------------------------------


def deep_message(levels: int) -> bytes:
    head = "From: jane@example.org\r\nSubject: deep\r\n"
    body = ""
    for i in range(levels):
        body += f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
    body += "Content-Type: text/plain\r\n\r\nInnermost 123-45-6789\r\n"
    for i in reversed(range(levels)):
        body += f"--b{i}--\r\n"
    return (head + body).encode()


def test_too_deep_nesting_is_unscannable_and_stops_descending() -> None:
    parsed = parse(deep_message(5), Limits(max_depth=3))
    assert parsed.unscannable == (Unscannable("message", REASON_TOO_DEEP),)
    assert "body" not in parsed.full_text
    within = parse(deep_message(5), Limits(max_depth=6))
    assert within.unscannable == ()
    assert texts(within, "body") == ["Innermost 123-45-6789"]


def test_nesting_beyond_the_email_package_recursion_is_unscannable() -> None:
    parsed = parse(deep_message(3000))
    assert parsed.unscannable == (Unscannable("message", REASON_TOO_DEEP),)


def test_nested_forwarded_messages_count_towards_depth() -> None:
    msg = message("level 0\n", subject="S0")
    for level in range(1, 5):
        outer = message(f"level {level}\n", subject=f"S{level}")
        attach_message(outer, msg, f"l{level}.eml")
        msg = outer
    # depth 0: outer mixed; 1: l4.eml; 2: its mixed; 3: l3.eml; 4: its mixed (too deep)
    parsed = parse(msg, Limits(max_depth=4))
    assert parsed.unscannable == (Unscannable("attachment:l3.eml", REASON_TOO_DEEP),)
    assert parsed.full_text["attachment:l4.eml"] == "Subject: S3\n\nlevel 3\n"
    assert parsed.full_text["attachment:l3.eml"] == "Subject: S2"
    assert "attachment:l2.eml" not in parsed.full_text
    deeper = parse(msg, Limits(max_depth=10))
    assert deeper.unscannable == ()
    assert deeper.full_text["attachment:l1.eml"] == "Subject: S0\n\nlevel 0\n"


def test_too_many_parts_is_unscannable_and_stops_collecting() -> None:
    msg = message("Body\n")
    for i in range(10):
        attach_text(msg, f"note {i}\n", f"n{i}.txt")
    parsed = parse(msg, Limits(max_parts=5))
    assert parsed.unscannable == (Unscannable("message", REASON_TOO_MANY_PARTS),)
    # the container, the body and three attachments fit
    assert sources(parsed) == ["subject", "body", "attachment:n0.txt", "attachment:n1.txt",
                               "attachment:n2.txt"]  # fmt: skip


def test_too_many_decoded_bytes_is_unscannable_and_skips_the_part() -> None:
    msg = message("Body\n")
    attach(msg, b"A" * 4000, "text/plain", "big.txt")
    attach_text(msg, "small\n", "small.txt")
    parsed = parse(msg, Limits(max_decoded_bytes=2048))
    assert parsed.unscannable == (Unscannable("message", REASON_TOO_LARGE),)
    assert "attachment:big.txt" not in parsed.full_text
    assert parsed.full_text["attachment:small.txt"] == "small\n"
    assert Attachment("big.txt", "text/plain", 4000, scanned=False) in parsed.attachments


def test_too_much_text_is_truncated_and_unscannable() -> None:
    msg = message("B" * 900 + "\n")
    attach_text(msg, "C" * 900 + "\n", "c.txt")
    parsed = parse(msg, Limits(max_text_chars=1000))
    assert parsed.unscannable == (Unscannable("message", REASON_TOO_MUCH_TEXT),)
    total = sum(len(v) for v in parsed.full_text.values())
    assert total == 1000
    assert parsed.full_text["attachment:c.txt"] == "C" * (1000 - len("Home visit") - 901)


# -- hostile input never raises ---------------------------------------------------------


def test_random_bytes_never_raise() -> None:
    rng = random.Random(20260509)
    for _ in range(300):
        raw = rng.randbytes(rng.randrange(0, 2000))
        parsed = parse(raw)
        assert isinstance(parsed, ParsedMessage)
        assert_offsets_consistent(parsed)


def test_every_truncation_of_a_real_message_parses() -> None:
    msg = nested_message()
    attach(msg, docx_bytes(["para"]), DOCX_TYPE, "n.docx")
    raw = to_bytes(msg)
    for cut in range(0, len(raw), max(1, len(raw) // 400)):
        parsed = parse(raw[:cut])
        assert isinstance(parsed, ParsedMessage)
        assert_offsets_consistent(parsed)


def test_mutated_messages_never_raise() -> None:
    rng = random.Random(7)
    raw = bytearray(to_bytes(nested_message()))
    for _ in range(200):
        mutated = bytearray(raw)
        for _ in range(rng.randrange(1, 20)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        parsed = parse(bytes(mutated))
        assert isinstance(parsed, ParsedMessage)
        assert_offsets_consistent(parsed)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"Content-Type: multipart/mixed\r\n\r\n--\r\n",
        b"Content-Type: text/plain; charset=\"\x00\xff\"\r\n\r\nhi",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-weird\r\n\r\nhi",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"From: =?utf-8?b?////?= <\r\nTo: ,,,@,<>\r\nSubject: =?x?q?=ZZ?=\r\n\r\n",
        b'Content-Type: application/pdf; name="a.pdf"\r\n\r\n%PDF-',
        b"Content-Type: text/html\r\n\r\n<scr<script>ipt><!-- <p",
    ],
)
def test_odd_messages_never_raise(raw: bytes) -> None:
    parsed = parse(raw)
    assert isinstance(parsed, ParsedMessage)
    assert_offsets_consistent(parsed)


def test_non_bytes_input_is_an_unreadable_message_not_a_crash() -> None:
    parsed = parse_message("not bytes", limits=LIMITS)  # type: ignore[arg-type]
    assert parsed.unscannable == (Unscannable("message", REASON_UNREADABLE),)


def test_bare_lf_line_endings_parse_like_crlf() -> None:
    raw = to_bytes(message("Line one\nLine two\n")).replace(b"\r\n", b"\n")
    parsed = parse(raw)
    assert parsed.subject == "Home visit"
    assert texts(parsed, "body") == ["Line one\nLine two\n"]
