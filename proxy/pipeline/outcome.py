"""What became of a submission: the pipeline's answer to every front door.

The pipeline decides and acts once for every channel; each front door
only turns an :class:`Outcome` into its own protocol's reply (an SMTP
reply for a mail program, a Twilio-style JSON resource for a program that
sends texts). So the outcome says what happened in channel-neutral terms
and carries what a front door needs to say it well: the plain-words
reasons, the send time of a deferral, and the upstream's own answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from proxy.core.verdict import Verdict
from proxy.pipeline.forward import Forwarded


class Disposition(StrEnum):
    FORWARDED = "forwarded"  # handed to the upstream now; ``forwarded`` says how it went
    HELD = "held"  # committed to the spool for a reviewer
    DEFERRED = "deferred"  # committed to the spool until ``send_at``
    REJECTED = "rejected"  # refused by the policy; nothing stored or sent
    UNJUDGED = "unjudged"  # could not be checked now: try again later


@dataclass(frozen=True, slots=True)
class Outcome:
    disposition: Disposition
    reference: str  # the submission id, shown to the sender
    verdict: Verdict | None = None  # None when not linted (analysis off, or failed)
    reasons: tuple[str, ...] = ()  # plain words for the action taken
    send_at: datetime | None = None  # DEFERRED: when the window opens (UTC)
    forwarded: Forwarded | None = None  # FORWARDED: the upstream's answer
    masked: int = 0  # how many values were masked in what was sent or stored
    raw: bytes = field(default=b"", repr=False)  # what was sent or stored

    @property
    def accepted(self) -> bool:
        """The promise behind a 2xx: with the upstream, or durably stored."""
        if self.disposition is Disposition.FORWARDED:
            return self.forwarded is not None and self.forwarded.accepted
        return self.disposition in (Disposition.HELD, Disposition.DEFERRED)
