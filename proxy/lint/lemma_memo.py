"""spaCy's ``lemmatizer`` with its answers remembered per token key.

The rule lemmatizer is called once per token, in Python, through a ``Token``
object it builds for each: a few microseconds a token, several per cent of a
message's analysis. Its answer depends only on the token's text, its
part of speech and its morphology (spaCy caches its own rule results on
exactly that key), and mail repeats the same few thousand words. So the
answer for a key is asked of the lemmatizer itself once; afterwards it is
read from an integer table and set for the whole document with one
``Doc.from_array``. No lemmatization rule is re-implemented here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import cast

import numpy as np
from spacy.attrs import LEMMA, MORPH, ORTH, POS
from spacy.language import Language
from spacy.pipeline import Lemmatizer
from spacy.tokens import Doc
from thinc.types import Ints2d

FACTORY = "tactful_lemma_memo"
MAX_KEYS = 200_000  # about 30 MB; past it the table starts again

_READ = [ORTH, POS, MORPH, LEMMA]


class LemmaMemo:
    """Pipeline component standing in for ``lemmatizer`` (same name)."""

    def __init__(self, name: str = "lemmatizer") -> None:
        self.name = name
        self.lemmatizer: Lemmatizer | None = None
        self._memo: dict[tuple[int, int, int], int] = {}

    def __call__(self, doc: Doc) -> Doc:
        lemmatizer = self.lemmatizer
        assert lemmatizer is not None, "LemmaMemo.lemmatizer was not set"
        if lemmatizer.overwrite or len(doc) == 0:
            return lemmatizer(doc)
        memo = self._memo
        if len(memo) > MAX_KEYS:
            memo.clear()
        read = doc.to_array(_READ)
        lemmas = read[:, 3].copy()
        strings = doc.vocab.strings
        for i, (orth, pos, morph, lemma) in enumerate(read.tolist()):
            if lemma:  # set before (the attribute ruler): kept, as spaCy does
                continue
            key = (orth, pos, morph)
            found = memo.get(key)
            if found is None:
                found = memo[key] = strings.add(lemmatizer.lemmatize(doc[i])[0])
            lemmas[i] = found
        doc.from_array([LEMMA], cast(Ints2d, lemmas.reshape(-1, 1).astype(np.uint64)))
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        for doc in docs:
            yield self(doc)


@Language.factory(FACTORY)
def make_lemma_memo(nlp: Language, name: str) -> LemmaMemo:
    return LemmaMemo(name)


def use_lemma_memo(nlp: Language) -> LemmaMemo | None:
    """Put the memo in place of ``nlp``'s rule or lookup lemmatizer, keeping
    its name and place; None (nothing changed) when there is none."""
    if "lemmatizer" not in nlp.pipe_names:
        return None
    lemmatizer = nlp.get_pipe("lemmatizer")
    if not isinstance(lemmatizer, Lemmatizer) or lemmatizer.mode not in ("rule", "lookup"):
        return None
    memo = nlp.replace_pipe("lemmatizer", FACTORY)
    assert isinstance(memo, LemmaMemo)
    memo.lemmatizer = lemmatizer
    return memo
