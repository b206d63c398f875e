"""Peak memory of one analysis worker judging one 10 MB message.

Each message runs in a fresh process that does what an analysis worker does
(load the engine, warm it up, judge the message); the figure is that
process's peak resident set (``ru_maxrss``), next to its resident set before
the message, i.e. what the message itself added. Two kinds of text:

* ``prose``: the proxy benchmark's 10 MB message (ordinary casework prose);
* ``casework``: the benchmark corpus's bodies end to end (names, conditions,
  identifiers: many findings, much NER).

    .venv/bin/python benchmarks/lint_memory.py [--size-mb N] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from corpus import FILLER, corpus  # noqa: E402

TARGET_MIB = 600


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prose(size: int) -> bytes:
    """The proxy benchmark's big message (same construction)."""
    line_source = " ".join(FILLER)
    lines, total, i = [], 0, 0
    while total < size:
        start = (i * 37) % len(line_source)
        line = (line_source[start:] + " " + line_source)[:76].strip()
        lines.append(line)
        total += len(line) + 1
        i += 1
    return _message("\n".join(lines))


def casework(size: int) -> bytes:
    from email import message_from_bytes, policy

    bodies: list[str] = []
    total = 0
    for raw in corpus(400):
        body = message_from_bytes(raw, policy=policy.default).get_body(("plain",))
        text = body.get_content() if body is not None else ""  # type: ignore[attr-defined]
        bodies.append(text)
        total += len(text)
    parts: list[str] = []
    total = 0
    while total < size:
        for text in bodies:
            parts.append(text)
            total += len(text) + 2
            if total >= size:
                break
    return _message("\n\n".join(parts))


def _message(text: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jane Worker <jworker@example.org>"
    msg["To"] = "partner@partner.example"
    msg["Subject"] = "Case notes for the file review"
    msg["Date"] = "Tue, 24 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = "<bench-memory@example.org>"
    msg.set_content(text, cte="7bit")
    return msg.as_bytes()


KINDS = {"prose": prose, "casework": casework}


def measure(kind: str, size: int, max_chars: int | None, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from proxy.core.config import load_settings
    from proxy.lint.engine import LintEngine

    raw = KINDS[kind](size)
    settings = load_settings()
    if max_chars is not None:
        limits = settings.limits.model_copy(update={"max_text_chars": max_chars})
        settings = settings.model_copy(update={"limits": limits})
    engine = LintEngine(settings)
    engine.lint(_message("Warm up, Maria Lopez."), at=datetime(2026, 11, 24, 16, tzinfo=UTC))
    before = _rss_mib()
    start = time.perf_counter()
    result = engine.lint(raw, at=datetime(2026, 11, 24, 16, tzinfo=UTC))
    seconds = time.perf_counter() - start
    queue.put(
        {
            "kind": kind,
            "max_text_chars": settings.limits.max_text_chars,
            "message_mib": len(raw) / 2**20,
            "rss_before_mib": before,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seconds": seconds,
            "findings": len(result.findings),
            "verdict": result.verdict.enforced.value,
        }
    )


def in_child(kind: str, size: int, max_chars: int | None = None) -> dict[str, object]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=measure, args=(kind, size, max_chars, queue))
    proc.start()
    result: dict[str, object] = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=10.0)
    parser.add_argument("--kind", choices=[*KINDS, "all"], default="all")
    parser.add_argument(
        "--max-text-chars",
        type=int,
        help="override limits.max_text_chars (default: the shipped limit, 500000); "
        "e.g. 11000000 to read all of a 10 MB message",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    size = int(args.size_mb * 2**20)
    load = os.getloadavg()
    kinds = KINDS if args.kind == "all" else [args.kind]
    results = [in_child(k, size, args.max_text_chars) for k in kinds]
    load_end = os.getloadavg()
    if args.json:
        print(json.dumps({"load_start": load, "load_end": load_end, "results": results}))
        return 0
    print(f"load average at start {load[0]:.2f}, at end {load_end[0]:.2f}")
    for r in results:
        print(
            f"{r['kind']:<9} {r['message_mib']:5.1f} MiB message "
            f"(text read: {r['max_text_chars']} chars): peak RSS "
            f"{r['peak_rss_mib']:6.0f} MiB (before it {r['rss_before_mib']:4.0f} MiB; "
            f"target < {TARGET_MIB}), {r['seconds']:5.1f} s, "
            f"{r['findings']} findings, {r['verdict']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
