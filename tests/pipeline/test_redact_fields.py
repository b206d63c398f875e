"""Redaction reaches every place the scan reads: header fields and display
names, file names, HTML attributes and hidden HTML, through invisible
characters and look-alikes; what it cannot mask makes it incomplete."""

from __future__ import annotations

import pytest

from proxy.core.config import Limits
from proxy.lint.parse import parse_message
from proxy.pipeline.redact import redact_message
from tests.support.readings import where_value_is

SSN = "512-44-8821"
NAME = "Maria Lopez"


def message(headers: str = "", *, body: str = "Hello.", html: str | None = None) -> bytes:
    top = (
        "From: Jane Worker <jane@example.org>\r\nTo: Rosa Diaz <rosa.diaz@example.com>\r\n"
        "Subject: Visit\r\nMessage-ID: <m1@example.org>\r\nMIME-Version: 1.0\r\n" + headers
    )
    if html is None:
        return (
            top + "Content-Type: multipart/mixed; boundary=B\r\n\r\n"
            "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n--B--\r\n"
        ).encode()
    return (
        top
        + "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + html
        + "\r\n"
    ).encode()


def attachment(disposition: str, content_type: str = "text/plain") -> bytes:
    return (
        "From: jane@example.org\r\nTo: rosa.diaz@example.com\r\nSubject: s\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        f"--B\r\nContent-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n\r\n"
        "nothing here\r\n--B--\r\n"
    ).encode()


CASES = {
    "To display name": message().replace(
        b"To: Rosa Diaz", 'To: "Rosa Diaz SSN 512-44\u200b-8821"'.encode()
    ),
    "Cc display name, encoded": message(
        "Cc: =?utf-8?q?M=D0=B0ria_Lopez?= <intake@example.org>\r\n"
    ),
    "Reply-To comment": message("Reply-To: r@example.org (Maria Lopez)\r\n"),
    "group name": message("Bcc: Maria Lopez team: a@example.org;\r\n"),
    "Comments": message("Comments: SSN 5l2-44-882l\r\n"),
    "Keywords": message("Keywords: visit, 512\u00ad-44-8821\r\n"),
    "X- field, base64": message("X-Case-Note: =?utf-8?b?U1NOIDUxMi00NC04ODIx?=\r\n"),
    "X- field, folded": message("X-Client: Maria\r\n Lopez\r\n"),
    "Thread-Topic": message("Thread-Topic: Ma\u200bria Lopez\r\n"),
    "file name, RFC 2231": attachment("attachment; filename*=utf-8''SSN%20512-44-8821.txt"),
    "file name, RFC 2231 continued": attachment(
        "attachment; filename*0*=utf-8''Maria%20; filename*1=\"Lopez.txt\""
    ),
    "file name, RFC 2047": attachment('attachment; filename="=?utf-8?q?M=D0=B0ria_Lopez.txt?="'),
    "Content-Type name": attachment(
        "attachment", 'text/plain; name="=?utf-8?b?U1NOIDUxMi00NC04ODIxLnR4dA==?="'
    ),
    "alt attribute": message(html='<p>Hi</p><img alt="Photo of M\u0430ria Lopez" src="cid:x">'),
    "title attribute with a reference": message(html='<a title="SSN 512-44-882&#49;">x</a>'),
    "value and placeholder": message(html='<input value="SSN 512-44-8821" placeholder="x">'),
    "script": message(html="<p>Hi</p><script>var s = 'SSN 512-44-8821';</script>"),
    "style": message(html="<style>p:before{content:'Maria Lopez'}</style><p>Hi</p>"),
    "comment": message(html="<p>Hi</p><!-- SSN 512-44-8821 -->"),
}


def _value_in(raw: bytes) -> str:
    return SSN if where_value_is(raw, SSN) else NAME


@pytest.mark.parametrize("raw", CASES.values(), ids=CASES.keys())
def test_value_is_read_where_it_hides(raw: bytes) -> None:
    value = _value_in(raw)
    assert where_value_is(raw, value), "the case must hide the value somewhere"
    parsed = parse_message(raw, limits=Limits())
    read = [s.detection_text for s in parsed.all_segments]
    assert any(value in text for text in read), read


@pytest.mark.parametrize("raw", CASES.values(), ids=CASES.keys())
def test_masking_reaches_it_and_nothing_else_changes_its_place(raw: bytes) -> None:
    value = _value_in(raw)
    result = redact_message(raw, [value])
    assert result.complete, result.unredactable_parts
    assert result.masked >= 1
    assert where_value_is(result.data, value) == []
    # The message still parses, with its recipients and its body.
    after = parse_message(result.data, limits=Limits())
    assert after.envelope.recipients == parse_message(raw, limits=Limits()).envelope.recipients
    assert b"Message-ID: <m1@example.org>" in result.data or b"Subject: s" in result.data


def test_fields_keep_their_order() -> None:
    raw = message("Comments: SSN 512-44-8821\r\nX-After: kept\r\n")
    data = redact_message(raw, [SSN]).data
    names = [line.split(b":")[0] for line in data.split(b"\r\n\r\n")[0].split(b"\r\n")]
    assert names[:7] == [
        b"From", b"To", b"Subject", b"Message-ID", b"MIME-Version", b"Comments", b"X-After"
    ]  # fmt: skip


def test_a_value_left_in_a_field_makes_the_redaction_incomplete() -> None:
    """A mask that cannot change the value (here: one that changes nothing)
    leaves it in the header: the final check must say so, so the pipeline
    holds the message instead of relaying it."""
    raw = message("X-Case-Note: SSN 512-44-8821\r\n")
    result = redact_message(raw, [SSN], mask=lambda text: text)
    assert not result.complete
    assert result.unredactable_parts == ("header X-Case-Note",)


def test_a_value_left_in_a_file_name_makes_the_redaction_incomplete() -> None:
    raw = attachment("attachment; filename*=utf-8''SSN%20512-44-8821.txt")
    result = redact_message(raw, [SSN], mask=lambda text: text)
    assert "file name" in result.unredactable_parts


def test_identity_fields_are_left_alone() -> None:
    raw = message().replace(b"<m1@example.org>", b"<512-44-8821@example.org>")
    result = redact_message(raw, [SSN])
    assert result.data == raw and result.complete
