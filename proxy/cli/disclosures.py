"""``tactful disclosures CLIENT_ID``: the accounting of disclosures for one
client -- every delivered message that carried their information to them,
their representative or someone outside the agency -- as a table, JSON or
CSV (what a client who asks for their accounting is given).

Dates are read in the agency's time zone; ``--until`` includes the whole
day it names."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date, datetime, time, timedelta

from proxy.cli import EXIT_OK, EXIT_USAGE
from proxy.cli.audit import DatabaseUnavailable, fail, migrated_engine, print_table
from proxy.core.config import Settings, load_settings
from proxy.pipeline.accounting import FIELDS, AccountingEntry, accounting
from proxy.store.disclosures import Disclosure, DisclosureLog

FORMATS = ("table", "json", "csv")
_TABLE = ("WHEN", "TO", "WHO", "BY", "WHAT", "PURPOSE", "REVIEWED", "PART2", "MESSAGE")


class _BadDate(ValueError):
    pass


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser(
        "disclosures",
        parents=[common],
        help="list what was disclosed about a client, to whom and when",
        description="The accounting of disclosures for one client: every delivered message "
        "that carried the client's information to the client, an authorised representative "
        "or anyone outside the agency, with the date, recipient, what kinds of information, "
        "the purpose stated on the consent, who released it after review and whether the "
        "42 CFR Part 2 notice went with it. Exit status: 0 listed (even if empty), "
        "2 usage error or database unavailable.",
    )
    parser.add_argument("client_id", metavar="CLIENT_ID", help="the agency's client id")
    parser.add_argument(
        "--since", metavar="DATE", help="from this day (YYYY-MM-DD, agency time zone)"
    )
    parser.add_argument(
        "--until", metavar="DATE", help="up to and including this day (YYYY-MM-DD)"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default=None, help="table (default), json or csv"
    )
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.set_defaults(func=run)


def _day_start(text: str, settings: Settings, option: str) -> datetime:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise _BadDate(f"{option} must be a date written YYYY-MM-DD, got {text!r}") from None
    return datetime.combine(day, time(0), tzinfo=settings.agency.tz)


def _as_json(d: Disclosure, entry: AccountingEntry) -> dict[str, object]:
    return {
        "at": d.at.isoformat(),
        "message_id": d.message_id,
        "client_ids": list(d.client_ids),
        "recipient": d.recipient,
        "recipient_name": d.recipient_name,
        "recipient_kind": d.recipient_kind,
        "channel": d.channel,
        "categories": list(d.categories),
        "entity_types": list(d.entity_types),
        "description": entry.description,
        "purpose": entry.purpose,
        "reviewed": d.released_by is not None,
        "released_by": d.released_by,
        "part2_notice": d.part2_notice,
    }


def _to(entry: AccountingEntry) -> str:
    if entry.recipient_name:
        return f"{entry.recipient_name} <{entry.recipient_address}>"
    return entry.recipient_address


def run(args: argparse.Namespace) -> int:
    client_id = args.client_id.strip()
    if not client_id:
        return fail("CLIENT_ID must not be empty", EXIT_USAGE)
    fmt = args.format or ("json" if args.json else "table")
    if args.json and fmt != "json":
        return fail("--json and --format " + fmt + " contradict each other", EXIT_USAGE)
    settings = load_settings(getattr(args, "config", None))
    try:
        since = _day_start(args.since, settings, "--since") if args.since else None
        until = _day_start(args.until, settings, "--until") if args.until else None
    except _BadDate as exc:
        return fail(str(exc), EXIT_USAGE)
    if until is not None:
        until = until + timedelta(days=1)  # the whole of that day
    if since is not None and until is not None and until <= since:
        return fail("--until is before --since", EXIT_USAGE)
    try:
        with migrated_engine(args, settings) as engine:
            found = DisclosureLog(engine).for_client(client_id, since=since, until=until)
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    entries = accounting(found, client_id, settings.agency.tz)
    if fmt == "json":
        print(json.dumps([_as_json(d, e) for d, e in zip(found, entries, strict=True)],
                         indent=2))  # fmt: skip
        return EXIT_OK
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(FIELDS)
        writer.writerows(entry.as_row() for entry in entries)
        return EXIT_OK
    if not entries:
        print(f"No disclosures recorded for client {client_id}.")
        return EXIT_OK
    rows = [
        (
            e.at.strftime("%Y-%m-%d %H:%M"),
            _to(e),
            e.recipient_kind,
            e.channel,
            e.description,
            e.purpose,
            f"released by {e.released_by}" if e.released_by else "no",
            "notice attached" if e.part2_notice else "-",
            e.message_id,
        )
        for e in entries
    ]
    print(f"{len(entries)} disclosure(s) for client {client_id}:")
    print_table(_TABLE, rows, sys.stdout)
    return EXIT_OK
