"""``tactful lint``: judge .eml files the way the proxy would, offline."""

from __future__ import annotations

import argparse
import email.policy
import json
import sys
from datetime import datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from proxy.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from proxy.core.clock import system_clock
from proxy.core.config import Settings, load_settings
from proxy.core.consent import Registry
from proxy.core.verdict import Action
from proxy.lint.hours import local_time


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "lint",
        parents=[common],
        help="check messages (.eml files) against the policy",
        description=(
            "Check RFC 5322 messages against Tactful's policy, as the proxy would. "
            "Exit status: 0 pass/warn, 1 any other verdict, 2 usage error or unreadable input."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE.eml", help="message files; '-' reads stdin")
    p.add_argument("--consent", metavar="FILE.csv", help="use this consent CSV instead of the DB")
    p.add_argument(
        "--at",
        metavar="ISO-8601",
        help="judge as if sent at this time (default: the message's Date header, else now)",
    )
    p.add_argument("--from", dest="sender", metavar="ADDR", help="envelope sender")
    p.add_argument(
        "--to", dest="recipients", action="append", metavar="ADDR", help="envelope recipient"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file, per line")
    p.add_argument("-v", "--verbose", action="store_true", help="also list informational findings")
    p.set_defaults(func=run)


def _parse_at(value: str, settings: Settings) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"--at {value!r} is not an ISO-8601 date and time") from exc
    return local_time(at, settings.agency.tz)


def _load_registry(args: argparse.Namespace, settings: Settings) -> Registry:
    if args.consent:
        from proxy.store.consent_csv import read_consent_csv

        region = settings.agency.default_region
        return Registry(read_consent_csv(args.consent, default_region=region))
    from proxy.store.registry_source import registry_from_database

    return registry_from_database(args.db or settings.database.url)


def _sent_at(raw: bytes) -> datetime | None:
    """The message's Date header: when a stored .eml was (or would be) sent.

    Linting a saved message should judge it at its own time, so after-hours
    rules give the same answer tomorrow as today. ``--at`` overrides it.
    """
    headers = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    value = headers.get("Date")
    if value is None:
        return None
    try:
        at = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return at if at.tzinfo is not None else None


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def run(args: argparse.Namespace) -> int:
    from proxy.store.consent_csv import ConsentCsvError

    settings = load_settings(args.config)
    try:
        at = _parse_at(args.at, settings) if args.at else None
    except ValueError as exc:
        print(f"tactful lint: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        registry = _load_registry(args, settings)
    except ConsentCsvError as exc:
        print(f"tactful lint: consent file has errors:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"tactful lint: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE

    from proxy.lint.engine import LintEngine
    from proxy.lint.nlp import ModelNotInstalledError
    from proxy.lint.report import human_lines, to_json

    try:
        engine = LintEngine(settings, registry)
    except ModelNotInstalledError as exc:
        print(f"tactful lint: {exc}", file=sys.stderr)
        return EXIT_USAGE

    worst = EXIT_OK
    for path in args.files:
        try:
            raw = _read(path)
        except OSError as exc:
            print(f"tactful lint: cannot read {path}: {exc.strerror}", file=sys.stderr)
            worst = max(worst, EXIT_USAGE)
            continue
        when = at or _sent_at(raw) or system_clock()
        result = engine.lint(raw, sender=args.sender, recipients=args.recipients, at=when)
        name = "<stdin>" if path == "-" else path
        if args.json:
            print(json.dumps(to_json(name, result), ensure_ascii=False))
        else:
            for line in human_lines(name, result, verbose=args.verbose):
                print(line)
        if not result.message.envelope.recipients:
            hint = "no recipients (give --to or a To header)"
            print(f"tactful lint: {name}: {hint}", file=sys.stderr)
            worst = max(worst, EXIT_USAGE)
        elif result.verdict.verdict > Action.WARN:
            worst = max(worst, EXIT_FINDINGS)
    return worst
