"""The parsed message: what every detector reads.

Frozen and typed so that no stage can scribble magic keys on it (the
``msgdata`` dictionary problem). Built by :mod:`proxy.lint.parse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Envelope:
    """SMTP envelope (or CLI ``--from``/``--to``); recipients include Bcc."""

    sender: str
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text from one place in the message.

    ``source`` is ``subject``, ``body``, ``html`` or ``attachment:NAME``.
    ``offset`` is where this run starts in the source's full text, so that a
    finding's ``start``/``end`` can point into the whole part. A part with a
    quoted reply is split into several segments with the same source.
    """

    source: str
    text: str
    offset: int = 0
    quoted: bool = False
    signature: bool = False


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

    @property
    def visible_recipients(self) -> tuple[str, ...]:
        return self.to + self.cc
