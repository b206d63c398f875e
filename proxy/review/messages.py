"""The queue, the message view, and the reviewer's decisions as web pages.

The decisions themselves (four eyes, the reason, the compare-and-set, the
sender's notice) are :mod:`proxy.review.decisions`, shared with ``tactful
held``; the handlers here only turn a request into a call to it and its
outcome into a page. Findings are recomputed from the stored message for
highlighting, because the spool keeps no matched values by design.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from proxy.core.findings import Category, Entity
from proxy.core.message import ParsedMessage
from proxy.lint.explain import category_noun, entity_noun
from proxy.lint.parse import parse_message
from proxy.pipeline.redact import RedactResult
from proxy.review.decisions import (
    MAX_REASON,
    NEEDS,
    Action,
    CannotMask,
    Conflict,
    Done,
    Masking,
    Missing,
    NoReason,
    NotAllowed,
    Outcome,
    OwnMessage,
    Preview,
    Reviewer,
    ReviewService,
    StalePreview,
    relint,
    sent_it,
)
from proxy.review.highlight import FindingView, PartView, part_label, render_message
from proxy.review.kit import Kit
from proxy.review.permissions import Permission, allowed
from proxy.review.queue import STATE_WORDS, QueueFilter, queue_rows
from proxy.review.routing import NotAReviewer, NotAssigned, Routing
from proxy.review.sessions import ReviewSession
from proxy.store.consent_store import ConsentStore
from proxy.store.spool_decisions import AlreadyDecided
from proxy.store.spool_model import SpoolState
from proxy.store.spool_view import SpooledMessage

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
_NOT_FOUND = "There is no held message with this reference."


def already_words(result: AlreadyDecided | Conflict) -> str:
    """Who decided first, for a reviewer here or a sender's cancel link."""
    words = STATE_WORDS.get(result.state, result.state.value)
    if result.by and result.by not in _AUTOMATIC:
        return f"Already {words} by {result.by}."
    return f"Already {words}."


def reviewer_of(who: ReviewSession) -> Reviewer:
    """The session as the review service knows reviewers: the account name
    and its sender addresses, both for four eyes."""
    return Reviewer(who.user, who.addresses)


@dataclass(frozen=True, slots=True)
class Analysis:
    parsed: ParsedMessage
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
        self.service = ReviewService(
            kit.services.spool,
            kit.services.notices,
            Routing.configured(kit.settings.review, kit.users.current),
        )

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

    async def _analyse(self, message: SpooledMessage, raw: bytes) -> Analysis:
        checked = await relint(self.kit.services.linter, message, raw)
        if not isinstance(checked, str):
            hits = checked.verdict.hits
            parts, findings = render_message(checked.message, checked.findings, hits)
            return Analysis(checked.message, parts, findings, None)
        parsed = await asyncio.to_thread(self._parse, message, raw)
        parts, _ = render_message(parsed, (), ())
        return Analysis(parsed, parts, _stored_findings(message), checked)

    def _parse(self, message: SpooledMessage, raw: bytes) -> ParsedMessage:
        return parse_message(
            raw,
            limits=self.kit.settings.limits,
            sender=message.sender,
            recipients=message.recipients,
        )

    async def _parts(self, message: SpooledMessage, raw: bytes) -> tuple[PartView, ...]:
        """The message's text, unmarked."""
        parsed = await asyncio.to_thread(self._parse, message, raw)
        parts, _ = render_message(parsed, (), ())
        return parts

    async def view(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.VIEW_QUEUE)
        if isinstance(who, Response):
            return who
        message_id = request.path_params["message_id"]
        message = await asyncio.to_thread(kit.services.spool.get, message_id)
        if message is None:
            return kit.message_page(who, "Not found", _NOT_FOUND, status=404)
        readable = allowed(who.role, Permission.READ_CONTENT)
        analysis: Analysis | None = None
        problem: str | None = None
        if readable:
            raw = await asyncio.to_thread(self.service.content, message)
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
            own=sent_it(reviewer_of(who), message),
            subject=subject,
            held=message.state is SpoolState.HELD,
            findings=analysis.findings if analysis is not None else _stored_findings(message),
        )

    # --- decisions -------------------------------------------------------------------

    async def _posted(
        self, request: Request, permission: Permission
    ) -> tuple[ReviewSession, FormData] | Response:
        """Session, permission and CSRF: what HTTP checks before the service."""
        who = await self.kit.require(request, permission)
        if isinstance(who, Response):
            return who
        data = await self.kit.form(request, who)
        if isinstance(data, Response):
            return data
        return who, data

    async def _decide(self, request: Request, action: Action) -> Response:
        posted = await self._posted(request, NEEDS[action])
        if isinstance(posted, Response):
            return posted
        who, data = posted
        outcome = await asyncio.to_thread(
            self.service.decide,
            reviewer_of(who),
            request.path_params["message_id"],
            action,
            data.get("reason"),
        )
        return self._outcome_page(who, request.path_params["message_id"], outcome)

    async def release(self, request: Request) -> Response:
        return await self._decide(request, Action.RELEASE)

    async def return_to_sender(self, request: Request) -> Response:
        return await self._decide(request, Action.RETURN)

    async def delete(self, request: Request) -> Response:
        return await self._decide(request, Action.DELETE)

    async def release_redacted(self, request: Request) -> Response:
        posted = await self._posted(request, NEEDS[Action.RELEASE])
        if isinstance(posted, Response):
            return posted
        who, data = posted
        message_id = request.path_params["message_id"]
        outcome = await self.service.release_masked(
            reviewer_of(who),
            message_id,
            data.get("reason"),
            data.get("digest"),
            self.kit.services.linter,
        )
        return self._outcome_page(who, message_id, outcome)

    async def redact_preview(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, NEEDS[Action.RELEASE])
        if isinstance(who, Response):
            return who
        message_id = request.path_params["message_id"]
        preview: Preview = await self.service.preview(
            reviewer_of(who), message_id, kit.services.linter
        )
        if not isinstance(preview, Masking | CannotMask):
            return self._outcome_page(who, message_id, preview)
        await kit.record(who.user, "message.view", message_id, {"page": "redaction_preview"})
        if isinstance(preview, CannotMask):
            return self._outcome_page(who, message_id, preview)
        parts = await self._parts(preview.message, preview.result.data)
        return kit.page(
            "redact_preview.html",
            who,
            message=preview.message,
            redaction=Redaction(preview.result, preview.digest, parts),
            unmaskable=[part_label(p) for p in preview.result.unredactable_parts],
        )

    def _outcome_page(self, who: ReviewSession, message_id: str, outcome: Outcome) -> Response:
        """The service's answer as a page, in plain words."""
        page = self.kit.message_page
        back = f"/messages/{message_id}"
        match outcome:
            case Done():
                return self._done_page(who, outcome)
            case Missing():
                return page(who, "Not found", _NOT_FOUND, status=404)
            case OwnMessage():
                return page(
                    who,
                    "Another reviewer must decide",
                    "You sent this message, so someone else has to release or return it.",
                    status=403,
                    back=back,
                )
            case NotAssigned():
                return page(
                    who,
                    "Assigned to another reviewer",
                    f"This message is for {', '.join(outcome.reviewers)} to decide (or an "
                    "admin). Ask them, or an admin, if it cannot wait.",
                    status=403,
                    back=back,
                )
            case NotAllowed():
                return page(
                    who,
                    "Not allowed",
                    "Your account cannot do this; ask an admin.",
                    status=403,
                    back=back,
                )
            case NotAReviewer():
                return page(
                    who,
                    "Only reviewers decide",
                    "Your account cannot release or return messages.",
                    status=403,
                    back=back,
                )
            case NoReason():
                return page(
                    who,
                    "A reason is needed",
                    f"Please write a short reason (at most {MAX_REASON} characters); it is "
                    "kept with the decision.",
                    status=422,
                    back=back,
                )
            case Conflict():
                text = already_words(outcome)
                if outcome.retry:
                    text = "It changed while you were deciding. Please look at it again."
                return page(who, "Already decided", text, status=409, back=back)
            case CannotMask():
                status = 409 if outcome.incomplete else 200
                return page(who, "Cannot mask this message", outcome.why, status=status, back=back)
            case StalePreview():
                return page(
                    who,
                    "The preview is out of date",
                    "What would be masked changed since you looked at the preview. Please "
                    "look at the preview again.",
                    status=409,
                    back=f"{back}/redact",
                )

    def _done_page(self, who: ReviewSession, done: Done) -> Response:
        # Wake the scheduler: a released message and the sender's notice wait.
        self.kit.services.kick()
        told = done.told
        if done.action is Action.RELEASE:
            how = (
                f" with {done.masked} detail(s) masked" if done.message.redacted_on_release else ""
            )
            title = "Released"
            text = f"Released{how}. It is on its way to the recipients" + (
                ", and the sender has been told." if told else "."
            )
        elif done.action is Action.RETURN:
            title, text = "Returned", "Returned to the sender with your note. It was not sent."
        else:
            title = "Deleted"
            text = "Deleted. It was not sent" + ("; the sender was told." if told else ".")
        if not told:
            text += (
                " Tactful could not queue the email to the sender, so please tell "
                f"{done.message.sender} yourself."
            )
        return self.kit.message_page(who, title, text)
