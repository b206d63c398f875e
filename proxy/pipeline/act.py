"""Act on a verdict: forward, mask then forward, defer, hold, or reject.

This is the one stage every channel goes through. A front door (the SMTP
server, the Twilio-compatible Messages API, any later one) only turns its
protocol into a :class:`~proxy.core.submission.Submission` and the
:class:`~proxy.pipeline.outcome.Outcome` back into its reply; linting,
deciding, masking, holding, deferring, forwarding, the records (audit
trail, disclosure log) and the sender's notices happen here, once.

Its rule is the proxy's promise: an accepted outcome only once the
upstream took the message or it is committed to the spool; anything that
goes wrong becomes a temporary answer so the sender's program retries.
Detectors and the policy never touch the message; the only change made
here is the masking the verdict asks for (the channel's forwarder adds its
own last steps, such as DKIM for email).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from proxy.core.clock import Clock
from proxy.core.config import Settings
from proxy.core.consent import Channel
from proxy.core.metrics import Metrics
from proxy.core.submission import Submission
from proxy.core.verdict import Action, Verdict
from proxy.lint.engine import LintResult
from proxy.pipeline.analysis_pool import AnalysisFailure
from proxy.pipeline.forward import Forwarded, Forwarder
from proxy.pipeline.notice_queue import NoticeQueue
from proxy.pipeline.notices import (
    About,
    NoticeLinks,
    deferred_notice,
    found_values,
    held_notice,
    masked_details,
    masked_notice,
    title_of,
    warned_notice,
)
from proxy.pipeline.outcome import Disposition, Outcome
from proxy.pipeline.part2 import NoticeError, goes_as_text, with_notice
from proxy.pipeline.redact import redact_message
from proxy.store.audit import NewEntry, new_entry
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_summary import VerdictSummary, summarize

log = logging.getLogger(__name__)


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


class DeliveryRecorder(Protocol):
    """Keeps the records of every message the upstream accepted: the
    disclosure log, and the audit ``entries`` the pipeline adds (a
    ``message.warn``). Returns once they are committed; never raises (the
    message has gone: a failure is logged, not turned into an error reply)."""

    async def delivered(
        self, message_id: str, verdict: Verdict, at: datetime, entries: Sequence[NewEntry] = ()
    ) -> None: ...


def _codes(verdict: Verdict) -> list[str]:
    return sorted({h.rule for h in verdict.hits if h.action > Action.PASS and not h.overridden})


def lint_channel(channel: Channel) -> str | None:
    """Email is judged per recipient address (an email-to-SMS gateway address
    is a text); a text from the Messages API is a text whatever its address."""
    return None if channel is Channel.EMAIL else channel.value


class Pipeline:
    """Lint → decide → mask / hold / defer / forward → record → notify."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        linter: Linter | None,
        forwarders: Mapping[Channel, Forwarder],
        spool: SpoolStore,
        notices: NoticeQueue,
        kick: Callable[[], None] | None = None,
        links: NoticeLinks | None = None,
        recorder: DeliveryRecorder | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._linter = linter
        self._forwarders = dict(forwarders)
        self._spool = spool
        self._notices = notices
        self._kick = kick  # wakes the scheduler: there is new work in the spool
        self._links = links
        self._recorder = recorder
        self._metrics = metrics

    def _count(self, submission: Submission, verdict: str, policy: str = "none") -> None:
        if self._metrics is not None:
            self._metrics.messages.labels(
                channel=submission.channel.value, verdict=verdict, policy=policy
            ).inc()

    def forwards(self, channel: Channel) -> bool:
        """Whether this channel has an upstream (an SMS provider is optional)."""
        return channel in self._forwarders

    async def handle(self, submission: Submission) -> Outcome:
        if self._linter is None:  # analysis.enabled: false
            self._count(submission, "unlinted")
            return await self._forward(submission, submission.raw, [], None)
        started = time.perf_counter()  # a latency measure, not a decision
        result = await self._linter.lint(
            submission.raw,
            sender=submission.sender,
            recipients=submission.recipients,
            at=submission.received_at,
            channel=lint_channel(submission.channel),
        )
        if self._metrics is not None:
            self._metrics.lint_seconds.labels(channel=submission.channel.value).observe(
                time.perf_counter() - started
            )
        if isinstance(result, AnalysisFailure):
            log.error("message %s not judged (%s)", submission.id, result.reason)
            self._count(submission, "unjudged")
            if self._settings.on_error == "pass":
                return await self._forward(submission, submission.raw, [], None)
            return Outcome(Disposition.UNJUDGED, submission.id)
        verdict = result.verdict
        action = verdict.enforced
        self._count(submission, action.value, verdict.verdict.value)
        if self._metrics is not None:
            self._metrics.count_hits((h.rule, h.action.value) for h in verdict.hits)
        log.info(
            "%s %s: %s%s (rules: %s)",
            "message" if submission.channel is Channel.EMAIL else submission.channel.value,
            submission.id,
            action.value,
            "" if action == verdict.verdict else f" (policy said {verdict.verdict.value})",
            ",".join(sorted({h.rule for h in verdict.hits})) or "-",
        )
        if action == Action.REJECT:
            reasons = tuple(verdict.reasons(Action.REJECT))
            return Outcome(Disposition.REJECTED, submission.id, verdict, reasons)
        if action == Action.HOLD:
            return await self._hold(submission, result)
        raw = submission.raw
        masked = 0
        values = verdict.masked_values()
        if values:
            redacted = await asyncio.to_thread(
                redact_message, submission.raw, values, limits=self._settings.limits
            )
            if not redacted.complete:
                # A value we cannot mask (inside a PDF, say) must not go out.
                log.info("message %s: masking incomplete, holding instead", submission.id)
                return await self._hold(submission, result)
            raw, masked = redacted.data, redacted.masked
        if action == Action.DEFER:
            # The scheduler adds the Part 2 notice when it sends.
            return await self._defer(submission, result, raw, masked)
        if verdict.part2_notice:
            text_message = goes_as_text(
                submission.channel, (rv.recipient.channel for rv in verdict.recipients)
            )
            try:
                raw = await asyncio.to_thread(
                    with_notice, raw, self._settings, verdict.terms, text_message=text_message
                )
            except NoticeError as exc:
                # Part 2 records never leave without the notice.
                log.info("message %s: %s; holding instead", submission.id, exc)
                return await self._hold(submission, result)
        outcome = await self._forward(submission, raw, _codes(verdict), verdict, masked)
        if outcome.accepted:
            await self._tell_sent(submission, result, masked)
        return outcome

    def _about(self, submission: Submission, result: LintResult) -> About:
        """The message as its sender knows it, every found value masked."""
        title = title_of(
            subject=result.message.subject,
            raw=submission.raw,
            channel=submission.channel,
            hide=found_values(result.verdict),
        )
        return About(submission.id, title, submission.channel, len(submission.recipients))

    def _summary(self, submission: Submission, result: LintResult) -> VerdictSummary:
        return replace(summarize(result.verdict), title=self._about(submission, result).title)

    def _advice(self, verdict: Verdict) -> list[str]:
        """The warnings the sender is told about (``warn_notice`` per rule,
        on unless the agency turns it off)."""
        rules = self._settings.policy.rules
        seen: dict[str, None] = {}
        for hit in verdict.hits:
            if hit.action is not Action.WARN or hit.overridden:
                continue
            config = rules.get(hit.rule)
            if config is None or config.warn_notice:
                seen.setdefault(" ".join(hit.message.split()), None)
        return list(seen)

    async def _tell_sent(self, submission: Submission, result: LintResult, masked: int) -> None:
        """Once it has gone: what was masked, and the advice of any warning.
        The recipient is told nothing (no findings header by default): which
        kinds of detail a message had is itself a disclosure."""
        verdict = result.verdict
        advice = self._advice(verdict)
        if not masked and not advice:
            return
        about = self._about(submission, result)
        if masked:
            notice = masked_notice(
                about=about,
                sender=submission.sender,
                details=masked_details(verdict),
                masked=masked,
                portal=self._settings.agency.secure_portal,
                advice=advice,
            )
        else:
            notice = warned_notice(about=about, sender=submission.sender, advice=advice)
        await self._notices.send(notice)

    async def _forward(
        self,
        submission: Submission,
        raw: bytes,
        codes: Sequence[str],
        verdict: Verdict | None,
        masked: int = 0,
    ) -> Outcome:
        forwarder = self._forwarders.get(submission.channel)
        if forwarder is None:  # the front door checks forwards() first
            raise LookupError(f"no upstream for {submission.channel.value}")
        forwarded: Forwarded = await forwarder.forward(
            submission.sender, submission.recipients, raw, codes
        )
        if not forwarded.accepted and self._metrics is not None:
            kind = "temporary" if 400 <= forwarded.status.code < 500 else "permanent"
            self._metrics.upstream_errors.labels(channel=submission.channel.value, kind=kind).inc()
        if forwarded.accepted and verdict is not None and self._recorder is not None:
            at = self._clock()
            warned = self._warning(submission, verdict, codes, at) if codes else ()
            await self._recorder.delivered(submission.id, verdict, at, warned)
        reasons = tuple(verdict.reasons(Action.WARN)) if verdict is not None else ()
        return Outcome(
            Disposition.FORWARDED,
            submission.id,
            verdict,
            reasons,
            forwarded=forwarded,
            masked=masked,
            raw=raw,
        )

    def _warning(
        self, submission: Submission, verdict: Verdict, codes: Sequence[str], at: datetime
    ) -> tuple[NewEntry, ...]:
        """Warned (or, in monitor mode, would-have-been-stopped) messages are
        on record for supervisors and auditors, whatever their channel: the
        rule codes, never content. An entry the trail refuses is logged, the
        message is already with the upstream."""
        details: dict[str, str | int | bool | None] = {
            "rules": ",".join(codes)[:120],
            "recipients": len(submission.recipients),
            "policy": verdict.verdict.value,
            "monitor": verdict.mode == "monitor",
            "channel": submission.channel.value,
        }
        try:
            entry = new_entry(
                actor=submission.user,
                action="message.warn",
                target=submission.id,
                details=details,
                at=at,
            )
        except ValueError as exc:
            log.error("warning for %s not recorded: %s", submission.id, type(exc).__name__)
            return ()
        return (entry,)

    async def _hold(self, submission: Submission, result: LintResult) -> Outcome:
        summary = self._summary(submission, result)
        await asyncio.to_thread(self._spool.hold, submission, summary)
        cancel = self._links.cancel_url(submission.id) if self._links is not None else None
        await self._notices.send(
            held_notice(
                about=self._about(submission, result),
                sender=submission.sender,
                summary=summary,
                cancel_url=cancel,
            )
        )
        reasons = tuple(result.verdict.reasons(Action.HOLD))
        return Outcome(Disposition.HELD, submission.id, result.verdict, reasons, raw=submission.raw)

    async def _defer(
        self, submission: Submission, result: LintResult, raw: bytes, masked: int
    ) -> Outcome:
        verdict = result.verdict
        send_at = verdict.defer_until or self._clock()
        summary = self._summary(submission, result)
        stored = Submission(
            id=submission.id,
            sender=submission.sender,
            recipients=submission.recipients,
            user=submission.user,
            raw=raw,
            received_at=submission.received_at,
            channel=submission.channel,
        )
        await asyncio.to_thread(self._spool.defer, stored, send_at, summary)
        if self._kick is not None:
            self._kick()
        local = send_at.astimezone(self._settings.agency.tz)
        await self._notices.send(
            deferred_notice(
                about=self._about(submission, result),
                sender=submission.sender,
                summary=summary,
                send_at=local,
                masked=masked,
            )
        )
        return Outcome(
            Disposition.DEFERRED,
            submission.id,
            verdict,
            tuple(verdict.reasons(Action.DEFER)),
            send_at=send_at,
            masked=masked,
            raw=raw,
        )
