"""The lint engine: parse -> inspect -> decide, for one message at a time.

Built once per process (the spaCy model and detectors load once) and then
called for every message. It holds no per-message state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from spacy.tokens import Doc

from proxy.core.config import Settings
from proxy.core.consent import Registry
from proxy.core.findings import Finding
from proxy.core.message import ParsedMessage
from proxy.core.verdict import Verdict
from proxy.lint.detector import Detector, InspectionContext, load_detectors
from proxy.lint.inspect import inspect_message
from proxy.lint.nlp import NlpService
from proxy.lint.parse import parse_message
from proxy.lint.policy import decide
from proxy.lint.public_details import PublicDetails
from proxy.lint.recipients import classify_recipients


@dataclass(frozen=True, slots=True)
class LintRequest:
    """One message to judge, as :meth:`LintEngine.lint` takes it."""

    raw: bytes
    at: datetime
    sender: str | None = None
    recipients: Sequence[str] | None = None
    channel: str | None = None


@dataclass(frozen=True)
class LintResult:
    message: ParsedMessage
    findings: tuple[Finding, ...]
    verdict: Verdict


class LintEngine:
    def __init__(
        self,
        settings: Settings,
        registry: Registry | None = None,
        *,
        nlp: NlpService | None = None,
        detectors: Sequence[Detector] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else Registry()
        self.nlp = nlp if nlp is not None else NlpService(settings.nlp.model, settings.nlp.language)
        self.detectors = list(detectors) if detectors is not None else load_detectors(settings)
        self.public = PublicDetails.from_settings(settings)

    def lint(
        self,
        raw: bytes,
        *,
        sender: str | None = None,
        recipients: Sequence[str] | None = None,
        at: datetime,
        channel: str | None = None,
    ) -> LintResult:
        """Judge one raw RFC 5322 message.

        ``sender``/``recipients`` come from the SMTP envelope or the CLI; when
        absent they are read from the headers. ``at`` is the moment the
        message is judged for (working hours, consent expiry): the caller's
        clock, never this function's.
        ``channel`` forces the channel (the SMS API passes ``"sms"``).
        """
        message = parse_message(
            raw,
            limits=self.settings.limits,
            sender=sender,
            recipients=recipients,
            disclaimers=self.settings.agency.disclaimers,
        )
        return self.judge(message, now=at, channel=channel)

    def lint_many(self, requests: Sequence[LintRequest]) -> list[LintResult | Exception]:
        """Judge several messages, with one spaCy batch for all their text.

        Each message's result is what :meth:`lint` gives for it alone. A
        message that fails (unparseable, a detector bug) yields its exception
        and takes no other message down with it.
        """
        parsed: list[ParsedMessage | Exception] = []
        for request in requests:
            try:
                parsed.append(
                    parse_message(
                        request.raw,
                        limits=self.settings.limits,
                        sender=request.sender,
                        recipients=request.recipients,
                    )
                )
            except Exception as exc:
                parsed.append(exc)
        messages = [m for m in parsed if isinstance(m, ParsedMessage)]
        texts = [s.detection_text for m in messages for s in (*m.segments, *m.extra_segments)]
        try:
            all_docs = self.nlp.docs(texts)
        except Exception:
            all_docs = None  # find out whose text it was, one message at a time
        results: list[LintResult | Exception] = []
        position = 0
        for request, message in zip(requests, parsed, strict=True):
            if isinstance(message, Exception):
                results.append(message)
                continue
            main, extra = len(message.segments), len(message.extra_segments)
            mine = None if all_docs is None else all_docs[position : position + main + extra]
            position += main + extra
            try:
                results.append(
                    self.judge(
                        message,
                        now=request.at,
                        channel=request.channel,
                        docs=None if mine is None else (mine[:main], mine[main:]),
                    )
                )
            except Exception as exc:
                results.append(exc)
        return results

    def judge(
        self,
        message: ParsedMessage,
        *,
        now: datetime,
        channel: str | None = None,
        docs: tuple[Sequence[Doc], Sequence[Doc]] | None = None,
    ) -> LintResult:
        """``docs``: the segments' and extra segments' Docs, if the caller
        already has them (:meth:`lint_many`)."""
        if docs is None:
            # Detectors read each segment as a reader sees it (normalised).
            # One spaCy call for both kinds of segment: each call has a fixed
            # cost that is a good part of a short message's.
            texts = [s.detection_text for s in (*message.segments, *message.extra_segments)]
            every = self.nlp.docs(texts)
            docs = (every[: len(message.segments)], every[len(message.segments) :])
        context = InspectionContext(
            settings=self.settings,
            registry=self.registry,
            nlp=self.nlp,
            now=now,
            docs=list(docs[0]),
            extra_docs=list(docs[1]),
        )
        findings = self.public.mark(inspect_message(message, self.detectors, context))
        recipients = classify_recipients(
            message, self.settings, self.registry, force_channel=channel
        )
        verdict = decide(message, findings, recipients, self.settings, self.registry, now)
        return LintResult(message=message, findings=findings, verdict=verdict)
