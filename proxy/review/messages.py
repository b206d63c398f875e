"""The queue, the message view and the reviewer's decisions.

Each decision is a compare-and-set in the spool, audited by the spool in
the same transaction: two reviewers pressing
"release" at once get one release and one "already released by ...".
The reviewer who sent a message cannot decide on it (four-eyes). Findings
are recomputed from the stored message for highlighting, because the spool
keeps no matched values by design.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from proxy.core.findings import Category, Entity
from proxy.core.message import ParsedMessage
from proxy.core.verdict import RuleHit
from proxy.lint.explain import category_noun, entity_noun
from proxy.lint.parse import parse_message
from proxy.pipeline.analysis_pool import AnalysisFailure
from proxy.pipeline.notices import deleted_notice, released_notice, returned_notice
from proxy.pipeline.redact import RedactResult, redact_message
from proxy.review.highlight import (
    FindingView,
    PartView,
    part_label,
    redaction_values,
    render_message,
)
from proxy.review.kit import Kit, reason_from
from proxy.review.permissions import Permission, allowed
from proxy.review.queue import STATE_WORDS, QueueFilter, queue_rows
from proxy.review.sessions import ReviewSession
from proxy.store.consent_store import ConsentStore
from proxy.store.crypto import DecryptionError
from proxy.store.spool_decisions import AlreadyDecided, Decided, DecisionResult, NotFound
from proxy.store.spool_model import SpoolState
from proxy.store.spool_view import SpooledMessage

log = logging.getLogger(__name__)

DECIDED_STATES = (
    SpoolState.RELEASED,
    SpoolState.SENT,
    SpoolState.RETURNED,
    SpoolState.DELETED,
    SpoolState.CANCELLED,
    SpoolState.EXPIRED,
)
RECENT_DECIDED = 100
_AUTOMATIC = frozenset({"expiry", "upstream"})


def already_words(result: AlreadyDecided) -> str:
    words = STATE_WORDS.get(result.state, result.state.value)
    if result.by and result.by not in _AUTOMATIC:
        return f"Already {words} by {result.by}."
    return f"Already {words}."


def is_own(who: ReviewSession, message: SpooledMessage) -> bool:
    """Four-eyes: the account that sent it, or one of its sender addresses."""
    return message.user.strip().lower() == who.user or message.sender.lower() in who.addresses


@dataclass(frozen=True, slots=True)
class Analysis:
    parsed: ParsedMessage
    hits: tuple[RuleHit, ...]
    parts: tuple[PartView, ...]
    findings: tuple[FindingView, ...]
    # Why findings could not be recomputed (the list is then the stored one).
    note: str | None


@dataclass(frozen=True, slots=True)
class Redaction:
    result: RedactResult
    digest: str
    parts: tuple[PartView, ...]


def _stored_findings(message: SpooledMessage) -> tuple[FindingView, ...]:
    """Findings as recorded at hold time (no positions): the fallback list."""
    known = {e.value: e for e in Entity}
    categories = {c.value: c for c in Category}
    views = []
    for number, f in enumerate(message.summary.findings, start=1):
        entity = known.get(f.entity)
        what = entity_noun(entity) if entity is not None else f.entity
        if entity is Entity.SENSITIVE_CONDITION:
            what += f": {category_noun(categories.get(f.category or ''))}"
        views.append(FindingView(number, what, part_label(f.location), (), None, f.quoted))
    return tuple(views)


class MessagePages:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.consent = ConsentStore(kit.services.engine)

    # --- queue -----------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.VIEW_QUEUE)
        if isinstance(who, Response):
            return who
        params = request.query_params
        show = "decided" if params.get("show") == "decided" else "held"
        spool = kit.services.spool
        if show == "held":
            messages = await asyncio.to_thread(spool.list_held)
        else:
            decided = await asyncio.to_thread(spool.by_state, list(DECIDED_STATES))
            decided.sort(key=lambda m: m.decided_at or m.updated_at, reverse=True)
            messages = decided[:RECENT_DECIDED]
        registry = await asyncio.to_thread(self.consent.snapshot)
        directory = await kit.directory()
        rows = queue_rows(
            messages,
            settings=kit.settings,
            registry=registry,
            directory=directory,
            now=kit.clock(),
        )
        wanted = QueueFilter(
            text=params.get("q", "")[:200],
            rule=params.get("rule", "")[:80],
            mine=params.get("mine") == "1",
        )
        shown = [row for row in rows if wanted.matches(row, who.user)]
        codes = sorted({code for row in rows for code in row.codes})
        return kit.page(
            "queue.html",
            who,
            rows=shown,
            total=len(rows),
            codes=codes,
            filter=wanted,
            show=show,
            no_reviewers=not any(r.assignment.reviewers for r in rows) and bool(rows),
        )

    # --- one message ---------------------------------------------------------------

    async def _load(self, request: Request, who: ReviewSession) -> SpooledMessage | Response:
        message_id = request.path_params["message_id"]
        message = await asyncio.to_thread(self.kit.services.spool.get, message_id)
        if message is None:
            return self.kit.message_page(
                who, "Not found", "There is no held message with this reference.", status=404
            )
        return message

    async def _raw(self, message: SpooledMessage) -> bytes | str:
        """The stored bytes, or plain words saying why there are none."""
        if not message.has_content:
            return "The content was deleted when the message was decided or expired."
        try:
            raw = await asyncio.to_thread(self.kit.services.spool.raw, message.id)
        except DecryptionError as exc:
            log.error("held message %s cannot be decrypted", message.id)
            return str(exc)
        return raw if raw is not None else "The content is no longer stored."

    async def _analyse(self, message: SpooledMessage, raw: bytes) -> Analysis:
        kit = self.kit
        linter = kit.services.linter
        if linter is not None:
            result = await linter.lint(
                raw, sender=message.sender, recipients=message.recipients, at=message.received_at
            )
            if not isinstance(result, AnalysisFailure):
                hits = result.verdict.hits
                parts, findings = render_message(result.message, result.findings, hits)
                return Analysis(result.message, hits, parts, findings, None)
            note = f"Tactful could not re-check the message just now ({result.reason})."
        else:
            note = "Linting is turned off on this server, so findings cannot be marked."
        parsed = await asyncio.to_thread(
            parse_message,
            raw,
            limits=kit.settings.limits,
            sender=message.sender,
            recipients=message.recipients,
        )
        parts, _ = render_message(parsed, (), ())
        return Analysis(parsed, (), parts, _stored_findings(message), note)

    async def view(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.VIEW_QUEUE)
        if isinstance(who, Response):
            return who
        message = await self._load(request, who)
        if isinstance(message, Response):
            return message
        readable = allowed(who.role, Permission.READ_CONTENT)
        analysis: Analysis | None = None
        problem: str | None = None
        if readable:
            raw = await self._raw(message)
            if isinstance(raw, bytes):
                analysis = await self._analyse(message, raw)
            else:
                problem = raw
        await kit.record(
            who.user,
            "message.view",
            message.id,
            {"content_shown": analysis is not None, "state": message.state.value},
        )
        registry = await asyncio.to_thread(self.consent.snapshot)
        row = queue_rows(
            [message],
            settings=kit.settings,
            registry=registry,
            directory=await kit.directory(),
            now=kit.clock(),
        )[0]
        subject = analysis.parsed.subject if analysis is not None else None
        return kit.page(
            "message.html",
            who,
            row=row,
            message=message,
            analysis=analysis,
            problem=problem,
            readable=readable,
            own=is_own(who, message),
            subject=subject,
            held=message.state is SpoolState.HELD,
            findings=analysis.findings if analysis is not None else _stored_findings(message),
        )

    # --- decisions -------------------------------------------------------------------

    def _not_yours(self, who: ReviewSession, message: SpooledMessage) -> Response:
        return self.kit.message_page(
            who,
            "Another reviewer must decide",
            "You sent this message, so someone else has to release or return it.",
            status=403,
            back=f"/messages/{message.id}",
        )

    def _not_held(self, who: ReviewSession, message: SpooledMessage) -> Response:
        text = already_words(AlreadyDecided(message.id, message.state, message.decided_by))
        return self.kit.message_page(
            who, "Already decided", text, status=409, back=f"/messages/{message.id}"
        )

    async def _decision_start(
        self, request: Request, permission: Permission
    ) -> tuple[ReviewSession, SpooledMessage, str, FormData] | Response:
        """Session, CSRF, permission, four-eyes and a reason: the checks every
        decision shares. Returns the posted form too."""
        kit = self.kit
        who = await kit.require(request, permission)
        if isinstance(who, Response):
            return who
        data = await kit.form(request, who)
        if isinstance(data, Response):
            return data
        message = await self._load(request, who)
        if isinstance(message, Response):
            return message
        if is_own(who, message):
            return self._not_yours(who, message)
        reason = reason_from(data)
        if reason is None:
            return kit.message_page(
                who,
                "A reason is needed",
                "Please write a short reason (at most 2000 characters); it is kept with "
                "the decision.",
                status=422,
                back=f"/messages/{message.id}",
            )
        return who, message, reason, data

    def _outcome(
        self, who: ReviewSession, message: SpooledMessage, result: DecisionResult
    ) -> Response | None:
        """The page for a decision that did not happen; None if it did."""
        if isinstance(result, AlreadyDecided):
            return self.kit.message_page(
                who,
                "Already decided",
                already_words(result),
                status=409,
                back=f"/messages/{message.id}",
            )
        if isinstance(result, NotFound):
            return self.kit.message_page(
                who, "Not found", "There is no held message with this reference.", status=404
            )
        return None

    async def release(self, request: Request) -> Response:
        start = await self._decision_start(request, Permission.DECIDE)
        if isinstance(start, Response):
            return start
        who, message, reason, _ = start
        kit = self.kit
        result = await asyncio.to_thread(kit.services.spool.release, message.id, who.user, reason)
        refused = self._outcome(who, message, result)
        if refused is not None:
            return refused
        return await self._released(who, message, redacted=False, masked=0)

    async def _released(
        self, who: ReviewSession, message: SpooledMessage, *, redacted: bool, masked: int
    ) -> Response:
        kit = self.kit
        kit.services.kick()
        await kit.services.notices.send(
            released_notice(
                message_id=message.id, sender=message.sender, reviewer=who.user, redacted=redacted
            )
        )
        how = f" with {masked} detail(s) masked" if redacted else ""
        return kit.message_page(
            who,
            "Released",
            f"Released{how}. It is on its way to the recipients, and the sender has been told.",
        )

    async def return_to_sender(self, request: Request) -> Response:
        start = await self._decision_start(request, Permission.DECIDE)
        if isinstance(start, Response):
            return start
        who, message, reason, _ = start
        kit = self.kit
        result = await asyncio.to_thread(kit.services.spool.reject, message.id, who.user, reason)
        refused = self._outcome(who, message, result)
        if refused is not None:
            return refused
        await kit.services.notices.send(
            returned_notice(
                message_id=message.id, sender=message.sender, reviewer=who.user, note=reason
            )
        )
        return kit.message_page(
            who, "Returned", "Returned to the sender with your note. It was not sent."
        )

    async def delete(self, request: Request) -> Response:
        start = await self._decision_start(request, Permission.DELETE)
        if isinstance(start, Response):
            return start
        who, message, reason, _ = start
        kit = self.kit
        result = await asyncio.to_thread(kit.services.spool.delete, message.id, who.user, reason)
        refused = self._outcome(who, message, result)
        if refused is not None:
            return refused
        await kit.services.notices.send(
            deleted_notice(message_id=message.id, sender=message.sender)
        )
        return kit.message_page(who, "Deleted", "Deleted. It was not sent; the sender was told.")

    # --- release with redactions -----------------------------------------------------

    async def _redaction(self, message: SpooledMessage) -> Redaction | str:
        raw = await self._raw(message)
        if not isinstance(raw, bytes):
            return raw
        analysis = await self._analyse(message, raw)
        if analysis.note is not None:
            return f"{analysis.note} Release as sent or return it instead."
        values = redaction_values(analysis.hits)
        if not values:
            return "Tactful found nothing it can mask in this message."
        result = await asyncio.to_thread(redact_message, raw, values)
        parsed = await asyncio.to_thread(
            parse_message,
            result.data,
            limits=self.kit.settings.limits,
            sender=message.sender,
            recipients=message.recipients,
        )
        parts, _ = render_message(parsed, (), ())
        return Redaction(result, hashlib.sha256(result.data).hexdigest(), parts)

    async def redact_preview(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.DECIDE)
        if isinstance(who, Response):
            return who
        message = await self._load(request, who)
        if isinstance(message, Response):
            return message
        back = f"/messages/{message.id}"
        if is_own(who, message):
            return self._not_yours(who, message)
        if message.state is not SpoolState.HELD:
            return self._not_held(who, message)
        redaction = await self._redaction(message)
        await kit.record(who.user, "message.view", message.id, {"page": "redaction_preview"})
        if isinstance(redaction, str):
            return kit.message_page(who, "Cannot mask this message", redaction, back=back)
        return kit.page(
            "redact_preview.html",
            who,
            message=message,
            redaction=redaction,
            unmaskable=[part_label(p) for p in redaction.result.unredactable_parts],
        )

    async def release_redacted(self, request: Request) -> Response:
        start = await self._decision_start(request, Permission.DECIDE)
        if isinstance(start, Response):
            return start
        who, message, reason, data = start
        kit = self.kit
        back = f"/messages/{message.id}"
        if message.state is not SpoolState.HELD:
            return self._not_held(who, message)
        redaction = await self._redaction(message)
        if isinstance(redaction, str):
            return kit.message_page(who, "Cannot mask this message", redaction, back=back)
        if not redaction.result.complete:
            return kit.message_page(
                who,
                "Cannot mask this message",
                "Some parts cannot be masked, so the message cannot be released with "
                "redactions. Return it to the sender instead.",
                status=409,
                back=back,
            )
        if data.get("digest") != redaction.digest:
            return kit.message_page(
                who,
                "The preview is out of date",
                "What would be masked changed since you looked at the preview. Please look "
                "at the preview again.",
                status=409,
                back=f"{back}/redact",
            )
        result = await asyncio.to_thread(
            lambda: kit.services.spool.release(
                message.id, who.user, reason, replacement=redaction.result.data
            )
        )
        refused = self._outcome(who, message, result)
        if refused is not None:
            return refused
        assert isinstance(result, Decided)
        return await self._released(who, message, redacted=True, masked=redaction.result.masked)
