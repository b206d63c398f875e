"""``tactful`` command line: one module per command group.

Each command module exposes ``register(subparsers, common)`` (``common`` is
the parent parser carrying --config and --db; pass it as ``parents=[common]``)
and sets ``func`` on its parsers; ``func(args) -> int`` returns the exit code. Exit codes follow
linter conventions: 0 ok, 1 findings/data errors, 2 usage or input errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from proxy.core.config import ConfigError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

# Command modules under proxy.cli, in --help order. A module that is not
# present yet (a later stage) is simply skipped.
COMMAND_MODULES = (
    "lint", "detectors", "consent", "db", "user", "serve", "held", "dkim", "audit",
    "disclosures", "config",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Usage errors exit 2 with a one-line hint, as argparse does, but
        without argparse's full usage dump for subcommands."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: the option may be given before or after the subcommand, and a
    # subparser's default must not overwrite a value the main parser read.
    common.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="YAML merged over the shipped defaults",
    )
    common.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="database URL (overrides database.url)",
    )
    parser = _Parser(
        prog="tactful",
        description="Tactful: a linting proxy for social workers' email and text messages.",
        parents=[common],
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"proxy.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"proxy.cli.{name}":
                continue
            raise
        module.register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("config", "db"):
        if not hasattr(args, name):
            setattr(args, name, None)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"tactful: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `tactful ... | head`: the reader left; that's not an error.
        sys.stderr.close()
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
