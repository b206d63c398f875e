"""``tactful audit``: check the audit trail for tampering, and read it.

``verify`` exits 1 when the chain is broken, so a nightly cron job or a
monitoring check can alert on it; it prints the chain head so an auditor
can note it somewhere else and later prove the trail only grew.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from proxy.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from proxy.core.config import Settings, load_settings
from proxy.store.audit import AuditEntry, AuditTrail, VerifyReport
from proxy.store.db import make_engine
from proxy.store.migrations import upgrade

DEFAULT_LIMIT = 50


class DatabaseUnavailable(Exception):
    """The database could not be opened or migrated; the text is safe to print."""


def safe_url(url: str) -> str:
    """The URL as safe to print: never the password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


@contextmanager
def migrated_engine(args: argparse.Namespace, settings: Settings) -> Iterator[Engine]:
    """The configured database, migrated; raises :class:`DatabaseUnavailable`."""
    url: str = getattr(args, "db", None) or settings.database.url
    try:
        engine = make_engine(url)
    except (ArgumentError, ValueError):
        raise DatabaseUnavailable(
            f"database URL {safe_url(url)} is not valid "
            "(expected e.g. sqlite:///var/tactful.db or postgresql://user@host/db)"
        ) from None
    try:
        try:
            upgrade(engine)
        except SQLAlchemyError as exc:
            reason = type(getattr(exc, "orig", None) or exc).__name__
            raise DatabaseUnavailable(
                f"cannot open the database at {safe_url(url)} ({reason}); "
                "check --db / database.url and that the server is running"
            ) from None
        yield engine
    finally:
        engine.dispose()


def fail(message: str, code: int) -> int:
    print(f"tactful: {message}", file=sys.stderr)
    return code


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        print(line.rstrip(), file=out)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser(
        "audit",
        parents=[common],
        help="check and read the audit trail",
        description="The audit trail records who viewed, released, returned or deleted "
        "messages, changed consent or logged in. It is hash-chained: any change shows.",
    )
    actions = parser.add_subparsers(
        dest="audit_action", metavar="ACTION", parser_class=type(parser)
    )
    actions.required = True
    verify = actions.add_parser(
        "verify",
        parents=[common],
        help="check that no entry was altered, removed or reordered",
        description="Check every entry of the audit trail. Exit status: 0 intact, "
        "1 altered or incomplete, 2 usage or database error.",
    )
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(func=run_verify)
    lst = actions.add_parser(
        "list",
        parents=[common],
        help="show the latest entries",
        description="Show the latest audit entries, oldest first.",
    )
    lst.add_argument("--json", action="store_true", help="print a JSON array")
    lst.add_argument(
        "--limit",
        type=_positive,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show the latest N entries (default {DEFAULT_LIMIT})",
    )
    lst.set_defaults(func=run_list)


def _report_json(report: VerifyReport) -> dict[str, object]:
    return {
        "ok": report.ok,
        "checked": report.checked,
        "first_broken": report.first_broken,
        "problem": report.problem,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
    }


def run_verify(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    try:
        with migrated_engine(args, settings) as engine:
            report = AuditTrail(engine).verify()
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.json:
        print(json.dumps(_report_json(report)))
    elif report.ok:
        print(
            f"The audit trail is intact: {report.checked} entries checked.\n"
            f"Latest entry: {report.head_seq}, hash {report.head_hash}"
        )
    else:
        print(
            f"The audit trail has been tampered with: {report.problem}.\n"
            f"{report.checked} entries before that were checked and are intact. "
            "Keep a copy of the database as it is now and tell your security officer."
        )
    return EXIT_OK if report.ok else EXIT_FINDINGS


def _details_text(details: Mapping[str, object]) -> str:
    words = []
    for key, value in sorted(details.items()):
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        else:
            shown = "-" if value is None else str(value)
        words.append(f"{key.replace('_', ' ')}: {shown}")
    return ", ".join(words)


def _entry_json(entry: AuditEntry) -> dict[str, object]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "details": dict(entry.details),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _local(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(settings.agency.tz).strftime("%Y-%m-%d %H:%M:%S")


def run_list(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    try:
        with migrated_engine(args, settings) as engine:
            entries = AuditTrail(engine).entries(limit=args.limit)
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.json:
        print(json.dumps([_entry_json(e) for e in entries], indent=2))
        return EXIT_OK
    if not entries:
        print("The audit trail is empty: nothing has been recorded yet.")
        return EXIT_OK
    rows = [
        (
            str(e.seq),
            _local(e.at, settings),
            e.actor,
            e.action,
            e.target or "-",
            _details_text(e.details) or "-",
        )
        for e in entries
    ]
    print_table(("ENTRY", "TIME", "WHO", "ACTION", "ON", "DETAILS"), rows, sys.stdout)
    return EXIT_OK
