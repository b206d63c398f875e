"""``tactful held``: review held messages from a terminal.

The review web app is the everyday tool; this is the one that works over
SSH at 7 a.m. when the web app is down, and the one admins script. It
decides through the same review service as the web app
(:mod:`proxy.review.decisions`): the same compare-and-set, so a terminal
and a browser deciding at once cannot both win, the same four-eyes rule
(the ``--as`` name, plus the sender addresses of the account of that name
in the user file), and the same sender notices (the scheduler in
``tactful serve`` sends them). This module only turns argv into a call and
the outcome into a message and an exit code.

Nothing here prints message content except ``show --raw``, which an admin
asks for.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from proxy.accounts.users import UsersFileError, load_users
from proxy.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from proxy.cli.audit import DatabaseUnavailable, fail, migrated_engine, print_table
from proxy.core.clock import system_clock
from proxy.core.config import Settings, load_settings
from proxy.pipeline.act import NoticeQueue
from proxy.review.decisions import (
    MAX_REASON,
    Action,
    Conflict,
    Decision,
    Done,
    Missing,
    NoReason,
    OwnMessage,
    Reviewer,
    ReviewService,
    clean_reason,
)
from proxy.store.crypto import DecryptionError, MessageCipher, load_or_create_key
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import MIN_PREFIX, Ambiguous, SpooledMessage, SpoolStore

SHORT_ID = 12  # characters of the id shown in lists; MIN_PREFIX of them resolve


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser(
        "held",
        parents=[common],
        help="review held messages (list, show, release, reject, delete)",
        description=(
            "Review messages Tactful is holding for a supervisor. A message id may be "
            f"shortened to its first {MIN_PREFIX} or more characters."
        ),
    )
    actions = parser.add_subparsers(dest="held_action", metavar="ACTION", parser_class=type(parser))
    actions.required = True

    lst = actions.add_parser(
        "list", parents=[common], help="list messages waiting for a decision",
        description=(
            "List held messages waiting for a decision, oldest first. --all also shows "
            "deferred, released, returned, sent and other finished messages."
        ),
    )  # fmt: skip
    lst.add_argument("--all", action="store_true", help="every spooled message, in any state")
    lst.add_argument("--json", action="store_true", help="print a JSON array")
    lst.set_defaults(func=run_list)

    show = actions.add_parser(
        "show", parents=[common], help="why a message was held and where the problems are",
        description=(
            "Show a spooled message: who sent it to whom, why it was held, and where the "
            "findings are (never the matched values). --raw prints the whole message "
            "instead, decrypted, for an admin."
        ),
    )  # fmt: skip
    show.add_argument("id", metavar="ID", help="message id or its first characters")
    out = show.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print a JSON object")
    out.add_argument(
        "--raw", action="store_true", help="print the decrypted message (client data!)"
    )
    show.set_defaults(func=run_show)

    for name, func, summary in (
        ("release", run_release, "send a held message on to its recipients"),
        ("reject", run_reject, "return a held message to its sender, unsent"),
        ("delete", run_delete, "delete a held message without sending it"),
    ):
        decide = actions.add_parser(
            name, parents=[common], help=summary,
            description=(
                f"{summary[0].upper()}{summary[1:]}. The reason is recorded"
                + (" and sent to the sender" if name == "reject" else "")
                + ". You cannot decide on a message you sent yourself."
            ),
        )  # fmt: skip
        decide.add_argument("id", metavar="ID", help="message id or its first characters")
        decide.add_argument(
            "--reason", required=True, metavar="TEXT",
            help="why (recorded with the decision"
            + ("; the sender reads it)" if name == "reject" else ")"),
        )  # fmt: skip
        decide.add_argument(
            "--as", dest="reviewer", metavar="NAME", default=None,
            help="your reviewer name (default: $USER)",
        )  # fmt: skip
        decide.set_defaults(func=func)


# --- opening the spool ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    settings: Settings
    spool: SpoolStore


@contextmanager
def _open(args: argparse.Namespace) -> Iterator[_Context]:
    """A migrated spool with the hold key ``tactful serve`` uses; raises
    :class:`proxy.cli.audit.DatabaseUnavailable` with a printable reason, and
    :class:`proxy.store.crypto.HoldKeyError` (a ConfigError, exit 2) for the key."""
    settings = load_settings(getattr(args, "config", None))
    cipher = MessageCipher(load_or_create_key(settings.hold))
    with migrated_engine(args, settings) as engine:
        spool = SpoolStore(
            engine,
            cipher,
            clock=system_clock,
            expire_after=timedelta(days=settings.hold.expire_days),
        )
        yield _Context(settings, spool)


def _too_short(text: str) -> int | None:
    """Checked before opening anything: a short prefix is a usage error."""
    if len(text.strip()) < MIN_PREFIX:
        return fail(
            f"give at least {MIN_PREFIX} characters of the message id (from `tactful held list`)",
            EXIT_USAGE,
        )
    return None


def _resolve(spool: SpoolStore, text: str) -> SpooledMessage | int:
    """The message ``text`` names, or the exit code after saying why not."""
    wanted = text.strip()
    short = _too_short(wanted)
    if short is not None:
        return short
    found = spool.resolve(wanted)
    if found is None:
        return fail(f"no spooled message has an id starting with {wanted!r}", EXIT_FINDINGS)
    if isinstance(found, Ambiguous):
        listed = ", ".join(found.ids)
        return fail(
            f"{wanted!r} matches more than one message ({listed}); type more of the id",
            EXIT_FINDINGS,
        )
    return found


# --- presenting -------------------------------------------------------------------


def _age(since: datetime, now: datetime) -> str:
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


def _list_json(message: SpooledMessage, now: datetime) -> dict[str, Any]:
    return {
        "id": message.id,
        "short_id": message.id[:SHORT_ID],
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


def _show_json(message: SpooledMessage) -> dict[str, Any]:
    summary = message.summary
    return {
        **_list_json(message, system_clock()),
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


_LIST_COLUMNS = ("ID", "AGE", "STATE", "SENDER", "TO", "RULES")


def run_list(args: argparse.Namespace) -> int:
    try:
        with _open(args) as ctx:
            messages = ctx.spool.by_state(None) if args.all else ctx.spool.list_held()
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    now = system_clock()
    if args.json:
        json.dump([_list_json(m, now) for m in messages], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not messages:
        print("No messages are waiting for a decision." if not args.all
              else "The spool is empty.")  # fmt: skip
        return EXIT_OK
    header = _LIST_COLUMNS if args.all else tuple(c for c in _LIST_COLUMNS if c != "STATE")
    rows = []
    for m in messages:
        row = [
            m.id[:SHORT_ID],
            _age(m.received_at, now),
            m.state.value,
            m.sender,
            str(len(m.recipients)),
            ",".join(m.summary.rule_codes) or "-",
        ]
        if not args.all:
            del row[2]
        rows.append(row)
    print_table(header, rows, sys.stdout)
    return EXIT_OK


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


def _print_show(message: SpooledMessage, settings: Settings, out: TextIO) -> None:
    summary = message.summary
    now = system_clock()
    marks = (("urgent", summary.urgent), ("sender override", summary.override))
    flags = [name for name, on in marks if on]
    lines = [
        f"Message {message.id}",
        f"  State:      {_describe_state(message, settings)}",
        f"  From:       {message.sender} (account {message.user})",
        f"  To:         {', '.join(message.recipients)}",
        f"  Received:   {_local(message.received_at, settings)} "
        f"({_age(message.received_at, now)} ago)",
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


def run_show(args: argparse.Namespace) -> int:
    short = _too_short(args.id)
    if short is not None:
        return short
    try:
        with _open(args) as ctx:
            found = _resolve(ctx.spool, args.id)
            if isinstance(found, int):
                return found
            if args.raw:
                return _print_raw(ctx.spool, found)
            if args.json:
                json.dump(_show_json(found), sys.stdout, indent=2)
                sys.stdout.write("\n")
            else:
                _print_show(found, ctx.settings, sys.stdout)
            return EXIT_OK
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)


def _print_raw(spool: SpoolStore, message: SpooledMessage) -> int:
    try:
        raw = spool.raw(message.id)
    except DecryptionError as exc:
        return fail(f"message {message.id}: {exc}", EXIT_FINDINGS)
    if raw is None:
        return fail(
            f"message {message.id} has no content any more ({message.state.value}); "
            "content is deleted once a message is sent, returned, deleted or expired",
            EXIT_FINDINGS,
        )
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(raw.decode("utf-8", "replace"))
    else:
        sys.stdout.flush()
        out.write(raw)
        out.flush()
    return EXIT_OK


# --- deciding ---------------------------------------------------------------------


def _reviewer(args: argparse.Namespace) -> str | None:
    name: str | None = args.reviewer
    if name is None:
        name = os.environ.get("USER")
        if not name:
            try:
                name = getpass.getuser()
            except (OSError, KeyError):
                name = None
    return name.strip() if name and name.strip() else None


def _already(result: Conflict, shown: str) -> str:
    by = result.by or "someone"
    what = {
        SpoolState.RELEASED: f"was already released by {by}",
        SpoolState.RETURNED: (
            "was returned: the agency mail server refused it" if result.by == "upstream"
            else f"was already returned to the sender by {by}"
        ),
        SpoolState.DELETED: f"was already deleted by {by}",
        SpoolState.EXPIRED: "expired: nobody decided in time, so it was deleted unsent",
        SpoolState.SENT: "was already sent",
        SpoolState.CANCELLED: "was cancelled by its sender",
        SpoolState.DEFERRED: "is not held: it is deferred to the next working window",
        SpoolState.HELD: "changed while you were deciding; try again",
    }[result.state]  # fmt: skip
    return f"message {shown} {what}"


def _decide(args: argparse.Namespace, action: Action) -> int:
    """Usage is checked before the database is opened; the rest is the
    review service's, translated into a message and an exit code."""
    reason = clean_reason(args.reason)
    if reason is None:
        if args.reason.strip():
            return fail(f"--reason must be at most {MAX_REASON} characters", EXIT_USAGE)
        return fail("--reason must say why (it is recorded with the decision)", EXIT_USAGE)
    name = _reviewer(args)
    if name is None:
        return fail("who is deciding? give --as NAME (no $USER is set)", EXIT_USAGE)
    short = _too_short(args.id)
    if short is not None:
        return short
    try:
        with _open(args) as ctx:
            found = _resolve(ctx.spool, args.id)
            if isinstance(found, int):
                return found
            # Four eyes also knows the sender addresses of --as's account.
            reviewer = Reviewer.looked_up(name, load_users(ctx.settings.smtp.users_file))
            service = ReviewService(ctx.spool, NoticeQueue(ctx.spool, ctx.settings))
            outcome = service.decide(reviewer, found.id, action, reason)
            return _report(outcome, found.id, name)
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    except UsersFileError as exc:
        return fail(f"{exc} (it says which addresses are yours, for four eyes)", EXIT_USAGE)


def _report(outcome: Decision, shown: str, reviewer: str) -> int:
    match outcome:
        case Done():
            return _done(outcome)
        case OwnMessage():
            return fail(
                f"you ({reviewer}) sent message {shown}; another reviewer must decide on it "
                "(four-eyes rule)",
                EXIT_FINDINGS,
            )
        case Missing():
            return fail(f"message {shown} no longer exists", EXIT_FINDINGS)
        case Conflict():
            return fail(_already(outcome, shown), EXIT_FINDINGS)
        case NoReason():
            return fail("--reason must say why (it is recorded with the decision)", EXIT_USAGE)


def _done(done: Done) -> int:
    """Tell the reviewer what happened, and whether the sender will hear."""
    message = done.message
    told = f" {message.sender} will get an email about it." if done.told else ""
    if done.action is Action.RELEASE:
        print(
            f"Released message {message.id}. `tactful serve` sends it within seconds "
            f"(if it is not running, the message goes out when it starts).{told}"
        )
    elif done.action is Action.RETURN:
        print(f"Returned message {message.id} to its sender; it will not be sent.{told}")
    else:
        print(f"Deleted message {message.id}; it was not sent and its content is gone.")
    if not done.told:
        return fail(
            "the decision is recorded, but the sender's notice could not be queued; "
            f"please tell {message.sender} yourself.",
            EXIT_FINDINGS,
        )
    return EXIT_OK


def run_release(args: argparse.Namespace) -> int:
    return _decide(args, Action.RELEASE)


def run_reject(args: argparse.Namespace) -> int:
    return _decide(args, Action.RETURN)


def run_delete(args: argparse.Namespace) -> int:
    return _decide(args, Action.DELETE)
