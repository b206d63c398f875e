"""SENSITIVE_CONDITION: mental health, substance use, HIV/STI, reproductive
health, abuse/neglect, immigration and criminal-justice details.

These are the details that hurt a client most when an email or text reaches
the wrong eyes, and they are rarely written as fixed strings: "overdosed",
"her methadone dose", "is undocumented". So terms are matched on lemmas as
well as on surface forms, using the spaCy docs the engine already computed.
Each match is then marked ``about_person`` or not (see
:mod:`detectors.attribution`), because "our substance use group meets
Tuesdays" is a topic while "she relapsed" is a disclosure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from detectors.attribution import (
    KnownPersonMatcher,
    PersonCues,
    attributions,
    build_known_person_matcher,
    clause_of,
    clauses,
    person_cues,
)
from detectors.context import ConText
from detectors.sensitive_terms import CategoryTerms, default_terms_dir, load_term_lists
from proxy.core.config import Settings
from proxy.core.consent import Registry
from proxy.core.findings import Category, Entity, Finding
from proxy.core.message import ParsedMessage, Segment
from proxy.lint.detector import InspectionContext, extra_segment_docs
from proxy.lint.nlp import doc_text

OPTIONS = frozenset({"terms_dir", "categories"})
SCORE = 0.85
# Pipes that do not affect lemmas; skipped when lemmatising the term lists.
NON_LEMMA_PIPES = ("ner", "parser", "senter", "sentencizer")
WILDCARD = "*"
SUBJECT = "subject"
GROUP_SEPARATOR = "#"


@dataclass(frozen=True, slots=True)
class TermMatchers:
    """Matchers compiled for one spaCy pipeline (their vocab must be the docs')."""

    nlp: Language
    lemma: PhraseMatcher
    lower: PhraseMatcher
    exact: PhraseMatcher
    exclude: PhraseMatcher
    exclude_wild: Matcher  # exclude phrases with "*"; slower, so run per sentence
    grouped: tuple[PhraseMatcher, ...]  # in_context terms, labelled by group
    context_words: tuple[PhraseMatcher, ...]  # their context words, same labels
    context: ConText


@dataclass(frozen=True, slots=True)
class KnownPeople:
    """Registered clients' names for one registry snapshot and one pipeline."""

    nlp: Language
    registry: Registry
    matcher: KnownPersonMatcher


def _is_base_form(doc: Doc) -> bool:
    """Lemma matching only for terms written in base form: a lemmatised
    "sentenced" would be "sentence" and match every grammar remark."""
    return all(t.lemma_.lower() == t.lower_ for t in doc)


def _add_phrases(
    nlp: Language,
    lower: PhraseMatcher,
    lemma: PhraseMatcher,
    label: str,
    phrases: Sequence[str],
    disable: Sequence[str],
) -> None:
    """Any-case phrases, and base forms by lemma too ("overdose" -> "overdosed")."""
    lower.add(label, [nlp.make_doc(t) for t in phrases])
    base = [d for d in nlp.pipe(phrases, disable=list(disable)) if _is_base_form(d)]
    if base:
        lemma.add(label, base)


def _exclude_pattern(nlp: Language, phrase: str) -> list[dict[str, Any]]:
    """An exclude phrase as a token pattern; ``*`` is at most one word."""
    return [
        {"OP": "?"} if t.text == WILDCARD else {"LOWER": t.lower_} for t in nlp.make_doc(phrase)
    ]


def _group_label(category: Category, index: int) -> str:
    return f"{category.value}{GROUP_SEPARATOR}{index}"


def build_term_matchers(nlp: Language, lists: Sequence[CategoryTerms]) -> TermMatchers:
    """Compile the term lists; the only place the term texts go through spaCy."""
    lemma = PhraseMatcher(nlp.vocab, attr="LEMMA")
    lower = PhraseMatcher(nlp.vocab, attr="LOWER")
    exact = PhraseMatcher(nlp.vocab, attr="ORTH")
    exclude = PhraseMatcher(nlp.vocab, attr="LOWER")
    exclude_wild = Matcher(nlp.vocab)
    grouped_lemma = PhraseMatcher(nlp.vocab, attr="LEMMA")
    grouped_lower = PhraseMatcher(nlp.vocab, attr="LOWER")
    context_lemma = PhraseMatcher(nlp.vocab, attr="LEMMA")
    context_lower = PhraseMatcher(nlp.vocab, attr="LOWER")
    disable = [p for p in NON_LEMMA_PIPES if p in nlp.pipe_names]
    for entry in lists:
        label = entry.category.value
        terms = entry.terms
        if terms.terms:
            _add_phrases(nlp, lower, lemma, label, terms.terms, disable)
        if terms.acronyms:
            exact.add(label, [nlp.make_doc(t) for t in terms.acronyms])
        plain = [t for t in terms.exclude if WILDCARD not in t.split()]
        wild = [t for t in terms.exclude if WILDCARD in t.split()]
        if plain:
            exclude.add(label, [nlp.make_doc(t) for t in plain])
        if wild:
            exclude_wild.add(label, [_exclude_pattern(nlp, t) for t in wild])
        for index, group in enumerate(terms.in_context):
            key = _group_label(entry.category, index)
            _add_phrases(nlp, grouped_lower, grouped_lemma, key, group.terms, disable)
            _add_phrases(nlp, context_lower, context_lemma, key, group.context, disable)
    return TermMatchers(
        nlp,
        lemma,
        lower,
        exact,
        exclude,
        exclude_wild,
        (grouped_lemma, grouped_lower),
        (context_lemma, context_lower),
        ConText(nlp),
    )


def _near(doc: Doc, span: Span, other: Span) -> bool:
    """``other`` is in ``span``'s sentence or the one next to it, with no
    paragraph break between them."""
    sentences = {span.sent.start}
    if span.sent.start > 0:
        sentences.add(doc[span.sent.start - 1].sent.start)
    if span.sent.end < len(doc):
        sentences.add(doc[span.sent.end].sent.start)
    if other.sent.start not in sentences:
        return False
    lo, hi = min(span.start, other.start), max(span.end, other.end)
    return not any(t.is_space and t.text.count("\n") >= 2 for t in doc[lo:hi])


def _in_context_terms(matchers: TermMatchers, doc: Doc) -> list[Span]:
    """Terms of ``in_context`` groups that have one of their context words near."""
    found = [s for m in matchers.grouped for s in m(doc, as_spans=True)]
    if not found:
        return []
    contexts: dict[str, list[Span]] = {}
    for m in matchers.context_words:
        for s in m(doc, as_spans=True):
            contexts.setdefault(s.label_, []).append(s)
    kept = []
    for span in found:
        near = contexts.get(span.label_, ())
        if any(
            not (c.start < span.end and span.start < c.end) and _near(doc, span, c) for c in near
        ):
            category = span.label_.split(GROUP_SEPARATOR, 1)[0]
            kept.append(Span(doc, span.start, span.end, label=category))
    return kept


def find_terms(matchers: TermMatchers, doc: Doc, order: Sequence[Category]) -> list[Span]:
    """Non-overlapping term spans labelled with their category.

    A category's excluded phrases knock out its matches they overlap
    ("great depression" is not depression); of overlapping
    matches the longest wins ("substance abuse" over "abuse"), and a match
    that two categories list counts for both.
    """
    candidates = [
        s for m in (matchers.lemma, matchers.lower, matchers.exact) for s in m(doc, as_spans=True)
    ]
    candidates.extend(_in_context_terms(matchers, doc))
    if not candidates:
        return []
    blocked = {
        (s.label_, i) for s in matchers.exclude(doc, as_spans=True) for i in range(s.start, s.end)
    }
    if len(matchers.exclude_wild):
        for start in sorted({s.sent.start for s in candidates}):
            sentence = doc[start].sent
            for label, lo, hi in matchers.exclude_wild(sentence):
                key = doc.vocab.strings[label]
                blocked.update((key, start + i) for i in range(lo, hi))
    rank = {c.value: n for n, c in enumerate(order)}
    spans = [
        s for s in candidates if not any((s.label_, i) in blocked for i in range(s.start, s.end))
    ]
    spans.sort(key=lambda s: (s.start, rank[s.label_]))
    kept = filter_spans(spans)
    # An entry two lists share ("domestic battery": abuse and a charge) is
    # found once for each category.
    extents = {(s.start, s.end): s.label_ for s in kept}
    also = {
        (s.start, s.end, s.label_): s
        for s in spans
        if extents.get((s.start, s.end), s.label_) != s.label_
    }
    return sorted([*kept, *also.values()], key=lambda s: (s.start, rank[s.label_]))


def _terms_dir(value: object) -> Traversable:
    """The agency's directory if the option names one, else the shipped lists."""
    if value is None:
        return default_terms_dir()
    if not isinstance(value, str | Path) or not str(value).strip():
        raise ValueError("detector 'sensitive' option 'terms_dir' must be a directory path")
    return Path(value)


def _categories(value: object) -> tuple[Category, ...]:
    if value is None:
        return tuple(Category)
    known = {c.value: c for c in Category}
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(
            "detector 'sensitive' option 'categories' must be a list of category names"
        )
    chosen: list[Category] = []
    for item in value:
        if not isinstance(item, str) or item not in known:
            raise ValueError(
                f"detector 'sensitive' option 'categories' has an unknown category {item!r}; "
                f"use some of: {', '.join(known)}"
            )
        if known[item] not in chosen:
            chosen.append(known[item])
    return tuple(c for c in Category if c in chosen)


class SensitiveConditionDetector:
    name = "sensitive"
    version = "1.0"
    codes = frozenset({Entity.SENSITIVE_CONDITION.value})

    def __init__(self, options: Mapping[str, Any], settings: Settings) -> None:
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise ValueError(
                f"detector 'sensitive' got unknown option(s): {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(OPTIONS))}"
            )
        self.categories = _categories(options.get("categories"))
        # Loaded now so a bad list stops start-up instead of the first message.
        self._lists = load_term_lists(_terms_dir(options.get("terms_dir")), self.categories)
        self._case_patterns = tuple(re.compile(p) for p in settings.agency.case_number_patterns)
        self._matchers: TermMatchers | None = None
        self._known: KnownPeople | None = None

    def _term_matchers(self, nlp: Language) -> TermMatchers:
        if self._matchers is None or self._matchers.nlp is not nlp:
            self._matchers = build_term_matchers(nlp, self._lists)
        return self._matchers

    def _known_people(self, nlp: Language, registry: Registry) -> KnownPersonMatcher:
        known = self._known
        if known is None or known.nlp is not nlp or known.registry is not registry:
            known = KnownPeople(nlp, registry, build_known_person_matcher(nlp, registry.clients()))
            self._known = known
        return known.matcher

    def inspect(self, message: ParsedMessage, context: InspectionContext) -> Sequence[Finding]:
        if len(context.docs) != len(message.segments):
            raise ValueError(
                f"detector 'sensitive' needs one spaCy doc per message segment "
                f"({len(message.segments)} segments, {len(context.docs)} docs)"
            )
        nlp = context.nlp.nlp
        matchers = self._term_matchers(nlp)
        known = self._known_people(nlp, context.registry)
        findings: list[Finding] = []
        for index, (segment, doc) in enumerate(zip(message.segments, context.docs, strict=True)):
            if doc.vocab is not nlp.vocab or doc_text(doc) != segment.detection_text:
                # By position only: a segment's source may name an attachment,
                # and attachment names can carry a client's name.
                raise ValueError(
                    f"detector 'sensitive' got a spaCy doc that does not belong to "
                    f"message segment {index + 1} of {len(message.segments)}"
                )
        named = self._subject_names_someone(message, context.docs, known)
        for segment, doc in zip(message.segments, context.docs, strict=True):
            findings.extend(
                self._inspect_segment(segment, doc, matchers, known, message, named=named)
            )
        for segment, doc in extra_segment_docs(message, context):
            findings.extend(self._inspect_segment(segment, doc, matchers, known, message))
        return findings

    def _subject_names_someone(
        self, message: ParsedMessage, docs: Sequence[Doc], known: KnownPersonMatcher
    ) -> bool:
        """A registered client or case number in the subject line: "Re: Ana
        Torres" makes a body's "Started Suboxone last week" about Ana."""
        return any(
            person_cues(
                doc,
                sender_name=message.from_name,
                known=known(doc),
                case_patterns=self._case_patterns,
            ).identity
            for segment, doc in zip(message.segments, docs, strict=True)
            if segment.source == SUBJECT
        )

    def _inspect_segment(
        self,
        segment: Segment,
        doc: Doc,
        matchers: TermMatchers,
        known: KnownPersonMatcher,
        message: ParsedMessage,
        *,
        named: bool = False,
    ) -> list[Finding]:
        """``named``: the subject line names a client, so a body's condition
        with nobody else around is about them."""
        spans = find_terms(matchers, doc, self.categories)
        if not spans:
            return []
        doc_clauses = clauses(doc)
        if segment.signature:
            # The sender describing their own job is not a disclosure about anyone.
            about = [False] * len(spans)
        else:
            cues: PersonCues = person_cues(
                doc,
                sender_name=message.from_name,
                known=known(doc),
                case_patterns=self._case_patterns,
                quoted=segment.quoted,
            )
            scopes = [clause_of(span, doc_clauses) for span in spans]
            modifiers = matchers.context.modifiers(doc, spans, scopes)
            elsewhere = named and segment.source != SUBJECT
            about = attributions(
                doc, spans, doc_clauses, cues, modifiers, named_elsewhere=elsewhere
            )
        return [
            Finding(
                entity=Entity.SENSITIVE_CONDITION,
                location=segment.source,
                start=segment.span(span.start_char, span.end_char)[0],
                end=segment.span(span.start_char, span.end_char)[1],
                score=SCORE,
                detector=self.name,
                text=span.text,
                category=Category(span.label_),
                about_person=about_person,
                quoted=segment.quoted,
            )
            for span, about_person in zip(spans, about, strict=True)
        ]
