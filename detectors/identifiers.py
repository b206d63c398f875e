"""Identifiers (SSNs, cards, bank numbers, phones, emails, names, birth dates,
Medicaid/Medicare IDs, case numbers, addresses) found with Presidio.

Presidio does the matching; this module decides *which* recognizers run (only
ours and a few stock ones, never Presidio's whole predefined set, for speed
and for fewer false alarms), feeds Presidio the spaCy docs the engine already
computed (so spaCy runs once per message, and Presidio never loads or
downloads a model), and turns Presidio's results into our typed findings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from presidio_analyzer import (
    AnalyzerEngine,
    EntityRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    SpacyRecognizer,
)
from spacy.language import Language
from spacy.tokens import Doc, Span

from detectors.recognizers import (
    BankAccountRecognizer,
    CaseNumberRecognizer,
    DateOfBirthRecognizer,
    LabelledSsnRecognizer,
    MedicaidIdRecognizer,
    MedicareIdRecognizer,
    PhoneNumberRecognizer,
    StreetAddressRecognizer,
)
from proxy.core.config import Settings
from proxy.core.findings import Entity, Finding
from proxy.core.message import ParsedMessage, Segment
from proxy.lint.detector import InspectionContext, extra_segment_docs
from proxy.lint.nlp import doc_text
from proxy.lint.public_details import SIGNATURE
from proxy.lint.signature import is_contact_line

# Presidio logs the words around a match at DEBUG level; those words are
# client data, so its logger never goes below WARNING in this process.
logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)

DETECTOR_NAME = "presidio"
DEFAULT_SCORE_THRESHOLD = 0.4
KNOWN_OPTIONS = frozenset({"score_threshold", "entities"})

# When two results overlap, the more specific entity wins (a birth date is
# not also a phone number; an address is not also a person), then the score.
SPECIFICITY: tuple[Entity, ...] = (
    Entity.US_SSN,
    Entity.CREDIT_CARD,
    Entity.MEDICARE_ID,
    Entity.DATE_OF_BIRTH,
    Entity.CASE_NUMBER,
    Entity.MEDICAID_ID,
    Entity.US_BANK_NUMBER,
    Entity.EMAIL_ADDRESS,
    Entity.STREET_ADDRESS,
    Entity.PHONE_NUMBER,
    Entity.PERSON,
)
SUPPORTED_ENTITIES = frozenset(SPECIFICITY)

# The sender's own signature block names the sender and colleagues: names
# there are not client data (a client's name is still found by the
# ``client`` detector, from the registry).
SIGNATURE_EXEMPT = frozenset({Entity.PERSON})
# Phone numbers, email addresses and the office address in a signature are
# the sender's own when they stand on a contact line ("Office: (312)
# 555-0100 | Fax: ..."); in a sentence under the sign-off ("Maria's new cell
# is ...") or under a label of someone else's ("Client address:") they are
# a client's like anywhere else.
# Address fields (From, To, Cc...) are names, phone numbers and email
# addresses by design.
ADDRESS_FIELD_EXEMPT = frozenset({Entity.PERSON, Entity.PHONE_NUMBER, Entity.EMAIL_ADDRESS})
CONTACT_ENTITIES = frozenset({Entity.PHONE_NUMBER, Entity.EMAIL_ADDRESS, Entity.STREET_ADDRESS})


@dataclass(frozen=True, slots=True)
class IdentifierOptions:
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    entities: frozenset[Entity] = SUPPORTED_ENTITIES


def _option_error(message: str) -> ValueError:
    return ValueError(f"detector '{DETECTOR_NAME}': {message}")


def parse_options(options: Mapping[str, Any]) -> IdentifierOptions:
    """Check the ``detectors.presidio.options`` config block."""
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        raise _option_error(
            f"unknown option(s) {', '.join(unknown)}; "
            f"known options: {', '.join(sorted(KNOWN_OPTIONS))}"
        )
    threshold = options.get("score_threshold", DEFAULT_SCORE_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise _option_error("option 'score_threshold' must be a number between 0 and 1")
    if not 0.0 <= float(threshold) <= 1.0:
        raise _option_error("option 'score_threshold' must be between 0 and 1")
    return IdentifierOptions(float(threshold), _parse_entities(options.get("entities")))


def _parse_entities(value: Any) -> frozenset[Entity]:
    if value is None:
        return SUPPORTED_ENTITIES
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _option_error("option 'entities' must be a list of entity names")
    names = [str(v) for v in value]
    unknown = sorted(set(names) - {e.value for e in SUPPORTED_ENTITIES})
    if unknown:
        raise _option_error(
            f"option 'entities' names unknown entities {', '.join(unknown)}; "
            f"choose from {', '.join(e.value for e in SPECIFICITY)}"
        )
    if not names:
        raise _option_error("option 'entities' is empty; disable the detector instead")
    return frozenset(Entity(name) for name in names)


def is_plausible_person(ent: Span) -> bool:
    """A PERSON entity that could be a name.

    The small model sometimes tags codes such as "CASE-2024" as people;
    names do not contain digits or "@", so those are dropped.
    """
    return ent.label_ == Entity.PERSON.value and not any(
        ch.isdigit() or ch == "@" for ch in ent.text
    )


class PreloadedSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine around a model we already loaded.

    ``load`` never runs spaCy's downloader (it does nothing: the model is
    there), and only PERSON entities are passed on, because the other spaCy
    labels are not ours to report and Presidio warns about each unmapped one.
    """

    def __init__(self, nlp: Language, language: str) -> None:
        super().__init__(models=[{"lang_code": language, "model_name": nlp.meta.get("name", "")}])
        # Upstream infers ``None`` from its constructor; a dict is what it uses.
        self.nlp = {language: nlp}  # type: ignore[assignment]
        self.language = language

    def load(self) -> None:
        """Already loaded in ``__init__``; loading here could download."""

    def artifacts(self, doc: Doc) -> NlpArtifacts:
        """Presidio's view of a doc the engine already computed."""
        return self._doc_to_nlp_artifact(doc, self.language)

    def _get_entities(self, doc: Doc) -> list[Span]:
        return [ent for ent in doc.ents if is_plausible_person(ent)]

    def _get_scores_for_entities(self, doc: Doc) -> list[float]:
        score = self.ner_model_configuration.default_score or 0.85
        return [score] * len(self._get_entities(doc))


def build_recognizers(settings: Settings, entities: frozenset[Entity]) -> list[EntityRecognizer]:
    """The recognizers for ``entities`` and nothing else."""
    language = settings.nlp.language
    makers: dict[Entity, Callable[[], EntityRecognizer]] = {
        Entity.US_SSN: lambda: LabelledSsnRecognizer(supported_language=language),
        Entity.CREDIT_CARD: lambda: CreditCardRecognizer(supported_language=language),
        Entity.US_BANK_NUMBER: lambda: BankAccountRecognizer(supported_language=language),
        Entity.PHONE_NUMBER: lambda: PhoneNumberRecognizer(
            (settings.agency.default_region,), supported_language=language
        ),
        Entity.EMAIL_ADDRESS: lambda: EmailRecognizer(supported_language=language),
        Entity.PERSON: lambda: SpacyRecognizer(
            supported_language=language, supported_entities=[Entity.PERSON.value]
        ),
        Entity.DATE_OF_BIRTH: lambda: DateOfBirthRecognizer(supported_language=language),
        Entity.MEDICAID_ID: lambda: MedicaidIdRecognizer(supported_language=language),
        Entity.MEDICARE_ID: lambda: MedicareIdRecognizer(supported_language=language),
        Entity.STREET_ADDRESS: lambda: StreetAddressRecognizer(supported_language=language),
    }
    patterns = settings.agency.case_number_patterns
    if patterns:
        makers[Entity.CASE_NUMBER] = lambda: CaseNumberRecognizer(
            patterns, supported_language=language
        )
    return [makers[entity]() for entity in SPECIFICITY if entity in entities and entity in makers]


def build_analyzer(
    nlp_engine: PreloadedSpacyNlpEngine, recognizers: list[EntityRecognizer]
) -> AnalyzerEngine:
    """One Presidio engine with exactly our recognizers."""
    registry = RecognizerRegistry(
        recognizers=recognizers, supported_languages=[nlp_engine.language]
    )
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=[nlp_engine.language],
    )


def resolve_overlaps(results: Sequence[RecognizerResult]) -> list[RecognizerResult]:
    """Keep one result per stretch of text: most specific, then highest score."""
    rank = {entity.value: index for index, entity in enumerate(SPECIFICITY)}
    ranked = sorted(
        results,
        key=lambda r: (rank.get(r.entity_type, len(rank)), -r.score, r.start - r.end, r.start),
    )
    kept: list[RecognizerResult] = []
    for result in ranked:
        if all(result.end <= other.start or result.start >= other.end for other in kept):
            kept.append(result)
    return sorted(kept, key=lambda r: (r.start, r.end))


def to_finding(segment: Segment, result: RecognizerResult, public: str | None = None) -> Finding:
    """``text`` is the value as detectors read it (normalised), which is what
    redaction looks for; ``start``/``end`` point at what was written."""
    start, end = segment.span(result.start, result.end)
    return Finding(
        entity=Entity(result.entity_type),
        location=segment.source,
        start=start,
        end=end,
        score=round(float(result.score), 4),
        detector=DETECTOR_NAME,
        text=segment.detection_text[result.start : result.end],
        quoted=segment.quoted,
        public=public,
    )


def aligned_docs(message: ParsedMessage, context: InspectionContext) -> Sequence[Doc]:
    """The engine's docs for the segments, or fresh ones if it sent none."""
    texts = [segment.detection_text for segment in message.segments]
    if not context.docs:
        return context.nlp.docs(texts)
    if len(context.docs) != len(texts) or any(
        doc_text(doc) != text for doc, text in zip(context.docs, texts, strict=True)
    ):
        raise ValueError(
            "InspectionContext.docs do not line up with message.segments "
            f"({len(context.docs)} docs for {len(texts)} segments)"
        )
    return context.docs


@dataclass(frozen=True, slots=True)
class _BuiltAnalyzer:
    nlp: Language
    nlp_engine: PreloadedSpacyNlpEngine
    analyzer: AnalyzerEngine
    entities: frozenset[str]  # what the registered recognizers can report

    def wanted(self, segment: Segment) -> list[str]:
        if not segment.signature:
            skipped: frozenset[Entity] = frozenset()
        elif is_address_field(segment):
            skipped = ADDRESS_FIELD_EXEMPT
        else:
            skipped = SIGNATURE_EXEMPT
        return sorted(e for e in self.entities if e not in skipped)


class IdentifierDetector:
    """The ``presidio`` detector plugin."""

    name = DETECTOR_NAME
    version = "1.0"
    codes = frozenset(entity.value for entity in SUPPORTED_ENTITIES)

    def __init__(self, options: Mapping[str, Any], settings: Settings) -> None:
        self.options = parse_options(options)
        self.settings = settings
        self.language = settings.nlp.language
        # Built on first use: it needs the spaCy model, which only arrives
        # with the inspection context. Keyed to that model object.
        self._built: _BuiltAnalyzer | None = None

    def _analyzer(self, nlp: Language) -> _BuiltAnalyzer:
        if self._built is None or self._built.nlp is not nlp:
            nlp_engine = PreloadedSpacyNlpEngine(nlp, self.language)
            recognizers = build_recognizers(self.settings, self.options.entities)
            analyzer = build_analyzer(nlp_engine, recognizers)
            self._built = _BuiltAnalyzer(
                nlp=nlp,
                nlp_engine=nlp_engine,
                analyzer=analyzer,
                entities=frozenset(analyzer.get_supported_entities(self.language)),
            )
        return self._built

    def inspect(self, message: ParsedMessage, context: InspectionContext) -> Sequence[Finding]:
        if not message.all_segments:
            return []
        built = self._analyzer(context.nlp.nlp)
        findings: list[Finding] = []
        pairs = [
            *zip(message.segments, aligned_docs(message, context), strict=True),
            *extra_segment_docs(message, context),
        ]
        for segment, doc in pairs:
            entities = built.wanted(segment)
            text = segment.detection_text
            if not entities or not text.strip():
                continue
            results = built.analyzer.analyze(
                text,
                language=self.language,
                entities=entities,
                score_threshold=self.options.score_threshold,
                nlp_artifacts=built.nlp_engine.artifacts(doc),
            )
            kept = resolve_overlaps(results)
            own = (
                senders_own(text, kept, (self.settings.agency.name,))
                if segment.signature
                else frozenset()
            )
            for result in kept:
                if id(result) not in own:
                    findings.append(to_finding(segment, result))
                elif result.entity_type == Entity.STREET_ADDRESS.value:
                    # Shown, as the agency's office, but no client's address.
                    findings.append(to_finding(segment, result, public=SIGNATURE))
                # The sender's own phone and email: not news, not reported.
        return findings


def is_address_field(segment: Segment) -> bool:
    """A header field's segment (``header:To``, ``NAME header:From``)."""
    return segment.source.startswith("header:") or " header:" in segment.source


def senders_own(
    text: str, results: Sequence[RecognizerResult], agency_names: Sequence[str] = ()
) -> frozenset[int]:
    """The ``id`` of each of a signature's results that is the sender's own
    contact detail: on lines that hold nothing else but labels."""
    contacts = [r for r in results if r.entity_type in _CONTACT_VALUES]
    own: set[int] = set()
    for result in contacts:
        line_start = text.rfind("\n", 0, result.start) + 1
        line_end = text.find("\n", result.end)
        line_end = len(text) if line_end < 0 else line_end
        on_line = sorted(
            (c for c in contacts if line_start <= c.start and c.end <= line_end),
            key=lambda c: c.start,
        )
        rest, position = [], line_start
        for contact in on_line:
            rest.append(text[position : contact.start])
            position = contact.end
        rest.append(text[position:line_end])
        # A label line of its own just above ("Client address:") counts too.
        above_end = line_start - 1
        above = text[text.rfind("\n", 0, max(above_end, 0)) + 1 : max(above_end, 0)]
        if above.rstrip().endswith(":"):
            rest.append(above)
        if is_contact_line(" ".join(rest), agency_names):
            own.add(id(result))
    return frozenset(own)


_CONTACT_VALUES = frozenset(entity.value for entity in CONTACT_ENTITIES)
