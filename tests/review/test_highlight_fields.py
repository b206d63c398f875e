"""The reviewer sees a finding in a header field or file name in its place,
and not every message's header fields as text."""

from __future__ import annotations

from proxy.core.config import Limits
from proxy.core.findings import Entity, Finding
from proxy.lint.parse import parse_message
from proxy.review.highlight import render_message

RAW = (
    b"From: Jane Worker <jane@example.org>\r\nTo: rosa.diaz@example.com\r\n"
    b"Subject: Visit\r\nX-Case-Note: SSN 512-44\xe2\x80\x8b-8821\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b'<p>Hello</p><a href="https://portal.example.org">portal</a>\r\n'
)


def test_only_fields_with_a_finding_are_shown_with_it_marked() -> None:
    message = parse_message(RAW, limits=Limits())
    note = next(s for s in message.extra_segments if s.source == "header:X-Case-Note")
    start, end = note.span(4, 15)
    finding = Finding(Entity.US_SSN, "header:X-Case-Note", start, end, 0.9, "presidio")
    parts, views = render_message(message, [finding], [])
    shown = {part.source: part for part in parts}
    assert set(shown) == {"subject", "html", "header:X-Case-Note"}
    marked = [p.text for p in shown["header:X-Case-Note"].pieces if p.mark == 1]
    assert marked == ["512-44\u200b-8821"]  # what was written, hidden character included
    assert views[0].where == "Header X-Case-Note"
