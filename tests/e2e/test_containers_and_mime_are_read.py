"""End to end: relay only what was read.

A worker's mail program (smtplib) sends a client another client's name and
Social Security number, hidden where a mail program finds it but a careless
proxy does not: inside a zip, a winmail.dat, a uuencoded block, a folded
calendar entry, UTF-16 text without a charset, or a part with two
conflicting Content-Type headers. Through a real ``tactful serve`` and a
real upstream, each must be held (nothing reaches the upstream), while a
harmless zip to the same client still goes out.
"""

from __future__ import annotations

import base64
import smtplib
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest

from tests.support.container_builders import calendar, tnef_bytes, uuencode, zip_bytes
from tests.support.mime_builders import attach, message, to_bytes
from tests.support.proxy_fixtures import WORKER, WORKER_PASSWORD, TactfulServer
from tests.support.upstream_fixtures import RecordingHandler, Sink, run_sink

pytestmark = pytest.mark.timeout(600)

CLIENT = "rosa.diaz@example.com"  # C-1005 in the example registry
OTHER_CLIENT = "Maria Lopez"  # C-1001
SSN = "512-44-8821"
SECRET = f"Notes for {OTHER_CLIENT}: SSN {SSN}.\n"
SSN_TRACES = (SSN, SSN.replace("-", ""))


@pytest.fixture(scope="module")
def upstream() -> Iterator[Sink]:
    with run_sink(RecordingHandler()) as sink:
        yield sink


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: Sink) -> Iterator[TactfulServer]:
    home = tmp_path_factory.mktemp("tactful-read")
    instance = TactfulServer(
        home=home,
        upstream=f"127.0.0.1:{upstream.port}",
        db_url=f"sqlite:///{home / 'tactful.db'}",
    )
    instance.prepare()
    instance.start()
    yield instance
    instance.stop()
    assert "Traceback" not in instance.log_text()


def to_client(msg: EmailMessage, marker: str) -> bytes:
    msg.replace_header("To", CLIENT)
    msg.replace_header("Message-ID", f"<{marker}@example.org>")
    return to_bytes(msg)


def with_file(data: bytes, content_type: str, filename: str | None) -> EmailMessage:
    msg = message("Hello Rosa, the papers for Tuesday are attached.\n")
    attach(msg, data, content_type, filename)
    return msg


def raw_to_client(headers: list[str], body: str, marker: str) -> bytes:
    lines = [
        f"From: {WORKER}",
        f"To: {CLIENT}",
        "Subject: Papers for Tuesday",
        f"Message-ID: <{marker}@example.org>",
        "MIME-Version: 1.0",
        *headers,
        "",
        body,
        "",
    ]
    return "\r\n".join(lines).encode()


def two_content_types(marker: str) -> bytes:
    """Tactful's parser reads the first label (a picture); others the last."""
    encoded = base64.b64encode(SECRET.encode()).decode()
    return raw_to_client(
        ['Content-Type: multipart/mixed; boundary="B"'],
        "--B\r\nContent-Type: text/plain\r\n\r\nHello Rosa, see attached.\r\n"
        "--B\r\nContent-Type: image/png; name=scan.png\r\nContent-Type: text/plain\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--B--",
        marker,
    )


def two_transfer_encodings(marker: str) -> bytes:
    """Read as plain 7bit, the body is harmless base64 letters; decoded, it is not."""
    encoded = base64.b64encode(SECRET.encode()).decode()
    return raw_to_client(
        ["Content-Type: text/plain", "Content-Transfer-Encoding: 7bit",
         "Content-Transfer-Encoding: base64"],
        encoded,
        marker,
    )  # fmt: skip


def two_boundaries(marker: str) -> bytes:
    """Read with boundary A, the secret is preamble nobody shows; read with
    boundary B, it is the message."""
    return raw_to_client(
        ['Content-Type: multipart/mixed; boundary="A"; boundary="B"'],
        f"--B\r\nContent-Type: text/plain\r\n\r\n{SECRET.strip()}\r\n--B--\r\n"
        "--A\r\nContent-Type: text/plain\r\n\r\nHello Rosa.\r\n--A--",
        marker,
    )


def utf16_without_charset(marker: str) -> bytes:
    encoded = base64.b64encode(SECRET.encode("utf-16-le")).decode()
    return raw_to_client(
        ["Content-Type: text/plain", "Content-Transfer-Encoding: base64"], encoded, marker
    )


SHAPES: dict[str, Callable[[str], bytes]] = {
    "zip": lambda m: to_client(
        with_file(zip_bytes([("notes.txt", SECRET.encode())]), "application/zip", "papers.zip"), m
    ),
    "zip-in-a-zip": lambda m: to_client(
        with_file(
            zip_bytes([("inner.zip", zip_bytes([("notes.txt", SECRET.encode())]))]),
            "application/zip",
            "papers.zip",
        ),
        m,
    ),
    "zip-labelled-as-a-picture": lambda m: to_client(
        with_file(zip_bytes([("notes.txt", SECRET.encode())]), "image/png", "scan.png"), m
    ),
    "password-protected-zip": lambda m: to_client(
        with_file(
            zip_bytes([("notes.txt", SECRET.encode())], password_protected=["notes.txt"]),
            "application/zip",
            "papers.zip",
        ),
        m,
    ),
    "text-labelled-as-a-picture": lambda m: to_client(
        with_file(SECRET.encode(), "image/jpeg", "scan.jpg"), m
    ),
    "winmail-dat": lambda m: to_client(
        with_file(
            tnef_bytes(body="See attached.", attachments=[("notes.txt", SECRET.encode())]),
            "application/ms-tnef",
            "winmail.dat",
        ),
        m,
    ),
    "winmail-dat-rtf-body": lambda m: to_client(
        with_file(
            tnef_bytes(rtf=r"{\rtf1\ansi\pard " + SECRET.replace("-", r"{\b -}") + r"\par}"),
            "application/ms-tnef",
            "winmail.dat",
        ),
        m,
    ),
    "uuencoded-in-the-body": lambda m: to_client(
        message("Hello Rosa, the notes:\n" + uuencode("notes.txt", SECRET.encode())), m
    ),
    "calendar-folded": lambda m: to_client(
        with_file(calendar(SECRET, fold=8).encode(), "text/calendar", "visit.ics"), m
    ),
    "utf-16-without-charset": utf16_without_charset,
    "two-content-types": two_content_types,
    "two-transfer-encodings": two_transfer_encodings,
    "two-boundaries": two_boundaries,
}


def submit(server: TactfulServer, raw: bytes) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", server.port, timeout=120) as client:
        client.login(WORKER, WORKER_PASSWORD)
        client.mail(WORKER)
        code, text = client.rcpt(CLIENT)
        assert code == 250, text
        code, reply = client.data(raw)
        return code, reply.decode()


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_a_hidden_value_never_reaches_the_client(
    server: TactfulServer,
    upstream: Sink,
    shape: Callable[[str], bytes],
    request: pytest.FixtureRequest,
) -> None:
    marker = f"read-{request.node.callspec.id}"
    code, text = submit(server, shape(marker))
    # Held for a reviewer (Tactful holds what it cannot read one way rather
    # than refuse it at the door); the reply comes after the decision, so
    # nothing has gone upstream.
    assert code == 250 and "Held for review" in text, (code, text)
    assert not [r for r in upstream.received if marker.encode() in r.data]
    for received in upstream.received:
        for trace in SSN_TRACES:
            assert trace.encode() not in received.data


def test_a_harmless_zip_still_reaches_the_client(server: TactfulServer, upstream: Sink) -> None:
    marker = "read-harmless-zip"
    msg = with_file(
        zip_bytes([("directions.txt", b"Take the 22 bus to the library.\n")]),
        "application/zip",
        "directions.zip",
    )
    code, text = submit(server, to_client(msg, marker))
    assert code == 250 and "Held" not in text, text
    arrived = [r for r in upstream.received if marker.encode() in r.data]
    assert len(arrived) == 1 and arrived[0].recipients == [CLIENT]
