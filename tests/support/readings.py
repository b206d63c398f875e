"""Every way a recipient's mail program (or a curious recipient) can read
what was relayed: to check that a value appears in none of them.

Independent of Tactful's own reading on purpose: the bytes, every header
decoded two ways (``policy.default`` and ``email.header``), every part's
decoded text and its HTML unescaped, every file name, attached messages
recursively. Each reading is also looked at the way a reader sees it:
invisible characters dropped, compatibility forms folded (NFKC), and the
look-alike letters these tests hide values with mapped back.
"""

from __future__ import annotations

import html
import re
import unicodedata
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser

import regex

_INVISIBLE = regex.compile(r"[\p{Cf}\p{Default_Ignorable_Code_Point}]")
# The look-alikes the tests use, and what a reader takes them for.
LOOKALIKE_LETTERS = {"а": "a", "е": "e", "о": "o", "р": "p", "і": "i", "М": "M", "Ο": "O"}
LOOKALIKE_DIGITS = {"O": "0", "О": "0", "l": "1", "I": "1"}


def _header_readings(entity: Message) -> list[str]:
    found: list[str] = []
    for name, raw in entity.raw_items():
        found.append(f"{name}: {raw}")
        try:
            found.append(str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", raw)))))
        except Exception:
            pass
        data = str(raw).encode("utf-8", errors="surrogateescape")
        found.append(data.decode("utf-8", errors="replace"))
    for name, value in entity.items():
        found.append(f"{name}: {value}")
    for getter in (
        lambda: entity.get_filename(),
        lambda: entity.get_param("name"),
        lambda: entity.get_param("filename", header="content-disposition"),
    ):
        try:
            value = getter()
        except Exception:
            continue
        if value is not None:
            found.append(str(value))
    return found


def readings(data: bytes, depth: int = 0) -> list[str]:
    """Every text a reader can get out of ``data``."""
    found = [data.decode("latin-1"), data.decode("utf-8", errors="replace")]
    msg = BytesParser(policy=policy.default).parsebytes(data)
    for part in msg.walk():
        found.extend(_header_readings(part))
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = payload.decode(part.get_content_charset() or "utf-8", errors="replace")
        found.append(text)
        if part.get_content_type() == "text/html":
            found.append(html.unescape(text))
        if payload.lstrip()[:5].lower() in (b"from:", b"subje", b"to: ", b"mime-") and depth < 3:
            found.extend(readings(payload, depth + 1))
    return found


def as_read(text: str) -> str:
    """``text`` the way a reader sees it."""
    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    return "".join(LOOKALIKE_LETTERS.get(c, c) for c in text)


def value_pattern(value: str) -> re.Pattern[str]:
    """``value`` with any separators between its letters and digits, and
    digits possibly written as look-alike letters."""
    pieces = []
    for char in value:
        if not char.isalnum():
            continue
        alternatives = [re.escape(char)] + [
            re.escape(k) for k, v in LOOKALIKE_DIGITS.items() if v == char
        ]
        pieces.append(f"(?:{'|'.join(alternatives)})")
    return re.compile(r"[\W_]{0,3}".join(pieces), re.IGNORECASE)


def where_value_is(data: bytes, value: str) -> list[str]:
    """The readings of ``data`` in which ``value`` can be read (empty: none)."""
    pattern = value_pattern(value)
    return [text for text in readings(data) if pattern.search(as_read(text))]
