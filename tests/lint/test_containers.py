"""Files inside files are opened and scanned, within limits.

Each shape hides a Social Security number in a container a mail program
opens for its reader (a zip, winmail.dat, a uuencoded block, a calendar
file). The parser must hand the number to the detectors, or report the
container as unscannable with a plain reason: never skip it, crash or hang.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from proxy.core.config import Limits
from proxy.core.message import ParsedMessage, Unscannable
from proxy.lint.attachments import DOCX_TYPE
from proxy.lint.containers import (
    TNEF_DAMAGED,
    UUENCODE_DAMAGED,
    ZIP_BOMB,
    ZIP_DAMAGED,
    ZIP_PASSWORD,
    ZIP_TOO_LARGE,
    ZIP_TOO_MANY,
    rtf_text,
)
from proxy.lint.parse import REASON_NESTED_FILES, parse_message
from tests.support.container_builders import calendar, tnef_bytes, uuencode, zip_bytes
from tests.support.mime_builders import (
    attach,
    attach_message,
    docx_bytes,
    message,
    pdf_bytes,
    to_bytes,
)

SSN = "123-45-6789"
NOTE = f"Client Ana Ruiz, SSN {SSN}\n".encode()


def parse(msg: EmailMessage, limits: Limits | None = None) -> ParsedMessage:
    return parse_message(to_bytes(msg), limits=limits or Limits())


def with_file(data: bytes, content_type: str, filename: str | None) -> EmailMessage:
    msg = message("See attached.\n")
    attach(msg, data, content_type, filename)
    return msg


def nested_zip(levels: int) -> bytes:
    data = zip_bytes([("note.txt", NOTE)])
    for level in range(1, levels):
        data = zip_bytes([(f"level{level}.zip", data)])
    return data


def forwarded_with_uuencode() -> EmailMessage:
    inner = message("Original note:\n" + uuencode("note.txt", NOTE), subject="Fwd")
    outer = message("Forwarding.\n")
    attach_message(outer, inner, "fwd.eml")
    return outer


def calendar_part(text: str) -> EmailMessage:
    msg = message("Invitation attached.\n")
    msg.add_alternative(text, subtype="calendar", params={"method": "REQUEST"})
    return msg


# Where the number must turn up, for each way of hiding it.
SCANNED: dict[str, tuple[Callable[[], EmailMessage], str]] = {
    "zip": (
        lambda: with_file(zip_bytes([("note.txt", NOTE)]), "application/zip", "a.zip"),
        "attachment:a.zip/note.txt",
    ),
    "zip-stored-in-a-folder": (
        lambda: with_file(
            zip_bytes([("case/note.txt", NOTE)], compression=zipfile.ZIP_STORED),
            "application/zip",
            "a.zip",
        ),
        "attachment:a.zip/case/note.txt",
    ),
    "zip-labelled-as-a-picture": (
        lambda: with_file(zip_bytes([("note.txt", NOTE)]), "image/png", "photo.png"),
        "attachment:photo.png/note.txt",
    ),
    "zip-without-a-name": (
        lambda: with_file(zip_bytes([("note.txt", NOTE)]), "application/octet-stream", None),
        "attachment:unnamed/note.txt",
    ),
    "zip-in-a-zip": (
        lambda: with_file(nested_zip(3), "application/zip", "a.zip"),
        "attachment:a.zip/level2.zip/level1.zip/note.txt",
    ),
    "pdf-in-a-zip": (
        lambda: with_file(
            zip_bytes([("r.pdf", pdf_bytes([f"SSN {SSN}"]))]), "application/zip", "a.zip"
        ),
        "attachment:a.zip/r.pdf",
    ),
    "docx-in-a-zip": (
        lambda: with_file(
            zip_bytes([("n.docx", docx_bytes([f"SSN {SSN}"]))]), "application/zip", "a.zip"
        ),
        "attachment:a.zip/n.docx",
    ),
    "eml-in-a-zip": (
        lambda: with_file(
            zip_bytes([("fwd.eml", to_bytes(message(f"SSN {SSN}\n")))]),
            "application/zip",
            "a.zip",
        ),
        "attachment:a.zip/fwd.eml",
    ),
    "winmail-body": (
        lambda: with_file(tnef_bytes(body=f"SSN {SSN}"), "application/ms-tnef", "winmail.dat"),
        "attachment:winmail.dat/message text.txt",
    ),
    "winmail-rtf-body": (
        lambda: with_file(
            tnef_bytes(rtf=r"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\pard SSN 12{\b 3}-45-6789\par}"),
            "application/ms-tnef",
            "winmail.dat",
        ),
        "attachment:winmail.dat/message text.rtf",
    ),
    "winmail-attachment": (
        lambda: with_file(
            tnef_bytes(body="See file.", attachments=[("note.txt", NOTE)]),
            "application/octet-stream",
            "winmail.dat",
        ),
        "attachment:winmail.dat/note.txt",
    ),
    "zip-in-winmail": (
        lambda: with_file(
            tnef_bytes(attachments=[("a.zip", zip_bytes([("note.txt", NOTE)]))]),
            "application/ms-tnef",
            "winmail.dat",
        ),
        "attachment:winmail.dat/a.zip/note.txt",
    ),
    "uuencoded-in-the-body": (
        lambda: message("Here it is:\n" + uuencode("note.txt", NOTE) + "Thanks\n"),
        "attachment:note.txt",
    ),
    "begin-base64-in-the-body": (
        lambda: message(
            "Here:\nbegin-base64 644 note.txt\nQ2xpZW50IFNTTiAxMjMtNDUtNjc4OQo=\n====\n"
        ),
        "attachment:note.txt",
    ),
    "uuencoded-zip-in-the-body": (
        lambda: message(uuencode("a.zip", zip_bytes([("note.txt", NOTE)]))),
        "attachment:a.zip/note.txt",
    ),
    "uuencoded-in-a-forwarded-message": (
        forwarded_with_uuencode,
        "attachment:fwd.eml/note.txt",
    ),
    "calendar-attachment-folded": (
        lambda: with_file(calendar(f"Client SSN {SSN}, call").encode(), "text/calendar", "i.ics"),
        "attachment:i.ics",
    ),
    "calendar-part-folded": (
        lambda: calendar_part(calendar(f"Client SSN {SSN}, call")),
        "body#2",
    ),
    "file-inside-a-calendar": (
        lambda: with_file(
            calendar("Visit", attachment=NOTE).encode(), "text/calendar", "invite.ics"
        ),
        "attachment:invite.ics/notes.txt",
    ),
}


@pytest.mark.parametrize("shape", SCANNED.values(), ids=SCANNED.keys())
def test_what_a_container_holds_is_scanned(
    shape: tuple[Callable[[], EmailMessage], str],
) -> None:
    build, source = shape
    parsed = parse(build())
    assert SSN in parsed.full_text.get(source, ""), sorted(parsed.full_text)
    assert any(s.source == source and SSN in s.text for s in parsed.segments)
    assert parsed.unscannable == ()


def test_a_zip_and_its_files_are_listed() -> None:
    parsed = parse(with_file(zip_bytes([("note.txt", NOTE)]), "application/zip", "a.zip"))
    assert [(a.filename, a.scanned) for a in parsed.attachments] == [
        ("a.zip", True),
        ("a.zip/note.txt", True),
    ]


SMALL = Limits(max_archive_members=3, max_archive_bytes=4096, max_archive_depth=2)

UNSCANNABLE: dict[str, tuple[Callable[[], EmailMessage], Limits, Unscannable]] = {
    "password-protected": (
        lambda: with_file(
            zip_bytes([("note.txt", NOTE), ("x.txt", b"x")], password_protected=["note.txt"]),
            "application/zip",
            "a.zip",
        ),
        Limits(),
        Unscannable("attachment:a.zip", ZIP_PASSWORD),
    ),
    "too-many-files": (
        lambda: with_file(
            zip_bytes([(f"n{i}.txt", b"x") for i in range(4)]), "application/zip", "a.zip"
        ),
        SMALL,
        Unscannable("attachment:a.zip", ZIP_TOO_MANY),
    ),
    "too-many-files-across-zips": (
        lambda: with_file(
            zip_bytes([("a.zip", zip_bytes([("1", b"1"), ("2", b"2")])), ("b", b"b")]),
            "application/zip",
            "outer.zip",
        ),
        SMALL,
        Unscannable("attachment:outer.zip/a.zip", ZIP_TOO_MANY),
    ),
    "too-large-unpacked": (
        lambda: with_file(zip_bytes([("big.txt", b"a" * 5000)]), "application/zip", "a.zip"),
        SMALL,
        Unscannable("attachment:a.zip", ZIP_TOO_LARGE),
    ),
    "zip-bomb": (
        lambda: with_file(zip_bytes([("zeros.txt", bytes(3 * 1024 * 1024))]), "application/zip",
                          "a.zip"),
        Limits(),
        Unscannable("attachment:a.zip", ZIP_BOMB),
    ),
    "nested-too-deeply": (
        lambda: with_file(nested_zip(3), "application/zip", "a.zip"),
        SMALL,
        Unscannable("attachment:a.zip/level2.zip/level1.zip", REASON_NESTED_FILES),
    ),
    "damaged-zip": (
        lambda: with_file(zip_bytes([("note.txt", NOTE)])[:40], "application/zip", "a.zip"),
        Limits(),
        Unscannable("attachment:a.zip", ZIP_DAMAGED),
    ),
    "damaged-winmail": (
        lambda: with_file(tnef_bytes(body="x")[:6] + b"\x01\x0c\x80\x02\x00\xff\xff\xff\x7f",
                          "application/ms-tnef", "winmail.dat"),
        Limits(),
        Unscannable("attachment:winmail.dat", TNEF_DAMAGED),
    ),
    "damaged-uuencode": (
        lambda: message("Here:\nbegin 644 note.txt\nM this is not uuencode at all!!!!\n"),
        Limits(),
        Unscannable("body", UUENCODE_DAMAGED),
    ),
    "gzip": (
        lambda: with_file(b"\x1f\x8b\x08\x00" + bytes(20), "application/gzip", "a.gz"),
        Limits(),
        Unscannable("attachment:a.gz", "unknown file type application/gzip"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("shape", UNSCANNABLE.values(), ids=UNSCANNABLE.keys())
def test_a_container_over_a_limit_or_damaged_is_unscannable(
    shape: tuple[Callable[[], EmailMessage], Limits, Unscannable],
) -> None:
    build, limits, expected = shape
    parsed = parse(build(), limits)
    assert expected in parsed.unscannable, parsed.unscannable
    assert SSN not in "".join(u.reason for u in parsed.unscannable)


def test_the_other_files_of_a_zip_are_still_read() -> None:
    data = zip_bytes([("locked.txt", b"x"), ("note.txt", NOTE)], password_protected=["locked.txt"])
    parsed = parse(with_file(data, "application/zip", "a.zip"))
    assert SSN in parsed.full_text["attachment:a.zip/note.txt"]


def test_a_docx_is_still_a_document_not_a_zip() -> None:
    parsed = parse(with_file(docx_bytes([f"SSN {SSN}"]), DOCX_TYPE, "n.docx"))
    assert parsed.full_text["attachment:n.docx"] == f"SSN {SSN}"


@pytest.mark.parametrize(
    ("rtf", "text"),
    [
        (r"{\rtf1 SSN 12{\b 3}-45-6789}", f"SSN {SSN}"),
        (r"{\rtf1{\*\generator x;}caf\'e9\par next}", "café\nnext"),
        (r"{\rtf1 a \{b\} c\\d \u8364?}", "a {b} c\\d €"),
    ],
)
def test_rtf_text(rtf: str, text: str) -> None:
    assert rtf_text(rtf) == text


def test_winmail_whose_properties_are_cut_short_is_damaged() -> None:
    """tnefparse logs, and carries on past, a block of properties that does
    not add up (here it claims five and holds one); what it skipped is
    unknown, so the file counts as damaged rather than read."""
    from tests.support.container_builders import mapi_block

    good = tnef_bytes(rtf=r"{\rtf1 SSN 123-45-6789}")
    block = mapi_block(good)
    assert block is not None
    start, end = block
    broken = good[:start] + (5).to_bytes(4, "little") + good[start + 4 : end]
    broken += (sum(broken[start:end]) & 0xFFFF).to_bytes(2, "little")
    parsed = parse(with_file(broken, "application/ms-tnef", "winmail.dat"))
    assert Unscannable("attachment:winmail.dat", TNEF_DAMAGED) in parsed.unscannable
