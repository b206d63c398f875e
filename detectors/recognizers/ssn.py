"""US_SSN: Presidio's SSN recognizer, plus "labelled and formatted is enough".

Decision: Presidio's ``UsSsnRecognizer`` drops numbers it knows are not real
SSNs (123-45-6789, 078-05-1120, all-same digits, area 000/666, ...). That is
right for a search tool, wrong for a proxy: a worker who pastes
"SSN 123-45-6789" into an email is sharing something that looks like an SSN to
every reader, and we cannot tell a typo of the real number from a sample. So:

* a *formatted* number (ddd-dd-dddd or ddd dd dddd) next to an SSN label
  ("SSN", "social security", "SS#", "soc sec") is always a finding, whatever
  Presidio's validator says;
* any other match keeps Presidio's patterns, scores and invalidation, and an
  SSN label next to it raises the score the way Presidio's context enhancer
  would (+0.35, at least 0.4).

We check the label with our phrase matcher instead of Presidio's lemma
enhancer, which cannot see "SS#" or "soc sec" and would take the bare word
"social" (as in "social worker", everywhere in our mail) as SSN context.
"""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import UsSsnRecognizer

from detectors.recognizers.context import ContextWindow, mark_context_backed, phrase_pattern

FORMATTED_SSN = re.compile(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])")

# Same arithmetic as Presidio's LemmaContextAwareEnhancer defaults.
CONTEXT_BOOST = 0.35
MIN_SCORE_WITH_CONTEXT = 0.4
LABELLED_FORMATTED_SCORE = 0.85


class LabelledSsnRecognizer(UsSsnRecognizer):
    """See the module docstring for the decision this class implements."""

    LABELS: ClassVar[tuple[str, ...]] = (
        "SSN",
        "SSNs",
        "SSN#",
        "SS#",
        "SS #",
        "SS no",
        "social security",
        "soc sec",
        "soc. sec.",
    )
    WINDOW: ClassVar[ContextWindow] = ContextWindow(words_before=6, words_after=2)

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(context=list(self.LABELS), supported_language=supported_language)
        self._labels = phrase_pattern(self.LABELS)

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = {(r.start, r.end): r for r in super().analyze(text, entities, nlp_artifacts)}
        for result in results.values():
            if self._labelled(text, result.start, result.end):
                boosted = max(result.score + CONTEXT_BOOST, MIN_SCORE_WITH_CONTEXT)
                mark_context_backed(result, min(boosted, 1.0))
            else:
                # Opt out of the lemma enhancer, see the module docstring.
                result.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = (
                    True
                )
        for match in FORMATTED_SSN.finditer(text):
            start, end = match.span()
            if self._labelled(text, start, end):
                existing = results.get((start, end))
                score = max(LABELLED_FORMATTED_SCORE, existing.score if existing else 0.0)
                results[(start, end)] = mark_context_backed(
                    existing or self._result(start, end), score
                )
        return sorted(results.values(), key=lambda r: (r.start, r.end))

    def _labelled(self, text: str, start: int, end: int) -> bool:
        return self.WINDOW.has_context(text, start, end, self._labels)

    def _result(self, start: int, end: int) -> RecognizerResult:
        return RecognizerResult(
            entity_type=self.supported_entities[0],
            start=start,
            end=end,
            score=LABELLED_FORMATTED_SCORE,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )
