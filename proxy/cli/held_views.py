"""What ``tactful held list`` and ``tactful held show`` print: tables,
JSON and the plain-text description of one spooled message.

Kept apart from :mod:`proxy.cli.held`, which opens the spool and decides,
so each stays short. These functions only format what they are given,
including ``now`` and the subjects: the command reads the clock and the
spool. Of the content they print only the subject (or a text's first
words), which is how supervisors know a message; never matched values
(``show --raw`` is the command's own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from proxy.core.config import Settings
from proxy.store.spool_model import SpoolState
from proxy.store.spool_view import SpooledMessage

SHORT_ID = 12  # characters of the id shown in lists; MIN_PREFIX of them resolve
LIST_COLUMNS = ("ID", "AGE", "STATE", "SUBJECT", "SENDER", "TO", "RULES")
# A table row stays readable in a terminal; the JSON has it whole.
SUBJECT_WIDTH = 40


def age(since: datetime, now: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def _local(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(settings.agency.tz).strftime("%a %d %b %Y %H:%M %Z")


def _cell(text: str, width: int = SUBJECT_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def list_json(message: SpooledMessage, now: datetime, subject: str = "") -> dict[str, Any]:
    return {
        "id": message.id,
        "short_id": message.id[:SHORT_ID],
        "subject": subject,
        "state": message.state.value,
        "kind": message.kind.value,
        "sender": message.sender,
        "user": message.user,
        "recipient_count": len(message.recipients),
        "rules": list(message.summary.rule_codes),
        "verdict": message.summary.verdict,
        "urgent": message.summary.urgent,
        "override": message.summary.override,
        "received_at": _iso(message.received_at),
        "age_seconds": max(0, int((now - message.received_at).total_seconds())),
        "expires_at": _iso(message.expires_at),
        "next_attempt_at": _iso(message.next_attempt_at),
        "decided_by": message.decided_by,
        "decided_at": _iso(message.decided_at),
        "attempts": message.attempts,
    }


def show_json(message: SpooledMessage, now: datetime, subject: str = "") -> dict[str, Any]:
    summary = message.summary
    return {
        **list_json(message, now, subject),
        "recipients": list(message.recipients),
        "release_after": _iso(message.release_after),
        "decision_reason": message.decision_reason,
        "last_error": message.last_error,
        "has_content": message.has_content,
        "content_size": message.content_size,
        "redacted_on_release": message.redacted_on_release,
        "enforced": summary.enforced,
        "mode": summary.mode,
        "reasons": [
            {"rule": h.rule, "action": h.action, "message": h.message,
             "recipient": h.recipient, "overridden": h.overridden}
            for h in summary.hits
        ],
        "findings": [
            {"entity": f.entity, "location": f.location, "category": f.category,
             "client_id": f.client_id, "quoted": f.quoted}
            for f in summary.findings
        ],
    }  # fmt: skip


def list_table(
    messages: Sequence[SpooledMessage],
    now: datetime,
    *,
    all_states: bool,
    subjects: Mapping[str, str] | None = None,
) -> tuple[tuple[str, ...], list[list[str]]]:
    """Header and rows for ``held list``; STATE only when not all are held."""
    header = LIST_COLUMNS if all_states else tuple(c for c in LIST_COLUMNS if c != "STATE")
    rows = []
    for m in messages:
        row = [
            m.id[:SHORT_ID],
            age(m.received_at, now),
            m.state.value,
            _cell((subjects or {}).get(m.id, "") or "-"),
            m.sender,
            str(len(m.recipients)),
            ",".join(m.summary.rule_codes) or "-",
        ]
        if not all_states:
            del row[2]
        rows.append(row)
    return header, rows


def _describe_state(message: SpooledMessage, settings: Settings) -> str:
    by = message.decided_by or "someone"
    match message.state:
        case SpoolState.HELD:
            return f"held for review; expires {_local(message.expires_at, settings)}"
        case SpoolState.DEFERRED:
            when = message.next_attempt_at or message.release_after
            due = f" {_local(when, settings)}" if when is not None else ""
            return f"deferred: will be sent{due} (not held; nothing to decide)"
        case SpoolState.RELEASED:
            return f"released by {by}; `tactful serve` sends it"
        case SpoolState.RETURNED:
            if message.decided_by == "upstream":
                return "returned: the agency mail server refused it"
            return f"returned to the sender by {by}"
        case SpoolState.DELETED:
            return f"deleted by {by}"
        case SpoolState.EXPIRED:
            return "expired: nobody decided in time, so it was deleted unsent"
        case SpoolState.SENT:
            return "sent"
        case SpoolState.CANCELLED:
            return "cancelled by the sender"
    return message.state.value


def print_show(
    message: SpooledMessage, settings: Settings, out: TextIO, now: datetime, subject: str = ""
) -> None:
    summary = message.summary
    marks = (("urgent", summary.urgent), ("sender override", summary.override))
    flags = [name for name, on in marks if on]
    lines = [
        f"Message {message.id}",
        f"  Subject:    {subject or '-'}",
        f"  State:      {_describe_state(message, settings)}",
        f"  From:       {message.sender} (account {message.user})",
        f"  To:         {', '.join(message.recipients)}",
        f"  Received:   {_local(message.received_at, settings)} "
        f"({age(message.received_at, now)} ago)",
        f"  Verdict:    {summary.verdict}"
        + (f" (enforced: {summary.enforced})" if summary.enforced != summary.verdict else "")
        + (f", mode {summary.mode}" if summary.mode != "enforce" else "")
        + (f"; {', '.join(flags)}" if flags else ""),
        f"  Size:       {message.content_size} bytes"
        + ("" if message.has_content else " (content deleted)"),
    ]
    if message.decided_at is not None and message.state is not SpoolState.DEFERRED:
        lines.append(f"  Decided:    {_local(message.decided_at, settings)} by "
                     f"{message.decided_by or '-'}")  # fmt: skip
    if message.decision_reason:
        lines.append(f"  Reason:     {message.decision_reason}")
    if message.redacted_on_release:
        lines.append("  Released with some details masked.")
    if message.last_error:
        lines.append(f"  Last error: {message.last_error} (attempt {message.attempts})")
    lines += ["", "Why:"]
    reasons: dict[str, None] = {}
    for hit in summary.hits:
        note = " (overridden by the sender)" if hit.overridden else ""
        who = f" [{hit.recipient}]" if hit.recipient else ""
        reasons.setdefault(f"  - {hit.message} ({hit.rule}, {hit.action}){who}{note}", None)
    lines += list(reasons) or ["  - No rule findings were recorded."]
    if summary.findings:
        lines += ["", "Findings (where they are; the values are never stored):"]
        for f in summary.findings:
            extra = [x for x in (
                f.category, f"client {f.client_id}" if f.client_id else None,
                "in quoted text" if f.quoted else None,
            ) if x]  # fmt: skip
            lines.append(f"  - {f.entity} in {f.location}"
                         + (f" ({', '.join(extra)})" if extra else ""))  # fmt: skip
    if message.state is SpoolState.HELD:
        short = message.id[:SHORT_ID]
        lines += [
            "",
            f"Decide: tactful held release {short} --reason TEXT",
            f"        tactful held reject {short} --reason TEXT   (the sender reads the reason)",
        ]
    print("\n".join(lines), file=out)
