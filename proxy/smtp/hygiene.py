"""SMTP protocol hygiene: what a command line or a message line may contain.

SMTP smuggling works when two mail systems disagree about where a message
ends, e.g. one treats ``<LF>.<LF>`` as the end and the next does not. The
front door therefore accepts only what RFC 5321 allows: every line ends in
CRLF, with no CR or LF anywhere else and no NUL. A message that breaks
this is refused as a whole, never "repaired", because repairing is exactly
the reinterpretation an attacker relies on.

These are pure functions and a small accumulator, so the rules can be
tested without a network and reused by anything else that speaks SMTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from proxy.core.submission import SmtpReply

CRLF = b"\r\n"
END_OF_DATA = b".\r\n"

# Commands are plain printable text: any C0 control (TAB included) or DEL is
# refused.
_COMMAND_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
# In message text, NUL and the C0 controls with no use in mail are refused.
# TAB, VT and FF occur in ordinary text and ESC is part of ISO-2022-JP
# encoded Japanese, so those four stay allowed; bare CR and LF are checked
# separately because they get their own explanation.
_DATA_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


class LineProblem(Enum):
    BARE_LINE_END = "bare CR or LF"
    CONTROL_CHARACTER = "control character"
    LINE_TOO_LONG = "line too long"
    TOO_BIG = "message too big"


def command_problem(line: bytes) -> LineProblem | None:
    """``line`` is one command as read, up to and including its LF."""
    if not line.endswith(CRLF):
        return LineProblem.BARE_LINE_END
    body = line[:-2]
    if b"\r" in body or b"\n" in body:
        return LineProblem.BARE_LINE_END
    if _COMMAND_CONTROL.search(body):
        return LineProblem.CONTROL_CHARACTER
    return None


def data_line_problem(line: bytes, max_line_length: int) -> LineProblem | None:
    """``line`` is one line of DATA as read, ending in CRLF, dot-stuffing
    already removed. ``max_line_length`` excludes the CRLF (RFC 5322: 998)."""
    body = line[:-2] if line.endswith(CRLF) else line
    if not line.endswith(CRLF) or b"\r" in body or b"\n" in body:
        return LineProblem.BARE_LINE_END
    if _DATA_CONTROL.search(body):
        return LineProblem.CONTROL_CHARACTER
    if len(body) > max_line_length:
        return LineProblem.LINE_TOO_LONG
    return None


def unstuff(line: bytes) -> bytes:
    """RFC 5321 4.5.2: a leading period was doubled by the client."""
    return line[1:] if line.startswith(b".") else line


def unstuff_lines(block: bytes) -> bytes:
    """:func:`unstuff` on every line of ``block`` (whole lines, each ending
    in CRLF): the period at the start of the block and after each CRLF."""
    return unstuff(block).replace(b"\r\n.", CRLF)


@dataclass(slots=True)
class MessageCollector:
    """Collects DATA lines until the end marker, remembering the first
    problem. After a problem nothing more is kept (the message will be
    refused anyway) but lines are still counted, so the reader stays in step
    with the client until the real end of the message."""

    max_size: int
    max_line_length: int
    problem: LineProblem | None = None
    received: int = 0  # bytes read from the client, for the hard cap
    size: int = 0  # bytes of message kept, after unstuffing
    _lines: list[bytes] = field(default_factory=list, repr=False)

    def feed(self, line: bytes) -> None:
        self.received += len(line)
        if self.problem is not None:
            return
        text = unstuff(line)
        problem = data_line_problem(text, self.max_line_length)
        if problem is None and self.size + len(text) > self.max_size:
            problem = LineProblem.TOO_BIG
        if problem is not None:
            self.refuse(problem)
            return
        self.size += len(text)
        self._lines.append(text)

    def feed_lines(self, block: bytes, reader_limit: int) -> None:
        """Several whole lines at once, each ending in CRLF, none of them the
        end of data: the same outcome as reading them one by one with a line
        reader of ``reader_limit`` (which skips a longer line unseen, see
        :meth:`overlong`). A block with nothing wrong (nearly every one) is
        checked and kept in a few passes over its bytes; any other is fed
        line by line, so the problem reported is exactly the first one."""
        if self.problem is not None:  # refused already: only counted
            self.received += len(block)
            return
        text = unstuff_lines(block)
        if self._clean(text):
            self.received += len(block)
            self.size += len(text)
            self._lines.append(text)
            return
        start = 0
        while start < len(block):
            end = block.index(CRLF, start) + 2
            if end - 2 - start > reader_limit:
                self.overlong(end - start)
            else:
                self.feed(block[start:end])
            start = end

    def _clean(self, text: bytes) -> bool:
        """``text`` (unstuffed whole lines) has no problem and fits."""
        crlf = text.count(CRLF)
        return (
            text.count(b"\r") == crlf  # no CR but in CRLF
            and text.count(b"\n") == crlf  # no LF but in CRLF
            and _DATA_CONTROL.search(text) is None
            and self.size + len(text) <= self.max_size
            and max(map(len, text.split(CRLF))) <= self.max_line_length
        )

    def overlong(self, length: int) -> None:
        """A line so long the reader had to skip it without keeping it."""
        self.received += length
        if self.problem is None:
            self.refuse(LineProblem.LINE_TOO_LONG)

    def refuse(self, problem: LineProblem) -> None:
        self.problem = problem
        self._lines.clear()

    def content(self) -> bytes:
        return b"".join(self._lines)


def data_reply(problem: LineProblem, *, max_size: int, max_line_length: int) -> SmtpReply:
    """What the sender's mail program shows when a message is refused."""
    if problem is LineProblem.TOO_BIG:
        limit_mb = max(1, max_size // (1024 * 1024))
        return SmtpReply(
            552,
            "5.3.4",
            (
                f"Message too big: the limit is {limit_mb} MB. "
                "Make the attachments smaller or send them another way.",
            ),
        )
    if problem is LineProblem.LINE_TOO_LONG:
        return SmtpReply(
            500,
            "5.5.2",
            (
                f"Message refused: a line is longer than {max_line_length} characters. "
                "Your mail program should wrap long lines; contact IT if this repeats.",
            ),
        )
    if problem is LineProblem.CONTROL_CHARACTER:
        return SmtpReply(
            550,
            "5.6.0",
            (
                "Message refused: it contains a NUL or other control character. "
                "Send it again from a standard mail program; contact IT if this repeats.",
            ),
        )
    return SmtpReply(
        550,
        "5.6.0",
        (
            "Message refused: it contains a line break that is not CRLF (bare CR or LF). "
            "Send it again from a standard mail program; contact IT if this repeats.",
        ),
    )


def command_reply(problem: LineProblem) -> SmtpReply:
    if problem is LineProblem.LINE_TOO_LONG:
        return SmtpReply(500, "5.5.2", ("Command line too long",))
    if problem is LineProblem.CONTROL_CHARACTER:
        return SmtpReply(500, "5.5.2", ("Control characters are not allowed in commands",))
    return SmtpReply(500, "5.5.2", ("Commands must end with CRLF; bare CR or LF is not allowed",))


SYNC_ERROR = SmtpReply(
    554,
    "5.5.0",
    ("Protocol synchronization error: data sent before the server replied",),
)
