"""The review service: one decision on a held message, whoever asks.

The review web app (:mod:`proxy.review.messages`) and ``tactful held``
(:mod:`proxy.cli.held`) both release, return and delete held messages. Each
used to check the four-eyes rule and build the sender's notice its own way,
and the two drifted apart. Now both translate their protocol (a posted form,
argv) into a call here and the typed outcome back into a page or an exit
code: the rules live here, and each front end words the outcomes its own
way (only why masking is impossible is worded here, with the linter's notes).
The queue routes messages by the same rule (:mod:`proxy.review.routing`).

Every decision is someone's: the one who decides must have a reviewer or
admin account (``tactful held`` needs ``--as NAME``, never the operating
system's user, which anyone at the terminal could be), may not have sent
the message (four eyes, :mod:`proxy.review.four_eyes`), and, while
``review.enforce_routing`` is on, must be one of the reviewers the
message is routed to, or an admin (:mod:`proxy.review.routing`).

Each decision is a compare-and-set in the spool, audited by the spool in
the same transaction, so a browser and a terminal deciding at once get one
decision and one :class:`Conflict`. The sender's notice is queued in the
spool like any other mail, and the outcome says whether that worked.

:meth:`ReviewService.decide` blocks on the database (async callers wrap it
in ``asyncio.to_thread``); masking is async because the linter is.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from enum import StrEnum

from proxy.lint.engine import LintResult
from proxy.pipeline.act import Linter, lint_channel
from proxy.pipeline.analysis_pool import AnalysisFailure
from proxy.pipeline.notice_queue import NoticeQueue
from proxy.pipeline.notices import (
    About,
    Notice,
    deleted_notice,
    released_notice,
    returned_notice,
)
from proxy.pipeline.redact import RedactResult, redact_message
from proxy.review.four_eyes import Reviewer, sent_it
from proxy.review.highlight import redaction_values
from proxy.review.permissions import Permission, allowed
from proxy.review.routing import NotAReviewer, NotAssigned, Routing, may_decide
from proxy.store.crypto import DecryptionError
from proxy.store.spool_decisions import AlreadyDecided, DecisionResult, NotFound
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_view import SpooledMessage

log = logging.getLogger(__name__)

# A reason is kept with every decision; a returned message's sender reads it.
MAX_REASON = 2000


class Action(StrEnum):
    RELEASE = "release"
    RETURN = "return"
    DELETE = "delete"


# What each decision needs in the review app's permission table; the
# review service checks it for ``tactful held`` too, whose --as names an
# account with a role.
NEEDS: dict[Action, Permission] = {
    Action.RELEASE: Permission.DECIDE,
    Action.RETURN: Permission.DECIDE,
    Action.DELETE: Permission.DELETE,
}


# --- who is deciding ----------------------------------------------------------
# Four eyes is in :mod:`proxy.review.four_eyes`, routing in
# :mod:`proxy.review.routing`; both are checked here, for every front end.


def clean_reason(value: object) -> str | None:
    """A required reason, trimmed, at most :data:`MAX_REASON` characters;
    None when there is none. Required so the trail shows every decision was
    explained, and so a returned message's sender learns what to change."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_REASON:
        return None
    return text


# --- outcomes -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    """The decision is recorded and audited. ``told`` is False when the
    sender's notice could not be queued: then a person must tell them."""

    action: Action
    message: SpooledMessage  # as it is after the decision
    told: bool
    masked: int = 0  # details masked on release


@dataclass(frozen=True, slots=True)
class OwnMessage:
    """Four eyes: the reviewer sent this message."""

    message: SpooledMessage


@dataclass(frozen=True, slots=True)
class NotAllowed:
    """The reviewer's role may not take this action (deleting is an admin's)."""

    action: Action


@dataclass(frozen=True, slots=True)
class Conflict:
    """The message is not held (any more). Another reviewer, the sender or
    expiry decided first, or it was never waiting for a decision (deferred
    mail waiting for its window, released mail the scheduler is sending
    under its delivery lease). ``state`` is HELD only when the
    compare-and-set lost to a change that left it held: look and try again."""

    id: str
    state: SpoolState
    by: str | None

    @property
    def retry(self) -> bool:
        return self.state is SpoolState.HELD


@dataclass(frozen=True, slots=True)
class Missing:
    id: str


@dataclass(frozen=True, slots=True)
class NoReason:
    """The reason is empty or longer than :data:`MAX_REASON`."""


@dataclass(frozen=True, slots=True)
class CannotMask:
    """Release with masking is not possible; ``why`` says so in plain words.
    ``incomplete``: some part holds a value that cannot be masked, so
    releasing would send it."""

    why: str
    incomplete: bool = False


@dataclass(frozen=True, slots=True)
class StalePreview:
    """What would be masked changed since the reviewer saw the preview."""


@dataclass(frozen=True, slots=True)
class Masking:
    """The message with details masked, and the digest of exactly those
    bytes: a release names the digest it was shown, so what is sent is
    what the reviewer approved."""

    message: SpooledMessage
    result: RedactResult
    digest: str


Refused = OwnMessage | NotAReviewer | NotAllowed | NotAssigned
Decision = Done | Refused | Conflict | Missing | NoReason
Outcome = Decision | CannotMask | StalePreview
Preview = Masking | CannotMask | Refused | Conflict | Missing


def sender_notice(action: Action, message: SpooledMessage, reviewer: str, reason: str) -> Notice:
    """The email that tells the sender what happened. A deletion's reason is
    the admin's and stays in the spool row, not in the email."""
    about = About.spooled(message)
    if action is Action.RELEASE:
        return released_notice(
            about=about,
            sender=message.sender,
            reviewer=reviewer,
            redacted=message.redacted_on_release,
        )
    if action is Action.RETURN:
        return returned_notice(about=about, sender=message.sender, reviewer=reviewer, note=reason)
    return deleted_notice(about=about, sender=message.sender)


async def relint(linter: Linter | None, message: SpooledMessage, raw: bytes) -> LintResult | str:
    """The held message judged again (the spool keeps no matched values, by
    design), or plain words saying why it cannot be. The one place the
    review app re-lints, for marking findings and for masking."""
    if linter is None:
        return "Linting is turned off on this server, so findings cannot be marked."
    result = await linter.lint(
        raw,
        sender=message.sender,
        recipients=message.recipients,
        at=message.received_at,
        channel=lint_channel(message.channel),  # a held text is judged as a text
    )
    if isinstance(result, AnalysisFailure):
        return f"Tactful could not re-check the message just now ({result.reason})."
    return result


class ReviewService:
    """Release, return and delete held messages for any front end."""

    def __init__(self, spool: SpoolStore, notices: NoticeQueue, routing: Routing) -> None:
        self._spool = spool
        self._notices = notices
        self._routing = routing

    def refused(
        self, reviewer: Reviewer, message: SpooledMessage, action: Action = Action.RELEASE
    ) -> Refused | None:
        """Blocking (reads the user file): why ``reviewer`` may not take
        ``action`` on ``message``, or None. Not a reviewer first: a name with
        no account must never get as far as a four-eyes answer that sounds
        like consent. The role's permission is the web app's table, so
        ``tactful held delete`` is an admin's, as on the web."""
        routed = may_decide(
            self._routing, reviewer.name, sender=message.sender, user=message.user
        )
        if isinstance(routed, NotAReviewer):
            return routed
        if sent_it(reviewer, message):
            return OwnMessage(message)
        account = self._routing.directory().get(reviewer.name)
        if account is not None and not allowed(account.role, NEEDS[action]):
            return NotAllowed(action)
        return routed

    # --- deciding -------------------------------------------------------------

    def decide(
        self,
        reviewer: Reviewer,
        message_id: str,
        action: Action,
        reason: object,
        *,
        masking: Masking | None = None,
    ) -> Decision:
        """Blocking: check four eyes and the reason, decide by
        compare-and-set, queue the sender's notice."""
        if masking is not None and action is not Action.RELEASE:
            raise ValueError("only a release can send a masked message")
        message = self._spool.get(message_id)
        if message is None:
            return Missing(message_id)
        refused = self.refused(reviewer, message, action)
        if refused is not None:
            return refused
        text = clean_reason(reason)
        if text is None:
            return NoReason()
        result = self._record(action, message.id, reviewer.name, text, masking)
        if isinstance(result, NotFound):
            return Missing(message_id)
        if isinstance(result, AlreadyDecided):
            return Conflict(result.id, result.state, result.by)
        decided = result.message
        told = self._tell(sender_notice(action, decided, reviewer.name, text))
        return Done(action, decided, told, masking.result.masked if masking is not None else 0)

    def _record(
        self, action: Action, message_id: str, by: str, reason: str, masking: Masking | None
    ) -> DecisionResult:
        spool = self._spool
        if action is Action.RELEASE:
            replacement = masking.result.data if masking is not None else None
            return spool.release(message_id, by, reason, replacement=replacement)
        if action is Action.RETURN:
            return spool.reject(message_id, by, reason)
        return spool.delete(message_id, by, reason)

    def _tell(self, notice: Notice) -> bool:
        """Queue the notice. Any failure is logged and reported, never
        raised: the decision is already committed and must not look undone."""
        try:
            self._notices.store(notice)
        except Exception as exc:
            log.error("could not queue a notice about %s: %s", notice.about, type(exc).__name__)
            return False
        return True

    def _refused(self, reviewer: Reviewer, message: SpooledMessage) -> Refused | Conflict | None:
        """Checked before masking, which is slow: who decides, and still held."""
        refused = self.refused(reviewer, message)
        if refused is not None:
            return refused
        if message.state is not SpoolState.HELD:
            return Conflict(message.id, message.state, message.decided_by)
        return None

    # --- content and masking --------------------------------------------------

    def content(self, message: SpooledMessage) -> bytes | str:
        """Blocking: the stored bytes, or plain words saying why there are none."""
        if not message.has_content:
            return "The content was deleted when the message was decided or expired."
        try:
            raw = self._spool.raw(message.id)
        except DecryptionError as exc:
            log.error("held message %s cannot be decrypted", message.id)
            return str(exc)
        return raw if raw is not None else "The content is no longer stored."

    async def masking(self, message: SpooledMessage, linter: Linter | None) -> Masking | CannotMask:
        """The message with every finding that asks for it masked."""
        raw = await asyncio.to_thread(self.content, message)
        if not isinstance(raw, bytes):
            return CannotMask(raw)
        checked = await relint(linter, message, raw)
        if isinstance(checked, str):
            return CannotMask(f"{checked} Release as sent or return it instead.")
        values = redaction_values(checked.verdict.hits)
        if not values:
            return CannotMask("Tactful found nothing it can mask in this message.")
        result = await asyncio.to_thread(redact_message, raw, values)
        return Masking(message, result, hashlib.sha256(result.data).hexdigest())

    async def preview(self, reviewer: Reviewer, message_id: str, linter: Linter | None) -> Preview:
        """What a release with masking would send, for the reviewer to approve."""
        message = await asyncio.to_thread(self._spool.get, message_id)
        if message is None:
            return Missing(message_id)
        refused = await asyncio.to_thread(self._refused, reviewer, message)
        if refused is not None:
            return refused
        return await self.masking(message, linter)

    async def release_masked(
        self,
        reviewer: Reviewer,
        message_id: str,
        reason: object,
        digest: object,
        linter: Linter | None,
    ) -> Outcome:
        """Release with details masked, if the masking is still the one the
        reviewer previewed (``digest``) and nothing is left unmasked."""
        message = await asyncio.to_thread(self._spool.get, message_id)
        if message is None:
            return Missing(message_id)
        refused = await asyncio.to_thread(self._refused, reviewer, message)
        if isinstance(refused, Refused):
            return refused
        if clean_reason(reason) is None:
            return NoReason()
        if refused is not None:
            return refused
        masking = await self.masking(message, linter)
        if isinstance(masking, CannotMask):
            return masking
        if not masking.result.complete:
            return CannotMask(
                "Some parts cannot be masked, so the message cannot be released with "
                "redactions. Return it to the sender instead.",
                incomplete=True,
            )
        if digest != masking.digest:
            return StalePreview()
        return await asyncio.to_thread(
            self.decide, reviewer, message.id, Action.RELEASE, reason, masking=masking
        )


