"""The NLP speed-ups change nothing: the attribute lookup and the lemma memo
give every token the attributes spaCy's own ``attribute_ruler`` and
``lemmatizer`` give, numpy's BLAS gives the tags and entities thinc's BLIS
gives, and NER on sentences copied the lean way finds what it found on
``Span.as_doc`` copies; so the whole engine gives the same findings and
verdicts on the examples and the benchmark corpus."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import spacy
from spacy.attrs import (
    DEP,
    ENT_IOB,
    ENT_TYPE,
    IS_SPACE,
    LEMMA,
    MORPH,
    NORM,
    POS,
    SENT_START,
    TAG,
)
from spacy.language import Language
from spacy.tokens import Doc, Span
from thinc.api import use_ops

from proxy.core.config import load_settings
from proxy.core.consent import Registry
from proxy.core.message import ParsedMessage
from proxy.lint.attribute_lookup import AttributeLookup
from proxy.lint.engine import LintEngine, LintResult
from proxy.lint.nlp import EXCLUDED_COMPONENTS, MODEL_ALIASES, NlpService, load_model
from proxy.store.consent_csv import read_consent_csv

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.eml"))
CONSENT = REPO / "config" / "consent.example.csv"
TOKEN_ATTRS = [TAG, POS, MORPH, LEMMA, DEP, NORM, SENT_START, IS_SPACE]


def _benchmark_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_corpus", REPO / "benchmarks" / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CORPUS: list[bytes] = _benchmark_corpus().corpus(120)


def _plain_text(raw: bytes) -> str:
    msg = message_from_bytes(raw, policy=policy.default)
    subject = str(msg.get("Subject", ""))
    body = msg.get_body(preferencelist=("plain",))
    return subject + "\n" + (body.get_content() if body is not None else "")  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def ruler_model() -> Language:
    return load_model("en_core_web_sm", attribute_lookup=False, lemma_memo=False)


@pytest.fixture(scope="module")
def lookup_model() -> Language:
    return load_model("en_core_web_sm")


def _lookup(nlp: Language) -> AttributeLookup:
    component = nlp.get_pipe("attribute_ruler")
    assert isinstance(component, AttributeLookup)
    return component


def _assert_same_tokens(expected: Doc, actual: Doc) -> None:
    assert [t.text for t in actual] == [t.text for t in expected]
    assert np.array_equal(actual.to_array(TOKEN_ATTRS), expected.to_array(TOKEN_ATTRS))
    # Also through the strings, as detectors read them.
    assert [(t.lemma_, t.pos_, t.tag_, str(t.morph)) for t in actual] == [
        (t.lemma_, t.pos_, t.tag_, str(t.morph)) for t in expected
    ]


# Every multi-token pattern of the English ruler (contractions, "gonna",
# "let's", "y'all", existential "there"), casing variants, curly apostrophes,
# whitespace tokens of several kinds, and tokens whose tag a pattern rewrites.
TRICKY = [
    "Let's meet on Tuesday. LET'S go! let’s see what happens.",
    "We're gonna do it. Gonna win. I gotta run, we got ta go.",
    "Y'all ain't nothin' but trouble; ya all, y all, Y’ALL.",
    "C'mon now. There's a cat; there are dogs; there were two. Here is it.",
    "She aint here. He ain't. You AIN'T. Nuthin' at all, nothin' new.",
    "\t \n  \u00a0 word  \n\n\u2003end\r\n",
    "I'm sure he'd've come. They'll be there if it's not raining.",
    "The kids' school, the boss's desk, o'clock, e.g. etc. vs. Mr. Dr. Mrs.",
    "Whaddya think? Dunno. Lemme know. Wanna call?",
    "1st 2nd 3rd -- ... !? $100 50% #tag @user https://example.org/x?y=1",
]


@pytest.mark.parametrize("text", TRICKY)
def test_lookup_sets_what_the_ruler_sets(
    ruler_model: Language, lookup_model: Language, text: str
) -> None:
    expected = ruler_model(text)
    actual = lookup_model(text)
    _assert_same_tokens(expected, actual)


def test_lookup_matches_the_ruler_on_every_word_its_patterns_name(
    ruler_model: Language, lookup_model: Language
) -> None:
    """Each word any ruler pattern tests, alone, capitalised and in a
    sentence, so that every tag the tagger gives them is covered."""
    words: set[str] = set()
    for rule in ruler_model.get_pipe("attribute_ruler").patterns:  # type: ignore[attr-defined]
        for pattern in rule["patterns"]:
            for token in pattern:
                lower = token.get("LOWER")
                if isinstance(lower, str):
                    words.add(lower)
                elif isinstance(lower, dict) and "IN" in lower:
                    words.update(lower["IN"])
    assert len(words) > 50
    texts = []
    for word in sorted(words):
        texts += [word, word.capitalize(), f"I think {word} is what they said {word} .", f"{word}?"]
    for expected, actual in zip(ruler_model.pipe(texts), lookup_model.pipe(texts), strict=True):
        _assert_same_tokens(expected, actual)


def test_lookup_matches_the_ruler_on_the_benchmark_corpus(
    ruler_model: Language, lookup_model: Language
) -> None:
    texts = [_plain_text(raw) for raw in CORPUS] + [_plain_text(p.read_bytes()) for p in EXAMPLES]
    before = _lookup(lookup_model).fallbacks
    tokens = 0
    for expected, actual in zip(
        ruler_model.pipe(texts, disable=["ner"]),
        lookup_model.pipe(texts, disable=["ner"]),
        strict=True,
    ):
        _assert_same_tokens(expected, actual)
        tokens += len(actual)
    assert tokens > 50_000
    # ... and it did so from the table, not by falling back to the ruler.
    assert _lookup(lookup_model).fallbacks == before


def test_a_document_something_already_tagged_goes_through_the_ruler(
    ruler_model: Language, lookup_model: Language
) -> None:
    """If a component before the ruler set POS, a table row would overwrite
    it; the lookup must notice and let the real ruler decide."""
    text = "There is a meeting on Monday, let's go."
    expected = ruler_model.make_doc(text)
    actual = lookup_model.make_doc(text)
    for doc, nlp in ((expected, ruler_model), (actual, lookup_model)):
        for name in ("tok2vec", "tagger"):
            nlp.get_pipe(name)(doc)
        doc[0].pos_ = "INTJ"
    before = _lookup(lookup_model).fallbacks
    ruler_model.get_pipe("attribute_ruler")(expected)
    _lookup(lookup_model)(actual)
    assert _lookup(lookup_model).fallbacks == before + 1
    _assert_same_tokens(expected, actual)


class AsDocNlp(NlpService):
    """The engine's NLP as it was: spaCy's ruler and ``Span.as_doc`` copies."""

    @staticmethod
    def _sentence_docs(sentences: list[Span]) -> Iterator[Doc]:
        return (sentence.as_doc() for sentence in sentences)


@pytest.fixture(scope="module")
def reference_nlp() -> NlpService:
    return AsDocNlp("en_core_web_sm", attribute_lookup=False, lemma_memo=False)


def _entities(docs: list[Doc]) -> list[list[tuple[int, int, str, str]]]:
    return [
        [(e.start_char, e.end_char, e.label_, e.text) for e in doc.ents]
        + [(t.idx, t.ent_iob, t.ent_type_, "") for t in doc]  # type: ignore[misc]
        for doc in docs
    ]


def test_lean_sentence_copies_find_the_same_entities(
    reference_nlp: NlpService, nlp_service: NlpService
) -> None:
    texts = (
        [_plain_text(raw) for raw in CORPUS]
        + TRICKY
        + ["Maria Lopez met James Nguyen. Dr. Okafor's office called about Mei Kim's son."]
    )
    expected = reference_nlp.docs(texts)
    actual = nlp_service.docs(texts)
    assert _entities(actual) == _entities(expected)
    assert sum(1 for doc in actual for e in doc.ents if e.label_ == "PERSON") > 100
    for e, a in zip(expected, actual, strict=True):
        assert np.array_equal(a.to_array([ENT_IOB, ENT_TYPE]), e.to_array([ENT_IOB, ENT_TYPE]))


class TwoCallEngine(LintEngine):
    """The engine as it was: one spaCy call for the segments, another for
    the extra segments (now one call for both)."""

    def judge(
        self,
        message: ParsedMessage,
        *,
        now: datetime,
        channel: str | None = None,
        docs: tuple[Sequence[Doc], Sequence[Doc]] | None = None,
    ) -> LintResult:
        if docs is None:
            docs = (
                self.nlp.docs(s.detection_text for s in message.segments),
                self.nlp.docs(s.detection_text for s in message.extra_segments),
            )
        return super().judge(message, now=now, channel=channel, docs=docs)


@pytest.fixture(scope="module")
def engines(
    reference_nlp: NlpService, nlp_service: NlpService
) -> tuple[LintEngine, LintEngine, datetime]:
    settings = load_settings()
    registry = Registry(read_consent_csv(CONSENT, default_region="US"))
    at = datetime(2026, 11, 24, 10, tzinfo=settings.agency.tz)
    return (
        TwoCallEngine(settings, registry, nlp=reference_nlp),
        LintEngine(settings, registry, nlp=nlp_service),
        at,
    )


@pytest.mark.parametrize(
    "raw",
    [pytest.param(raw, id=f"corpus-{i}") for i, raw in enumerate(CORPUS[:60])]
    + [pytest.param(p.read_bytes(), id=p.name) for p in EXAMPLES],
)
def test_same_findings_and_verdict(
    engines: tuple[LintEngine, LintEngine, datetime], raw: bytes
) -> None:
    reference, engine, at = engines
    expected = reference.lint(raw, at=at)
    actual = engine.lint(raw, at=at)
    assert actual.findings == expected.findings
    assert actual.verdict == expected.verdict


def _joined_the_old_way(nlp: NlpService, text: str) -> Doc:
    """Chunks tagged, NER run, then ``Doc.from_docs``: what ``docs()`` did
    for a long text before it stopped holding every chunk at once."""
    from proxy.lint.nlp import _chunks

    parts = list(nlp.nlp.pipe(_chunks(text), disable=["ner"]))
    nlp._recognise_entities(parts)
    return Doc.from_docs(parts, ensure_whitespace=False)


def test_a_long_text_joined_lean_is_the_same_doc(nlp_service: NlpService) -> None:
    from proxy.lint.nlp import CHUNK_CHARS

    bodies = [_plain_text(raw) for raw in CORPUS[:40]] + TRICKY
    text = "\n\n".join(bodies)
    # Also a stretch with no line breaks, and one with no whitespace at all.
    text += " ".join(bodies[:3]).replace("\n", " ") + "x" * (CHUNK_CHARS + 17) + "\n" + text[:5000]
    assert len(text) > 10 * CHUNK_CHARS
    expected = _joined_the_old_way(nlp_service, text)
    (actual,) = nlp_service.docs([text])
    assert actual.text == text == expected.text
    attrs = list(Doc._get_array_attrs())
    assert np.array_equal(actual.to_array(attrs), expected.to_array(attrs))
    assert [(e.start, e.end, e.label_) for e in actual.ents] == [
        (e.start, e.end, e.label_) for e in expected.ents
    ]
    assert [(s.start, s.end) for s in actual.sents] == [(s.start, s.end) for s in expected.sents]
    assert [t.whitespace_ for t in actual] == [t.whitespace_ for t in expected]
    assert len(actual.ents) > 20
    # Short and long texts together come back in order, each as alone.
    mixed = nlp_service.docs(["Maria Lopez called.", text, "See you Tuesday."])
    assert [d.text for d in mixed] == ["Maria Lopez called.", text, "See you Tuesday."]
    assert np.array_equal(mixed[1].to_array(attrs), expected.to_array(attrs))


def _model_package(name: str) -> str:
    return next(c for c in MODEL_ALIASES.get(name, (name,)) if spacy.util.is_package(c))


@pytest.fixture(scope="module")
def blis_model() -> Language:
    """The model as spaCy loads it by default: thinc multiplies with BLIS."""
    with use_ops("numpy", use_blis=True):
        nlp = spacy.load(_model_package("en_core_web_sm"), exclude=list(EXCLUDED_COMPONENTS))
    nlp.add_pipe("sentencizer", first=True)
    return nlp


def test_numpy_blas_tags_and_finds_what_blis_does(
    blis_model: Language, ruler_model: Language
) -> None:
    """``load_model`` has the model multiply with numpy's BLAS; the floats
    may differ in their last bits, and no tag, lemma or entity may."""
    assert blis_model.get_pipe("tok2vec").model.ops.use_blis  # type: ignore[attr-defined]
    assert not ruler_model.get_pipe("tok2vec").model.ops.use_blis  # type: ignore[attr-defined]
    attrs = [TAG, POS, MORPH, LEMMA, ENT_IOB, ENT_TYPE, SENT_START]
    texts = [_plain_text(raw) for raw in CORPUS] + TRICKY
    for expected, actual in zip(blis_model.pipe(texts), ruler_model.pipe(texts), strict=True):
        assert [t.text for t in actual] == [t.text for t in expected]
        assert np.array_equal(actual.to_array(attrs), expected.to_array(attrs))


def test_the_multi_token_patterns_are_skipped_only_where_they_cannot_match(
    lookup_model: Language,
) -> None:
    """The lookup runs the ruler's remaining (multi-token, regex) patterns
    only on documents that could hold a match: every document with a
    match must be one of those."""
    lookup = _lookup(lookup_model)
    texts = TRICKY + [_plain_text(raw) for raw in CORPUS]
    texts += [
        f"ok, {a} {b} then"
        for a in ("let", "gon", "got", "c'm", "y", "ai")
        for b in ("'s", "na", "ta", "on", "all", "n't", "nt")
    ]
    with_matches = skipped = 0
    for doc in lookup_model.pipe(texts, disable=["ner", "attribute_ruler", "lemmatizer"]):
        matches = lookup.rest_matches(doc)
        could = lookup.could_match_rest(doc)
        if matches:
            with_matches += 1
            assert could, doc.text[:80]
        skipped += not could
    assert with_matches >= 10  # the patterns were really exercised
    assert skipped >= len(CORPUS) // 2  # and the gate does skip plain mail
