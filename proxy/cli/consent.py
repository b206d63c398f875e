"""``tactful consent``: import, export, list and revoke consent records.

Every command migrates the database first, so a new install never meets
"no such table". Errors are printed as plain sentences (never tracebacks)
and name no client data beyond what the admin typed on the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

from proxy.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from proxy.cli.audit import DatabaseUnavailable, fail, migrated_engine, print_table
from proxy.core.clock import system_clock
from proxy.core.config import Settings, load_settings
from proxy.core.consent import Channel, ConsentRecord, ConsentStatus
from proxy.store.consent_address import AddressError, address_channel, normalize_address
from proxy.store.consent_csv import ConsentCsvError, read_consent_csv, write_consent_csv
from proxy.store.consent_store import ConsentStore, ConsentStoreError, ImportSummary


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser(
        "consent",
        parents=[common],
        help="manage the consent registry (import, export, list, revoke)",
        description="Manage who agreed to be contacted, where and how.",
    )
    actions = parser.add_subparsers(
        dest="consent_action", metavar="ACTION", parser_class=type(parser)
    )
    actions.required = True

    imp = actions.add_parser(
        "import",
        parents=[common],
        help="import a consent CSV (all rows or none)",
        description=(
            "Import consent records from a CSV file with the columns of "
            "config/consent.example.csv. Rows are matched on client_id, address and "
            "channel. If any row has a problem, every problem is listed and nothing is "
            "imported. Exit status: 0 imported, 1 problems in the file, 2 usage error."
        ),
    )
    imp.add_argument("file", metavar="FILE.csv", help="the CSV file; '-' reads stdin")
    imp.set_defaults(func=run_import)

    exp = actions.add_parser(
        "export", parents=[common], help="write the registry as CSV",
        description="Write every consent record as CSV (the format import reads).",
    )
    exp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    exp.set_defaults(func=run_export)

    lst = actions.add_parser(
        "list", parents=[common], help="show consent records",
        description="Show consent records, with whether each is granted, revoked or expired.",
    )
    lst.add_argument("--client", metavar="ID", help="only this client_id")
    lst.add_argument("--json", action="store_true", help="print a JSON array")
    lst.set_defaults(func=run_list)

    rev = actions.add_parser(
        "revoke", parents=[common], help="record that a client withdrew consent",
        description=(
            "Mark a client's consent revoked: every address and channel, or only the ones "
            "given. Messages to revoked addresses are then rejected."
        ),
    )
    rev.add_argument("client_id", metavar="CLIENT_ID")
    rev.add_argument("--address", metavar="ADDR", help="only this email address or phone number")
    rev.add_argument("--channel", choices=[c.value for c in Channel], help="only this channel")
    rev.add_argument(
        "--evidence", required=True, metavar="TEXT",
        help="who asked, when and how (e.g. 'client phoned 2026-03-02, spoke to J. Ruiz')",
    )
    rev.set_defaults(func=run_revoke)


@contextmanager
def _open_store(args: argparse.Namespace, settings: Settings) -> Iterator[ConsentStore]:
    """A migrated store for the configured database; raises
    :class:`proxy.cli.audit.DatabaseUnavailable` with a printable reason."""
    with migrated_engine(args, settings) as engine:
        yield ConsentStore(engine)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def _summary_text(summary: ImportSummary, source: str) -> str:
    text = (
        f"Imported {summary.total} consent row(s) from {source}: {summary.created} new, "
        f"{summary.updated} updated, {summary.unchanged} unchanged."
    )
    if summary.kept_revoked:
        text += (
            f"\n{summary.kept_revoked} row(s) say 'granted' but consent was revoked after "
            "their granted_on date, so they stay revoked. If the client gave consent again, "
            "set granted_on to the date of the new consent."
        )
    return text


def run_import(args: argparse.Namespace) -> int:
    settings = _settings(args)
    region = settings.agency.default_region
    source = "<stdin>" if args.file == "-" else args.file
    try:
        if args.file == "-":
            stream: IO[bytes] | IO[str] = getattr(sys.stdin, "buffer", sys.stdin)
            records = read_consent_csv(stream, default_region=region, source=source)
        else:
            records = read_consent_csv(Path(args.file), default_region=region)
    except OSError as exc:
        return fail(f"cannot read {source}: {exc.strerror or type(exc).__name__}", EXIT_USAGE)
    except ConsentCsvError as exc:
        for line in str(exc).splitlines():
            print(line, file=sys.stderr)
        count = len(exc.errors)
        print(
            f"tactful: {count} problem(s) in {exc.source}; nothing was imported. "
            "Fix the rows above and run the import again.",
            file=sys.stderr,
        )
        return EXIT_FINDINGS
    try:
        with _open_store(args, settings) as store:
            summary = store.import_records(records, at=system_clock())
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    except ConsentStoreError as exc:
        return fail(str(exc), EXIT_FINDINGS)
    print(_summary_text(summary, source))
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        with _open_store(args, settings) as store:
            records = store.export()
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.output is None:
        write_consent_csv(records, sys.stdout)
        return EXIT_OK
    try:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            write_consent_csv(records, out)
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc.strerror}", EXIT_USAGE)
    print(f"Exported {len(records)} consent row(s) to {args.output}.", file=sys.stderr)
    return EXIT_OK


def _state(record: ConsentRecord, settings: Settings, now: datetime) -> str:
    if record.status is ConsentStatus.REVOKED:
        return "revoked"
    if record.expired(now.astimezone(settings.agency.tz).date()):
        return "expired"
    return "granted"


def _as_json(record: ConsentRecord, state: str) -> dict[str, object]:
    return {
        "client_id": record.client_id,
        "name": record.name,
        "aliases": list(record.aliases),
        "address": record.address,
        "channel": record.channel.value,
        "relationship": record.relationship.value,
        "status": record.status.value,
        "state": state,
        "granted_on": record.granted_on.isoformat(),
        "expires_on": record.expires_on.isoformat() if record.expires_on else None,
        "preferred": record.preferred,
        "identifiers": list(record.identifiers),
        "notes": record.notes,
        "recipient_name": record.recipient_name,
        "scope": list(record.scope),
        "purpose": record.purpose,
        "part2": record.part2,
    }


_TABLE_COLUMNS = ("CLIENT", "NAME", "RELATIONSHIP", "CHANNEL", "ADDRESS", "STATE", "EXPIRES",
                  "PREFERRED", "SCOPE", "PURPOSE", "PART2")


def run_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        with _open_store(args, settings) as store:
            records = store.list(args.client)
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    now = system_clock()
    if args.client is not None and not records:
        return fail(f"no consent records for client {args.client!r}", EXIT_FINDINGS)
    if args.json:
        json.dump([_as_json(r, _state(r, settings, now)) for r in records], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not records:
        print("No consent records yet. Import some with: tactful consent import FILE.csv")
        return EXIT_OK
    rows = [
        (
            r.client_id,
            r.name,
            r.relationship.value,
            r.channel.value,
            r.address,
            _state(r, settings, now),
            r.expires_on.isoformat() if r.expires_on else "never",
            "yes" if r.preferred else "no",
            (";".join(r.scope) or "any") if r.relationship.value == "authorized" else "-",
            r.purpose or "-",
            "yes" if r.part2 else "no",
        )
        for r in records
    ]
    print_table(_TABLE_COLUMNS, rows, sys.stdout)
    return EXIT_OK


def run_revoke(args: argparse.Namespace) -> int:
    settings = _settings(args)
    channel = Channel(args.channel) if args.channel else None
    if not args.evidence.strip():
        return fail("--evidence must say who asked, when and how", EXIT_USAGE)
    address: str | None = None
    if args.address is not None:
        shape = address_channel(args.address)
        if channel is not None and shape is not channel:
            kind = "a phone number" if channel is Channel.SMS else "an email address"
            return fail(f"--channel {channel.value} needs --address to be {kind}", EXIT_USAGE)
        try:
            address = normalize_address(args.address, shape, settings.agency.default_region)
        except AddressError as exc:
            return fail(f"--address {exc}", EXIT_USAGE)
    try:
        with _open_store(args, settings) as store:
            revoked = store.revoke(
                args.client_id, address=address, channel=channel,
                evidence=args.evidence, at=system_clock(),
            )
            matching = store.count(args.client_id, address=address, channel=channel)
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    if revoked:
        print(f"Revoked {revoked} consent row(s) for client {args.client_id}.")
        return EXIT_OK
    if matching == 0:
        which = " with that address/channel" if address or channel else ""
        return fail(f"no consent records for client {args.client_id!r}{which}", EXIT_FINDINGS)
    print(f"Nothing to do: that consent for client {args.client_id} was already revoked.")
    return EXIT_OK
