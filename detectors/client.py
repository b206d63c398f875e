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
mean client Maria Lopez unless it is listed as her alias.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


def fold(text: str) -> str:
    """Case- and accent-insensitive form: workers often drop accents."""
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


class ClientIndex:
    """Hash tables of every client's names and identifiers for one snapshot."""

    def __init__(self, registry: Registry) -> None:
        names: dict[tuple[str, ...], set[str]] = {}
        identifiers: dict[str, set[str]] = {}
        longest_name = 0
        longest_identifier = 0
        for client in registry.clients().values():
            for name in client.names:
                tokens = _tokens(name)
                if not tokens:
                    continue
                names.setdefault(_name_key(tokens, name), set()).add(client.client_id)
                longest_name = max(longest_name, len(tokens))
            for identifier in client.identifiers:
                key = "".join(t.key for t in _tokens(identifier))
                if len(key) < MIN_IDENTIFIER_CHARS:
                    continue
                identifiers.setdefault(key, set()).add(client.client_id)
                longest_identifier = max(longest_identifier, len(key))
        self._names = {k: tuple(sorted(v)) for k, v in names.items()}
        self._identifiers = {k: tuple(sorted(v)) for k, v in identifiers.items()}
        self._longest_name = longest_name
        self._longest_identifier = longest_identifier

    def __len__(self) -> int:
        return len(self._names) + len(self._identifiers)

    def find(self, text: str) -> list[_Match]:
        """Every client mention in ``text``, longest per client where they overlap."""
        tokens = _tokens(text)
        found: list[_Match] = []
        for i in range(len(tokens)):
            found.extend(self._names_at(tokens, i, text))
            found.extend(self._identifiers_at(tokens, i, text))
        return _drop_contained(found)

    def _names_at(self, tokens: Sequence[_Token], i: int, text: str) -> Iterable[_Match]:
        key: list[str] = []
        for j in range(i, min(len(tokens), i + self._longest_name)):
            if j > i:
                key.append(_gap_key(text[tokens[j - 1].end : tokens[j].start]))
            key.append(tokens[j].key)
            for client_id in self._names.get(tuple(key), ()):
                yield _Match(client_id, tokens[i].start, tokens[j].end)

    def _identifiers_at(self, tokens: Sequence[_Token], i: int, text: str) -> Iterable[_Match]:
        joined = ""
        for j in range(i, len(tokens)):
            if j > i and not _IDENTIFIER_GAP.fullmatch(text[tokens[j - 1].end : tokens[j].start]):
                return
            joined += tokens[j].key
            if len(joined) > self._longest_identifier:
                return
            for client_id in self._identifiers.get(joined, ()):
                yield _Match(client_id, tokens[i].start, tokens[j].end)


def _drop_contained(matches: list[_Match]) -> list[_Match]:
    """ "Maria Elena Lopez" also contains alias "Elena Lopez": report the
    longer span once per client. Different clients are all kept: two
    clients with one name is exactly what the policy must hear about."""
    kept: list[_Match] = []
    for match in sorted(set(matches), key=lambda m: (m.start, -(m.end - m.start), m.client_id)):
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
        findings: list[Finding] = []
        for segment in message.all_segments:
            findings.extend(self._segment_findings(index, segment))
        return findings

    def _segment_findings(self, index: ClientIndex, segment: Segment) -> Iterable[Finding]:
        text = segment.detection_text
        for match in index.find(text):
            start, end = segment.span(match.start, match.end)
            yield Finding(
                entity=Entity.CLIENT,
                location=segment.source,
                start=start,
                end=end,
                score=1.0,
                detector=self.name,
                text=text[match.start : match.end],
                client_id=match.client_id,
                quoted=segment.quoted,
            )
