"""Header injection attempts, and Subject tag stripping that touches nothing else."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from proxy.lint.subject_tags import strip_subject_tags
from proxy.outbound.header_safety import (
    HeaderInjectionError,
    safe_header_value,
    set_header,
    strip_subject_tags_in_raw,
)


@pytest.mark.parametrize(
    "value",
    [
        "Held\r\nBcc: evil@attacker.example",
        "Held\nBcc: evil@attacker.example",
        "Held\rBcc: evil@attacker.example",
        "Held\x00",
        "Held\x1b[31m",
        "Held\x85next line",
        "Held\u2028next line",
        "Held\r\n\r\nInjected body",
    ],
)
def test_control_characters_are_refused(value: str) -> None:
    with pytest.raises(HeaderInjectionError) as info:
        safe_header_value(value, name="X-Tactful-Status")
    assert "X-Tactful-Status" in str(info.value)
    assert "evil" not in str(info.value) and "Held" not in str(info.value)


def test_ordinary_values_pass_unchanged() -> None:
    for value in ("Held for review", "R\u00e9sum\u00e9 \u2014 visit\ttomorrow", ""):
        assert safe_header_value(value) == value


def test_set_header_replaces_and_refuses() -> None:
    msg = EmailMessage()
    msg["From"] = "w@agency.example"
    msg["X-Tactful-Findings"] = "forged by the sender"
    msg["X-Tactful-Findings"] = "another forgery"
    set_header(msg, "X-Tactful-Findings", "SSN, DOB")
    assert msg.get_all("X-Tactful-Findings") == ["SSN, DOB"]
    with pytest.raises(HeaderInjectionError):
        set_header(msg, "X-Tactful-Findings", "SSN\r\nBcc: evil@attacker.example")
    with pytest.raises(HeaderInjectionError):
        set_header(msg, "X-Bad: name", "value")
    assert msg.get_all("X-Tactful-Findings") == ["SSN, DOB"]
    assert msg["Bcc"] is None
    # A long header still folds safely when serialised.
    set_header(msg, "Subject", "word " * 40)
    out = BytesParser(policy=policy.default).parsebytes(msg.as_bytes(policy=policy.SMTP))
    assert str(out["Subject"]).split() == ["word"] * 40
    assert out["Bcc"] is None


RAW = (
    b"Received: from client by tactful\r\n"
    b"From: Worker <worker@agency.example>\r\n"
    b"Subject: [urgent] Visit\r\n"
    b" tomorrow [override: court order]\r\n"
    b"To: p@clinic.example\r\n"
    b"\r\n"
    b"Subject: [urgent] this body line is not a header\r\n"
)


def test_strip_tags_rewrites_only_the_subject() -> None:
    out = strip_subject_tags_in_raw(RAW, strip_subject_tags)
    assert out == (
        b"Received: from client by tactful\r\n"
        b"From: Worker <worker@agency.example>\r\n"
        b"Subject: Visit tomorrow\r\n"
        b"To: p@clinic.example\r\n"
        b"\r\n"
        b"Subject: [urgent] this body line is not a header\r\n"
    )


def test_strip_tags_encoded_subject() -> None:
    raw = (
        b"From: w@agency.example\r\n"
        b"Subject: =?utf-8?q?=5Burgent=5D_R=C3=A9sum=C3=A9?=\r\n"
        b"\r\nbody\r\n"
    )
    out = strip_subject_tags_in_raw(raw, strip_subject_tags)
    parsed = BytesParser(policy=policy.default).parsebytes(out)
    assert str(parsed["Subject"]) == "R\u00e9sum\u00e9"
    assert out.startswith(b"From: w@agency.example\r\nSubject: ")
    assert out.endswith(b"\r\n\r\nbody\r\n")
    assert out.isascii()


def test_untagged_subject_is_left_byte_identical() -> None:
    raw = b"From: w@agency.example\r\nSubject:   =?utf-8?q?Caf=C3=A9?=  \r\n\r\nbody\r\n"
    assert strip_subject_tags_in_raw(raw, strip_subject_tags) is raw
    no_subject = b"From: w@agency.example\r\n\r\nSubject: [urgent] body\r\n"
    assert strip_subject_tags_in_raw(no_subject, strip_subject_tags) is no_subject


def test_encoded_line_break_in_subject_is_refused() -> None:
    raw = (
        b"From: w@agency.example\r\n"
        b"Subject: =?utf-8?q?=5Burgent=5D_Hi=0D=0ABcc:_evil@attacker.example?=\r\n"
        b"\r\nbody\r\n"
    )
    with pytest.raises(HeaderInjectionError):
        strip_subject_tags_in_raw(raw, strip_subject_tags)


def test_strip_function_cannot_inject() -> None:
    with pytest.raises(HeaderInjectionError):
        strip_subject_tags_in_raw(RAW, lambda s: "Hi\r\nBcc: evil@attacker.example")
