"""Context phrases that must sit next to a match for some identifiers to count.

Presidio's own context support only *raises* a score, and it compares single
lemmas, so phrases such as "date of birth", "D.O.B." or "SS#" never match. For
identifiers that are just "a date" or "some digits" without their label (a
Medicaid ID, a bank account, a birth date) the label is the whole evidence, so
our recognizers *require* it: a match without a context phrase close by is not
a finding at all. Keeping the check on plain text (not spaCy tokens) makes the
recognizers usable and testable without a language model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

# Where a window stops: a blank line, a line break, or a sentence end
# followed by a capital ("... on file. The meeting ...").
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?\s+(?=[A-Z])")
_LINE_OR_SENTENCE_END = re.compile(r"\n|[.!?][\"')\]]?\s+(?=[A-Z])")

# Characters looked at around a match; generous, the word count decides.
_SCAN_CHARS = 120


def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """One case-insensitive regex for all phrases, whole words only.

    Spaces inside a phrase match any run of whitespace, so a phrase that wraps
    onto the next line still counts.
    """
    alternatives = []
    for phrase in sorted({p.strip() for p in phrases if p.strip()}, key=len, reverse=True):
        words = [re.escape(word) for word in phrase.split()]
        alternatives.append(r"\s+".join(words))
    if not alternatives:
        raise ValueError("a context phrase list must not be empty")
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ContextWindow:
    """How far from a match a context phrase may be, in words.

    A label usually comes right before the value ("DOB: 3/14/90", "Medicaid
    ID 12345678A"); a short look after catches "3/14/90 (DOB)". The windows
    never cross a sentence or paragraph end, so the label of one value does not
    spill onto an unrelated value in the next sentence.
    """

    words_before: int = 6
    words_after: int = 2

    def before(self, text: str, start: int) -> str:
        chunk = text[max(0, start - _SCAN_CHARS) : start]
        chunk = _PARAGRAPH_BREAK.split(chunk)[-1]
        chunk = _SENTENCE_END.split(chunk)[-1]
        return " ".join(chunk.split()[-self.words_before :]) if self.words_before else ""

    def after(self, text: str, end: int) -> str:
        chunk = text[end : end + _SCAN_CHARS]
        chunk = _LINE_OR_SENTENCE_END.split(chunk, maxsplit=1)[0]
        return " ".join(chunk.split()[: self.words_after]) if self.words_after else ""

    def has_context(self, text: str, start: int, end: int, pattern: re.Pattern[str]) -> bool:
        return bool(
            pattern.search(self.before(text, start)) or pattern.search(self.after(text, end))
        )


def mark_context_backed(result: RecognizerResult, score: float) -> RecognizerResult:
    """Give a context-backed result its score and keep Presidio from boosting it again.

    Presidio's lemma enhancer skips results flagged as already enhanced, which
    is what we want: our phrase check has already weighed the context.
    """
    result.score = score
    result.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
    return result


def keep_context_backed(
    text: str,
    results: Sequence[RecognizerResult],
    pattern: re.Pattern[str],
    window: ContextWindow,
    score: float,
) -> list[RecognizerResult]:
    """Only the results with a context phrase nearby, each at ``score``."""
    return [
        mark_context_backed(result, score)
        for result in results
        if window.has_context(text, result.start, result.end, pattern)
    ]


class ContextRequiredRecognizer(PatternRecognizer):
    """A pattern recognizer whose matches count only next to a context phrase.

    Subclasses set ``ENTITY``, ``PATTERNS`` and ``CONTEXT`` and may add the
    usual ``validate_result``/``invalidate_result`` hooks; the hooks run first
    (in Presidio's pattern pass), the context requirement after.
    """

    ENTITY: ClassVar[str]
    PATTERNS: ClassVar[tuple[Pattern, ...]]
    CONTEXT: ClassVar[tuple[str, ...]]
    CONTEXT_SCORE: ClassVar[float] = 0.85
    WINDOW: ClassVar[ContextWindow] = ContextWindow()

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            patterns=[Pattern(p.name, p.regex, p.score) for p in self.PATTERNS],
            context=list(self.CONTEXT),
            supported_language=supported_language,
        )
        self._context_pattern = phrase_pattern(self.CONTEXT)

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        found = super().analyze(text, entities, nlp_artifacts, regex_flags)
        return keep_context_backed(
            text, found, self._context_pattern, self.WINDOW, self.CONTEXT_SCORE
        )
