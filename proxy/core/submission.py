"""One accepted SMTP transaction and the reply Tactful gives for it.

These values cross the boundary between the front door (:mod:`proxy.smtp.receive`)
and the stages after it (lint in the pool, act, relay or hold), so they are
typed and frozen rather than an aiosmtpd ``Envelope`` with loose attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Submission:
    id: str  # opaque reference id (uuid4 hex), also shown to the sender
    sender: str  # MAIL FROM, already checked against the authenticated user
    recipients: tuple[str, ...]
    user: str  # the authenticated account name
    raw: bytes = field(repr=False)  # the message exactly as received (CRLF line ends)
    received_at: datetime


@dataclass(frozen=True, slots=True)
class SmtpReply:
    """An SMTP reply; ``lines`` become a multi-line reply when there are several."""

    code: int
    enhanced: str  # e.g. "2.0.0"
    lines: tuple[str, ...]

    def __str__(self) -> str:
        lines = self.lines or ("",)
        out = []
        for i, line in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            out.append(f"{self.code}{sep}{self.enhanced} {line}".rstrip())
        return "\r\n".join(out)

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300


TEMPORARY_FAILURE = SmtpReply(451, "4.3.0", ("Temporary problem, please try again later",))


class MessageProcessor(Protocol):
    """What the front door hands each accepted DATA transaction to.

    Implementations must only return a 2xx once the message is accepted
    upstream or durably stored; any internal error must become a 4xx.
    """

    async def process(self, submission: Submission) -> SmtpReply: ...
