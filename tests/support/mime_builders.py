"""Build real MIME messages and real attachment files for the parser tests.

Messages are made with the standard library's ``EmailMessage`` so that they
look like what real clients send; a few byte-exact cases (a soft line break
at a chosen place, damaged base64) are written out by hand with
:func:`raw_message` because no well-behaved library will produce them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage

import docx
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

SENDER = "Jane Worker <jane@example.org>"
RECIPIENT = "Bob Partner <bob@partner.org>"


def message(
    body: str | None = None,
    *,
    subject: str = "Home visit",
    sender: str = SENDER,
    to: Sequence[str] = (RECIPIENT,),
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    cte: str | None = None,
    message_id: str | None = "<visit-1@example.org>",
) -> EmailMessage:
    """A message with a text/plain body (or none, to fill in later)."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if bcc:
        msg["Bcc"] = ", ".join(bcc)
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    if body is not None:
        msg.set_content(body, cte=cte)
    return msg


def html_message(html: str, **kwargs: object) -> EmailMessage:
    msg = message(**kwargs)  # type: ignore[arg-type]
    msg.set_content(html, subtype="html")
    return msg


def alternative_message(plain: str, html: str, **kwargs: object) -> EmailMessage:
    msg = message(plain, **kwargs)  # type: ignore[arg-type]
    msg.add_alternative(html, subtype="html")
    return msg


def attach(msg: EmailMessage, data: bytes, content_type: str, filename: str | None) -> EmailMessage:
    maintype, subtype = content_type.split("/", 1)
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def attach_text(msg: EmailMessage, text: str, filename: str, subtype: str = "plain") -> None:
    msg.add_attachment(text, subtype=subtype, filename=filename)


def attach_message(msg: EmailMessage, inner: EmailMessage, filename: str | None) -> None:
    """Attach ``inner`` as a real message/rfc822 part, as forward-as-attachment does."""
    if filename is None:
        msg.add_attachment(inner)
    else:
        msg.add_attachment(inner, filename=filename)


def to_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=policy.SMTP)


def raw_message(headers: Sequence[str], body: str) -> bytes:
    """Byte-exact message: header lines, a blank line, then ``body``."""
    lines = [*headers, "", body]
    return "\r\n".join(lines).encode("utf-8")


def pdf_bytes(lines: Sequence[str]) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    for line in lines:
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def encrypted_pdf_bytes(lines: Sequence[str], *, user_password: str) -> bytes:
    """``user_password=""`` makes an owner-only PDF that anyone can open."""
    reader = PdfReader(io.BytesIO(pdf_bytes(lines)))
    writer = PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(paragraphs: Sequence[str], table: Sequence[Sequence[str]] = ()) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def fake_encrypted_docx_bytes() -> bytes:
    """What Word writes for a password-protected .docx: an OLE compound file."""
    return bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504)


def png_bytes() -> bytes:
    """A real 1x1 PNG."""
    return bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
