"""The header fields a recipient sees, read the way their mail program would.

Addresses with their display names, the subject, a part's file name: each
read defensively (a header that will not decode still yields its raw
text), so that parsing never fails on them and nothing they carry goes
unread.

:func:`text_fields` and :func:`file_names` are what the scan reads from
headers besides the Subject; redaction (:mod:`proxy.pipeline.redact`)
masks and then checks exactly these readings, so the two cannot disagree
about what a header says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.header import decode_header, make_header
from email.headerregistry import Address, AddressHeader, HeaderRegistry
from email.message import Message
from email.utils import collapse_rfc2231_value, getaddresses

MAX_NAME = 200  # characters of a file name kept


def header_text(message: Message, name: str) -> str:
    """A header's decoded value, or its raw text if it will not decode."""
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except Exception:
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), "")
        return " ".join(str(raw).split())


def addresses(message: Message, names: Iterable[str]) -> list[tuple[str, str]]:
    """(display name, ``local@domain``) for every address in these headers.

    Addresses without a domain (``undisclosed-recipients:;``, a bare word)
    cannot receive mail and are left out.
    """
    found: list[tuple[str, str]] = []
    for name in names:
        for value in message.get_all(name) or ():
            for display, local, domain in header_addresses(value):
                if local and domain:
                    found.append((display, f"{local}@{domain.lower()}"))
    return found


def header_addresses(value: object) -> list[tuple[str, str, str]]:
    structured: tuple[Address, ...] | None = getattr(value, "addresses", None)
    if structured is not None:
        return [(a.display_name, a.username, a.domain) for a in structured]
    parsed: list[tuple[str, str, str]] = []
    for display, addr in getaddresses([str(value)]):
        local, _, domain = addr.rpartition("@")
        parsed.append((display, local, domain))
    return parsed


def normalise_address(address: str) -> str:
    """``Local@Example.ORG`` -> ``Local@example.org``; domains are case-blind."""
    address = address.strip().removeprefix("<").removesuffix(">").strip()
    local, at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}" if at else address


def unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def file_name(part: Message) -> str:
    """The attachment's file name, reduced to a safe, printable base name."""
    try:
        raw = part.get_filename() or ""
    except Exception:
        return ""
    base = str(raw).replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(ch if ch.isprintable() else " " for ch in base)
    return " ".join(printable.split())[:MAX_NAME]


# Fields that carry no text a reader is shown: trace and identity fields a
# mail program keeps out of sight, and the MIME structure (whose file names
# are read on their own, by file_names). The Subject is read with its tags
# removed by the parser itself. Every other field -- From, To, Cc, Reply-To
# with their display names, Comments, Keywords, X- fields, Thread-Topic,
# Content-Description... -- is read as text.
UNREAD_FIELDS = frozenset(
    {
        "subject", "received", "return-path", "date", "resent-date", "message-id",
        "resent-message-id", "in-reply-to", "references", "content-id", "mime-version",
        "content-type", "content-transfer-encoding", "content-disposition",
        "dkim-signature", "arc-seal", "arc-message-signature", "arc-authentication-results",
        "authentication-results", "received-spf",
    }
)  # fmt: skip
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# How the parser keeps the bytes of a field that are not ASCII.
_RAW_BYTES = re.compile("[\udc80-\udcff]")


# Fields made of names and addresses (From, To, Cc, Reply-To, Sender...), as
# the email library knows them.
ADDRESS_FIELDS = frozenset(
    name for name, kind in HeaderRegistry().registry.items() if issubclass(kind, AddressHeader)
)


# Tactful's own envelope for a text (written by the SMS API, see
# proxy.sms.textmail): the number or messaging service the agency sends
# from is the sender's own, like a From field.
TEXT_FROM_FIELD = "X-Tactful-Sms-From"
TEXT_SERVICE_FIELD = "X-Tactful-Sms-Messaging-Service"
_SENDER_FIELDS = ADDRESS_FIELDS | {TEXT_FROM_FIELD.lower(), TEXT_SERVICE_FIELD.lower()}


def is_address_field(name: str) -> bool:
    return name.lower() in _SENDER_FIELDS


def decode_words(value: str) -> str:
    """``value`` unfolded, with RFC 2047 encoded words decoded wherever they
    stand (mail programs decode them even where the RFC does not allow them,
    such as inside quotes); the unfolded raw text if they will not decode."""
    unfolded = _FOLD.sub("", value)
    if _RAW_BYTES.search(unfolded):
        # 8-bit bytes in a field (RFC 6532): mail programs show them as
        # UTF-8, or as Latin-1 when they are not UTF-8.
        data = unfolded.encode("utf-8", errors="surrogateescape")
        try:
            unfolded = data.decode("utf-8")
        except UnicodeDecodeError:
            unfolded = data.decode("latin-1")
    try:
        return str(make_header(decode_header(unfolded)))
    except Exception:
        return unfolded


def field_readings(entity: Message, name: str, raw: str) -> list[str]:
    """Every way one field is read: the permissive decoding of its raw value
    (comments, group names and stray words included) and, where it says
    something more, the email library's structured reading."""
    texts = [decode_words(str(raw))]
    try:
        structured = str(entity.policy.header_fetch_parse(name, raw))  # type: ignore[attr-defined]
    except Exception:
        structured = ""
    if structured.strip() and _plain(structured) not in _plain(texts[0]):
        texts.append(structured)
    return [t for t in texts if t.strip()]


def _plain(text: str) -> str:
    """For comparing two readings: quoting and folding aside."""
    return " ".join(text.replace('"', "").replace("\\", "").split())


def text_fields(entity: Message) -> list[tuple[str, str]]:
    """(field name, text) for each reading of every field that carries text,
    in the order the fields appear."""
    found: list[tuple[str, str]] = []
    for name, raw in entity.raw_items():
        if name.lower() in UNREAD_FIELDS:
            continue
        found.extend((name, text) for text in field_readings(entity, name, str(raw)))
    return found


def file_names(part: Message) -> list[str]:
    """Every file name a part carries, in full (directories included), as a
    mail program shows it: the Content-Disposition ``filename`` and the
    Content-Type ``name``, RFC 2231 and RFC 2047 encodings decoded."""
    names: list[str] = []
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        try:
            value = part.get_param(param, header=header)
            if value is None:
                continue
            text = decode_words(str(collapse_rfc2231_value(value)))
        except Exception:
            continue
        if text.strip() and text not in names:
            names.append(text)
    return names
