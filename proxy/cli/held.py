"""``tactful held``: review held messages from a terminal.

The review web app is the everyday tool; this is the one that works over
SSH at 7 a.m. when the web app is down, and the one admins script. It
decides through the same review service as the web app
(:mod:`proxy.review.decisions`): the same compare-and-set, so a terminal
and a browser deciding at once cannot both win, the same rules on who
decides (``--as`` must name a reviewer or admin account in the user file,
never the operating-system user; four eyes with that account's sender
addresses; routing when ``review.enforce_routing`` is on; deleting is an
admin's), and the same sender notices (the scheduler in ``tactful serve``
sends them). This module only turns argv into a call and the outcome into
a message and an exit code.

Nothing here prints message content except ``show --raw``, which an admin
asks for.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from proxy.accounts.users import UsersFileError, load_users
from proxy.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from proxy.cli.audit import DatabaseUnavailable, fail, migrated_engine, print_table
from proxy.cli.held_views import list_json, list_table, print_show, show_json
from proxy.core.clock import system_clock
from proxy.core.config import Settings, load_settings
from proxy.pipeline.notice_queue import NoticeQueue
from proxy.review.decisions import (
    MAX_REASON,
    Action,
    Conflict,
    Decision,
    Done,
    Missing,
    NoReason,
    NotAllowed,
    OwnMessage,
    Reviewer,
    ReviewService,
    clean_reason,
)
from proxy.review.routing import NotAReviewer, NotAssigned, Routing
from proxy.review.titles import sent_by_person, titles_in
from proxy.store.crypto import DecryptionError, MessageCipher, load_or_create_key
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import MIN_PREFIX, Ambiguous, SpoolStore
from proxy.store.spool_view import SpooledMessage


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
        ("delete", run_delete, "delete a held message without sending it (admins)"),
    ):
        decide = actions.add_parser(
            name, parents=[common], help=summary,
            description=(
                f"{summary[0].upper()}{summary[1:]}. The reason is recorded"
                + (" and sent to the sender" if name == "reject" else "")
                + ". --as names your reviewer or admin account. You cannot decide on "
                "a message you sent yourself, nor, while review.enforce_routing is on, on "
                "mail review.supervisors routes to other reviewers (admins may)."
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
            help="your reviewer or admin account (required; the decision is recorded as yours)",
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


# --- listing and showing ---------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    try:
        with _open(args) as ctx:
            messages = ctx.spool.by_state(None) if args.all else ctx.spool.list_held()
            # Tactful's own notices to workers are not review items.
            messages = [m for m in messages if sent_by_person(m)]
            subjects = titles_in(ctx.spool, messages)
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    now = system_clock()
    if args.json:
        json.dump([list_json(m, now, subjects[m.id]) for m in messages], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not messages:
        print("No messages are waiting for a decision." if not args.all
              else "The spool is empty.")  # fmt: skip
        return EXIT_OK
    header, rows = list_table(messages, now, all_states=args.all, subjects=subjects)
    print_table(header, rows, sys.stdout)
    return EXIT_OK


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
            subject = titles_in(ctx.spool, [found])[found.id]
            if args.json:
                json.dump(show_json(found, system_clock(), subject), sys.stdout, indent=2)
                sys.stdout.write("\n")
            else:
                print_show(found, ctx.settings, sys.stdout, system_clock(), subject)
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
    """The --as name. Never the operating-system user: whoever is at the
    terminal (root, a shared service account) is not who the four-eyes
    rule and the audit trail must name."""
    name: str | None = args.reviewer
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
        return fail(
            "who is deciding? give --as NAME, your reviewer or admin account "
            "(`tactful user list` shows them); the decision is recorded as theirs",
            EXIT_USAGE,
        )
    short = _too_short(args.id)
    if short is not None:
        return short
    try:
        with _open(args) as ctx:
            found = _resolve(ctx.spool, args.id)
            if isinstance(found, int):
                return found
            # Four eyes also knows the sender addresses of --as's account.
            directory = load_users(ctx.settings.smtp.users_file)
            reviewer = Reviewer.looked_up(name, directory)
            routing = Routing.configured(ctx.settings.review, lambda: directory)
            service = ReviewService(ctx.spool, NoticeQueue(ctx.spool, ctx.settings), routing)
            outcome = service.decide(reviewer, found.id, action, reason)
            return _report(outcome, found.id, name, ctx.settings)
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    except UsersFileError as exc:
        return fail(f"{exc} (it says which addresses are yours, for four eyes)", EXIT_USAGE)


def _report(outcome: Decision, shown: str, reviewer: str, settings: Settings) -> int:
    match outcome:
        case Done():
            return _done(outcome)
        case NotAReviewer():
            return fail(
                f"--as {reviewer!r} is not a reviewer or admin account in "
                f"{settings.smtp.users_file}; give your own reviewer account "
                "(`tactful user list` shows them)",
                EXIT_USAGE,
            )
        case NotAllowed():
            return fail(
                f"{reviewer} is a reviewer; only an admin may {outcome.action.value} a message",
                EXIT_USAGE,
            )
        case NotAssigned():
            return fail(
                f"message {shown} is for {', '.join(outcome.reviewers)} to decide "
                "(review.supervisors); only they or an admin may release or return it",
                EXIT_FINDINGS,
            )
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
