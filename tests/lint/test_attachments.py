"""Reading attachment bytes: classification, charsets, PDF and Word text."""

from __future__ import annotations

import pytest

from proxy.lint.attachments import (
    DOCX_TYPE,
    DecodedText,
    Extracted,
    Kind,
    classify,
    decode_text,
    describe_type,
    docx_text,
    extract,
    pdf_text,
)
from tests.support.mime_builders import (
    docx_bytes,
    encrypted_pdf_bytes,
    fake_encrypted_docx_bytes,
    pdf_bytes,
    png_bytes,
)


@pytest.mark.parametrize(
    ("filename", "content_type", "head", "kind"),
    [
        ("a.pdf", "application/pdf", b"%PDF-1.7", Kind.PDF),
        ("scan", "application/octet-stream", b"%PDF-1.4", Kind.PDF),  # sniffed
        ("a.PDF", "application/octet-stream", b"", Kind.PDF),
        ("a.docx", "application/octet-stream", b"PK\x03\x04", Kind.DOCX),
        ("", DOCX_TYPE, b"PK\x03\x04", Kind.DOCX),
        ("a.doc", "application/msword", b"", Kind.LEGACY_WORD),
        ("a.eml", "application/octet-stream", b"From: ", Kind.MESSAGE),
        ("", "message/rfc822", b"", Kind.MESSAGE),
        ("a.png", "image/png", png_bytes()[:8], Kind.IMAGE),
        ("photo.JPG", "application/octet-stream", b"", Kind.IMAGE),
        ("a.txt", "application/octet-stream", b"", Kind.TEXT),
        ("notes.markdown", "application/octet-stream", b"", Kind.TEXT),
        ("a.csv", "text/csv", b"", Kind.TEXT),
        ("invite.ics", "text/calendar", b"", Kind.TEXT),
        ("", "text/plain", b"", Kind.TEXT),
        ("a.htm", "application/octet-stream", b"", Kind.HTML),
        ("smime.p7s", "application/pkcs7-signature", b"", Kind.SIGNATURE),
        ("smime.p7m", "application/pkcs7-mime", b"", Kind.ENCRYPTED),
        ("a.bin", "application/octet-stream", b"\x00", Kind.UNKNOWN),
        ("a.zip", "application/zip", b"PK\x03\x04", Kind.ARCHIVE),  # opened since h-mime
    ],
)
def test_classify(filename: str, content_type: str, head: bytes, kind: Kind) -> None:
    assert classify(filename, content_type, head) is kind


@pytest.mark.parametrize(
    ("payload", "charset", "expected"),
    [
        ("Señora 123".encode(), "utf-8", DecodedText("Señora 123", garbled=False)),
        ("Señora 123".encode("latin-1"), "ISO-8859-1", DecodedText("Señora 123", garbled=False)),
        ("Señora 123".encode(), None, DecodedText("Señora 123", garbled=False)),
        ("Señora 123".encode(), "no-such-charset", DecodedText("Señora 123", garbled=False)),
        ("“quoted” 123".encode("cp1252"), "utf-8", DecodedText("“quoted” 123", garbled=False)),
        # Python refuses non-text codecs by name; we fall back rather than fail.
        (b"plain 123", "base64", DecodedText("plain 123", garbled=False)),
        ("Señora".encode("utf-16"), "utf-16", DecodedText("Señora", garbled=False)),
    ],
)
def test_decode_text(payload: bytes, charset: str | None, expected: DecodedText) -> None:
    assert decode_text(payload, charset) == expected


def test_text_that_fits_no_charset_is_garbled() -> None:
    # Bytes undefined in Windows-1252, declared as a charset they break.
    decoded = decode_text(b"\x81\x8d\x8f\x90\x9d" * 4, "utf-8")
    assert decoded.garbled is True


@pytest.mark.parametrize(
    ("content_type", "described"),
    [
        ("application/octet-stream", "application/octet-stream"),
        ("Application/X-Thing+Zip", "application/x-thing+zip"),
        ("application/\u202eevil", "of an unrecognised kind"),
        ("x" * 200 + "/y", "of an unrecognised kind"),
    ],
)
def test_describe_type_keeps_reasons_tame(content_type: str, described: str) -> None:
    assert describe_type(content_type) == described


def test_pdf_text_reads_every_page_in_order() -> None:
    assert pdf_text(pdf_bytes(["Line one", "SSN 123-45-6789"]), max_chars=10_000) == Extracted(
        "Line one\nSSN 123-45-6789", scanned=True
    )


def test_pdf_needing_a_password_is_not_read() -> None:
    data = encrypted_pdf_bytes(["SSN 123-45-6789"], user_password="s3cret")
    assert pdf_text(data, max_chars=10_000) == Extracted("", False, "encrypted PDF")


def test_pdf_without_text_is_reported() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()  # a page with nothing on it, like an image-only scan
    result = pdf_text(bytes(pdf.output()), max_chars=10_000)
    assert result.scanned is False
    assert result.problem == "PDF without readable text (it may be a scanned image)"


def test_docx_paragraphs_and_tables_in_document_order() -> None:
    data = docx_bytes(["Intro", "Case CASE-2026-0001"], [["Name", "DOB"], ["Ana", "1/2/1980"]])
    assert docx_text(data, max_chars=10_000, max_bytes=10**8) == Extracted(
        "Intro\nCase CASE-2026-0001\nName\tDOB\nAna\t1/2/1980", scanned=True
    )


def test_docx_merged_cells_are_read_once() -> None:
    import io

    import docx

    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    merged = table.cell(0, 0).merge(table.cell(0, 1))
    merged.text = "wide"
    table.cell(0, 2).text = "narrow"
    out = io.BytesIO()
    document.save(out)
    result = docx_text(out.getvalue(), max_chars=10_000, max_bytes=10**8)
    assert result.text == "wide\tnarrow"


def test_docx_larger_than_the_byte_budget_is_not_unpacked() -> None:
    data = docx_bytes(["x" * 5000])
    result = docx_text(data, max_chars=10_000, max_bytes=len(data))
    assert result == Extracted("", False, "Word document too large to scan")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (fake_encrypted_docx_bytes(), "password-protected Word document"),
        (b"not a zip at all", "damaged Word document"),
        (b"PK\x03\x04\x14\x00broken", "damaged Word document"),
    ],
)
def test_unreadable_docx(data: bytes, reason: str) -> None:
    assert docx_text(data, max_chars=10_000, max_bytes=10**8) == Extracted("", False, reason)


def test_zip_that_is_not_a_word_document_is_damaged() -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert docx_text(out.getvalue(), max_chars=10_000, max_bytes=10**8).problem == (
        "damaged Word document"
    )


def test_extract_dispatches_by_kind() -> None:
    common = {"content_type": "x/y", "charset": None, "max_chars": 10_000, "max_bytes": 10**8}
    assert extract(Kind.TEXT, b"a,b\n", **common) == Extracted("a,b\n", True)  # type: ignore[arg-type]
    assert extract(Kind.HTML, b"<p>1<b>2</b></p>", **common) == Extracted("12", True)  # type: ignore[arg-type]
    assert extract(Kind.IMAGE, png_bytes(), **common) == Extracted("", False)  # type: ignore[arg-type]
    assert extract(Kind.SIGNATURE, b"sig", **common) == Extracted("", False)  # type: ignore[arg-type]
    assert extract(Kind.ENCRYPTED, b"enc", **common) == Extracted(  # type: ignore[arg-type]
        "", False, "encrypted message"
    )
    assert extract(Kind.UNKNOWN, b"\x00", **common) == Extracted(  # type: ignore[arg-type]
        "", False, "unknown file type x/y"
    )
