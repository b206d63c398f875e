"""What a part's bytes are, whatever its label says, and which characters
they spell.

A label is the sender's claim; the bytes are what the recipient's program
opens. A "picture" that is really a text file is shown as text by a viewer
that sniffs (and by anyone who renames it), so it must be scanned as text.
Likewise text with no charset, or a made-up one, is shown in whatever
charset the recipient's program guesses: UTF-16 without a label is
``1\\x002\\x003\\x00`` to a reader that assumes ASCII, and a Social Security
number to one that guesses right.
"""

from __future__ import annotations

import codecs
from enum import Enum
from functools import lru_cache

from charset_normalizer import from_bytes

# How much of a part is looked at to decide what it is.
SNIFF_BYTES = 4096


class Magic(Enum):
    """A file format recognised by its first bytes."""

    PDF = "pdf"
    ZIP = "zip"
    OLE = "ole"  # old Word/Excel, encrypted Office files, Outlook .msg
    TNEF = "tnef"  # winmail.dat
    IMAGE = "image"
    GZIP = "gzip"
    SEVEN_ZIP = "7z"
    RAR = "rar"


_MAGIC: tuple[tuple[bytes, Magic], ...] = (
    (b"%PDF-", Magic.PDF),
    (b"PK\x03\x04", Magic.ZIP),
    (b"PK\x05\x06", Magic.ZIP),  # an empty archive
    (b"PK\x07\x08", Magic.ZIP),  # a spanned archive
    (bytes.fromhex("D0CF11E0A1B11AE1"), Magic.OLE),
    (bytes.fromhex("789F3E22"), Magic.TNEF),
    (b"\xff\xd8\xff", Magic.IMAGE),  # JPEG
    (b"GIF87a", Magic.IMAGE),
    (b"GIF89a", Magic.IMAGE),
    (b"II*\x00", Magic.IMAGE),  # TIFF
    (b"MM\x00*", Magic.IMAGE),
    (b"\x00\x00\x01\x00", Magic.IMAGE),  # ICO
    (b"\x1f\x8b", Magic.GZIP),
    (b"7z\xbc\xaf\x27\x1c", Magic.SEVEN_ZIP),
    (b"Rar!\x1a\x07", Magic.RAR),
)
_ISO_MEDIA_BRANDS = (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif")

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM it starts with
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WIDE_CODECS = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<svg", b"<div", b"<p>")

# Control characters other than tab, line breaks, form feed and escape are
# not in text; a few are tolerated (stray bytes in real files).
_TEXT_CONTROLS = frozenset(range(32)) - {9, 10, 12, 13, 27}
_MAX_CONTROL_SHARE = 0.01
# Text in a single-byte charset is mostly ASCII; a binary file is not.
_MIN_ASCII_SHARE = 0.7
# A share of NUL characters this high means UTF-16 or UTF-32 read as bytes.
_WIDE_NUL_SHARE = 0.2


def magic(head: bytes) -> Magic | None:
    """The format ``head`` (a part's first bytes) starts with, if a known one."""
    for prefix, kind in _MAGIC:
        if head.startswith(prefix):
            return kind
    # Two-letter or well-known signatures a text file could start with too
    # ("BMI: ..."), so more of the header is checked.
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return Magic.IMAGE
    if head.startswith(b"BM") and head[6:10] == b"\x00\x00\x00\x00" and len(head) >= 26:
        return Magic.IMAGE
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Magic.IMAGE
    if head[4:8] == b"ftyp" and head[8:12] in _ISO_MEDIA_BRANDS:
        return Magic.IMAGE
    return None


def bom_codec(data: bytes) -> str | None:
    """The codec a byte-order mark at the start of ``data`` names."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec
    return None


def looks_like_text(head: bytes) -> bool:
    """True if ``head`` reads as text in some charset a mail program uses."""
    if not head:
        return False
    if bom_codec(head) is not None or wide_codec(head) is not None:
        return True
    if b"\x00" in head:
        return False
    controls = sum(1 for byte in head if byte in _TEXT_CONTROLS)
    if controls > len(head) * _MAX_CONTROL_SHARE:
        return False
    if _utf8_prefix(head):
        return True
    ascii_bytes = sum(1 for byte in head if byte < 0x80)
    return ascii_bytes >= len(head) * _MIN_ASCII_SHARE


def looks_like_html(head: bytes) -> bool:
    """True if text starts like markup a browser or mail program renders."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith(_HTML_STARTS)


def wide_codec(data: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte-order mark: the codec whose reading
    is text with the fewest NULs, if the bytes are NUL-riddled like that."""
    sample = data[:SNIFF_BYTES]
    if len(sample) < 4 or sample.count(0) < len(sample) * _WIDE_NUL_SHARE:
        return None
    best: tuple[int, str] | None = None
    for codec in _WIDE_CODECS:
        unit = 4 if "32" in codec else 2
        try:
            text = sample[: len(sample) - len(sample) % unit].decode(codec)
        except UnicodeDecodeError:
            continue
        if not text or not _mostly_printable(text):
            continue
        score = text.count("\x00")
        if best is None or score < best[0]:
            best = (score, codec)
    return best[1] if best is not None else None


def is_wide(text: str) -> bool:
    """Decoded text that is really UTF-16/32 read in a one-byte charset."""
    return len(text) >= 4 and text.count("\x00") >= len(text) * _WIDE_NUL_SHARE


def guess_charset(data: bytes) -> str | None:
    """charset-normalizer's best reading of unlabelled bytes, or None."""
    try:
        best = from_bytes(data[: SNIFF_BYTES * 4]).best()
    # The library's heuristics fail in their own ways on hostile bytes; no
    # guess then, and the caller falls back.
    except Exception:
        return None
    return best.encoding if best is not None else None


@lru_cache(maxsize=64)
def is_single_byte(codec: str) -> bool:
    """Charsets in which every byte is one character: each keeps ASCII as
    ASCII, so for finding numbers and names they differ little from the
    Western default, while charset-normalizer's guess among them is poor on
    short texts (it reads "Señora" as Urdu)."""
    try:
        return len(bytes(range(256)).decode(codec, errors="replace")) == 256
    except (LookupError, ValueError):
        return False


def _mostly_printable(text: str) -> bool:
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n")
    return printable >= len(text) * 0.9


def _utf8_prefix(head: bytes) -> bool:
    """UTF-8, allowing a character cut off at the end of the sample."""
    for cut in range(4):
        try:
            head[: len(head) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False
