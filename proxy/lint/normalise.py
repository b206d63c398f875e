"""The text detectors read: what a reader sees, not how it is spelled.

A value can hide from a pattern without hiding from a reader: a zero-width
space or a soft hyphen inside "123-45-6789" renders as nothing, a Cyrillic
"а" in "Mаria" looks exactly like the Latin one, "l23-45-6789" reads as a
number, and a fullwidth "１２３" is still 123. Every text segment (body, HTML
text and attributes, header text, file names, attachment text) is therefore
read through :func:`normalise` before any detector sees it, and redaction
(:mod:`proxy.pipeline.redact`) reads the message through the very same
function, so a value found here is masked there.

The steps, each chosen so that ordinary text stays as it is:

1. Format characters (general category Cf) and every other
   Default_Ignorable_Code_Point are removed: they render as nothing.
2. Unicode NFKC, applied per character and its combining marks, so that
   each output character still knows where it came from.
3. Digits of other scripts become ASCII digits (they are digits).
4. Inside a digit-like run (a run of digits and digit look-alikes, with
   at least as many real digits as look-alikes and no other letters),
   letters that look like a digit become that digit: "l23-45-678O" reads
   "123-45-6780" and "O3/l4/l988.txt" reads "03/14/1988.txt", while
   "Ola", "lO", "I-95" and "CO2" stay as they are.
5. Letters of another script that look like a Latin letter become that
   letter, in words that are otherwise Latin or wholly made of look-alikes
   ("Mаria" with a Cyrillic а); a word in another script ("привет") is
   left alone.

Look-alikes come from Unicode's confusables data as maintained in the
``confusable-homoglyphs`` package, never from a hand-written list.

Removing and NFKC can change the length of the text, so the result keeps
``edits``: every place where a run of the original became a run of another
length. :meth:`proxy.core.message.Segment.span` maps a detector's offsets
back through them, so findings (and highlights) point at the characters
the sender wrote, hidden ones included.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from functools import cache, lru_cache

import regex
from confusable_homoglyphs import utils as confusable_data

from proxy.core.message import Edit, Segment, original_span

_IGNORABLE = regex.compile(r"[\p{Cf}\p{Default_Ignorable_Code_Point}]")
_LATIN = regex.compile(r"\p{Script=Latin}")
# A run of letters and digits, in which digits may be spelled with look-alikes.
_DIGIT_TOKEN = regex.compile(r"[\p{L}\p{N}]+")
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+")
_ASCII_DIGITS = frozenset("0123456789")
# Directional marks that the confusables data keeps around right-to-left
# characters; they are not part of the character.
_BIDI_MARKS = "\u200e\u200f"


@dataclass(frozen=True, slots=True)
class Normalised:
    """Text for detection, and how to find each piece of it in the original."""

    text: str
    edits: tuple[Edit, ...] = ()

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Where ``text[start:end]`` came from in the original text."""
        return original_span(self.edits, start, end)


@lru_cache(maxsize=4096)
def _ignorable(char: str) -> bool:
    return _IGNORABLE.match(char) is not None


def _attaches(char: str) -> bool:
    """Whether ``char`` belongs to the character before it for NFKC: a
    combining mark, or a Hangul medial or final jamo."""
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char).startswith("M")
        or 0x1160 <= ord(char) <= 0x11FF
    )


def _strip_and_compose(raw: str) -> Normalised:
    """Steps 1 and 2: drop what renders as nothing, then NFKC."""
    if raw.isascii() or (unicodedata.is_normalized("NFKC", raw) and _IGNORABLE.search(raw) is None):
        return Normalised(raw)
    out: list[str] = []
    edits: list[Edit] = []
    length = 0
    i = 0
    while i < len(raw):
        if _ignorable(raw[i]):
            j = i + 1
            while j < len(raw) and _ignorable(raw[j]):
                j += 1
            edits.append((length, length, i, j))
            i = j
            continue
        j = i + 1
        while j < len(raw) and _attaches(raw[j]) and not _ignorable(raw[j]):
            j += 1
        piece = raw[i:j]
        normal = unicodedata.normalize("NFKC", piece)
        if normal != piece and not (len(piece) == 1 and len(normal) == 1):
            edits.append((length, length + len(normal), i, j))
        out.append(normal)
        length += len(normal)
        i = j
    return Normalised("".join(out), tuple(edits))


@cache
def _homoglyphs() -> dict[str, frozenset[str]]:
    """Each character's look-alikes, from the maintained confusables table."""
    table: dict[str, frozenset[str]] = {}
    for char, entries in confusable_data.load("confusables.json").items():
        key = char.strip(_BIDI_MARKS)
        found = {str(e["c"]).strip(_BIDI_MARKS) for e in entries}
        table[key] = table.get(key, frozenset()) | frozenset(found)
    return table


@cache
def digit_lookalikes() -> dict[str, str]:
    """Letters that look like an ASCII digit ("O" -> "0", "l" and "I" -> "1",
    Cyrillic "З" -> "3"). The table links each character with its
    prototype, so two characters that look alike are at most two links
    apart (through the prototype they share)."""
    table = _homoglyphs()
    found: dict[str, str] = {}
    for char, near in table.items():
        if len(char) != 1 or not unicodedata.category(char).startswith("L"):
            continue
        reach = set(near)
        for other in near:
            reach |= table.get(other, frozenset())
        digits = reach & _ASCII_DIGITS
        if len(digits) == 1:
            found[char] = next(iter(digits))
    return found


@cache
def letter_lookalikes() -> dict[str, str]:
    """Non-ASCII letters that look like one ASCII letter (Cyrillic "а" ->
    "a", Greek "Ο" -> "O")."""
    found: dict[str, str] = {}
    for char, near in _homoglyphs().items():
        if len(char) != 1 or char.isascii() or not unicodedata.category(char).startswith("L"):
            continue
        letters = sorted(c for c in near if len(c) == 1 and c.isascii() and c.isalpha())
        if len(letters) == 1:
            found[char] = letters[0]
    return found


def _fold_digits(chars: list[str]) -> None:
    """Steps 3 and 4, in place."""
    lookalikes = digit_lookalikes()
    for index, char in enumerate(chars):
        if not char.isascii() and unicodedata.category(char) == "Nd":
            chars[index] = str(unicodedata.digit(char))
    text = "".join(chars)
    if not any(c in lookalikes for c in text):
        return
    for token in _DIGIT_TOKEN.finditer(text):
        digits = looks = 0
        for char in token.group():
            if char in _ASCII_DIGITS:
                digits += 1
            elif char in lookalikes:
                looks += 1
            elif char.isalnum():
                break  # another letter: a word, not a number
        else:
            if digits and looks and looks <= digits:
                for index in range(token.start(), token.end()):
                    chars[index] = lookalikes.get(chars[index], chars[index])


def _foreign(char: str, lookalikes: dict[str, str]) -> bool:
    return (
        char.isalpha()
        and not char.isascii()
        and char not in lookalikes
        and _LATIN.match(char) is None
    )


def _fold_letters(chars: list[str]) -> None:
    """Step 5, in place."""
    text = "".join(chars)
    if text.isascii():
        return
    lookalikes = letter_lookalikes()
    for word in _WORD.finditer(text):
        piece = word.group()
        if piece.isascii() or not any(c in lookalikes for c in piece):
            continue
        if any(_foreign(c, lookalikes) for c in piece):
            continue
        for index in range(word.start(), word.end()):
            chars[index] = lookalikes.get(chars[index], chars[index])


def normalise(raw: str) -> Normalised:
    """``raw`` as detectors read it, with the way back to ``raw``."""
    composed = _strip_and_compose(raw)
    chars = list(composed.text)
    _fold_digits(chars)
    _fold_letters(chars)
    text = "".join(chars)
    return Normalised(text, composed.edits) if text != composed.text else composed


def normalise_segment(segment: Segment) -> Segment:
    """The segment with what detectors read and the way back recorded."""
    result = normalise(segment.text)
    if result.text == segment.text:
        return segment
    return replace(segment, normalised=result.text, edits=result.edits)
