"""Act on a verdict: relay, mask then relay, defer, hold, or reject.

This is the one place that turns the policy's decision into what happens
to a submission, and the one place that decides the SMTP reply. Its rule
is the proxy's promise: a 2xx only once the upstream accepted the message
or it is committed to the spool; anything that goes wrong is a 451 so the
mail program keeps the message and retries.

Detectors and the policy never touch the message; the only changes made
here are the ones the verdict asks for (masking), the subject tags the
worker added for Tactful, an optional header of rule codes, and the DKIM
signature, added last over exactly the bytes that go upstream.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from proxy.core.clock import Clock
from proxy.core.config import Settings
from proxy.core.submission import TEMPORARY_FAILURE, SmtpReply, Submission
from proxy.core.verdict import Action, Verdict
from proxy.lint.engine import LintResult
from proxy.lint.subject_tags import strip_subject_tags
from proxy.outbound.dkim_sign import DkimError, DkimSigner
from proxy.outbound.header_safety import (
    HeaderInjectionError,
    safe_header_value,
    strip_subject_tags_in_raw,
)
from proxy.outbound.relay import DeliveryResult, Upstream
from proxy.pipeline.analysis_pool import AnalysisFailure
from proxy.pipeline.notices import (
    Notice,
    NoticeLinks,
    deferred_notice,
    held_notice,
    masked_notice,
)
from proxy.pipeline.redact import redact_message
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_summary import VerdictSummary, summarize

log = logging.getLogger(__name__)

FINDINGS_HEADER = "X-Tactful-Findings"
MAX_REPLY_LINES = 6


class Linter(Protocol):
    """What judges a message: the process pool in production."""

    async def lint(
        self,
        raw: bytes,
        *,
        sender: str,
        recipients: tuple[str, ...],
        at: datetime,
        channel: str | None = None,
    ) -> LintResult | AnalysisFailure: ...


class WarningRecorder(Protocol):
    """Keeps a record of mail that went out with warnings (the audit trail):
    rule codes only, never content."""

    def record(
        self,
        *,
        actor: str,
        action: str,
        target: str | None = None,
        details: Mapping[str, str | int | bool | None] | None = None,
        at: datetime,
    ) -> None: ...


class DeliveryRecorder(Protocol):
    """Told about every message the upstream accepted (the disclosure log)."""

    async def delivered(self, message_id: str, verdict: Verdict, at: datetime) -> None: ...


# --- preparing outgoing bytes -------------------------------------------------


class OutgoingError(Exception):
    """The message cannot be made ready to send (e.g. no single From to
    sign); the text is safe to show and to log."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """The last steps before the upstream, shared by the proxy's direct
    path and the scheduler's deferred and released mail."""

    upstream: Upstream
    signer: DkimSigner | None
    findings_header: bool

    def prepare(self, raw: bytes, codes: Sequence[str]) -> bytes:
        """Strip Tactful's subject tags, add the codes header, sign last.

        Raises :class:`OutgoingError` for every reason the bytes cannot be
        made safe to send, so both callers handle one error."""
        try:
            data = _crlf(strip_subject_tags_in_raw(raw, strip_subject_tags))
            if self.findings_header and codes:
                value = safe_header_value(", ".join(sorted(set(codes))), name=FINDINGS_HEADER)
                data = f"{FINDINGS_HEADER}: {value}\r\n".encode() + data
            if self.signer is not None:
                data = self.signer.sign(data)
        except (DkimError, HeaderInjectionError) as exc:
            raise OutgoingError(str(exc)) from None
        return data

    async def send(
        self, sender: str, recipients: Sequence[str], raw: bytes, codes: Sequence[str]
    ) -> DeliveryResult:
        data = await asyncio.to_thread(self.prepare, raw, codes)
        return await self.upstream.deliver(sender, recipients, data)


def _crlf(raw: bytes) -> bytes:
    """CRLF line ends throughout, as SMTP sends them and DKIM signs them."""
    if raw.count(b"\n") == raw.count(b"\r\n"):  # no copy: a 10 MB copy stalls the loop
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- notices, queued durably ---------------------------------------------------


class NoticeQueue:
    """Notices go through the spool like deferred mail due now, so they are
    retried if the upstream is down and never delay the SMTP reply."""

    def __init__(
        self, spool: SpoolStore, settings: Settings, kick: Callable[[], None] | None = None
    ) -> None:
        self._spool = spool
        self._from = settings.notices.from_address
        self._agency = settings.agency.name
        self._mode = settings.mode
        self._kick = kick

    def set_kick(self, kick: Callable[[], None]) -> None:
        self._kick = kick

    def store(self, notice: Notice, now: datetime | None = None) -> str:
        """Blocking: commit the notice to the spool; returns its id."""
        moment = now or self._spool.clock()
        submission = Submission(
            id=uuid.uuid4().hex,
            sender=self._from,
            recipients=(notice.to,),
            user="tactful",
            raw=notice.to_bytes(self._from, agency=self._agency, now=moment),
            received_at=moment,
        )
        summary = VerdictSummary(verdict="pass", enforced="pass", mode=self._mode)
        self._spool.defer(submission, moment, summary, now=moment)
        return submission.id

    async def send(self, notice: Notice) -> None:
        """Queue ``notice``; a failure is logged, never raised: the message
        it is about is already safe."""
        try:
            await asyncio.to_thread(self.store, notice)
        except Exception as exc:
            log.error("could not queue a notice about %s: %s", notice.about, type(exc).__name__)
            return
        if self._kick is not None:
            self._kick()


# --- the pipeline -------------------------------------------------------------


def _ascii(text: str) -> str:
    """SMTP reply text is ASCII; keep the words, drop the typography."""
    text = text.translate({0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"', 0x2014: "-"})
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(folded.split())[:400]


def _reasons(verdict: Verdict, action: Action) -> list[str]:
    return list(dict.fromkeys(_ascii(reason) for reason in verdict.reasons(action)))


def rejection_reply(verdict: Verdict) -> SmtpReply:
    """550 5.7.1 with the reasons, short enough for a mail program's dialog."""
    reasons = _reasons(verdict, Action.REJECT) or ["A rule does not allow this message."]
    lines = ["Not sent: Tactful blocked this message."]
    lines += reasons[: MAX_REPLY_LINES - 1]
    if len(reasons) > MAX_REPLY_LINES - 1:
        lines.append(f"...and {len(reasons) - (MAX_REPLY_LINES - 1)} more reasons.")
    return SmtpReply(550, "5.7.1", tuple(lines))


def _codes(verdict: Verdict) -> list[str]:
    return sorted({h.rule for h in verdict.hits if h.action > Action.PASS and not h.overridden})


class SubmissionPipeline:
    """The :class:`proxy.core.submission.MessageProcessor` of ``tactful serve``."""

    def __init__(
        self,
        *,
        settings: Settings,
        linter: Linter | None,
        outbound: Outbound,
        spool: SpoolStore,
        notices: NoticeQueue,
        links: NoticeLinks | None = None,
        recorder: DeliveryRecorder | None = None,
        clock: Clock,
        warnings: WarningRecorder | None = None,
        channel: str | None = None,
    ) -> None:
        self._clock = clock
        self._settings = settings
        self._linter = linter
        self._outbound = outbound
        self._spool = spool
        self._notices = notices
        self._links = links
        self._recorder = recorder
        self._warnings = warnings
        self._channel = channel

    async def process(self, submission: Submission) -> SmtpReply:
        if self._linter is None:  # analysis.enabled: false
            return (await self._relay(submission, submission.raw, [])).to_reply()
        result = await self._linter.lint(
            submission.raw,
            sender=submission.sender,
            recipients=submission.recipients,
            at=submission.received_at,
            channel=self._channel,
        )
        if isinstance(result, AnalysisFailure):
            log.error("message %s not judged (%s)", submission.id, result.reason)
            if self._settings.on_error == "pass":
                return (await self._relay(submission, submission.raw, [])).to_reply()
            return TEMPORARY_FAILURE
        verdict = result.verdict
        action = verdict.enforced
        log.info(
            "message %s: %s%s (rules: %s)",
            submission.id,
            action.value,
            "" if action == verdict.verdict else f" (policy said {verdict.verdict.value})",
            ",".join(sorted({h.rule for h in verdict.hits})) or "-",
        )
        if action == Action.REJECT:
            return rejection_reply(verdict)
        if action == Action.HOLD:
            return await self._hold(submission, result)
        raw = submission.raw
        masked = 0
        values = verdict.masked_values()
        if values:
            redacted = await asyncio.to_thread(redact_message, submission.raw, values)
            if not redacted.complete:
                # A value we cannot mask (inside a PDF, say) must not go out.
                log.info("message %s: masking incomplete, holding instead", submission.id)
                return await self._hold(submission, result)
            raw, masked = redacted.data, redacted.masked
        if action == Action.DEFER:
            return await self._defer(submission, result, raw)
        codes = _codes(verdict)
        delivery = await self._relay(submission, raw, codes, verdict)
        if delivery.accepted and codes:
            await self._record_warning(submission, verdict, codes)
        if delivery.accepted and masked:
            await self._notices.send(
                masked_notice(
                    message_id=submission.id,
                    sender=submission.sender,
                    subject=result.message.subject or None,
                    recipients=len(submission.recipients),
                    summary=summarize(verdict),
                    masked=masked,
                )
            )
        return delivery.to_reply()

    async def _relay(
        self,
        submission: Submission,
        raw: bytes,
        codes: Sequence[str],
        verdict: Verdict | None = None,
    ) -> DeliveryResult:
        try:
            delivery = await self._outbound.send(
                submission.sender, submission.recipients, raw, codes
            )
        except OutgoingError as exc:
            log.warning("message %s cannot be sent: %s", submission.id, type(exc).__name__)
            return DeliveryResult(False, 554, "5.6.0", f"Message not sent: {exc}")
        if delivery.accepted and verdict is not None and self._recorder is not None:
            await self._recorder.delivered(submission.id, verdict, self._clock())
        return delivery

    async def _record_warning(
        self, submission: Submission, verdict: Verdict, codes: Sequence[str]
    ) -> None:
        """Warned (or, in monitor mode, would-have-been-stopped) mail is on
        record for supervisors and auditors; a failure here is logged, the
        message is already with the upstream."""
        if self._warnings is None:
            return
        details: dict[str, str | int | bool | None] = {
            "rules": ",".join(codes)[:120],
            "recipients": len(submission.recipients),
            "policy": verdict.verdict.value,
            "monitor": verdict.mode == "monitor",
        }
        try:
            await asyncio.to_thread(
                self._warnings.record,
                actor=submission.user,
                action="message.warn",
                target=submission.id,
                details=details,
                at=self._clock(),
            )
        except Exception as exc:
            log.error("warning for %s not recorded: %s", submission.id, type(exc).__name__)

    async def _hold(self, submission: Submission, result: LintResult) -> SmtpReply:
        summary = summarize(result.verdict)
        await asyncio.to_thread(self._spool.hold, submission, summary)
        cancel = self._links.cancel_url(submission.id) if self._links is not None else None
        await self._notices.send(
            held_notice(
                message_id=submission.id,
                sender=submission.sender,
                subject=result.message.subject or None,
                recipients=len(submission.recipients),
                summary=summary,
                cancel_url=cancel,
            )
        )
        reasons = _reasons(result.verdict, Action.HOLD)[: MAX_REPLY_LINES - 2]
        return SmtpReply(
            250,
            "2.0.0",
            (
                f"Held for review, reference {submission.id}.",
                *reasons,
                "A supervisor will review it; you will get an email when they decide.",
            ),
        )

    async def _defer(self, submission: Submission, result: LintResult, raw: bytes) -> SmtpReply:
        verdict = result.verdict
        send_at = verdict.defer_until or self._clock()
        summary = summarize(verdict)
        stored = Submission(
            id=submission.id,
            sender=submission.sender,
            recipients=submission.recipients,
            user=submission.user,
            raw=raw,
            received_at=submission.received_at,
        )
        await asyncio.to_thread(self._spool.defer, stored, send_at, summary)
        local = send_at.astimezone(self._settings.agency.tz)
        await self._notices.send(
            deferred_notice(
                message_id=submission.id,
                sender=submission.sender,
                subject=result.message.subject or None,
                recipients=len(submission.recipients),
                summary=summary,
                send_at=local,
            )
        )
        return SmtpReply(
            250,
            "2.0.0",
            (
                f"Scheduled, reference {submission.id}: it will be sent "
                f"{local.strftime('%a %d %b %H:%M')} (start of the next working window).",
            ),
        )
