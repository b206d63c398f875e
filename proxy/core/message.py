"""The parsed message: what every detector reads.

Frozen and typed so that no stage can scribble magic keys on it (the
``msgdata`` dictionary problem). Built by :mod:`proxy.lint.parse`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

# One place where the text detectors read differs in length from what was
# written: ``text[norm_start:norm_end]`` came from
# ``original[orig_start:orig_end]`` (a removed invisible character has
# ``norm_start == norm_end``). Between edits, characters map one to one.
Edit = tuple[int, int, int, int]


def _edit_before(edits: tuple[Edit, ...], index: int) -> Edit | None:
    at = bisect_right(edits, index, key=lambda e: e[0]) - 1
    return edits[at] if at >= 0 else None


def original_span(edits: tuple[Edit, ...], start: int, end: int) -> tuple[int, int]:
    """Where normalised ``text[start:end]`` came from in the original text.

    A character made from several (a letter and its accent) maps to all of
    them; invisible characters removed inside the span are included, those
    just outside it are not.
    """
    if not edits:
        return start, end
    edit = _edit_before(edits, start)
    if edit is None:
        first = start
    else:
        n_start, n_end, o_start, o_end = edit
        first = o_start if n_start <= start < n_end else o_end + (start - n_end)
    if end <= start:
        return first, first
    last = end - 1
    edit = _edit_before(edits, last)
    if edit is None:
        return first, end
    n_start, n_end, o_start, o_end = edit
    return first, (o_end if n_start <= last < n_end else o_end + (last - n_end) + 1)


@dataclass(frozen=True, slots=True)
class Envelope:
    """SMTP envelope (or CLI ``--from``/``--to``); recipients include Bcc."""

    sender: str
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text from one place in the message.

    ``source`` is ``subject``, ``body``, ``html`` or ``attachment:NAME``
    (and, in :attr:`ParsedMessage.extra_segments`, ``header:NAME``,
    ``filename:N``, ``html-attributes`` or ``html-hidden``).
    ``offset`` is where this run starts in the source's full text, so that a
    finding's ``start``/``end`` can point into the whole part. A part with a
    quoted reply is split into several segments with the same source.

    ``text`` is the run as written (an exact slice of the full text);
    detectors read :attr:`detection_text`, the same run normalised by
    :mod:`proxy.lint.normalise` (invisible characters removed, look-alikes
    folded), and map their offsets back with :meth:`span`.
    """

    source: str
    text: str
    offset: int = 0
    quoted: bool = False
    # The sender's signature block, or an address field (From, To...): text
    # made of names, phones and addresses by design, which detectors do not
    # report as news.
    signature: bool = False
    # The text detectors read, when it differs from ``text``, and where it
    # differs in length (see Edit).
    normalised: str | None = field(default=None, repr=False)
    edits: tuple[Edit, ...] = field(default=(), repr=False)

    @property
    def detection_text(self) -> str:
        """What detectors read: ``text`` as a reader sees it."""
        return self.text if self.normalised is None else self.normalised

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Offsets into the source's full text for ``detection_text[start:end]``.

        Findings must point at what the sender wrote (hidden characters
        included) so that the reviewer's highlight covers it all.
        """
        first, last = original_span(self.edits, start, end)
        return self.offset + first, self.offset + last


@dataclass(frozen=True, slots=True)
class Unscannable:
    """A part Tactful could not read; it becomes an UNSCANNABLE finding."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    scanned: bool


@dataclass(frozen=True, slots=True)
class SubjectTags:
    """Worker-supplied subject tags; stripped before relaying."""

    urgent: bool = False
    override_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    envelope: Envelope
    subject: str  # decoded, with the tags removed
    tags: SubjectTags
    from_name: str  # display name of From, used to recognise the signature
    to: tuple[str, ...]  # visible recipients (To)
    cc: tuple[str, ...]  # visible recipients (Cc)
    segments: tuple[Segment, ...]
    unscannable: tuple[Unscannable, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    message_id: str | None = None
    full_text: dict[str, str] = field(default_factory=dict, compare=False)
    # Text relayed besides the subject, bodies and attachments: header fields
    # (with display names), attachment file names, HTML attribute text and
    # what HTML never shows (script, style, comments). Read by every
    # detector like ``segments``; kept apart so that the body's segments
    # (and the spaCy docs aligned with them) stay what they were.
    extra_segments: tuple[Segment, ...] = ()

    @property
    def visible_recipients(self) -> tuple[str, ...]:
        return self.to + self.cc

    @property
    def all_segments(self) -> tuple[Segment, ...]:
        """Everything detectors read: ``segments`` then ``extra_segments``."""
        return self.segments + self.extra_segments
