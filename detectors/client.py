"""CLIENT: names, aliases and identifiers of registered clients in a message.

Exact-data matching against the consent registry, not guessing: a message
that names a client is judged by who it goes to (the policy's
``other-client`` and ``exposed-clients`` rules).

Why a token index instead of spaCy's PhraseMatcher or one big regex: people
type names across line breaks ("Maria\\nLopez"), with or without accents, and
identifiers with or without dashes ("CASE-2026-00412", "case 2026 00412").
spaCy keeps line breaks as tokens and splits identifiers inconsistently, and
a regex alternation of thousands of names backtracks through every name at
every position. Splitting the text into letter/digit runs and looking up
short runs of them in hash tables built once per registry snapshot handles
all of these in time linear in the message, whatever the registry's size.

Only whole registered names and aliases match: "Maria" alone is too common to
mean client Maria Lopez unless it is listed as her alias. Case files and forms
write names surname first, so a full name also matches reversed around a comma
("Lopez, Maria"; "Lopez, Maria Elena" and "Elena Lopez, Maria" for Maria Elena
Lopez: which words are the surname is not known), capitalised as names are.

People also misspell names and use nicknames. A full name (two words or
more) also matches:

- with its first name swapped for a common nickname or the formal name
  behind one ("Bob Johnson" for Robert Johnson, and back), from the
  ``nicknames`` package's list of English given names;
- with one typo (measured by ``rapidfuzz``) in one word, the other words
  exact, when the name has eight letters or more: a letter changed or two
  swapped in a word of four letters or more ("Rosa Dias", "Tania Brooks"),
  a letter added or dropped only in a word of six or more ("Jonathan
  Whitfeld"; "Maria Lopezz" is another word, "Ana Ruis" too short a name).

These near matches must be capitalised as names are, and never count when
they are the sender's own name or the name of anyone on the message's From,
To or Cc lines (a colleague called Mario Lopez is not client Maria Lopez).
The near-match index is built with SymSpell's deletion trick (every word
with one letter deleted), so a look-up stays a few hash probes per word.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

from nicknames import NickNamer
from rapidfuzz.distance import OSA

from proxy.core.config import Settings
from proxy.core.consent import Registry
from proxy.core.findings import Entity, Finding
from proxy.core.message import ParsedMessage, Segment
from proxy.lint.detector import InspectionContext

# Letters and digits; everything else (spaces, punctuation, "_") separates.
_TOKEN = re.compile(r"[^\W_]+")
# What may separate the pieces of one identifier: "CASE-2026-00412",
# "CASE 2026 00412", "MCD.4802.19377".
_IDENTIFIER_GAP = re.compile(r"[\s\-‐‑‒–—./]{1,3}")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "‐": "-", "‑": "-", "–": "-"})
MIN_IDENTIFIER_CHARS = 4
# A typo is only believed in a full name this long (all its letters), and
# in a word of at least MIN_TYPO_LETTERS; a letter added or dropped only in
# a word of MIN_LENGTH_TYPO_LETTERS or more ("Lopezz" is another word, and
# "Ana Ruis" too short a name to guess at).
MIN_TYPO_NAME_LETTERS = 8
MIN_TYPO_LETTERS = 4
MIN_LENGTH_TYPO_LETTERS = 6
NICKNAME_SCORE = 0.9
TYPO_SCORE = 0.85


@lru_cache(maxsize=65_536)
def fold(text: str) -> str:
    """Case- and accent-insensitive form: workers often drop accents.
    Remembered: it runs on every word of every message, and words repeat."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _gap_key(gap: str) -> str:
    """Any run of whitespace counts as one space; punctuation must agree
    ("Garcia-Lopez" is not "Garcia Lopez", "O'Brien" is "O’Brien")."""
    stripped = "".join(gap.split())
    return stripped.translate(_APOSTROPHES) if stripped else " "


@dataclass(frozen=True, slots=True)
class _Token:
    key: str
    start: int
    end: int


def _tokens(text: str) -> list[_Token]:
    return [_Token(fold(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _name_key(tokens: Sequence[_Token], text: str) -> tuple[str, ...]:
    """Tokens interleaved with the separators between them."""
    key: list[str] = []
    for index, token in enumerate(tokens):
        if index:
            key.append(_gap_key(text[tokens[index - 1].end : token.start]))
        key.append(token.key)
    return tuple(key)


@dataclass(frozen=True, slots=True)
class _Match:
    client_id: str
    start: int
    end: int
    # 1.0 for a registered name, alias or identifier; lower for a nickname
    # or a one-letter typo of a registered full name.
    score: float = 1.0


def _deletions(word: str) -> set[str]:
    """The word and every form of it with one letter deleted (SymSpell):
    two words within one edit share at least one of these."""
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


# One word of a full name replaced by a near form: (position, words before,
# near form, words after).
_NearKey = tuple[int, tuple[str, ...], str, tuple[str, ...]]


_NICKNAMES = NickNamer()


def _first_name_variants(first: str) -> set[str]:
    """Nicknames of a formal first name and formal names of a nickname."""
    return (_NICKNAMES.nicknames_of(first) | _NICKNAMES.canonicals_of(first)) - {first}


class ClientIndex:
    """Hash tables of every client's names and identifiers for one snapshot."""

    def __init__(self, registry: Registry) -> None:
        names: dict[tuple[str, ...], set[str]] = {}
        reversed_names: dict[tuple[str, ...], set[str]] = {}
        identifiers: dict[str, set[str]] = {}
        longest_name = 0
        for client in registry.clients().values():
            for name in client.names:
                tokens = _tokens(name)
                if not tokens:
                    continue
                name_key = _name_key(tokens, name)
                names.setdefault(name_key, set()).add(client.client_id)
                for reversed_key in _surname_first(name_key):
                    reversed_names.setdefault(reversed_key, set()).add(client.client_id)
                longest_name = max(longest_name, len(tokens))
            for identifier in client.identifiers:
                key = "".join(t.key for t in _tokens(identifier))
                if len(key) < MIN_IDENTIFIER_CHARS:
                    continue
                identifiers.setdefault(key, set()).add(client.client_id)
        self._names = {k: tuple(sorted(v)) for k, v in names.items()}
        self._identifiers = {k: tuple(sorted(v)) for k, v in identifiers.items()}
        self._reversed = {k: tuple(sorted(v)) for k, v in reversed_names.items()}
        # Every beginning of a key: a scan stops as soon as what it has read
        # begins no name or identifier (most words of a message begin none).
        self._name_prefixes = frozenset(
            key[:end] for key in (*names, *reversed_names) for end in range(1, len(key) + 1)
        )
        self._identifier_prefixes = frozenset(
            key[:end] for key in identifiers for end in range(1, len(key) + 1)
        )
        self._longest_name = longest_name
        self._build_near_names(registry)

    def _build_near_names(self, registry: Registry) -> None:
        """Nickname forms and one-typo neighbourhoods of every full name."""
        nicknames: dict[tuple[str, ...], set[str]] = {}
        near: dict[_NearKey, set[tuple[str, str]]] = {}
        longest = 0
        for client in registry.clients().values():
            for name in client.names:
                tokens = _tokens(name)
                if len(tokens) < 2:
                    continue  # a single name is too common to guess at
                key = _name_key(tokens, name)
                words = tuple(t.key for t in tokens)
                longest = max(longest, len(words))
                for variant in _first_name_variants(words[0]):
                    nickname_key = (variant, *key[1:])
                    if nickname_key not in self._names:
                        nicknames.setdefault(nickname_key, set()).add(client.client_id)
                for position, word in enumerate(words):
                    if len(word) < MIN_TYPO_LETTERS:
                        continue
                    if sum(map(len, words)) < MIN_TYPO_NAME_LETTERS:
                        continue
                    before, after = words[:position], words[position + 1 :]
                    for form in _deletions(word):
                        near.setdefault((position, before, form, after), set()).add(
                            (client.client_id, word)
                        )
        self._name_words = frozenset(word for key in near for word in (*key[1], *key[3]))
        self._nicknames = {k: tuple(sorted(v)) for k, v in nicknames.items()}
        self._nickname_firsts = frozenset(key[0] for key in nicknames)
        self._near = {k: tuple(sorted(v)) for k, v in near.items()}
        self._longest_near = longest

    def __len__(self) -> int:
        return len(self._names) + len(self._identifiers)

    def find(self, text: str, tokens: Sequence[_Token] | None = None) -> list[_Match]:
        """Every client mention in ``text``, longest per client where they
        overlap; ``tokens``: ``text``'s, if the caller has them."""
        tokens = _tokens(text) if tokens is None else tokens
        found: list[_Match] = []
        for i in range(len(tokens)):
            found.extend(self._names_at(tokens, i, text))
            found.extend(self._identifiers_at(tokens, i, text))
        return _drop_contained(found)

    def find_near(self, text: str, tokens: Sequence[_Token] | None = None) -> list[_Match]:
        """Nickname forms and one-typo misspellings of full names in ``text``
        (exact matches are :meth:`find`'s), capitalised as names are."""
        if not self._nicknames and not self._near:
            return []
        tokens = _tokens(text) if tokens is None else tokens
        found: list[_Match] = []
        for i in range(len(tokens)):
            found.extend(self._nicknames_at(tokens, i, text))
            found.extend(self._typos_at(tokens, i, text))
        return [m for m in _drop_contained(found) if _written_as_name(text, m)]

    def _nicknames_at(self, tokens: Sequence[_Token], i: int, text: str) -> Iterable[_Match]:
        if tokens[i].key not in self._nickname_firsts:
            return
        key: list[str] = []
        for j in range(i, min(len(tokens), i + self._longest_near)):
            if j > i:
                key.append(_gap_key(text[tokens[j - 1].end : tokens[j].start]))
            key.append(tokens[j].key)
            for client_id in self._nicknames.get(tuple(key), ()):
                yield _Match(client_id, tokens[i].start, tokens[j].end, NICKNAME_SCORE)

    def _typos_at(self, tokens: Sequence[_Token], i: int, text: str) -> Iterable[_Match]:
        # Of a name's first two words, one at least is written exactly.
        if not any(t.key in self._name_words for t in tokens[i : i + 2]):
            return
        for length in range(2, self._longest_near + 1):
            window = tokens[i : i + length]
            if len(window) < length:
                return
            if any(_gap_key(text[a.end : b.start]) not in _NAME_GAPS for a, b in pairwise(window)):
                return
            words = tuple(t.key for t in window)
            unknown = [p for p, word in enumerate(words) if word not in self._name_words]
            if len(unknown) > 1:
                continue  # all words but the misspelt one are a name's, exactly
            for position, written in enumerate(words):
                if unknown and position != unknown[0]:
                    continue
                if len(written) < MIN_TYPO_LETTERS:
                    continue
                before, after = words[:position], words[position + 1 :]
                for form in _deletions(written):
                    for client_id, registered in self._near.get(
                        (position, before, form, after), ()
                    ):
                        if _one_typo(written, registered):
                            yield _Match(client_id, window[0].start, window[-1].end, TYPO_SCORE)

    def _names_at(self, tokens: Sequence[_Token], i: int, text: str) -> Iterable[_Match]:
        key: list[str] = []
        for j in range(i, min(len(tokens), i + self._longest_name)):
            if j > i:
                key.append(_gap_key(text[tokens[j - 1].end : tokens[j].start]))
            key.append(tokens[j].key)
            read = tuple(key)
            if read not in self._name_prefixes:
                return
            for client_id in self._names.get(read, ()):
                yield _Match(client_id, tokens[i].start, tokens[j].end)
            for client_id in self._reversed.get(read, ()):
                match = _Match(client_id, tokens[i].start, tokens[j].end)
                if _written_as_name(text, match):
                    yield match

    def _identifiers_at(self, tokens: Sequence[_Token], i: int, text: str) -> Iterable[_Match]:
        joined = ""
        for j in range(i, len(tokens)):
            if j > i and not _IDENTIFIER_GAP.fullmatch(text[tokens[j - 1].end : tokens[j].start]):
                return
            joined += tokens[j].key
            if joined not in self._identifier_prefixes:
                return
            for client_id in self._identifiers.get(joined, ()):
                yield _Match(client_id, tokens[i].start, tokens[j].end)


def _surname_first(key: tuple[str, ...]) -> Iterable[tuple[str, ...]]:
    """A full name's key written "Surname, Given names", at every split of its
    space-separated words (a hyphen or apostrophe stays inside its word)."""
    for split in range(2, len(key), 2):
        if key[split - 1] != " ":
            continue
        yield (*key[split:], ",", *key[: split - 1])


def _one_typo(written: str, registered: str) -> bool:
    """One letter changed or two swapped; or, in a long word, one added or dropped."""
    shorter = min(len(written), len(registered))
    if len(written) != len(registered) and shorter < MIN_LENGTH_TYPO_LETTERS:
        return False
    return OSA.distance(written, registered, score_cutoff=1) == 1


# Between the words of a name: a space or line break, a hyphen, an apostrophe.
_NAME_GAPS = frozenset({" ", "-", "'"})


def _written_as_name(text: str, match: _Match) -> bool:
    """Every word of a near match starts with a capital (or all are capitals)."""
    words = [m.group() for m in _TOKEN.finditer(text, match.start, match.end)]
    return all(w[0].isupper() for w in words)


def _drop_contained(matches: list[_Match]) -> list[_Match]:
    """ "Maria Elena Lopez" also contains alias "Elena Lopez": report the
    longer span once per client. Different clients are all kept: two
    clients with one name is exactly what the policy must hear about."""
    kept: list[_Match] = []
    ranked = sorted(set(matches), key=lambda m: (m.start, m.start - m.end, m.client_id, -m.score))
    for match in ranked:
        if any(
            k.client_id == match.client_id and k.start <= match.start and match.end <= k.end
            for k in kept
        ):
            continue
        kept.append(match)
    return kept


class ClientDetector:
    name = "client"
    version = "1.0"
    codes = frozenset({Entity.CLIENT.value})

    def __init__(self, options: Mapping[str, Any], settings: Settings) -> None:
        if options:
            raise ValueError(f"detector 'client' takes no options, got: {', '.join(options)}")
        self._lock = threading.Lock()
        # The index for the last registry snapshot seen; snapshots are
        # immutable, so identity is a safe cache key. Holding the registry
        # keeps its id from being reused by a new snapshot.
        self._cached: tuple[Registry, ClientIndex] | None = None

    def index_for(self, registry: Registry) -> ClientIndex:
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] is registry:
                return cached[1]
            index = ClientIndex(registry)
            self._cached = (registry, index)
            return index

    def inspect(self, message: ParsedMessage, context: InspectionContext) -> Sequence[Finding]:
        index = self.index_for(context.registry)
        if not len(index):
            return []
        people = _people_on_the_message(message)
        findings: list[Finding] = []
        for segment in message.all_segments:
            findings.extend(self._segment_findings(index, segment, people))
        return findings

    def _segment_findings(
        self, index: ClientIndex, segment: Segment, people: Sequence[str]
    ) -> Iterable[Finding]:
        text = segment.detection_text
        tokens = _tokens(text)
        exact = index.find(text, tokens)
        near = [
            m
            for m in index.find_near(text, tokens)
            if not any(m.start < e.end and e.start < m.end for e in exact)
            and not _is_one_of(text[m.start : m.end], people)
        ]
        for match in sorted([*exact, *near], key=lambda m: (m.start, m.end, m.client_id)):
            start, end = segment.span(match.start, match.end)
            yield Finding(
                entity=Entity.CLIENT,
                location=segment.source,
                start=start,
                end=end,
                score=match.score,
                detector=self.name,
                text=text[match.start : match.end],
                client_id=match.client_id,
                quoted=segment.quoted,
            )


def _people_on_the_message(message: ParsedMessage) -> tuple[str, ...]:
    """The sender's name and the From, To and Cc lines, folded: names there
    are the worker's and their correspondents', never a client's near miss."""
    lines = [message.from_name]
    lines += [s.detection_text for s in message.extra_segments if s.signature]
    return tuple(_words(line) for line in lines if line.strip())


def _words(text: str) -> str:
    """Folded words, one space apart and at both ends, to compare whole words."""
    return " " + " ".join(_TOKEN.findall(fold(text))) + " "


def _is_one_of(name: str, people: Sequence[str]) -> bool:
    words = _words(name)
    return any(words in line for line in people)
