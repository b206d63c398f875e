"""``tactful db``: database maintenance (migrations)."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from proxy.cli import EXIT_OK, EXIT_USAGE
from proxy.cli.audit import safe_url
from proxy.core.config import load_settings
from proxy.store.db import make_engine
from proxy.store.migrations import current_revision, upgrade


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser(
        "db", parents=[common], help="database maintenance",
        description="Database maintenance. Other commands migrate automatically; "
        "run 'tactful db upgrade' after installing a new version, before starting the proxy.",
    )
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    up = actions.add_parser(
        "upgrade", parents=[common], help="create or update the tables",
        description="Apply every pending migration to the configured database.",
    )
    up.set_defaults(func=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    url: str = getattr(args, "db", None) or settings.database.url
    try:
        engine = make_engine(url)
    except (ArgumentError, ValueError):
        print(f"tactful: database URL {safe_url(url)} is not valid", file=sys.stderr)
        return EXIT_USAGE
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    except SQLAlchemyError as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        print(
            f"tactful: cannot migrate the database at {safe_url(url)} ({reason}); "
            "check --db / database.url and that the server is running",
            file=sys.stderr,
        )
        return EXIT_USAGE
    finally:
        engine.dispose()
    if before == after:
        print(f"Database {safe_url(url)} is up to date (revision {after}).")
    else:
        print(f"Database {safe_url(url)} upgraded from {before or 'empty'} to {after}.")
    return EXIT_OK
