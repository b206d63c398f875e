"""``tactful config check``: the effective configuration and its problems."""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from proxy.app.config_check import Report, check_file, check_text
from proxy.cli import EXIT_FINDINGS, EXIT_OK


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser(
        "config",
        parents=[common],
        help="check a configuration file",
        description="Configuration tools.",
    )
    actions = parser.add_subparsers(
        dest="config_action", metavar="ACTION", parser_class=type(parser)
    )
    actions.required = True
    check = actions.add_parser(
        "check",
        parents=[common],
        help="print the effective configuration and every problem in it",
        description="Print the configuration Tactful would run with (FILE merged over the "
        "shipped defaults, secrets hidden) and every problem found in it: unknown keys, "
        "bad values, listening beyond this machine without TLS, gateway networks that are "
        "too wide, missing certificate or key files. Exit status: 0 no errors (warnings "
        "allowed), 1 at least one error, 2 the file cannot be read.",
    )
    check.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="the agency's YAML file ('-' reads standard input; default: --config, or the "
        "shipped defaults alone)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    path = args.file or getattr(args, "config", None)
    if path == "-":
        report = check_text(sys.stdin.read(), "standard input")
    else:
        report = check_file(path)
    if args.json:
        print(json.dumps(as_json(report), indent=2))
    else:
        print(as_text(report), end="")
    return EXIT_FINDINGS if report.errors else EXIT_OK


def as_json(report: Report) -> dict[str, object]:
    return {
        "file": report.origin,
        "config": report.effective,
        "problems": [
            {"level": p.level.value, "key": p.key, "message": p.message} for p in report.problems
        ],
        "errors": report.errors,
        "warnings": report.warnings,
    }


def as_text(report: Report) -> str:
    lines = [
        f"# Effective configuration: {report.origin} merged over the shipped defaults "
        "(secrets hidden)",
        yaml.safe_dump(report.effective, sort_keys=False, allow_unicode=True).rstrip(),
        "",
    ]
    if not report.problems:
        lines.append("No problems found.")
    else:
        lines.append("Problems:")
        for problem in report.problems:
            lines.append(f"  {problem.level.value:<8}{problem.key}: {problem.message}")
        errors = f"{report.errors} error{'s' if report.errors != 1 else ''}"
        warnings = f"{report.warnings} warning{'s' if report.warnings != 1 else ''}"
        lines.append(f"{errors}, {warnings}.")
    return "\n".join(lines) + "\n"
