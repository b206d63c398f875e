"""``tactful serve``: the submission proxy, scheduler and web side in one process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from proxy.app.eventloop import CHOICES, EventLoopUnavailableError, loop_factory
from proxy.app.eventloop import run as run_loop
from proxy.app.frontends import FrontEndError
from proxy.cli import EXIT_OK, EXIT_USAGE
from proxy.core.config import MAX_SMTP_PROCESSES, Settings, load_settings
from proxy.core.logs import configure_logging


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser(
        "serve",
        parents=[common],
        help="run the SMTP submission proxy",
        description="Run the proxy: workers' mail programs send through it; it lints each "
        "message and relays, masks, defers, holds or rejects it. Stops cleanly on Ctrl-C "
        "or SIGTERM, finishing messages in hand.",
    )
    parser.add_argument("--listen", metavar="HOST:PORT", help="override smtp.listen")
    parser.add_argument(
        "--upstream",
        metavar="HOST:PORT|maildir:PATH",
        help="override upstream.target (the agency mail server, or a local Maildir)",
    )
    parser.add_argument(
        "--no-lint",
        action="store_true",
        help="relay without linting (analysis.enabled: false); for benchmarks only",
    )
    parser.add_argument(
        "--smtp-processes",
        type=_processes,
        metavar="N",
        help="override smtp.processes: N processes share the SMTP ports (Linux)",
    )
    parser.add_argument(
        "--event-loop",
        choices=CHOICES,
        default="auto",
        help="the event loop: uvloop if installed (auto, the default), or asyncio's own",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="override log_format: text lines, or one JSON object per line",
    )
    parser.set_defaults(func=run)


def _processes(value: str) -> int:
    """--smtp-processes, held to smtp.processes' range."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= number <= MAX_SMTP_PROCESSES:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_SMTP_PROCESSES}")
    return number


def _with_overrides(settings: Settings, args: argparse.Namespace) -> Settings:
    smtp, upstream, analysis = settings.smtp, settings.upstream, settings.analysis
    if args.listen:
        smtp = smtp.model_copy(update={"listen": args.listen})
    if args.smtp_processes is not None:
        smtp = smtp.model_copy(update={"processes": args.smtp_processes})
    if args.upstream:
        upstream = upstream.model_copy(update={"target": args.upstream})
    if args.no_lint:
        analysis = analysis.model_copy(update={"enabled": False})
    return settings.model_copy(update={"smtp": smtp, "upstream": upstream, "analysis": analysis})


async def _serve(settings: Settings, db_url: str, loop_name: str) -> None:
    from proxy.app.server import start

    running = await start(settings, db_url)
    host, port = running.smtp_address
    print(f"Tactful is accepting mail on {host}:{port} (upstream: {settings.upstream.target})")
    for listener in running.smtp.listeners[1:]:
        print(f"  implicit TLS on {listener.host}:{listener.port}")
    if running.http_address is not None:
        print(f"  review web app on http://{running.http_address[0]}:{running.http_address[1]}/")
    if running.front_ends is not None:
        pids = ", ".join(str(pid) for pid in running.front_ends.pids)
        print(
            f"  SMTP in {settings.smtp.processes} processes sharing the port "
            f"(front ends: pid {pids})"
        )
    print(f"  event loop: {loop_name}")
    if running.pool is None:
        print("  linting is OFF: every message is relayed unchecked")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("Stopping: finishing messages in hand...", flush=True)
    await running.stop()


def run(args: argparse.Namespace) -> int:
    settings = _with_overrides(load_settings(args.config), args)
    configure_logging(args.log_format or settings.log_format)
    db_url: str = args.db or settings.database.url
    try:
        loop_name, _ = loop_factory(args.event_loop)
    except EventLoopUnavailableError as exc:
        print(f"tactful: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        run_loop(_serve(settings, db_url, loop_name), args.event_loop)
    except OSError as exc:  # a port in use, say; ConfigError is reported by proxy.cli
        print(f"tactful: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except FrontEndError as exc:  # smtp.processes > 1; the process's own error is logged
        print(f"tactful: cannot start: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
