"""The SMTP front door's side of the pipeline: an Outcome as an SMTP reply.

The pipeline decides once for every channel; this module only says what
happened in the words and codes a mail program shows its user: the
upstream's own reply when the message was relayed, 250 with a reference
when it is safely stored, 550 with the reasons when the policy refused
it, 451 when it could not be judged (the mail program keeps it and
retries).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import tzinfo

from proxy.core.submission import TEMPORARY_FAILURE, SmtpReply, Submission
from proxy.lint.explain import when
from proxy.outbound.relay import DeliveryResult
from proxy.pipeline.act import Pipeline
from proxy.pipeline.outcome import Disposition, Outcome

MAX_REPLY_LINES = 6


def _ascii(text: str) -> str:
    """SMTP reply text is ASCII; keep the words, drop the typography."""
    text = text.translate({0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"', 0x2014: "-"})
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(folded.split())[:400]


def _lines(reasons: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(_ascii(reason) for reason in reasons))


def rejection_reply(reasons: Iterable[str]) -> SmtpReply:
    """550 5.7.1 with the reasons, short enough for a mail program's dialog."""
    lines = _lines(reasons) or ["A rule does not allow this message."]
    out = ["Not sent: Tactful blocked this message.", *lines[: MAX_REPLY_LINES - 1]]
    if len(lines) > MAX_REPLY_LINES - 1:
        out.append(f"...and {len(lines) - (MAX_REPLY_LINES - 1)} more reasons.")
    return SmtpReply(550, "5.7.1", tuple(out))


def smtp_reply(outcome: Outcome, agency_tz: tzinfo) -> SmtpReply:
    """What the mail program is told about ``outcome`` (times in the agency's zone)."""
    match outcome.disposition:
        case Disposition.REJECTED:
            return rejection_reply(outcome.reasons)
        case Disposition.HELD:
            return SmtpReply(
                250,
                "2.0.0",
                (
                    f"Held for review, reference {outcome.reference}.",
                    *_lines(outcome.reasons)[: MAX_REPLY_LINES - 2],
                    "A supervisor will review it; you will get an email when they decide.",
                ),
            )
        case Disposition.DEFERRED:
            assert outcome.send_at is not None
            local = outcome.send_at.astimezone(agency_tz)
            return SmtpReply(
                250,
                "2.0.0",
                (
                    f"Scheduled, reference {outcome.reference}: it will be sent on "
                    f"{when(local)} (start of the next working window).",
                ),
            )
        case Disposition.FORWARDED:
            reply = outcome.forwarded.reply if outcome.forwarded is not None else None
            if isinstance(reply, DeliveryResult):
                return reply.to_reply()
            return TEMPORARY_FAILURE
    return TEMPORARY_FAILURE


class PipelineProcessor:
    """The :class:`proxy.core.submission.MessageProcessor` of ``tactful serve``:
    the pipeline, answered in SMTP."""

    def __init__(self, pipeline: Pipeline, agency_tz: tzinfo) -> None:
        self._pipeline = pipeline
        self._tz = agency_tz

    async def process(self, submission: Submission) -> SmtpReply:
        return smtp_reply(await self._pipeline.handle(submission), self._tz)
