"""One submission, whatever front door it came through, and the SMTP reply.

A :class:`Submission` crosses the boundary between a front door (the SMTP
server, the SMS Messages API) and the one pipeline after it (lint in the
pool, act, forward or hold), so it is typed and frozen rather than an
aiosmtpd ``Envelope`` or a form with loose attributes; its ``channel``
says which upstream it is for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from proxy.core.consent import Channel


@dataclass(frozen=True, slots=True)
class Submission:
    id: str  # opaque reference id (uuid4 hex), also shown to the sender
    sender: str  # MAIL FROM, already checked against the authenticated user
    recipients: tuple[str, ...]
    user: str  # the authenticated account name
    raw: bytes = field(repr=False)  # the message exactly as received (CRLF line ends)
    received_at: datetime
    channel: Channel = Channel.EMAIL  # which upstream: the mail server, the SMS provider


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
