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
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

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
    clean_reason,
    relint,
    sent_it,
)
from proxy.review.highlight import (
    FindingView,
    PartView,
    masked_parts,
    part_label,
    render_message,
)
from proxy.review.kit import Kit
from proxy.review.permissions import Permission, allowed
from proxy.review.queue import STATE_WORDS, QueueFilter, QueueRow, mine_first, queue_rows
from proxy.review.routing import NotAReviewer, NotAssigned, Routing, assign, may_decide
from proxy.review.sessions import ReviewSession
from proxy.review.titles import sent_by_person, titles_in
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
# At most this many messages are decided by one bulk form.
MAX_BULK = 100
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
        self.routing = Routing.configured(kit.settings.review, kit.users.current)
        self.service = ReviewService(kit.services.spool, kit.services.notices, self.routing)

    # --- queue -----------------------------------------------------------------

    def _titles(self, messages: list[SpooledMessage]) -> dict[str, str]:
        """Blocking: each message's subject or first words."""
        return titles_in(self.kit.services.spool, messages)

    async def _rows(self, messages: list[SpooledMessage], who: ReviewSession) -> list[QueueRow]:
        """Queue rows; the subjects only for a role that may read messages
        (a subject is the sender's words, not a fact about the message)."""
        kit = self.kit
        registry = await asyncio.to_thread(self.consent.snapshot)
        titles: dict[str, str] = {}
        if allowed(who.role, Permission.READ_CONTENT):
            titles = await asyncio.to_thread(self._titles, messages)
        return queue_rows(
            messages,
            settings=kit.settings,
            registry=registry,
            directory=await kit.directory(),
            now=kit.clock(),
            titles=titles,
        )

    def _decidable(self, who: ReviewSession, message: SpooledMessage) -> bool:
        """Blocking (reads the user file): may ``who`` decide on it, by four
        eyes and routing? The queue offers a tick box only then."""
        if sent_it(reviewer_of(who), message):
            return False
        refused = may_decide(self.routing, who.user, sender=message.sender, user=message.user)
        return refused is None

    async def _held(self) -> list[SpooledMessage]:
        """Held messages a person sent, oldest first: Tactful's own notices
        are never review items."""
        held = await asyncio.to_thread(self.kit.services.spool.list_held)
        return [m for m in held if sent_by_person(m)]

    async def queue(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.VIEW_QUEUE)
        if isinstance(who, Response):
            return who
        params = request.query_params
        show = "decided" if params.get("show") == "decided" else "held"
        spool = kit.services.spool
        if show == "held":
            messages = await self._held()
        else:
            decided = await asyncio.to_thread(spool.by_state, list(DECIDED_STATES))
            decided = [m for m in decided if sent_by_person(m)]
            decided.sort(key=lambda m: m.decided_at or m.updated_at, reverse=True)
            messages = decided[:RECENT_DECIDED]
        rows = await self._rows(messages, who)
        if show == "held":
            rows = mine_first(rows, who.user)
        wanted = QueueFilter(
            text=params.get("q", "")[:200],
            rule=params.get("rule", "")[:80],
            mine=params.get("mine") == "1",
        )
        shown = [row for row in rows if wanted.matches(row, who.user)]
        codes = sorted({code for row in rows for code in row.codes})
        me = reviewer_of(who)
        return kit.page(
            "queue.html",
            who,
            rows=shown,
            total=len(rows),
            codes=codes,
            filter=wanted,
            show=show,
            own={row.message.id for row in shown if sent_it(me, row.message)},
            decidable=await asyncio.to_thread(
                lambda: {row.message.id for row in shown if self._decidable(who, row.message)}
            ),
            bulk=show == "held" and allowed(who.role, Permission.DECIDE),
            no_reviewers=not any(r.assignment.reviewers for r in rows) and bool(rows),
        )

    # --- one message ---------------------------------------------------------------

    async def _analyse(self, message: SpooledMessage, raw: bytes) -> Analysis:
        checked = await relint(self.kit.services.linter, message, raw)
        # The text is always read here, with the parser the linter uses (so
        # the findings' offsets fit it): the analysis pool returns verdicts
        # without the text, to keep megabytes off its pipe.
        parsed = await asyncio.to_thread(self._parse, message, raw)
        if not isinstance(checked, str):
            hits = checked.verdict.hits
            parts, findings = render_message(parsed, checked.findings, hits)
            return Analysis(parsed, parts, findings, None)
        parts, _ = render_message(parsed, (), ())
        return Analysis(parsed, parts, _stored_findings(message), checked)

    def _parse(self, message: SpooledMessage, raw: bytes) -> ParsedMessage:
        return parse_message(
            raw,
            limits=self.kit.settings.limits,
            sender=message.sender,
            recipients=message.recipients,
        )

    async def _masked_parts(self, message: SpooledMessage, masked: bytes) -> tuple[PartView, ...]:
        """The masked message's text, each masked run marked against the
        original so the page can say "masked" in words."""
        raw = await asyncio.to_thread(self.service.content, message)
        after = await asyncio.to_thread(self._parse, message, masked)
        if not isinstance(raw, bytes):
            return masked_parts(after, after)
        before = await asyncio.to_thread(self._parse, message, raw)
        return masked_parts(before, after)

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
        [row] = await self._rows([message], who)
        subject = row.title if readable else None
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
            text_message=message.channel.value == "sms",
            held=message.state is SpoolState.HELD,
            findings=analysis.findings if analysis is not None else _stored_findings(message),
            names={f.number: f.what for f in analysis.findings} if analysis is not None else {},
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
        return self._answer(who, request.path_params["message_id"], outcome)

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
        return self._answer(who, message_id, outcome)

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
        parts = await self._masked_parts(preview.message, preview.result.data)
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
                return self._answer(who, message_id, outcome)
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

    def _answer(self, who: ReviewSession, message_id: str, outcome: Outcome) -> Response:
        """A decision made is answered with a redirect to its result (POST,
        303, GET), so reloading the result page never posts the form again;
        a refusal is answered with the page that explains it."""
        if not isinstance(outcome, Done):
            return self._outcome_page(who, message_id, outcome)
        # Wake the scheduler: a released message and the sender's notice wait.
        self.kit.services.kick()
        query = "" if outcome.told else "?told=no"
        return RedirectResponse(f"/messages/{message_id}/decided{query}", status_code=303)

    async def _next(self, who: ReviewSession, after: str) -> tuple[str, str] | None:
        """The next held message this reviewer may decide (routed to them
        first, none they sent), as (id, title)."""
        held = [m for m in await self._held() if m.id != after]
        directory = await self.kit.directory()
        supervisors = self.kit.settings.review.supervisors

        def pick() -> SpooledMessage | None:
            mine = [m for m in held if self._decidable(who, m)]
            routed = [
                m
                for m in mine
                if assign(m.sender, m.user, supervisors, directory).includes(who.user)
            ]
            found = routed or mine
            return found[0] if found else None

        chosen = await asyncio.to_thread(pick)
        if chosen is None:
            return None
        return chosen.id, (await asyncio.to_thread(self._titles, [chosen]))[chosen.id]

    async def decided(self, request: Request) -> Response:
        """The result of a decision, from the spool: what happened, to which
        message, and the next one waiting."""
        kit = self.kit
        who = await kit.require(request, Permission.VIEW_QUEUE)
        if isinstance(who, Response):
            return who
        message_id = request.path_params["message_id"]
        message = await asyncio.to_thread(kit.services.spool.get, message_id)
        if message is None:
            return kit.message_page(who, "Not found", _NOT_FOUND, status=404)
        if message.state is SpoolState.HELD:
            return RedirectResponse(f"/messages/{message_id}", status_code=303)
        title, text = _result_words(message, told=request.query_params.get("told") != "no")
        [row] = await self._rows([message], who)
        return kit.page(
            "decided.html",
            who,
            title=title,
            text=text,
            row=row,
            message=message,
            next=await self._next(who, message_id),
        )

    # --- several at once ---------------------------------------------------------

    async def bulk(self, request: Request) -> Response:
        """Release or return the ticked messages with one reason. Each is a
        decision of its own through the review service: four eyes, the
        compare-and-set and the audit entry apply to every one."""
        posted = await self._posted(request, Permission.DECIDE)
        if isinstance(posted, Response):
            return posted
        who, data = posted
        action = {"release": Action.RELEASE, "return": Action.RETURN}.get(
            str(data.get("action", ""))
        )
        ids = list(dict.fromkeys(str(v) for v in data.getlist("id")))[:MAX_BULK]
        page = self.kit.message_page
        if action is None or not ids:
            return page(
                who,
                "Nothing was decided",
                "Tick at least one message in the list, then choose release or return.",
                status=422,
            )
        if clean_reason(data.get("reason")) is None:
            return page(
                who,
                "A reason is needed",
                f"Please write a short reason (at most {MAX_REASON} characters); it is "
                "kept with each decision. Nothing was decided.",
                status=422,
            )
        results: dict[str, list[str]] = {
            "done": [],
            "own": [],
            "others": [],
            "gone": [],
            "untold": [],
        }
        for message_id in ids:
            outcome = await asyncio.to_thread(
                self.service.decide, reviewer_of(who), message_id, action, data.get("reason")
            )
            match outcome:
                case Done():
                    results["done"].append(message_id)
                    if not outcome.told:
                        results["untold"].append(message_id)
                case OwnMessage():
                    results["own"].append(message_id)
                case NotAssigned() | NotAReviewer() | NotAllowed():
                    results["others"].append(message_id)
                case _:
                    results["gone"].append(message_id)
        if results["done"]:
            self.kit.services.kick()
        query = urlencode(
            {"action": action.value, **{k: ",".join(v) for k, v in results.items() if v}}
        )
        return RedirectResponse(f"/decided?{query}", status_code=303)

    async def bulk_result(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.VIEW_QUEUE)
        if isinstance(who, Response):
            return who
        params = request.query_params
        action = params.get("action") if params.get("action") in ("release", "return") else None

        def listed(name: str) -> list[str]:
            values = [v for v in params.get(name, "").split(",") if v.isalnum()]
            return values[:MAX_BULK]

        groups = {name: listed(name) for name in ("done", "own", "others", "gone", "untold")}
        wanted = {i for ids in groups.values() for i in ids}
        spool = kit.services.spool
        found = await asyncio.to_thread(lambda: [spool.get(i) for i in sorted(wanted)])
        known = [m for m in found if m is not None and sent_by_person(m)]
        rows = {row.message.id: row for row in await self._rows(known, who)}
        return kit.page(
            "bulk_result.html",
            who,
            action=action,
            groups={name: [rows[i] for i in ids if i in rows] for name, ids in groups.items()},
            next=await self._next(who, ""),
        )


def _result_words(message: SpooledMessage, *, told: bool) -> tuple[str, str]:
    """The heading and sentence of a decision's result page."""
    by = f" by {message.decided_by}" if message.decided_by else ""
    match message.state:
        case SpoolState.RELEASED | SpoolState.SENT:
            how = " with some details masked" if message.redacted_on_release else ""
            sent = (
                "It has been sent"
                if message.state is SpoolState.SENT
                else ("It is on its way to the recipients")
            )
            title = "Released with details masked" if how else "Released"
            text = f"Released{how}{by}. {sent}" + (
                ", and the sender has been told." if told else "."
            )
        case SpoolState.RETURNED:
            title = "Returned"
            text = f"Returned to the sender{by} with the note. It was not sent."
        case SpoolState.DELETED:
            title = "Deleted"
            text = f"Deleted{by}. It was not sent" + ("; the sender was told." if told else ".")
        case _:
            title = "Already decided"
            text = f"This message is {STATE_WORDS.get(message.state, message.state.value)}."
    if not told:
        text += (
            " Tactful could not queue the email to the sender, so please tell "
            f"{message.sender} yourself."
        )
    return title, text
