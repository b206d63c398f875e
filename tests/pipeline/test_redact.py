"""Redaction: no trace of a masked value may survive, in any part or encoding."""

from __future__ import annotations

import base64
import io
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from proxy.core.config import Limits
from proxy.lint.parse import parse_message
from proxy.pipeline.redact import mask_keep_last4, redact_message

SSN = "123-45-6789"
# What must never appear once SSN is masked: its masked digits in any form.
SSN_TRACES = ("12345", "123 45", "123-45", "123.45")


def b64(text: str, charset: str = "utf-8") -> bytes:
    return base64.encodebytes(text.encode(charset)).replace(b"\n", b"\r\n")


def decoded_texts(data: bytes) -> list[str]:
    """The Subject of every message and the decoded text of every part."""
    msg = BytesParser(policy=policy.default).parsebytes(data)
    texts = [str(msg.get("Subject", ""))]
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822":
            texts.extend(str(p.get("Subject", "")) for p in part.get_payload())
            continue
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        charset = part.get_content_charset() or "utf-8"
        text = payload.decode(charset, errors="replace")
        if (part.get_filename() or "").endswith(".eml") and part.get_content_type() != (
            "message/rfc822"
        ):
            texts.extend(decoded_texts(payload))
        texts.append(text)
    return texts


def base64_forms(value: bytes) -> list[bytes]:
    """Base64 text that appears wherever ``value`` is base64-encoded, at any
    of the three byte alignments (the groups that depend only on it)."""
    forms = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + value)
        forms.append(encoded[4 if pad else 0 : -4])
    return [f for f in forms if len(f) >= 4]


def assert_no_trace(data: bytes, traces: tuple[str, ...], raw_values: tuple[str, ...]) -> None:
    for text in decoded_texts(data):
        flat = re.sub(r"<[^>]*>|&#49;|\u200b", "", text)
        for trace in traces:
            assert trace not in text and trace not in flat, f"{trace!r} survived"
    unwrapped = data.replace(b"=\r\n", b"").replace(b"\r\n", b"")
    for value in raw_values:
        for charset in ("utf-8", "utf-16-le", "utf-16-be"):
            encoded = value.encode(charset)
            assert encoded not in unwrapped
            for form in base64_forms(encoded):
                assert form not in unwrapped, "base64 form of the value survived"


def test_mask_keep_last4() -> None:
    assert mask_keep_last4("123-45-6789") == "***-**-6789"
    assert mask_keep_last4("4111 1111 1111 1111") == "**** **** **** 1111"
    assert mask_keep_last4("123456789") == "*****6789"
    # A short number or a date keeps nothing: its last four give most of it away.
    assert mask_keep_last4("03/14/1985") == "**/**/****"
    assert mask_keep_last4("Jane Doe") == "**** ***"


MIXED = (
    b"From: Worker <worker@agency.example>\r\n"
    b"To: partner@clinic.example\r\n"
    b"Subject: =?utf-8?q?SSN_123-45-6789_for_Ren=C3=A9e?=\r\n"
    b"Message-ID: <m1@agency.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"This is a multi-part message.\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="alt"\r\n'
    b"\r\n"
    b"--alt\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    + b64("Ren\u00e9e's SSN is 123-45-6789, also written 123 45 6789 or 123456789.\n"
          "Her case number 2024-0042 is not her SSN.\n")
    + b"--alt\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<p>Ren=C3=A9e: &#49;23-45-6789, 123-4=\r\n"
    b"5-6789, 12<b>3</b>-45<!-- x -->-6789</p>\r\n"
    b'<p><a title=3D"SSN 123-45-6789" href=3D"#">link</a></p>\r\n'
    b"--alt--\r\n"
    b"\r\n"
    b"--outer\r\n"
    b'Content-Type: text/csv; charset=utf-8; name="clients.csv"\r\n'
    b'Content-Disposition: attachment; filename="clients.csv"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    + b64("name,ssn\nR,123-45-6789\n")
    + b"--outer\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b'Content-Disposition: attachment; filename="notes.md"\r\n'
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"# Notes\r\n"
    b"SSN\xe2\x80\x8b 123\xe2\x80\x8b-45-6789\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Untouched part: nothing to see.\r\n"
    b"--outer--\r\n"
    b"Epilogue.\r\n"
)  # fmt: skip


def test_masks_every_part_and_encoding() -> None:
    result = redact_message(MIXED, [SSN])
    assert result.complete
    assert result.masked >= 10
    assert_no_trace(result.data, SSN_TRACES, (SSN, "123456789", "123 45 6789"))
    msg = BytesParser(policy=policy.default).parsebytes(result.data)
    assert str(msg["Subject"]) == "SSN ***-**-6789 for Ren\u00e9e"
    plain, html_part, csv, notes, untouched = (p for p in msg.walk() if not p.is_multipart())
    plain_text = plain.get_content()
    assert "***-**-6789, also written *** ** 6789 or *****6789." in plain_text
    assert "case number 2024-0042 is" in plain_text  # other numbers are left alone
    assert plain["Content-Transfer-Encoding"] == "base64"
    assert html_part["Content-Transfer-Encoding"] == "quoted-printable"
    html_text = html_part.get_content()
    assert "Ren\u00e9e: ***-**-6789" in html_text
    assert "**<b>*</b>-**<!-- x -->-6789" in html_text  # markup survives
    assert 'title="SSN ***-**-6789"' in html_text
    assert csv.get_content() == "name,ssn\nR,***-**-6789\n"
    assert notes.get_payload(decode=True) == b"# Notes\r\nSSN\xe2\x80\x8b ***\xe2\x80\x8b-**-6789"
    assert untouched.get_content() == "Untouched part: nothing to see."


def test_untouched_bytes_are_kept() -> None:
    result = redact_message(MIXED, [SSN])
    data = result.data
    # Headers keep their order and (except Subject) their exact bytes.
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(
        b"From: Worker <worker@agency.example>\r\nTo: partner@clinic.example\r\n"
    )
    assert head.index(b"Subject:") < head.index(b"Message-ID:")
    assert head.endswith(b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="outer"')
    # The untouched part, the preamble and the epilogue are byte-identical.
    assert (
        b"--outer\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        b"Untouched part: nothing to see.\r\n--outer--\r\nEpilogue.\r\n"
    ) in data
    assert data.startswith(MIXED.split(b"Subject:")[0])
    assert b"\r\n\r\nThis is a multi-part message.\r\n--outer\r\n" in data


def test_nothing_to_mask_returns_the_original_bytes() -> None:
    assert redact_message(MIXED, ["987-65-4321"]).data is MIXED
    result = redact_message(MIXED, [])
    assert result.data == MIXED and result.masked == 0


def test_charsets_and_encodings() -> None:
    msg = EmailMessage()
    msg["From"] = "w@agency.example"
    msg["To"] = "p@clinic.example"
    msg["Subject"] = "Card"
    msg.set_content(
        "Carte de Ren\u00e9e : 4111 1111 1111 1111.\n", charset="iso-8859-1", cte="8bit"
    )
    msg.add_attachment(
        "Karte: 4111-1111-1111-1111\n".encode("utf-16"),
        maintype="text",
        subtype="plain",
        filename="card.txt",
        params={"charset": "utf-16"},
    )
    raw = msg.as_bytes(policy=policy.SMTP)
    result = redact_message(raw, ["4111111111111111"])
    assert result.masked == 2
    traces = ("4111 1111 1111", "4111-1111-1111", "411111111111")
    assert_no_trace(result.data, traces, ("4111 1111 1111 1111", "4111-1111-1111-1111"))
    out = BytesParser(policy=policy.default).parsebytes(result.data)
    body, attachment = (p for p in out.walk() if not p.is_multipart())
    assert body.get_content_charset() == "iso-8859-1"
    assert body.get_payload(decode=True) == "Carte de Ren\u00e9e : **** **** **** 1111.\n".encode(
        "iso-8859-1"
    ).replace(b"\n", b"\r\n")
    assert attachment.get_payload(decode=True).decode("utf-16") == "Karte: ****-****-****-1111\n"


def test_quoted_printable_part_stays_quoted_printable() -> None:
    text = "Bonjour Ren\u00e9e, " + "x" * 60 + " 123-45-6789 again\n"
    msg = EmailMessage()
    msg["From"] = "w@agency.example"
    msg["Subject"] = "QP"
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    raw = msg.as_bytes(policy=policy.SMTP)
    assert b"=\r\n" in raw  # the encoder wrapped a long line: a soft break
    result = redact_message(raw, [SSN])
    out = BytesParser(policy=policy.default).parsebytes(result.data)
    assert out["Content-Transfer-Encoding"] == "quoted-printable"
    original = BytesParser(policy=policy.default).parsebytes(raw).get_content()
    assert out.get_content() == original.replace("123-45-6789", "***-**-6789")
    assert_no_trace(result.data, SSN_TRACES, (SSN,))


def test_attached_messages_are_redacted_recursively() -> None:
    inner = EmailMessage()
    inner["From"] = "a@agency.example"
    inner["Subject"] = "Intake 123-45-6789"
    inner.set_content("SSN: 123-45-6789\n")
    outer = EmailMessage()
    outer["From"] = "w@agency.example"
    outer["Subject"] = "Forwarding"
    outer.set_content("See attached.\n")
    outer.add_attachment(inner)  # message/rfc822
    outer.add_attachment(
        inner.as_bytes(policy=policy.SMTP),
        maintype="application",
        subtype="octet-stream",
        filename="intake.eml",
    )
    raw = outer.as_bytes(policy=policy.SMTP)
    result = redact_message(raw, [SSN])
    assert result.masked == 4
    assert result.complete
    assert_no_trace(result.data, SSN_TRACES, (SSN,))
    out = BytesParser(policy=policy.default).parsebytes(result.data)
    attached = [p for p in out.walk() if p.get_content_type() == "message/rfc822"]
    assert str(attached[0].get_payload()[0]["Subject"]) == "Intake ***-**-6789"
    eml = next(p for p in out.walk() if p.get_filename() == "intake.eml")
    inner_out = BytesParser(policy=policy.default).parsebytes(eml.get_payload(decode=True))
    assert str(inner_out["Subject"]) == "Intake ***-**-6789"
    assert inner_out.get_content() == "SSN: ***-**-6789\r\n"


def _pdf(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text=text)
    return bytes(pdf.output())


def _docx(text: str) -> bytes:
    from docx import Document

    document = Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_pdf_and_docx_with_a_value_are_reported() -> None:
    msg = EmailMessage()
    msg["From"] = "w@agency.example"
    msg["Subject"] = "Reports"
    msg.set_content("Reports attached; SSN 123-45-6789.\n")
    msg.add_attachment(
        _pdf("SSN 123-45-6789"), maintype="application", subtype="pdf", filename="a.pdf"
    )
    msg.add_attachment(
        _pdf("No numbers here"), maintype="application", subtype="pdf", filename="b.pdf"
    )
    docx_type = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
    msg.add_attachment(
        _docx("SSN 123 45 6789"), maintype=docx_type[0], subtype=docx_type[1], filename="c.docx"
    )
    msg.add_attachment(
        _docx("Nothing"), maintype=docx_type[0], subtype=docx_type[1], filename="d.docx"
    )
    msg.add_attachment(b"%PDF-1.4 broken", maintype="application", subtype="pdf", filename="e.pdf")
    result = redact_message(msg.as_bytes(policy=policy.SMTP), [SSN])
    assert result.masked == 1
    assert not result.complete
    assert set(result.unredactable_parts) == {
        "attachment:a.pdf",
        "attachment:c.docx",
        "attachment:e.pdf",
    }
    assert "a.pdf" not in repr(result) and SSN not in repr(result)


def test_value_in_a_word_header_is_reported() -> None:
    """Masking checks every place the scan reads, the page header included."""
    from docx import Document

    document = Document()
    document.add_paragraph("Nothing in the body")
    header = document.sections[0].header
    header.is_linked_to_previous = False
    header.paragraphs[0].text = "Client SSN 123-45-6789"
    out = io.BytesIO()
    document.save(out)
    msg = EmailMessage()
    msg["From"] = "w@agency.example"
    msg["Subject"] = "Report"
    msg.set_content("Report attached.\n")
    docx_type = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
    msg.add_attachment(
        out.getvalue(), maintype=docx_type[0], subtype=docx_type[1], filename="h.docx"
    )
    result = redact_message(msg.as_bytes(policy=policy.SMTP), [SSN])
    assert result.unredactable_parts == ("attachment:h.docx",)


def test_parts_are_read_as_the_scan_read_them() -> None:
    """Redaction asks the scan's own question of each part: a JSON file the
    scan read as text is masked in place, and a Word file labelled text/plain
    (which the scan opened as Word) is reported -- searched as text, its
    compressed words would show nothing and the value would go out."""
    msg = EmailMessage()
    msg["From"] = "w@agency.example"
    msg["Subject"] = "Export"
    msg.set_content("Files attached.\n")
    msg.add_attachment(
        b'{"ssn": "123-45-6789"}\n', maintype="application", subtype="json", filename="x.json"
    )
    msg.add_attachment(
        _docx("SSN 123-45-6789"), maintype="text", subtype="plain", filename="n.docx"
    )
    raw = msg.as_bytes(policy=policy.SMTP)
    scanned = parse_message(raw, limits=Limits())
    assert {s.source for s in scanned.segments if SSN in s.text} == {
        "attachment:x.json",
        "attachment:n.docx",
    }
    result = redact_message(raw, [SSN])
    assert result.masked == 1
    assert result.unredactable_parts == ("attachment:n.docx",)
    assert '{"ssn": "***-**-6789"}\n' in decoded_texts(result.data)


def test_names_and_case() -> None:
    raw = (
        b"From: w@agency.example\r\nSubject: About JANE DOE\r\n\r\n"
        b"Jane Doe and jane  doe met Janet Doerr.\r\n"
    )
    result = redact_message(raw, ["Jane Doe"])
    assert result.masked == 3
    assert result.data.endswith(b"**** *** and ****  *** met Janet Doerr.\r\n")
    assert b"Subject: About **** ***\r\n" in result.data


def test_encoded_line_break_in_subject_cannot_inject_headers() -> None:
    raw = (
        b"From: w@agency.example\r\n"
        b"Subject: =?utf-8?q?SSN_123-45-6789=0D=0ABcc:_evil@attacker.example?=\r\n"
        b"To: p@clinic.example\r\n\r\nHello\r\n"
    )
    result = redact_message(raw, [SSN])
    out = BytesParser(policy=policy.default).parsebytes(result.data)
    assert out["Bcc"] is None
    assert "***-**-6789" in str(out["Subject"])
    head = result.data.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?im)^bcc:", head)


@pytest.mark.parametrize(
    "separated", ["123 45 6789", "123.45.6789", "123456789", "123 - 45 - 6789"]
)
def test_separator_tolerance(separated: str) -> None:
    raw = f"From: w@agency.example\r\nSubject: x\r\n\r\nSSN {separated}.\r\n".encode()
    result = redact_message(raw, [SSN])
    assert result.masked == 1
    assert separated.encode() not in result.data
    assert b"6789." in result.data


def test_value_inside_a_longer_number_is_not_masked() -> None:
    raw = b"From: w@agency.example\r\nSubject: x\r\n\r\nRef 9123456789 and 1234567890.\r\n"
    assert redact_message(raw, ["123456789"]).data is raw


@pytest.mark.parametrize(
    "body",
    [
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64("x 123-45-6789 y"),
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64("xy 123456789 z"),
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n123-4=\r\n5-6789\r\n",
    ],
)
def test_trace_check_catches_every_form(body: bytes) -> None:
    """The checker used above fails on unredacted mail in each encoding."""
    raw = b"From: w@agency.example\r\nContent-Type: text/plain; charset=utf-8\r\n" + body
    with pytest.raises(AssertionError):
        assert_no_trace(raw, SSN_TRACES, (SSN, "123456789"))
