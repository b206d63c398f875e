"""spaCy's ``attribute_ruler`` as one table lookup per token.

The English models' ruler holds about 180 Matcher patterns; running the
Matcher over every token of every message cost about a fifth of the engine's
time. Almost all of those patterns look at one token only, through its
lower-case text, its tag and whether it is whitespace, and set POS, MORPH,
LEMMA or TAG. Their result for a token therefore depends on nothing but that
token's key, and a table computed once, by the ruler itself, gives the same
answer. The table is applied with a single ``Doc.from_array`` call.

Exactness is kept by construction, not by hope:

* the table is filled by running the model's own patterns (in their own
  order, through spaCy's own Matcher) over one synthetic token per key, so
  no pattern semantics are re-implemented here;
* patterns that need more than that (several tokens such as "gon na" or
  "let 's", a regular expression on the text, any other attribute) stay in a
  smaller ruler, matched before anything is set; each of its matches then
  sets an attribute only where it comes later in the ruler's order than the
  table pattern that set it (the ruler's own rule: later patterns win);
* a document the table cannot answer for (a key it has not seen, or
  attributes that something before the ruler already set) goes through the
  original ruler.

The smaller ruler's Matcher still cost as much as the table saved, because
two of its patterns test a regular expression on every token. So it runs
only on documents that can hold one of its matches; which pattern tokens a
token satisfies is asked of spaCy's Matcher itself, once per distinct
(text, tag) key, on a one-token document (``_Possible``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from spacy.attrs import DEP, IS_SPACE, LEMMA, LOWER, MORPH, POS, TAG
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.pipeline import AttributeRuler
from spacy.tokens import Doc
from spacy.tokens._retokenize import set_token_attrs
from thinc.types import Ints2d

FACTORY = "tactful_attribute_lookup"

# What a one-token pattern may test and still be answered by the table. LOWER
# must be an exact value or an IN list (other texts share one table row); the
# others are part of the key (TAG, IS_SPACE) or always unset before the ruler
# in this pipeline (DEP: no parser), which ``__call__`` checks per document.
_KEY_ATTRS = frozenset({"LOWER", "TAG", "IS_SPACE", "DEP"})
# What a table pattern may set: attributes nothing before the ruler sets (so
# a table row is the whole answer), and TAG (read from the key).
_SET_ATTRS = (TAG, POS, MORPH, LEMMA)
_UNSET_BEFORE = (DEP, POS, MORPH, LEMMA)
_READ = [LOWER, TAG, IS_SPACE, *_UNSET_BEFORE]

Key = tuple[int, int, int]


def _is_table_pattern(pattern: Sequence[Mapping[str, object]]) -> bool:
    if len(pattern) != 1:
        return False
    token = pattern[0]
    if not set(token) <= _KEY_ATTRS:
        return False
    lower = token.get("LOWER")
    if lower is None or isinstance(lower, str):
        return True
    return (
        isinstance(lower, Mapping)
        and set(lower) == {"IN"}
        and all(isinstance(v, str) for v in lower["IN"])  # type: ignore[attr-defined]
    )


def _lowers(pattern: Sequence[Mapping[str, object]]) -> Iterator[str]:
    lower = pattern[0].get("LOWER")
    if isinstance(lower, str):
        yield lower
    elif isinstance(lower, Mapping):
        yield from lower["IN"]


# What a pattern token may test for ``_Possible`` to judge it on a one-token
# document of the lower-case text and the tag: the key's own attributes,
# and those nothing before the ruler sets (unset in both documents).
_TOKEN_ATTRS = frozenset({"LOWER", "TAG", "IS_SPACE", "DEP", "POS", "MORPH", "LEMMA"})
_MAX_KEYS = 200_000


class _Possible:
    """Whether a document can hold a match of the smaller ruler's patterns.

    Each pattern token tests one token by itself, so a pattern of ``k``
    tokens matches at ``i`` exactly when token ``i + j`` satisfies its
    ``j``-th token for every ``j``. Which pattern tokens a key (lower-case
    text, tag, is-space) satisfies is asked of spaCy's Matcher, once per key,
    on a one-token document. ``usable`` is False when a pattern token tests
    something else or carries an operator (its length would vary)."""

    def __init__(self, ruler: AttributeRuler, patterns: Sequence[Sequence[Mapping[str, object]]]):
        self._vocab = ruler.vocab
        self._lengths = [len(p) for p in patterns]
        self.usable = all(
            p and all({str(k).upper() for k in token} <= _TOKEN_ATTRS for token in p)
            for p in patterns
        )
        self._matcher = Matcher(ruler.vocab)
        self._labels: dict[int, tuple[int, int]] = {}
        if self.usable:
            for number, pattern in enumerate(patterns):
                for position, token in enumerate(pattern):
                    label = f"{number}:{position}"
                    self._matcher.add(label, [[dict(token)]])
                    self._labels[self._vocab.strings[label]] = (number, position)
        self._known: dict[Key, frozenset[tuple[int, int]]] = {}

    def any(self, keys: Sequence[Key]) -> bool:
        known = self._known
        if len(known) > _MAX_KEYS:
            known.clear()  # a bound on memory; answers are asked again
        satisfied: dict[int, frozenset[tuple[int, int]]] = {}  # only where any
        for index, key in enumerate(keys):
            found = known.get(key)
            if found is None:
                found = known[key] = self._ask(key)
            if found:
                satisfied[index] = found
        count = len(keys)
        empty: frozenset[tuple[int, int]] = frozenset()
        for start, here in satisfied.items():
            for number, position in here:
                length = self._lengths[number]
                if position == 0 and start + length <= count:
                    if all(
                        (number, j) in satisfied.get(start + j, empty) for j in range(1, length)
                    ):
                        return True
        return False

    def _ask(self, key: Key) -> frozenset[tuple[int, int]]:
        strings = self._vocab.strings
        lower, tag, _ = key  # is-space follows from the text
        one = Doc(self._vocab, words=[strings[lower]], spaces=[False], tags=[strings[tag]])
        return frozenset(self._labels[m] for m, _, _ in self._matcher(one, allow_missing=True))


@dataclass(frozen=True, slots=True)
class _Entry:
    position: int
    rule: dict[str, object]
    patterns: list[list[dict[str, object]]]


class AttributeLookup:
    """Pipeline component standing in for ``attribute_ruler`` (same name)."""

    def __init__(self, name: str = "attribute_ruler") -> None:
        self.name = name
        self.ruler: AttributeRuler | None = None
        # Each key's row in ``_rows`` (what the table patterns set for it).
        self._table: dict[Key, int] = {}
        self._rows: np.ndarray = np.empty((0, len(_SET_ATTRS)), dtype=np.uint64)
        self._lowers: frozenset[int] = frozenset()
        # Per key: which attribute the table set, and the position (in the
        # ruler's order) of the pattern that set it.
        self._winners: dict[Key, dict[int, int]] = {}
        self._rest: AttributeRuler | None = None
        self._rest_positions: list[int] = []
        self._possible: _Possible | None = None
        self.fallbacks = 0  # documents that went through the original ruler

    def build(self, ruler: AttributeRuler, tags: Iterable[str]) -> None:
        """Split ``ruler``'s patterns and fill the table.

        ``tags`` are the tags the tagger can give (the key's second part).
        """
        self.ruler = ruler
        vocab = ruler.vocab
        table_rules: list[_Entry] = []
        rest_rules: list[_Entry] = []
        for position, rule in enumerate(ruler.patterns):
            patterns = cast(list[list[dict[str, object]]], rule["patterns"])
            attrs = cast(dict[str, object], rule["attrs"])
            sets = frozenset(str(a).upper() for a in attrs)
            simple = sets <= {"TAG", "POS", "MORPH", "LEMMA"} and all(
                _is_table_pattern(p) for p in patterns
            )
            entry = _Entry(position, dict(rule), patterns)
            (table_rules if simple else rest_rules).append(entry)
        if rest_rules:
            self._rest = AttributeRuler(vocab, name=f"{self.name}_rest")
            self._rest.add_patterns([e.rule for e in rest_rules])  # type: ignore[misc]
            self._rest_positions = [e.position for e in rest_rules]
            possible = _Possible(ruler, [p for e in rest_rules for p in e.patterns])
            self._possible = possible if possible.usable else None
        lowers = {lower for e in table_rules for p in e.patterns for lower in _lowers(p)}
        # One text for every other word, one for every other run of whitespace.
        other = next(w for w in ("tactful", "zzqx", "qqqqq") if w not in lowers)
        other_space = next(w for w in (" ", "  ", "\t", "\u2002") if w not in lowers)
        texts = [*sorted(lowers), other, other_space]
        tag_list = sorted(set(tags) | {""})
        words = [text for text in texts for _ in tag_list]
        sample = Doc(vocab, words=words, spaces=[True] * len(words), tags=tag_list * len(texts))
        self._lowers = frozenset(vocab.strings[w] for w in lowers)
        keys = sample.to_array([LOWER, TAG, IS_SPACE]).tolist()
        table_ruler = AttributeRuler(vocab, name=f"{self.name}_table")
        table_ruler.add_patterns([e.rule for e in table_rules])  # type: ignore[misc]
        table_matches = table_ruler.match(sample)
        table_ruler.set_annotations(sample, table_matches)
        rows = sample.to_array(list(_SET_ATTRS))
        sample_keys = [
            (lower if lower in self._lowers else 0, tag, space) for lower, tag, space in keys
        ]
        self._rows = rows
        self._table = {key: i for i, key in enumerate(sample_keys)}
        winners: dict[Key, dict[int, int]] = {key: {} for key in sample_keys}
        for table_id, _, start, _ in table_matches:  # sorted: later patterns last
            for attr in table_ruler.attrs[table_id]:
                winners[sample_keys[start]][attr] = table_rules[table_id].position
        self._winners = winners

    def __call__(self, doc: Doc) -> Doc:
        assert self.ruler is not None, "AttributeLookup.build was not called"
        if len(doc) == 0:
            return doc
        read = doc.to_array(_READ)
        if read[:, 3:].any():
            return self._fall_back(doc)
        full: list[Key] = [(lower, tag, space) for lower, tag, space in read[:, :3].tolist()]
        matches: list[tuple[int, int, int, int]] = []
        if self._rest is not None and (self._possible is None or self._possible.any(full)):
            matches = self._rest.match(doc)
        table, lowers = self._table, self._lowers
        keys = [(lower if lower in lowers else 0, tag, space) for lower, tag, space in full]
        try:
            rows = [table[key] for key in keys]
        except KeyError:
            return self._fall_back(doc)
        doc.from_array(list(_SET_ATTRS), cast(Ints2d, self._rows[rows]))
        if matches:
            self._apply_rest(doc, matches, keys)
        return doc

    def could_match_rest(self, doc: Doc) -> bool:
        """Whether the smaller ruler might match in ``doc`` (False: it
        certainly does not, and is not run)."""
        if self._rest is None:
            return False
        if self._possible is None:
            return True
        keys = doc.to_array([LOWER, TAG, IS_SPACE]).tolist()
        return self._possible.any([(lower, tag, space) for lower, tag, space in keys])

    def rest_matches(self, doc: Doc) -> list[tuple[int, int, int, int]]:
        """The smaller ruler's matches in ``doc``, found by spaCy's Matcher."""
        return self._rest.match(doc) if self._rest is not None else []

    def _apply_rest(
        self, doc: Doc, matches: list[tuple[int, int, int, int]], keys: list[Key]
    ) -> None:
        """Set what the multi-token patterns set, except where a table
        pattern that comes later in the ruler already decided the value."""
        assert self._rest is not None
        for rest_id, _, start, end in matches:  # sorted: later patterns last
            position = self._rest_positions[rest_id]
            token = doc[start:end][self._rest.indices[rest_id]]
            decided = self._winners[keys[token.i]]
            attrs = {
                attr: value
                for attr, value in self._rest.attrs[rest_id].items()
                if decided.get(attr, -1) < position
            }
            if attrs:
                set_token_attrs(token, attrs)

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        for doc in docs:
            yield self(doc)

    def _fall_back(self, doc: Doc) -> Doc:
        assert self.ruler is not None
        self.fallbacks += 1
        return self.ruler(doc)


@Language.factory(FACTORY)
def make_attribute_lookup(nlp: Language, name: str) -> AttributeLookup:
    return AttributeLookup(name)


def use_attribute_lookup(nlp: Language) -> AttributeLookup | None:
    """Replace ``nlp``'s ``attribute_ruler`` by the lookup, keeping its name
    and place; None (nothing changed) when the pipeline has no ruler."""
    if "attribute_ruler" not in nlp.pipe_names:
        return None
    ruler = nlp.get_pipe("attribute_ruler")
    if not isinstance(ruler, AttributeRuler):
        return None
    tags: tuple[str, ...] = ()
    if "tagger" in nlp.pipe_names:
        tags = tuple(nlp.get_pipe("tagger").labels)  # type: ignore[attr-defined]
    lookup = nlp.replace_pipe("attribute_ruler", FACTORY)
    assert isinstance(lookup, AttributeLookup)
    lookup.build(ruler, tags)
    return lookup
