"""Notices to the worker who sent a message: held, masked, warned,
scheduled, released, returned, expired, cancelled, deleted, undeliverable.

The commercial tools' worst complaint is that senders never learn their
message is stuck, so every outcome a sender cares about produces a short
email in plain words. Notices go to the sender's own mailbox through the
agency's upstream, and they are queued in the spool (see
:class:`proxy.pipeline.notice_queue.NoticeQueue`) rather than sent inline,
so a notice is retried like any other mail and never blocks the reply.

A worker sends many messages a day, so every notice names its message the
way the worker knows it: by its subject, or by the first words of a text
(:class:`About`), with the reference kept for the helpdesk. Any detected
value in those words is masked before it is written anywhere, because a
notice, like the spool row that remembers the title, outlives the message.

A notice's wording fits its moment: advice on what to change is given only
while the message has not gone (held, scheduled); once it has gone the
notice says so first, and advice is "for next time". Texts are worded as
texts: they have no subject to tag.

A notice names the rule and where the problem is, never the matched value.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Protocol

from proxy.core.consent import Channel
from proxy.core.verdict import Action, Verdict
from proxy.lint.explain import entity_noun, when, where
from proxy.lint.rules import AFTER_HOURS, QUIET_HOURS
from proxy.outbound.header_safety import safe_header_value
from proxy.pipeline.redact import mask_keep_last4, value_pattern
from proxy.store.spool_summary import HitSummary, VerdictSummary
from proxy.store.spool_view import SpooledMessage

# A text is named by this many of its first words, a subject by at most
# this many characters: enough to tell five texts apart, short enough for
# a subject line.
TITLE_WORDS = 6
TITLE_CHARS = 60

# What a masked detail looks like, written by the masking code itself so the
# README, the recipient's copy and the notice cannot disagree.
MASK_EXAMPLE = mask_keep_last4("123-45-8821")


# Lines up to RFC 5322's limit: a subject naming a message is often longer
# than 78 characters, and folding it (worse, around an encoded word) shows
# some mail programs a stray leading or doubled space.
_NOTICE_POLICY = SMTP.clone(max_line_length=998)


class NoticeLinks(Protocol):
    """Links the review web app can offer in a notice (signed, expiring)."""

    def cancel_url(self, message_id: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Notice:
    """One email to a worker about one of their messages."""

    to: str
    subject: str
    body: str
    about: str  # the spool / submission id the notice is about

    def to_bytes(self, from_address: str, *, agency: str, now: datetime) -> bytes:
        """The notice as RFC 5322 bytes with CRLF line ends."""
        msg = EmailMessage(policy=_NOTICE_POLICY)
        msg["From"] = safe_header_value(f"Tactful ({agency}) <{from_address}>", name="From")
        msg["To"] = safe_header_value(self.to, name="To")
        msg["Subject"] = safe_header_value(self.subject, name="Subject")
        msg["Date"] = format_datetime(now)
        domain = from_address.rpartition("@")[2] or "tactful.localhost"
        msg["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:12], domain=domain)
        # RFC 3834: no vacation replies or bounces loops back to Tactful.
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Tactful-Notice"] = self.about
        msg.set_content(self.body)
        return msg.as_bytes()


# --- which message ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class About:
    """The message a notice is about, as its sender knows it."""

    reference: str
    title: str | None  # the subject, or a text's first words; values masked
    channel: Channel = Channel.EMAIL
    recipients: int = 1

    @classmethod
    def spooled(cls, message: SpooledMessage) -> About:
        return cls(message.id, message.summary.title, message.channel, len(message.recipients))

    @property
    def is_text(self) -> bool:
        return self.channel is not Channel.EMAIL

    @property
    def name(self) -> str:
        """How the subject line of a notice names the message."""
        if self.is_text:
            return f'text "{self.title}"' if self.title else "text message"
        return f'"{self.title}"' if self.title else "message with no subject"

    def described(self) -> str:
        """Follows a verb: 'Tactful sent ...'."""
        if self.is_text:
            who = "1 number" if self.recipients == 1 else f"{self.recipients} numbers"
            what = f'your text "{self.title}"' if self.title else "your text"
        else:
            who = "1 recipient" if self.recipients == 1 else f"{self.recipients} recipients"
            what = (
                f'your message "{self.title}"' if self.title else "your message with no subject"
            )
        return f"{what} to {who}"

    @property
    def noun(self) -> str:
        return "text" if self.is_text else "message"


def _first_words(raw: bytes) -> str:
    """The start of a message's plain text, read as a person would."""
    parsed = message_from_bytes(raw, policy=email_policy.default)
    part = parsed.get_body(("plain",)) if parsed.is_multipart() else parsed
    if part is None or part.get_content_type() != "text/plain":
        return ""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError):
        return ""
    return content if isinstance(content, str) else ""


def _shortened(text: str, *, words: int | None = None) -> str:
    parts = text.split()
    cut = parts[:words] if words is not None else parts
    short = " ".join(cut)
    if len(short) > TITLE_CHARS:
        short = short[:TITLE_CHARS].rsplit(" ", 1)[0] or short[:TITLE_CHARS]
    return short + ("..." if short != " ".join(parts) else "")


def title_of(
    *, subject: str, raw: bytes, channel: Channel, hide: Iterable[str] = ()
) -> str | None:
    """The subject of an email, or the first words of a text, with every
    value in ``hide`` (what the detectors found) masked. None when there is
    nothing to name it by."""
    source = _first_words(raw) if channel is not Channel.EMAIL else subject
    pattern = value_pattern([v for v in hide if v])
    if pattern is not None:
        source = pattern.sub(lambda m: mask_keep_last4(m.group(0)), source)
    source = re.sub(r"[\x00-\x1f\x7f]+", " ", source)
    title = _shortened(source, words=TITLE_WORDS if channel is not Channel.EMAIL else None)
    return title or None


def found_values(verdict: Verdict) -> list[str]:
    """Every matched value, to be masked in a notice's title."""
    return sorted({f.text for f in verdict.findings if f.text})


# --- reasons ------------------------------------------------------------------


def _unique_reasons(hits: Sequence[HitSummary]) -> list[str]:
    seen: dict[str, None] = {}
    for hit in hits:
        if hit.overridden:
            continue
        seen.setdefault(" ".join(hit.message.split()), None)
    return list(seen)


def _reason_lines(summary: VerdictSummary, actions: Sequence[str]) -> list[str]:
    wanted = [h for h in summary.hits if h.action in actions]
    return [f"  - {reason}" for reason in _unique_reasons(wanted)]


# The time rules' own words say when the message will go and how to send
# one now; the scheduled notice says both itself, worded for after the fact
# (sending it again with [urgent] now would send it twice).
_WAIT_WORDS = {
    AFTER_HOURS: "It was sent outside the agency's working hours.",
    QUIET_HOURS: "It was sent during the quiet hours for texts.",
}


def _wait_reasons(summary: VerdictSummary) -> list[str]:
    seen: dict[str, None] = {}
    for hit in summary.hits:
        if hit.action == "defer" and not hit.overridden:
            seen.setdefault(_WAIT_WORDS.get(hit.rule, " ".join(hit.message.split())), None)
    return [f"  - {reason}" for reason in seen]


def _bullets(lines: Iterable[str]) -> list[str]:
    return [f"  - {line}" for line in lines]


def masked_details(verdict: Verdict) -> list[str]:
    """What masking hid, in words ("the Social Security number in the
    message"), never the value."""
    seen: dict[str, None] = {}
    for hit in verdict.hits:
        if hit.action is Action.REDACT and not hit.overridden and hit.finding is not None:
            seen.setdefault(f"the {entity_noun(hit.finding.entity)} in {where(hit.finding)}")
    return list(seen)


def _footer(about: About) -> list[str]:
    return ["", f"Reference (for the helpdesk): {about.reference}"]


def _notice(sender: str, subject: str, about: About, lines: list[str]) -> Notice:
    return Notice(sender, subject, "\n".join([*lines, *_footer(about)]), about.reference)


# --- before it has gone -------------------------------------------------------


def held_notice(
    *, about: About, sender: str, summary: VerdictSummary, cancel_url: str | None
) -> Notice:
    lines = [
        f"Tactful is holding {about.described()} for a supervisor to review.",
        "It has NOT been sent yet.",
        "",
        "Why it was held:",
        *(_reason_lines(summary, ("hold",)) or ["  - A rule asked for a second look."]),
        "",
        "What happens next: a reviewer will release it, or return it to you with a note.",
        "You will get an email either way.",
        f"If you change the {about.noun} and send it again, cancel this one so the",
        "recipient does not get both.",
    ]
    if cancel_url:
        lines += ["", f"Cancel this {about.noun}: {cancel_url}"]
    return _notice(sender, f"Held for review, not sent yet: {about.name}", about, lines)


def deferred_notice(
    *, about: About, sender: str, summary: VerdictSummary, send_at: datetime, masked: int = 0
) -> Notice:
    """``send_at`` in the agency's zone, which the text names."""
    moment = when(send_at)
    if about.is_text:
        urgent = [
            "A text cannot be marked urgent. If it cannot wait, phone the client;",
            "this text will still be sent at the time above.",
        ]
        window = "when texts may be sent again."
    else:
        urgent = [
            "It will go at the time above. Next time, if a message cannot wait, put",
            "[urgent] at the start of its subject and it goes at once (sending this one",
            "again now would send it twice).",
        ]
        window = "at the start of the next working window."
    lines = [
        f"Tactful will send {about.described()} on {moment},",
        window,
        "It has NOT been sent yet.",
        "",
        "Why it waits:",
        *(_wait_reasons(summary) or ["  - It was sent outside working hours."]),
    ]
    if masked:
        lines += [
            "",
            f"When it goes, {masked} detail{'s' if masked != 1 else ''} will be masked "
            f"(they look like {MASK_EXAMPLE}).",
        ]
    lines += ["", *urgent]
    return _notice(sender, f"Scheduled for {moment}: {about.name}", about, lines)


# --- after it has gone --------------------------------------------------------


def masked_notice(
    *,
    about: About,
    sender: str,
    details: Sequence[str],
    masked: int,
    portal: str,
    advice: Sequence[str] = (),
) -> Notice:
    count = f"{masked} detail{'s' if masked != 1 else ''}"
    channel = "by text" if about.is_text else "by email"
    lines = [
        f"Tactful has sent {about.described()}, with {count} masked first.",
        "It has gone; you do not need to do anything.",
        "",
        "What was masked:",
        *(_bullets(details) or ["  - A detail that must not be sent " + channel + "."]),
        "",
        f"The recipient sees each masked detail like this: {MASK_EXAMPLE}",
        "(long numbers keep their last 4 digits; nothing else was changed).",
        f"If they need the full detail, share it through {portal}, not {channel}.",
    ]
    if advice:
        lines += ["", "Also, for next time:", *_bullets(advice)]
    return _notice(sender, f"Sent with {count} masked: {about.name}", about, lines)


def warned_notice(*, about: About, sender: str, advice: Sequence[str]) -> Notice:
    """A warn sends the message as written; the advice is for next time."""
    lines = [
        f"Tactful has sent {about.described()} as you wrote it.",
        "It has gone; you do not need to do anything now.",
        "",
        "Tactful noticed something worth knowing for next time:",
        *_bullets(advice),
    ]
    return _notice(sender, f"Sent, with advice for next time: {about.name}", about, lines)


def released_notice(*, about: About, sender: str, reviewer: str, redacted: bool) -> Notice:
    how = (
        f"with some details masked (they look like {MASK_EXAMPLE})"
        if redacted
        else "as you wrote it"
    )
    lines = [
        f"A reviewer ({reviewer}) released {about.described()}, {how}.",
        "It is being sent now; you do not need to do anything.",
    ]
    return _notice(sender, f"Released and being sent: {about.name}", about, lines)


def returned_notice(*, about: About, sender: str, reviewer: str, note: str) -> Notice:
    lines = [
        f"A reviewer ({reviewer}) returned {about.described()}.",
        "It was NOT sent, and Tactful has deleted its copy.",
        "",
        "Their note:",
        *(f"  {line}" for line in note.splitlines() or [note]),
        "",
        f"If it is still needed, change the {about.noun} as the note says and send it again.",
    ]
    return _notice(sender, f"Returned, not sent: {about.name}", about, lines)


def expired_notice(*, about: About, sender: str, days: int) -> Notice:
    lines = [
        f"Nobody reviewed {about.described()} within {days} days.",
        "It expired and was NOT sent; Tactful has deleted its copy.",
        "",
        "If it is still needed, send it again, and tell your supervisor it is waiting.",
    ]
    return _notice(sender, f"Expired, not sent: {about.name}", about, lines)


def cancelled_notice(*, about: About, sender: str) -> Notice:
    lines = [
        f"You cancelled {about.described()}.",
        "It was NOT sent, and Tactful has deleted its copy.",
    ]
    return _notice(sender, f"Cancelled, not sent: {about.name}", about, lines)


def deleted_notice(*, about: About, sender: str) -> Notice:
    lines = [
        f"An administrator deleted {about.described()}.",
        "It was NOT sent.",
        "",
        "If it is still needed, talk to your supervisor before sending it again.",
    ]
    return _notice(sender, f"Deleted, not sent: {about.name}", about, lines)


def undeliverable_notice(*, about: About, sender: str, code: int, enhanced: str) -> Notice:
    upstream = "The SMS provider" if about.is_text else "The agency mail server"
    check = "the phone number" if about.is_text else "the recipient addresses"
    lines = [
        f"{upstream} refused {about.described()} ({code} {enhanced}).",
        "It was NOT delivered.",
        "",
        f"Check {check} and send it again; if it keeps happening, contact IT",
        "with the reference below.",
    ]
    return _notice(sender, f"Undeliverable, not sent: {about.name}", about, lines)


def part2_unsent_notice(*, about: About, sender: str) -> Notice:
    """A released message about a Part 2 client that cannot carry the notice
    42 CFR 2.32 requires: it must not leave without it."""
    lines = [
        f"Tactful could not send {about.described()}.",
        "It carries substance-use information about a client whose records fall",
        "under 42 CFR Part 2, and Tactful could not add the notice the rule",
        "requires (the message has no text part it can safely add it to, or a",
        "text would become too long). It was NOT sent.",
        "",
        "Write it again as a plain message (not only an attachment), or as a",
        "shorter text, and send it again.",
    ]
    return _notice(sender, f"Not sent: {about.name}", about, lines)


def partly_undeliverable_notice(
    *, about: About, sender: str, refused: Sequence[str], codes: Sequence[int]
) -> Notice:
    """Like a mail server's bounce: the sender must know who did not get it."""
    shown = ", ".join(str(code) for code in sorted(set(codes)))
    lines = [
        f"Tactful delivered {about.described()}, but the agency mail server",
        f"refused it for these recipients ({shown}), so they did NOT get it:",
        *_bullets(refused),
        "",
        "Check those addresses and send it to them again; if it keeps happening,",
        "contact IT with the reference below.",
    ]
    return _notice(
        sender, f"Partly undeliverable: some recipients did not get {about.name}", about, lines
    )
