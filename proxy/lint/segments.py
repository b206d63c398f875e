"""How many SMS segments a text costs, the way carriers count them.

A text is sent in the GSM 03.38 7-bit alphabet when every character is in
it, else as UCS-2; one character outside GSM-7 (an emoji, a curly quote)
more than halves how much fits in a segment. Long texts are split into
parts that each lose room to the concatenation header, and phones show
them joined up or in pieces depending on the carrier, which is why the
policy warns about long texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 basic character set (without the escape code itself).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs an escape plus the character, 2 septets.
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SegmentCount:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    return all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text)


def _pack(costs: list[int], single: int, part: int) -> int:
    """Segments needed when a character is never split across two parts
    (an escape pair, a surrogate pair), as phones encode them."""
    total = sum(costs)
    if total <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return segments


def count_segments(text: str) -> SegmentCount:
    if is_gsm7(text):
        costs = [2 if c in _GSM_EXTENDED else 1 for c in text]
        return SegmentCount("GSM-7", sum(costs), _pack(costs, GSM_SINGLE, GSM_PART))
    costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SegmentCount("UCS-2", sum(costs), _pack(costs, UCS2_SINGLE, UCS2_PART))
