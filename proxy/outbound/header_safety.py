"""Header values Tactful writes are checked before they reach a message.

Python 3.11's email generator does not escape newlines when it refolds a
header (CVE-2024-6923), so a value carrying CR or LF can smuggle a whole new
header -- or a body -- into a message we relay or DKIM-sign. Every header
value we set or rewrite (notice subjects, ``X-Tactful-*``, a Subject with its
tags stripped) therefore goes through :func:`safe_header_value`, which refuses
rather than silently cleaning: a value that needs cleaning is a bug or an
attack, and either way the caller must decide, not us.

:func:`strip_subject_tags_in_raw` edits only the Subject field of the raw
bytes, so every other byte of the message -- and thus any signature or
checksum computed over it later -- stays exactly as the sender wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email import policy
from email.header import decode_header, make_header
from email.message import Message

# C0 controls except TAB (folding whitespace is legitimate inside a header
# value), DEL, and the C1 controls, which some clients treat as line breaks.
# U+2028/U+2029 are line separators to anything that decodes Unicode lines.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# RFC 5322 field names: printable ASCII except colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")
# Where the header section ends: the first empty line.
_HEADER_END = re.compile(rb"\r?\n\r?\n")
# One field with its folded continuation lines, at the start of a line.
_SUBJECT_FIELD = re.compile(rb"(?im)^subject[ \t]*:(?P<value>[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")


class HeaderInjectionError(ValueError):
    """A header value or name would break the header structure.

    The text names the header and the kind of character, never the value:
    the value may well be client data.
    """


def _describe(char: str) -> str:
    return f"U+{ord(char):04X}"


def safe_header_value(value: str, *, name: str = "header") -> str:
    """``value`` unchanged if it is safe to put in a single header field."""
    found = _FORBIDDEN.search(value)
    if found is not None:
        raise HeaderInjectionError(
            f"refusing to set the {name} header: its value contains the control "
            f"character {_describe(found.group(0))} (line breaks and control "
            "characters are not allowed in a header)"
        )
    return value


def safe_header_name(name: str) -> str:
    """``name`` unchanged if it is a valid field name."""
    if not _FIELD_NAME.fullmatch(name):
        raise HeaderInjectionError(
            "refusing to set a header whose name is empty or contains spaces, "
            "colons or control characters"
        )
    return name


def set_header(msg: Message, name: str, value: str) -> None:
    """Replace every ``name`` field of ``msg`` with one carrying ``value``.

    Replacing rather than adding keeps a header we own (``X-Tactful-*``) from
    appearing twice, which a forged copy from the sender could otherwise do.
    """
    safe_header_name(name)
    safe_header_value(value, name=name)
    del msg[name]
    msg[name] = value


def _header_section_end(raw: bytes) -> int:
    match = _HEADER_END.search(raw)
    return match.start() if match is not None else len(raw)


def line_ending(raw: bytes) -> bytes:
    """The line break ``raw`` uses, so that lines we add match it."""
    return b"\r\n" if b"\r\n" in raw[:4096] else b"\n"


def _decode_subject(field_value: bytes) -> str:
    """Unfold and decode RFC 2047 encoded-words, as a mail client would."""
    text = field_value.decode("utf-8", errors="replace")
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", text).strip()
    try:
        return str(make_header(decode_header(unfolded)))
    except (UnicodeDecodeError, LookupError, ValueError):
        # An encoded-word in an unknown charset: keep the text as written.
        return unfolded


def _encode_subject(subject: str, linesep: bytes) -> bytes:
    """A complete, folded ``Subject:`` field, RFC 2047-encoded if needed."""
    line_policy = policy.SMTP.clone(linesep=linesep.decode("ascii"))
    return line_policy.header_factory("Subject", subject).fold(policy=line_policy).encode("ascii")


def strip_subject_tags_in_raw(raw: bytes, strip: Callable[[str], str]) -> bytes:
    """``raw`` with only its Subject field rewritten through ``strip``.

    Every other byte is left identical. If the subject does not change (no
    tags), ``raw`` itself is returned, so an untouched message keeps even its
    original Subject encoding and folding.
    """
    end = _header_section_end(raw)
    match = _SUBJECT_FIELD.search(raw, 0, end)
    if match is None:
        return raw
    original = _decode_subject(match.group("value"))
    stripped = strip(original)
    if stripped == original:
        return raw
    safe_header_value(stripped, name="Subject")
    field = _encode_subject(stripped, line_ending(raw))
    # The folded field ends with a line break; the match does not include
    # the one that ends the original field, so drop ours.
    field = field.rstrip(b"\r\n")
    return raw[: match.start()] + field + raw[match.end() :]
