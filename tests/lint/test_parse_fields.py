"""Everything relayed is read: header fields, display names, file names,
HTML attribute text and what HTML never shows, as extra segments that
every detector reads like the body."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from proxy.core.config import Limits
from proxy.core.message import ParsedMessage
from proxy.lint.parse import parse_message


def parse(raw: bytes) -> ParsedMessage:
    return parse_message(raw, limits=Limits())


def extra(parsed: ParsedMessage) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for segment in parsed.extra_segments:
        found.setdefault(segment.source, []).append(segment.detection_text)
    return found


HEADERS = (
    b'From: "Jane Worker" <jane@example.org>\r\n'
    b"To: =?utf-8?q?Rosa_D=C3=ADaz_SSN_512-44-8821?= <rosa.diaz@example.com>,\r\n"
    b" landlord@example.net (Maria Lopez)\r\n"
    b'Cc: Team: "Lopez, Maria" <a@example.org>;\r\n'
    b"Reply-To: Ma\xe2\x80\x8bria <r@example.org>\r\n"
    b"Comments: about M\xd0\xb0ria Lopez\r\n"
    b"Keywords: DOB 03/14/1987\r\n"
    b"X-Case-Note: =?utf-8?b?U1NOIDUxMi00NC04ODIx?=\r\n"
    b"Message-ID: <512-44-8821@example.org>\r\n"
    b"Date: Tue, 24 Nov 2026 10:00:00 -0600\r\n"
    b"Subject: Hello\r\n"
    b"Content-Type: text/plain\r\n\r\n"
    b"Body.\r\n"
)


def test_every_text_field_is_read_with_display_names_and_comments() -> None:
    parsed = parse(HEADERS)
    fields = extra(parsed)
    assert fields["header:From"] == ['"Jane Worker" <jane@example.org>']
    assert fields["header:To"][0] == (
        "Rosa Díaz SSN 512-44-8821 <rosa.diaz@example.com>, landlord@example.net (Maria Lopez)"
    )
    assert 'Team: "Lopez, Maria" <a@example.org>;' in fields["header:Cc"][0]
    assert fields["header:Reply-To"] == ["Maria <r@example.org>"]  # zero-width space gone
    assert fields["header:Comments"] == ["about Maria Lopez"]  # Cyrillic а folded
    assert fields["header:Keywords"] == ["DOB 03/14/1987"]
    assert fields["header:X-Case-Note"] == ["SSN 512-44-8821"]
    # Identity and trace fields are not text a reader is shown; the
    # Subject is read once, by the subject source.
    assert not {"header:Message-ID", "header:Date", "header:Subject"} & set(fields)
    assert [s.source for s in parsed.segments] == ["subject", "body"]


def test_extra_segments_are_exact_slices_of_their_full_text() -> None:
    parsed = parse(HEADERS)
    for segment in parsed.extra_segments:
        full = parsed.full_text[segment.source]
        assert full[segment.offset : segment.offset + len(segment.text)] == segment.text
        start, end = segment.span(0, len(segment.detection_text))
        assert full[start:end] == segment.text.strip("\u200b")


def _with_attachment(disposition: str, content_type: str = "text/plain") -> bytes:
    return (
        "From: jane@example.org\r\nTo: rosa.diaz@example.com\r\nSubject: s\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        f"--B\r\nContent-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n\r\n"
        "notes\r\n--B--\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("disposition", "content_type", "names"),
    [
        (
            "attachment; filename*=utf-8''SSN%20512-44-8821.txt",
            "text/plain",
            ["SSN 512-44-8821.txt"],
        ),
        (
            "attachment; filename*0*=utf-8''Maria%20; filename*1=\"Lopez.txt\"",
            "text/plain",
            ["Maria Lopez.txt"],
        ),
        (
            'attachment; filename="=?utf-8?q?M=D0=B0ria_Lopez.txt?="',
            "text/plain",
            ["Maria Lopez.txt"],  # the Cyrillic а reads as a Latin a
        ),
        (
            'attachment; filename="C:\\\\clients\\\\Maria Lopez\\\\notes.txt"',
            'text/plain; name="=?utf-8?b?U1NOIDUxMi00NC04ODIxLnR4dA==?="',
            ["C:\\clients\\Maria Lopez\\notes.txt", "SSN 512-44-8821.txt"],
        ),
    ],
    ids=["rfc2231", "rfc2231-continued", "rfc2047", "directories-and-name"],
)
def test_file_names_are_read_in_full_and_decoded(
    disposition: str, content_type: str, names: list[str]
) -> None:
    parsed = parse(_with_attachment(disposition, content_type))
    assert extra(parsed)["filename:1"] == names


def test_html_attribute_text_and_hidden_content_are_read() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "jane@example.org", "rosa@example.com", "s"
    msg.set_content(
        "<html><head><style>.x:before{content:'SSN 512-44-8821'}</style>"
        "<script>var dob = '03/14/1987';</script></head><body>"
        '<p class="MsoNormal" id="p1" style="color:red">Hello</p>'
        '<img alt="Maria Lopez" src="data:image/png;base64,iVBORw0KGgo=">'
        '<a title="SSN 512-44-8821" href="https://portal.example.org/x">portal</a>'
        '<input value="DOB 03/14/1987" placeholder="client name">'
        '<span aria-label="Rosa Diaz"></span><!-- case of Maria Lopez -->'
        "</body></html>",
        subtype="html",
    )
    parsed = parse(msg.as_bytes())
    read = extra(parsed)
    assert read["html-attributes"] == [
        "Maria Lopez\nSSN 512-44-8821\nhttps://portal.example.org/x\n"
        "DOB 03/14/1987\nclient name\nRosa Diaz"
    ]
    hidden = read["html-hidden"][0]
    assert "SSN 512-44-8821" in hidden and "03/14/1987" in hidden
    assert "case of Maria Lopez" in hidden
    # The text a reader sees is what it was.
    assert parsed.full_text["html"] == "Hello\n\nportal"


def test_a_forwarded_messages_fields_are_read_as_its_own() -> None:
    inner = (
        b"From: Rosa Diaz <rosa.diaz@example.com>\r\nX-Note: SSN 512-44-8821\r\n"
        b"Subject: Old\r\nContent-Type: text/plain\r\n\r\nOld note\r\n"
    )
    raw = (
        b"From: jane@example.org\r\nTo: rosa.diaz@example.com\r\nSubject: fwd\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\n"
        b'Content-Disposition: attachment; filename="fwd.eml"\r\n\r\n' + inner + b"\r\n--B--\r\n"
    )
    parsed = parse(raw)
    read = extra(parsed)
    assert read["attachment:fwd.eml header:X-Note"] == ["SSN 512-44-8821"]
    assert read["attachment:fwd.eml header:From"] == ["Rosa Diaz <rosa.diaz@example.com>"]
    assert read["filename:1"] == ["fwd.eml"]
    assert parsed.full_text["attachment:fwd.eml"] == "Subject: Old\n\nOld note\n"
