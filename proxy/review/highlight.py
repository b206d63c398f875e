"""A held message as a reviewer reads it: its text in parts, with each
finding marked and explained in plain words.

Only extracted text is shown. An HTML part appears as the text the parser
drew from it, never as markup, so nothing in a message can run in the
reviewer's browser; the templates escape every piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from proxy.core.findings import Entity, Finding
from proxy.core.message import ParsedMessage
from proxy.core.verdict import Action, RuleHit
from proxy.lint.explain import category_noun, entity_noun

# Findings with these actions are what "release with redactions" masks.
_MASKED_ACTIONS = (Action.REDACT, Action.DEFER, Action.HOLD, Action.REJECT)


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    mark: int | None = None  # the finding's number, when this text is one
    masked: bool = False  # in a masked preview: text that replaced a detail


@dataclass(frozen=True, slots=True)
class Block:
    """A run of a part that is either the sender's own words or quoted
    earlier mail (shown folded: the reviewer judges what is new first)."""

    quoted: bool
    pieces: tuple[Piece, ...]

    @property
    def marks(self) -> int:
        return sum(1 for piece in self.pieces if piece.mark is not None)


@dataclass(frozen=True, slots=True)
class PartView:
    source: str
    label: str
    pieces: tuple[Piece, ...]
    blocks: tuple[Block, ...] = ()

    @property
    def text(self) -> str:
        return "".join(piece.text for piece in self.pieces)


@dataclass(frozen=True, slots=True)
class FindingView:
    number: int
    what: str
    where: str
    reasons: tuple[str, ...]
    action: str | None
    quoted: bool


def part_label(source: str) -> str:
    base, _, count = source.partition("#")
    suffix = f" ({count})" if count else ""
    if base == "subject":
        return "Subject"
    if base == "body":
        return f"Message text{suffix}"
    if base == "html":
        return f"Message text from the HTML part, shown as plain text{suffix}"
    if base.startswith("attachment:"):
        return f"Attachment {base.removeprefix('attachment:')}{suffix}"
    if base.startswith("header:"):
        return f"Header {base.removeprefix('header:')}"
    if base.startswith("filename:"):
        return f"File name of attachment {base.removeprefix('filename:')}"
    if base == "html-attributes":
        return f"Attribute text in the HTML part (tooltips, image descriptions){suffix}"
    if base == "html-hidden":
        return f"Script, style and comments in the HTML part (not shown){suffix}"
    return source


def _what(finding: Finding) -> str:
    if finding.entity is Entity.SENSITIVE_CONDITION:
        return f"{entity_noun(finding.entity)}: {category_noun(finding.category)}"
    if finding.entity is Entity.CLIENT and finding.client_id:
        return f"client {finding.client_id}"
    if finding.entity is Entity.UNSCANNABLE and finding.reason:
        return f"{entity_noun(finding.entity)} ({finding.reason})"
    return entity_noun(finding.entity)


def _where(finding: Finding) -> str:
    place = part_label(finding.location)
    return f"{place}, in quoted earlier text" if finding.quoted else place


def _hits_for(finding: Finding, hits: Sequence[RuleHit]) -> list[RuleHit]:
    return [h for h in hits if h.finding is not None and h.finding == finding]


def _pieces(text: str, spans: Sequence[tuple[int, int, int]]) -> tuple[Piece, ...]:
    """Split ``text`` at the (start, end, number) spans; an overlapping span
    is merged into the one before it."""
    pieces: list[Piece] = []
    cursor = 0
    for start, end, number in sorted(spans):
        start, end = max(start, 0), min(end, len(text))
        if end <= cursor or start >= end:
            continue
        start = max(start, cursor)
        if start > cursor:
            pieces.append(Piece(text[cursor:start]))
        pieces.append(Piece(text[start:end], number))
        cursor = end
    if cursor < len(text):
        pieces.append(Piece(text[cursor:]))
    return tuple(pieces)


def _split(pieces: Sequence[Piece], cuts: Sequence[int]) -> list[list[Piece]]:
    """``pieces`` cut at the character offsets ``cuts`` (a piece crossing a
    cut becomes two with the same mark)."""
    groups: list[list[Piece]] = [[]]
    cursor = 0
    wanted = sorted(set(cuts))
    for piece in pieces:
        text = piece.text
        start = cursor
        while wanted and wanted[0] <= start:
            if groups[-1]:
                groups.append([])
            wanted.pop(0)
        while wanted and wanted[0] < start + len(text):
            at = wanted.pop(0) - start
            groups[-1].append(Piece(text[:at], piece.mark, piece.masked))
            groups.append([])
            text, start = text[at:], start + at
        if text:
            groups[-1].append(Piece(text, piece.mark, piece.masked))
        cursor += len(piece.text)
    return [group for group in groups if group]


def _blocks(pieces: tuple[Piece, ...], quoted: Sequence[tuple[int, int]]) -> tuple[Block, ...]:
    """The part's pieces grouped into the sender's text and quoted runs."""
    if not quoted:
        return (Block(False, pieces),) if pieces else ()
    cuts = [offset for span in quoted for offset in span]
    blocks: list[Block] = []
    cursor = 0
    for group in _split(pieces, cuts):
        length = sum(len(piece.text) for piece in group)
        inside = any(start <= cursor < end for start, end in quoted)
        if blocks and blocks[-1].quoted == inside:
            blocks[-1] = Block(inside, blocks[-1].pieces + tuple(group))
        else:
            blocks.append(Block(inside, tuple(group)))
        cursor += length
    return tuple(blocks)


def _quoted_spans(message: ParsedMessage) -> dict[str, list[tuple[int, int]]]:
    spans: dict[str, list[tuple[int, int]]] = {}
    for segment in message.segments:
        if segment.quoted and segment.text:
            start = segment.offset
            spans.setdefault(segment.source, []).append((start, start + len(segment.text)))
    return spans


def render_message(
    message: ParsedMessage, findings: Sequence[Finding], hits: Sequence[RuleHit]
) -> tuple[tuple[PartView, ...], tuple[FindingView, ...]]:
    """The message's parts with findings marked, and the numbered findings."""
    part_order = {source: index for index, source in enumerate(message.full_text)}
    ordered = sorted(findings, key=lambda f: (part_order.get(f.location, len(part_order)), f.start))
    views: list[FindingView] = []
    spans: dict[str, list[tuple[int, int, int]]] = {}
    for number, finding in enumerate(ordered, start=1):
        related = _hits_for(finding, hits)
        active = [h for h in related if not h.overridden]
        action = max((h.action for h in active), default=None)
        views.append(
            FindingView(
                number=number,
                what=_what(finding),
                where=_where(finding),
                reasons=tuple(dict.fromkeys(h.message for h in related)),
                action=action.value if action is not None else None,
                quoted=finding.quoted,
            )
        )
        if finding.end > finding.start:
            spans.setdefault(finding.location, []).append((finding.start, finding.end, number))
    # Header fields, file names and HTML attribute or hidden text are read
    # like the body, but shown only where something was found: the reviewer
    # needs the finding in its place, not every message's From and To
    # (nor the markup's links and scripts) as text.
    body_sources = {segment.source for segment in message.segments}
    extra_only = {s.source for s in message.extra_segments} - body_sources
    quoted = _quoted_spans(message)
    parts = []
    for source, text in message.full_text.items():
        if source in extra_only and source not in spans:
            continue
        pieces = _pieces(text, spans.get(source, ()))
        parts.append(
            PartView(source, part_label(source), pieces, _blocks(pieces, quoted.get(source, ())))
        )
    return tuple(parts), tuple(views)


def masked_parts(original: ParsedMessage, masked: ParsedMessage) -> tuple[PartView, ...]:
    """The masked message's parts, with each run that differs from the
    original marked as masked, so the page (and a screen reader) can say
    "masked" instead of reading the mask character by character. The
    difference is taken, not the mask format assumed, so the preview marks
    whatever the masking really changed."""
    before = original.full_text
    body_sources = {segment.source for segment in masked.segments}
    extra_only = {s.source for s in masked.extra_segments} - body_sources
    parts = []
    for source, text in masked.full_text.items():
        old = before.get(source)
        if old is None or old == text:
            if source in extra_only:
                continue  # header fields and the like: shown only where masked
            pieces: tuple[Piece, ...] = (Piece(text),) if text else ()
        else:
            pieces = _diff_pieces(old, text)
        parts.append(PartView(source, part_label(source), pieces, (Block(False, pieces),)))
    return tuple(parts)


# What joins the characters of one value ("123-45-6789", "03/14/1988");
# sentence punctuation and spaces end it.
_VALUE_JOINERS = frozenset("-/_+*#@")


def _in_value(char: str) -> bool:
    return char.isalnum() or char in _VALUE_JOINERS


def _diff_pieces(old: str, new: str) -> tuple[Piece, ...]:
    """``new`` in pieces, the runs that differ from ``old`` marked masked.
    A changed run is widened to the whole value it sits in, so that
    "XXX-XX-6789" is one masked value and not three."""
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    changed: list[tuple[int, int]] = []
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or j2 <= j1:
            continue
        while j1 > 0 and _in_value(new[j1 - 1]):
            j1 -= 1
        while j2 < len(new) and _in_value(new[j2]):
            j2 += 1
        if changed and j1 <= changed[-1][1]:
            changed[-1] = (changed[-1][0], max(j2, changed[-1][1]))
        else:
            changed.append((j1, j2))
    pieces: list[Piece] = []
    cursor = 0
    for start, end in changed:
        if start > cursor:
            pieces.append(Piece(new[cursor:start]))
        pieces.append(Piece(new[start:end], None, True))
        cursor = end
    if cursor < len(new):
        pieces.append(Piece(new[cursor:]))
    return tuple(pieces)


def redaction_values(hits: Sequence[RuleHit]) -> list[str]:
    """The values "release with redactions" masks: every finding a rule
    acted on (mask, hold, reject), except parts that could not be read."""
    return sorted(
        {
            h.finding.text
            for h in hits
            if h.action in _MASKED_ACTIONS
            and not h.overridden
            and h.finding is not None
            and h.finding.text
            and h.finding.entity is not Entity.UNSCANNABLE
        }
    )
