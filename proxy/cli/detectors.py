"""``tactful detectors``: which detector plugins are installed and enabled."""

from __future__ import annotations

import argparse
import json
from typing import Any

from proxy.cli import EXIT_OK
from proxy.core.config import load_settings
from proxy.lint.detector import ENTRY_POINT_GROUP, available_factories


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "detectors",
        parents=[common],
        help="list installed detector plugins",
        description=f"List detector plugins registered in the '{ENTRY_POINT_GROUP}' group.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    entries: list[dict[str, Any]] = []
    for name, factory in sorted(available_factories().items()):
        conf = settings.detectors.get(name)
        entries.append(
            {
                "name": name,
                "version": str(getattr(factory, "version", "?")),
                "codes": sorted(getattr(factory, "codes", ())),
                "enabled": conf.enabled if conf is not None else True,
                "module": f"{factory.__module__}:{getattr(factory, '__qualname__', '?')}",
            }
        )
    if args.json:
        print(json.dumps(entries))
    else:
        for e in entries:
            state = "enabled " if e["enabled"] else "disabled"
            print(f"{e['name']:<12} {e['version']:<6} {state} {', '.join(e['codes'])}")
    return EXIT_OK
