"""``tactful disclosures CLIENT_ID``: the accounting of disclosures for one
client -- every delivered message that carried their information to them,
their representative or someone outside the agency."""

from __future__ import annotations

import argparse
import json
import sys

from proxy.cli import EXIT_OK, EXIT_USAGE
from proxy.cli.audit import DatabaseUnavailable, fail, migrated_engine, print_table
from proxy.core.config import Settings, load_settings
from proxy.core.findings import Category, Entity
from proxy.lint.explain import CATEGORY_NOUNS, ENTITY_NOUNS
from proxy.store.disclosures import Disclosure, DisclosureLog

_KIND_WORDS = {
    "client": "the client",
    "authorized": "authorised representative",
    "external": "outside the agency",
}


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser(
        "disclosures",
        parents=[common],
        help="list what was disclosed about a client, to whom and when",
        description="List every delivered message that carried a client's information "
        "to the client, an authorised representative or anyone outside the agency.",
    )
    parser.add_argument("client_id", metavar="CLIENT_ID", help="the agency's client id")
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    parser.set_defaults(func=run)


def _entity_words(value: str) -> str:
    return ENTITY_NOUNS[Entity(value)] if value in Entity.__members__ else value


def _category_words(value: str) -> str:
    known = {c.value for c in Category}
    return CATEGORY_NOUNS[Category(value)] if value in known else value


def _what(d: Disclosure, client_id: str) -> str:
    parts = [_entity_words(e) for e in d.entity_types]
    parts += [_category_words(c) for c in d.categories]
    others = [c for c in d.client_ids if c != client_id]
    if others:
        parts.append(f"also about {', '.join(others)}")
    return "; ".join(parts) or "a message to or about the client"


def _as_json(d: Disclosure) -> dict[str, object]:
    return {
        "at": d.at.isoformat(),
        "message_id": d.message_id,
        "client_ids": list(d.client_ids),
        "recipient": d.recipient,
        "recipient_kind": d.recipient_kind,
        "channel": d.channel,
        "categories": list(d.categories),
        "entity_types": list(d.entity_types),
    }


def _local(d: Disclosure, settings: Settings) -> str:
    return d.at.astimezone(settings.agency.tz).strftime("%Y-%m-%d %H:%M")


def run(args: argparse.Namespace) -> int:
    client_id = args.client_id.strip()
    if not client_id:
        return fail("CLIENT_ID must not be empty", EXIT_USAGE)
    settings = load_settings(getattr(args, "config", None))
    try:
        with migrated_engine(args, settings) as engine:
            found = DisclosureLog(engine).for_client(client_id)
    except DatabaseUnavailable as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.json:
        print(json.dumps([_as_json(d) for d in found], indent=2))
        return EXIT_OK
    if not found:
        print(f"No disclosures recorded for client {client_id}.")
        return EXIT_OK
    rows = [
        (
            _local(d, settings),
            d.recipient,
            _KIND_WORDS.get(d.recipient_kind, d.recipient_kind),
            "text message" if d.channel == "sms" else "email",
            _what(d, client_id),
            d.message_id,
        )
        for d in found
    ]
    print(f"{len(found)} disclosure(s) for client {client_id}:")
    print_table(("WHEN", "TO", "WHO", "BY", "WHAT", "MESSAGE"), rows, sys.stdout)
    return EXIT_OK
