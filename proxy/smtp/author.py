"""Whose name a message goes out under: the header ``From:`` and ``Sender:``
must be addresses the logged-in user may send as.

``MAIL FROM`` is checked when it is given (:mod:`proxy.smtp.receive`), but
recipients see the header ``From:``, and DKIM alignment (DMARC) is judged
on it too. Tactful signs what it relays with the agency's key, so a worker
who could write a colleague's address there would get a forgery the
agency vouches for. This check runs at DATA, before the message reaches
the pipeline, so nothing misaligned reaches the DKIM signer.

The reading is strict on purpose: receivers do not all parse a header
alike, so anything a second reader could take another way is refused
rather than guessed at: a field written twice, several addresses, a
group, a route, an address that will not parse, or another address
hidden in a display name or a comment.

A message without ``From:`` claims no one and is left alone (the agency
server may add one from the checked envelope sender).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email import policy

from proxy.core.submission import SmtpReply

# The fields that say who wrote or sent a message.
AUTHOR_FIELDS = ("from", "sender")

# Something that looks like an address wherever it is written: in a
# display name, a comment or an encoded word, a reader may show it.
_ADDRESS_LIKE = re.compile(r"[^\s<>\"'(),;:\[\]\\]+@[^\s<>\"'(),;:\[\]\\]+")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # "from" or "sender"
    value: str  # unfolded, as written
    well_formed: bool  # "From:" exactly, no space before the colon


def _label(name: str) -> str:
    return "From:" if name == "from" else "Sender:"


def _not_yours(name: str) -> SmtpReply:
    return SmtpReply(
        553,
        "5.7.1",
        (
            f"The {_label(name)} line of your message names an address you may not send as. "
            "Write your own address there (your login, or an address an administrator "
            "listed for you) and send again.",
        ),
    )


def _several(name: str) -> SmtpReply:
    return SmtpReply(
        553,
        "5.7.1",
        (
            f"Your message has more than one {_label(name)} address. "
            f"Keep one {_label(name)} line with only your own address and send again.",
        ),
    )


def _unreadable(name: str) -> SmtpReply:
    return SmtpReply(
        553,
        "5.7.1",
        (
            f"Tactful cannot read the {_label(name)} line of your message. "
            f"Write it as {_label(name)} Your Name <you@agency.org> and send again.",
        ),
    )


def header_section(raw: bytes) -> bytes:
    """The bytes before the first empty line (all of them if there is none)."""
    if raw.startswith(b"\r\n"):
        return b""
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[: end + 2]


def author_fields(raw: bytes) -> list[_Field]:
    """Every ``From``/``Sender`` field of the header, unfolded. Bytes that
    are not UTF-8 stay as surrogates: an author field holding them is
    unreadable, any other field is no concern here."""
    text = header_section(raw).decode("utf-8", errors="surrogateescape")
    logical: list[str] = []
    for line in text.split("\r\n"):
        if line[:1] in (" ", "\t") and logical:
            logical[-1] += line
        elif line:
            logical.append(line)
    found: list[_Field] = []
    for line in logical:
        name, colon, value = line.partition(":")
        # "From :" (obsolete syntax) and an mbox "From alice ..." line are
        # read as From by some programs and not by others: both count as
        # From here, and neither is well formed.
        words = name.split()
        first = words[0].lower() if words else ""
        if first in AUTHOR_FIELDS:
            well_formed = bool(colon) and name.lower() == first
            found.append(_Field(first, value if colon else line, well_formed))
    return found


def _addresses_like(text: str) -> list[str]:
    return [token.rstrip(".").lower() for token in _ADDRESS_LIKE.findall(text)]


def _check_field(field: _Field, may_send_as: Callable[[str], bool]) -> SmtpReply | None:
    if not field.well_formed:
        return _unreadable(field.name)
    try:
        field.value.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 (surrogates)
        return _unreadable(field.name)
    try:
        header = policy.default.header_factory(field.name, field.value)
        groups = header.groups  # type: ignore[attr-defined]
        decoded = str(header)
    except Exception:  # the parser gives up on some inputs by raising
        return _unreadable(field.name)
    addresses = [address for group in groups for address in group.addresses]
    if len(addresses) > 1:
        return _several(field.name)
    if header.defects or len(groups) != 1 or groups[0].display_name is not None:
        return _unreadable(field.name)
    if not addresses or not addresses[0].username or not addresses[0].domain:
        return _unreadable(field.name)
    if not may_send_as(addresses[0].addr_spec):
        return _not_yours(field.name)
    # Another address in the display name or a comment is what a reader may
    # take for the sender: it must be one of the user's too.
    for candidate in (*_addresses_like(field.value), *_addresses_like(decoded)):
        if not may_send_as(candidate):
            return _not_yours(field.name)
    return None


def author_problem(raw: bytes, may_send_as: Callable[[str], bool]) -> SmtpReply | None:
    """The 553 reply if the header ``From:`` or ``Sender:`` of ``raw`` is not
    an address ``may_send_as`` allows (or is written so it could be read two
    ways); None when the message may go out under them."""
    fields = author_fields(raw)
    for name in AUTHOR_FIELDS:
        mine = [field for field in fields if field.name == name]
        if len(mine) > 1:
            return _several(name)
        for field in mine:
            problem = _check_field(field, may_send_as)
            if problem is not None:
                return problem
    return None
