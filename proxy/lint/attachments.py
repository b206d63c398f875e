"""Turn a message part's decoded bytes into text Tactful can scan.

A client's details travel in attachments as often as in bodies: a referral
PDF, a case note in Word, a CSV export. Whatever we can read is scanned;
whatever we cannot (an encrypted PDF, a password-protected Word file, an
unknown binary) is reported with a short, plain reason so the policy can hold
it rather than wave it through unread. Reasons never contain client data:
not the filename, not the text.

Embedded messages (``message/rfc822``, ``.eml``) are recognised here but
parsed by :mod:`proxy.lint.parse`, which owns the walk over message structure.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from io import BytesIO
from pathlib import PurePosixPath

import docx
from docx.document import Document as DocxDocument
from docx.table import Table
from docx.text.paragraph import Paragraph
from pypdf import PasswordType, PdfReader

from proxy.lint.containers import calendar_text, is_calendar, is_rtf, rtf_text
from proxy.lint.html_text import html_to_text
from proxy.lint.sniff import (
    Magic,
    bom_codec,
    guess_charset,
    is_single_byte,
    is_wide,
    looks_like_html,
    looks_like_text,
    magic,
    wide_codec,
)

# Every encrypted Office file, and every pre-2007 .doc, is an OLE compound file.
OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
PDF_MAGIC = b"%PDF-"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# Read without error, but nothing to read: not a failure to check for a value.
PDF_WITHOUT_TEXT = "PDF without readable text (it may be a scanned image)"
# Shared with proxy.lint.parse, which gives bodies the same reasons as attachments.
GARBLED = "text in an unreadable character set"
ENCRYPTED = "encrypted message"

_TEXT_EXTENSIONS = frozenset(
    {".txt", ".text", ".csv", ".tsv", ".md", ".markdown", ".log", ".json", ".xml", ".ics", ".vcf"}
)
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/csv"})
_HTML_EXTENSIONS = frozenset({".html", ".htm"})
_IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic"}
)
# SVG is markup: the words in it are shown, so it is read like HTML.
_SVG_TYPES = frozenset({"image/svg+xml"})
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_ZIP_EXTENSIONS = frozenset({".zip"})
_ZIP_TYPES = frozenset(
    {"application/zip", "application/x-zip-compressed", "application/x-zip", "multipart/x-zip"}
)
_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
_TNEF_NAMES = frozenset({"winmail.dat", "win.dat"})
# Compressed formats Tactful cannot open: read as unknown files (held).
_UNOPENED = frozenset({Magic.GZIP, Magic.SEVEN_ZIP, Magic.RAR})
_SIGNATURE_TYPES = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)
_ENCRYPTED_TYPES = frozenset(
    {"application/pkcs7-mime", "application/x-pkcs7-mime", "application/pgp-encrypted"}
)
_LEGACY_WORD_TYPES = frozenset({"application/msword"})

# A content type echoed in a reason is sender-controlled; keep it tame.
_SAFE_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,60}/[a-z0-9][a-z0-9.+-]{0,60}")

_DIGITS = re.compile(r"[0-9]+")

# Above this share of U+FFFD replacement characters, text is noise, not words.
_GARBLED_SHARE = 0.05
_GARBLED_MINIMUM = 4


class Kind(Enum):
    """What a part is, judged by content type, file name and first bytes."""

    TEXT = "text"
    HTML = "html"
    PDF = "pdf"
    DOCX = "docx"
    LEGACY_WORD = "legacy_word"
    MESSAGE = "message"
    ARCHIVE = "archive"  # a zip file (and zip-based formats other than .docx)
    TNEF = "tnef"  # winmail.dat, Outlook's wrapper for a message and its files
    IMAGE = "image"
    SIGNATURE = "signature"
    ENCRYPTED = "encrypted"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Extracted:
    """Text read from a part, plus why it could not (all) be read.

    ``scanned`` is False when the content was deliberately or necessarily not
    read (an image, a signature, an encrypted file); ``problem`` is the plain
    reason for an :class:`~proxy.core.message.Unscannable` record, or None.
    """

    text: str
    scanned: bool
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class DecodedText:
    text: str
    garbled: bool


def decode_text(payload: bytes, charset: str | None) -> DecodedText:
    """Bytes to text, trusting the declared charset only as far as it works.

    A byte-order mark wins over any label: mail programs honour it. Then
    the declared charset, unless it does not fit or reads as UTF-16 or
    UTF-32 in disguise (every other character NUL). Mislabelled charsets
    are common (Windows-1252 sent as ISO-8859-1, UTF-8 sent as ASCII,
    made-up labels), and digits read the same in all of them, so a label
    that does not fit falls back to UTF-8 and then Windows-1252 rather than
    giving up. With no usable label at all, the recipient's program
    guesses, so we guess too (charset-normalizer) when the guess is a
    multi-byte charset, and keep the Windows-1252 reading as well if the
    two readings disagree about the digits. Only when nothing fits are
    undecodable bytes replaced, and text that is then mostly replacement
    characters is reported as garbled.
    """
    bom = bom_codec(payload)
    if bom is not None:
        marked = _try_decode(payload, bom, "strict")
        if marked is not None:
            return DecodedText(marked, garbled=False)
    label = (charset or "").strip().lower()
    codec = _text_codec(label)
    if codec is not None:
        declared = _try_decode(payload, codec, "strict")
        if declared is not None and not is_wide(declared):
            return DecodedText(declared, garbled=False)
    wide = wide_codec(payload)
    if wide is not None:
        unit = 4 if "32" in wide else 2
        text = _try_decode(payload[: len(payload) - len(payload) % unit], wide, "strict")
        if text is not None:
            return DecodedText(text, garbled=False)
    utf8 = _try_decode(payload, "utf-8", "strict")
    if utf8 is not None:
        return DecodedText(utf8, garbled=False)
    western = _try_decode(payload, "cp1252", "strict")
    if codec is None:
        guessed = _guessed_reading(payload, western)
        if guessed is not None:
            return DecodedText(guessed, garbled=False)
    if western is not None:
        return DecodedText(western, garbled=False)
    lenient = _try_decode(payload, label, "replace") if codec is not None else None
    if lenient is None:
        lenient = payload.decode("utf-8", "replace")
    bad = lenient.count("\ufffd")
    garbled = bad >= _GARBLED_MINIMUM and bad > len(lenient) * _GARBLED_SHARE
    return DecodedText(lenient, garbled=garbled)


def readable_text(text: str) -> str:
    """Plain text as the program that opens it shows it: a calendar or
    contact file unfolded and unescaped, an RTF document without its
    control words; anything else as it is."""
    if is_calendar(text):
        return calendar_text(text)
    if is_rtf(text):
        return rtf_text(text)
    return text


def _text_codec(label: str) -> str | None:
    """The codec a charset label names, or None if it names no text codec."""
    if not label:
        return None
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _guessed_reading(payload: bytes, western: str | None) -> str | None:
    """charset-normalizer's reading, when it is a multi-byte charset."""
    guess = guess_charset(payload)
    if guess is None or is_single_byte(guess):
        return None
    text = _try_decode(payload, guess, "strict")
    if text is None:
        return None
    if western is not None and _DIGITS.findall(western) != _DIGITS.findall(text):
        # A multi-byte charset can swallow a digit after a lead byte; what
        # a reader assuming the Western default sees is scanned as well.
        return f"{text}\n\n{western}"
    return text


def _try_decode(payload: bytes, charset: str, errors: str) -> str | None:
    try:
        return payload.decode(charset, errors)
    except (LookupError, UnicodeError, ValueError):
        return None


def describe_type(content_type: str) -> str:
    """A content type safe to put in a reason: sender-controlled text is tamed."""
    match = _SAFE_TYPE.fullmatch(content_type.lower())
    return match.group(0) if match else "of an unrecognised kind"


def classify(filename: str, content_type: str, head: bytes) -> Kind:
    """Decide how to read a part from its label and its first bytes.

    The bytes beat the label wherever they are unambiguous: a PDF is a PDF
    and a zip a zip whatever the sender's program called them, and a
    "picture" or "binary file" whose bytes are text is text to any program
    that sniffs (and to anyone who renames it). Otherwise the file
    extension, which is what the worker chose, beats the often generic
    content type.
    """
    ext = PurePosixPath(filename.lower()).suffix
    ctype = content_type.lower()
    if ctype in _MESSAGE_TYPES or ext == ".eml":
        return Kind.MESSAGE
    is_text = looks_like_text(head)
    if ctype in _SIGNATURE_TYPES or ext in {".p7s", ".sig", ".asc"}:
        # Signatures are DER or ASCII armour; text under that label is read.
        if not is_text or head.lstrip().startswith(b"-----BEGIN "):
            return Kind.SIGNATURE
    if ctype in _ENCRYPTED_TYPES or ext in {".p7m", ".pgp", ".gpg"}:
        return Kind.ENCRYPTED
    found = magic(head)
    is_docx = ext == ".docx" or ctype == DOCX_TYPE
    is_legacy_word = ext == ".doc" or ctype in _LEGACY_WORD_TYPES
    match found:
        case Magic.PDF:
            return Kind.PDF
        case Magic.ZIP:
            return Kind.DOCX if is_docx else Kind.ARCHIVE
        case Magic.TNEF:
            return Kind.TNEF
        case Magic.OLE:
            # Encrypted .docx files are OLE files; docx_text says so.
            if is_docx:
                return Kind.DOCX
            return Kind.LEGACY_WORD if is_legacy_word else Kind.UNKNOWN
    if ext == ".pdf" or ctype == "application/pdf":
        return Kind.PDF
    if is_docx:
        return Kind.DOCX
    if is_legacy_word:
        return Kind.LEGACY_WORD
    if ext in _ZIP_EXTENSIONS or ctype in _ZIP_TYPES:
        return Kind.ARCHIVE
    if ctype in _TNEF_TYPES or filename.lower() in _TNEF_NAMES:
        return Kind.TNEF
    if found in _UNOPENED:
        return Kind.UNKNOWN
    if found is Magic.IMAGE:
        return Kind.IMAGE
    if ext == ".svg" or ctype in _SVG_TYPES:
        return Kind.HTML
    sniffed = (Kind.HTML if looks_like_html(head) else Kind.TEXT) if is_text else None
    if ext in _IMAGE_EXTENSIONS or ctype.startswith("image/"):
        # A picture format we do not recognise is still a picture; text is not.
        return sniffed or Kind.IMAGE
    if ext in _HTML_EXTENSIONS or ctype == "text/html":
        return Kind.HTML
    if ext in _TEXT_EXTENSIONS or ctype.startswith("text/") or ctype in _TEXT_TYPES:
        return Kind.TEXT
    return sniffed or Kind.UNKNOWN


def extract(
    kind: Kind,
    payload: bytes,
    *,
    content_type: str,
    charset: str | None,
    max_chars: int,
    max_bytes: int,
) -> Extracted:
    """Read ``payload`` as ``kind``; stops early once ``max_chars`` are read."""
    match kind:
        case Kind.TEXT | Kind.HTML:
            decoded = decode_text(payload, charset)
            text = html_to_text(decoded.text) if kind is Kind.HTML else readable_text(decoded.text)
            problem = GARBLED if decoded.garbled else None
            return Extracted(text, scanned=True, problem=problem)
        case Kind.PDF:
            return pdf_text(payload, max_chars=max_chars)
        case Kind.DOCX:
            return docx_text(payload, max_chars=max_chars, max_bytes=max_bytes)
        case Kind.LEGACY_WORD:
            return Extracted("", scanned=False, problem="old-format Word document (.doc)")
        case Kind.IMAGE | Kind.SIGNATURE:
            return Extracted("", scanned=False)
        case Kind.ENCRYPTED:
            return Extracted("", scanned=False, problem=ENCRYPTED)
        case Kind.MESSAGE | Kind.ARCHIVE | Kind.TNEF | Kind.UNKNOWN:
            # Messages and containers are opened by proxy.lint.parse.
            reason = f"unknown file type {describe_type(content_type)}"
            return Extracted("", scanned=False, problem=reason)


def pdf_text(payload: bytes, *, max_chars: int) -> Extracted:
    """Text of every page, in order; empty-password encryption is no barrier.

    Many PDFs are "encrypted" with an empty user password only to restrict
    printing; anyone can open them, so we read them too.
    """
    pages: list[str] = []
    try:
        reader = PdfReader(BytesIO(payload))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            return Extracted("", scanned=False, problem="encrypted PDF")
        total = 0
        for page in reader.pages:
            page_text = page.extract_text() or ""
            pages.append(page_text)
            total += len(page_text)
            if total >= max_chars:
                break
    # pypdf raises a wide, undocumented range of errors on damaged files;
    # any of them means the same thing to the worker.
    except Exception:
        return Extracted("", scanned=False, problem="damaged PDF")
    text = "\n\n".join(pages)
    if not text.strip():
        return Extracted(text, scanned=False, problem=PDF_WITHOUT_TEXT)
    return Extracted(text, scanned=True)


def docx_text(payload: bytes, *, max_chars: int, max_bytes: int) -> Extracted:
    """Paragraphs and tables in document order, then headers and footers."""
    if payload.startswith(OLE_MAGIC):
        return Extracted("", scanned=False, problem="password-protected Word document")
    try:
        with zipfile.ZipFile(BytesIO(payload)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > max_bytes:
            return Extracted("", scanned=False, problem="Word document too large to scan")
        document = docx.Document(BytesIO(payload))
        blocks: list[str] = []
        total = 0
        for item in _docx_items(document):
            blocks.append(_docx_block(item))
            total += len(blocks[-1]) + 1
            if total >= max_chars:
                break
    # python-docx and zipfile fail in many ways on damaged or hostile files;
    # any of them means the same thing to the worker.
    except Exception:
        return Extracted("", scanned=False, problem="damaged Word document")
    return Extracted("\n".join(blocks), scanned=True)


def _docx_items(document: DocxDocument) -> Iterator[Paragraph | Table]:
    yield from document.iter_inner_content()
    for section in document.sections:
        for part in (section.header, section.footer):
            if not part.is_linked_to_previous:
                yield from part.iter_inner_content()


def _docx_block(item: Paragraph | Table) -> str:
    """One paragraph, or a table row by row with cells tab-separated."""
    if isinstance(item, Paragraph):
        return item.text
    rows: list[str] = []
    for row in item.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous._tc:
                continue  # a horizontally merged cell is listed once per column
            previous = cell
            cells.append("\n".join(_docx_block(inner) for inner in cell.iter_inner_content()))
        rows.append("\t".join(cells))
    return "\n".join(rows)
