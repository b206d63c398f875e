"""Masking is checked by reading its result the way the scan does.

The scan now reads values where masking cannot rewrite them (inside a zip,
a winmail.dat, a uuencoded block, UTF-16 text). Each of those must come back
as not fully masked, so the pipeline holds the message instead of relaying
the value it was asked to mask.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from proxy.pipeline.redact import redact_message
from tests.support.container_builders import calendar, tnef_bytes, uuencode, zip_bytes
from tests.support.mime_builders import attach, message, raw_message, to_bytes

SSN = "123-45-6789"
NOTE = f"Client SSN {SSN}\n".encode()


def with_file(data: bytes, content_type: str, filename: str) -> EmailMessage:
    msg = message("See attached.\n")
    attach(msg, data, content_type, filename)
    return msg


def utf16_body() -> bytes:
    return raw_message(
        ["From: jane@example.org", "Subject: x", "Content-Type: text/plain",
         "Content-Transfer-Encoding: base64"],
        base64.b64encode(NOTE.decode().encode("utf-16-le")).decode(),
    )  # fmt: skip


UNMASKABLE: dict[str, Callable[[], bytes]] = {
    "zip": lambda: to_bytes(with_file(zip_bytes([("n.txt", NOTE)]), "application/zip", "a.zip")),
    "zip-as-picture": lambda: to_bytes(
        with_file(zip_bytes([("n.txt", NOTE)]), "image/png", "p.png")
    ),
    "winmail": lambda: to_bytes(
        with_file(tnef_bytes(body=NOTE.decode()), "application/ms-tnef", "winmail.dat")
    ),
    "uuencoded": lambda: to_bytes(message("Here:\n" + uuencode("n.txt", NOTE))),
    "utf-16-body": utf16_body,
    "calendar-inline-file": lambda: to_bytes(
        with_file(calendar("Visit", attachment=NOTE).encode(), "text/calendar", "i.ics")
    ),
}


@pytest.mark.parametrize("build", UNMASKABLE.values(), ids=UNMASKABLE.keys())
def test_a_value_masking_cannot_reach_is_reported(build: Callable[[], bytes]) -> None:
    result = redact_message(build(), [SSN])
    assert not result.complete


def test_a_value_masked_in_place_is_complete() -> None:
    result = redact_message(to_bytes(message(f"SSN {SSN}\n")), [SSN])
    assert result.complete and result.masked == 1
