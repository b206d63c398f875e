"""Judging several messages in one spaCy batch (what an analysis worker does
with the messages waiting for it) gives each exactly what judging it alone
gives, and one message's failure stays its own."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from proxy.core.config import load_settings
from proxy.core.consent import Registry
from proxy.core.findings import Finding
from proxy.core.message import ParsedMessage
from proxy.lint.detector import InspectionContext, load_detectors
from proxy.lint.engine import LintEngine, LintRequest, LintResult
from proxy.lint.nlp import NlpService
from proxy.store.consent_csv import read_consent_csv

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.eml"))
CONSENT = REPO / "config" / "consent.example.csv"


def _corpus(count: int) -> list[bytes]:
    spec = importlib.util.spec_from_file_location("bench_corpus", REPO / "benchmarks" / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.corpus(count))


SHORT = [
    b"From: jane@example.org\r\nTo: sam@example.com\r\nSubject: hi\r\n\r\n"
    b"Maria Lopez has her methadone appointment Tuesday.\r\n",
    b"From: jane@example.org\r\nTo: sam@example.org\r\nSubject: ok\r\n\r\nSee you then.\r\n",
    b"From: jane@example.org\r\nTo: sam@example.com\r\n\r\n",  # no subject, empty body
]


class Exploding:
    """A detector with a bug that only one kind of message triggers."""

    name = "exploding"
    version = "1"
    codes = frozenset({"EXPLODING"})

    def inspect(self, message: ParsedMessage, context: InspectionContext) -> Sequence[Finding]:
        if any("EXPLODE" in s.detection_text for s in message.segments):
            raise RuntimeError("detector bug")
        return ()


@pytest.fixture(scope="module")
def engine(nlp_service: NlpService) -> LintEngine:
    settings = load_settings()
    registry = Registry(read_consent_csv(CONSENT, default_region="US"))
    return LintEngine(settings, registry, nlp=nlp_service)


def _at(engine: LintEngine) -> datetime:
    return datetime(2026, 11, 24, 10, tzinfo=engine.settings.agency.tz)


@pytest.mark.parametrize("batch", [2, 5, 16])
def test_a_batch_judges_each_message_as_alone(engine: LintEngine, batch: int) -> None:
    messages = _corpus(16) + [p.read_bytes() for p in EXAMPLES] + SHORT
    at = _at(engine)
    alone = [engine.lint(raw, at=at) for raw in messages]
    together: list[LintResult | Exception] = []
    for start in range(0, len(messages), batch):
        together += engine.lint_many(
            [LintRequest(raw, at) for raw in messages[start : start + batch]]
        )
    assert len(together) == len(alone)
    for a, t in zip(alone, together, strict=True):
        assert isinstance(t, LintResult)
        assert t.findings == a.findings
        assert t.verdict == a.verdict
    assert sum(len(a.findings) for a in alone) > 50  # the corpus really has findings


def test_envelope_and_channel_are_per_message(engine: LintEngine) -> None:
    raw = SHORT[0]
    at = _at(engine)
    requests = [
        LintRequest(raw, at, sender="jane@example.org", recipients=("sam@example.com",)),
        LintRequest(raw, at, sender="jane@example.org", recipients=("team@example.org",)),
        LintRequest(
            raw, at, sender="jane@example.org", recipients=("+13125550100",), channel="sms"
        ),
    ]
    together = engine.lint_many(requests)
    for request, result in zip(requests, together, strict=True):
        assert isinstance(result, LintResult)
        expected = engine.lint(
            raw,
            sender=request.sender,
            recipients=request.recipients,
            at=at,
            channel=request.channel,
        )
        assert result.verdict == expected.verdict
        assert result.findings == expected.findings


def test_one_message_failing_takes_no_other_down(nlp_service: NlpService) -> None:
    settings = load_settings()
    detectors = [*load_detectors(settings), Exploding()]
    engine = LintEngine(settings, Registry(), nlp=nlp_service, detectors=detectors)
    at = _at(engine)
    bad = b"From: jane@example.org\r\nTo: sam@example.com\r\n\r\nEXPLODE\r\n"
    results = engine.lint_many(
        [LintRequest(SHORT[0], at), LintRequest(bad, at), LintRequest(SHORT[1], at)]
    )
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[0], LintResult) and isinstance(results[2], LintResult)
    assert results[0].verdict == engine.lint(SHORT[0], at=at).verdict
    assert results[2].verdict == engine.lint(SHORT[1], at=at).verdict
