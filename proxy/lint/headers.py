"""The header fields a recipient sees, read the way their mail program would.

Addresses with their display names, the subject, a part's file name: each
read defensively (a header that will not decode still yields its raw
text), so that parsing never fails on them and nothing they carry goes
unread.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.headerregistry import Address
from email.message import Message
from email.utils import getaddresses

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
