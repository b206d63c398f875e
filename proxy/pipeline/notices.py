"""Notices to the worker who sent a message: held, masked, released,
returned, expired, cancelled.

The commercial tools' worst complaint is that senders never learn their
message is stuck, so every state change a sender cares about produces a
short email in plain words. Notices go to the sender's own mailbox through
the agency's upstream, and they are queued in the spool (see
:class:`proxy.pipeline.act.NoticeQueue`) rather than sent inline, so a notice is
retried like any other mail and never blocks the SMTP reply.

A notice names the rule and where the problem is, never the matched value:
it is still an email, and it may sit in a mailbox for years.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Protocol

from proxy.outbound.header_safety import safe_header_value
from proxy.store.spool_summary import HitSummary, VerdictSummary


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
        msg = EmailMessage(policy=SMTP)
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


def _unique_reasons(hits: Sequence[HitSummary]) -> list[str]:
    seen: dict[str, None] = {}
    for hit in hits:
        if hit.overridden:
            continue
        seen.setdefault(hit.message, None)
    return list(seen)


def _reason_lines(summary: VerdictSummary, actions: Sequence[str]) -> list[str]:
    wanted = [h for h in summary.hits if h.action in actions]
    return [f"  - {reason}" for reason in _unique_reasons(wanted)]


def _described(subject: str | None, recipients: int) -> str:
    who = "1 recipient" if recipients == 1 else f"{recipients} recipients"
    if subject:
        return f'your message "{subject}" to {who}'
    return f"your message to {who}"


def held_notice(
    *,
    message_id: str,
    sender: str,
    subject: str | None,
    recipients: int,
    summary: VerdictSummary,
    cancel_url: str | None,
) -> Notice:
    lines = [
        f"Tactful is holding {_described(subject, recipients)} for a supervisor to review.",
        "It has not been sent yet.",
        "",
        "Why it was held:",
        *(_reason_lines(summary, ("hold",)) or ["  - A rule asked for a second look."]),
        "",
        "What happens next: a reviewer will release it, or return it to you with a note.",
        "You will get an email either way. If you fix the message and send it again,",
        "cancel this one so the client does not receive both.",
        "",
        f"Reference: {message_id}",
    ]
    if cancel_url:
        lines += ["", f"Cancel this message: {cancel_url}"]
    return Notice(
        sender, "Held for review: your message was not sent yet", "\n".join(lines), message_id
    )


def masked_notice(
    *, message_id: str, sender: str, subject: str | None, recipients: int,
    summary: VerdictSummary, masked: int,
) -> Notice:  # fmt: skip
    lines = [
        f"Tactful sent {_described(subject, recipients)}, but masked {masked} "
        f"detail{'s' if masked != 1 else ''} first.",
        "",
        "What was masked and why:",
        *(_reason_lines(summary, ("redact",)) or ["  - A detail that must not go by email."]),
        "",
        "The recipient sees the masked text (for example ****1234). If they need the",
        "full detail, share it through a secure channel.",
        "",
        f"Reference: {message_id}",
    ]
    return Notice(sender, "Sent with details masked", "\n".join(lines), message_id)


def deferred_notice(
    *, message_id: str, sender: str, subject: str | None, recipients: int,
    summary: VerdictSummary, send_at: datetime,
) -> Notice:  # fmt: skip
    when = send_at.strftime("%A %d %B at %H:%M")
    lines = [
        f"Tactful will send {_described(subject, recipients)} on {when},",
        "at the start of the next working window.",
        "",
        "Why it waits:",
        *(_reason_lines(summary, ("defer",)) or ["  - It was sent outside working hours."]),
        "",
        "If it is urgent, send it again with [urgent] at the start of the subject.",
        "",
        f"Reference: {message_id}",
    ]
    return Notice(
        sender, f"Scheduled: your message will go out {when}", "\n".join(lines), message_id
    )


def released_notice(*, message_id: str, sender: str, reviewer: str, redacted: bool) -> Notice:
    how = "with some details masked" if redacted else "as you wrote it"
    body = (
        f"A reviewer ({reviewer}) released your held message {how}.\n"
        "It is on its way to the recipients.\n\n"
        f"Reference: {message_id}"
    )
    return Notice(sender, "Released: your held message is being sent", body, message_id)


def returned_notice(*, message_id: str, sender: str, reviewer: str, note: str) -> Notice:
    body = (
        f"A reviewer ({reviewer}) returned your held message. It was NOT sent.\n\n"
        f"Their note:\n  {note}\n\n"
        "Please change the message as suggested and send it again.\n\n"
        f"Reference: {message_id}"
    )
    return Notice(sender, "Returned: your held message was not sent", body, message_id)


def expired_notice(*, message_id: str, sender: str, days: int) -> Notice:
    body = (
        f"Nobody reviewed your held message within {days} days, so it expired and was\n"
        "deleted. It was NOT sent. If it is still needed, please send it again.\n\n"
        f"Reference: {message_id}"
    )
    return Notice(sender, "Expired: your held message was not sent", body, message_id)


def cancelled_notice(*, message_id: str, sender: str) -> Notice:
    body = (
        "You cancelled your held message. It was NOT sent and has been deleted.\n\n"
        f"Reference: {message_id}"
    )
    return Notice(sender, "Cancelled: your held message was deleted", body, message_id)


def undeliverable_notice(*, message_id: str, sender: str, code: int, enhanced: str) -> Notice:
    body = (
        f"The agency mail server refused your message ({code} {enhanced}). It was NOT\n"
        "delivered. Check the recipient addresses and send it again; if it keeps\n"
        "happening, contact IT with the reference below.\n\n"
        f"Reference: {message_id}"
    )
    return Notice(sender, "Undeliverable: your message was refused", body, message_id)


def partly_undeliverable_notice(
    *, message_id: str, sender: str, refused: Sequence[str], codes: Sequence[int]
) -> Notice:
    """Like a mail server's bounce: the sender must know who did not get it."""
    listed = "\n".join(f"  - {address}" for address in refused)
    shown = ", ".join(str(code) for code in sorted(set(codes)))
    body = (
        f"Your message was delivered, but the agency mail server refused it for these\n"
        f"recipients ({shown}), so they did NOT get it:\n{listed}\n\n"
        "Check those addresses and send it to them again; if it keeps happening,\n"
        "contact IT with the reference below.\n\n"
        f"Reference: {message_id}"
    )
    return Notice(sender, "Partly undeliverable: some recipients did not get your message",
                  body, message_id)  # fmt: skip


def deleted_notice(*, message_id: str, sender: str) -> Notice:
    body = (
        "An administrator deleted your held message. It was NOT sent.\n"
        "If it is still needed, please talk to your supervisor before sending it again.\n\n"
        f"Reference: {message_id}"
    )
    return Notice(sender, "Deleted: your held message was not sent", body, message_id)
