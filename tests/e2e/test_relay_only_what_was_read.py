"""End to end: Tactful relays only what it has read.

A real mail program's SMTP client (smtplib) sends through ``tactful serve``
to a real upstream. Each message hides a value where a reader still reads
it -- behind invisible characters or look-alike letters, in a header
field or display name, a file name, an HTML attribute or script -- and
the value must then be nowhere in what reached the recipient, in any
decoding (:mod:`tests.support.readings`): the message was held, or the
value masked.
"""

from __future__ import annotations

import re
import smtplib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

import pytest

from tests.support.proxy_fixtures import WORKER, WORKER_PASSWORD, TactfulServer
from tests.support.readings import where_value_is
from tests.support.upstream_fixtures import RecordingHandler, Sink, run_sink

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

CLIENT = "rosa.diaz@example.com"  # a client: an SSN to her is masked
EXTERNAL = "intake@partner.example.net"  # an outsider: a date of birth is held
SSN = "512-44-8821"
OTHER_CLIENT = "Maria Lopez"  # another client: naming her to Rosa is held
DOB = "03/14/1988"


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


@dataclass(frozen=True)
class Case:
    value: str
    recipient: str
    headers: dict[str, str]
    body: str = "Hello,\n\nsee you Thursday.\n"
    html: str | None = None
    filename: str | None = None


def build(case: Case, marker: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Jane Worker <{WORKER}>"
    msg["To"] = case.recipient
    msg["Subject"] = "Thursday"
    msg["Message-ID"] = f"<{marker}@example.org>"
    for name, value in case.headers.items():
        if name in msg:
            del msg[name]
        msg[name] = value
    msg.set_content(case.body)
    if case.html is not None:
        msg.add_alternative(case.html, subtype="html")
    if case.filename is not None:
        msg.add_attachment(b"notes\n", maintype="text", subtype="plain", filename=case.filename)
    return msg.as_bytes(policy=policy.SMTP)  # CRLF, as a mail program sends it


CASES = {
    # Invisible characters and look-alikes in plain text (texts are parsed
    # as plain-text messages too).
    "body, zero-width space in an SSN": Case(SSN, CLIENT, {}, "Her SSN is 512-44\u200b-8821.\n"),
    "body, soft hyphens in an SSN": Case(SSN, CLIENT, {}, "SSN: 512\u00ad-44\u00ad-8821\n"),
    "body, letters for digits": Case(SSN, CLIENT, {}, "Her SSN is 5l2-44-882l.\n"),
    "body, fullwidth digits": Case(SSN, CLIENT, {}, "Her SSN is ５１２-４４-８８２１.\n"),
    "body, hidden DOB label": Case(
        DOB, EXTERNAL, {}, "The mother's D\u00adO\u200bB: 03/14/1988.\n"
    ),
    "body, Cyrillic letters in a name": Case(
        OTHER_CLIENT, CLIENT, {}, "I saw M\u0430ria L\u043epez today.\n"
    ),
    "body, zero-width joiner in a name": Case(
        OTHER_CLIENT, CLIENT, {}, "I saw Mar\u200dia Lopez today.\n"
    ),
    # Header fields other than the Subject.
    "To display name": Case(SSN, CLIENT, {"To": f'"Rosa Diaz SSN {SSN}" <{CLIENT}>'}),
    "Cc display name with a look-alike": Case(
        OTHER_CLIENT, CLIENT, {"Cc": "M\u0430ria Lopez <sam@example.org>"}
    ),
    "Reply-To display name": Case(OTHER_CLIENT, CLIENT, {"Reply-To": f"{OTHER_CLIENT} <r@x.org>"}),
    "Comments": Case(SSN, CLIENT, {"Comments": f"SSN {SSN}"}),
    "Keywords": Case(SSN, CLIENT, {"Keywords": "SNAP, 512\u00ad-44-8821"}),
    "X- field": Case(SSN, CLIENT, {"X-Case-Note": "Client SSN 512-44-8821 (verified)"}),
    "X- field with a name": Case(OTHER_CLIENT, CLIENT, {"X-Client": "Maria Lopez"}),
    # File names (EmailMessage writes non-ASCII names RFC 2231-encoded).
    "file name": Case(SSN, CLIENT, {}, filename=f"SSN {SSN}.txt"),
    "file name, look-alike": Case(OTHER_CLIENT, CLIENT, {}, filename="M\u0430ria Lopez.txt"),
    # HTML the reader never sees as text.
    "alt attribute": Case(
        SSN, CLIENT, {}, html=f'<p>Form attached.</p><img alt="SSN {SSN}" src="cid:x">'
    ),
    "title attribute, name": Case(
        OTHER_CLIENT, CLIENT, {}, html='<p><a title="Ma\u200bria Lopez" href="#">file</a></p>'
    ),
    "script": Case(SSN, CLIENT, {}, html=f"<p>Hi</p><script>var ssn = 'SSN {SSN}';</script>"),
    "style": Case(SSN, CLIENT, {}, html=f"<style>p:after{{content:'SSN {SSN}'}}</style><p>x</p>"),
}


def submit(server: TactfulServer, raw: bytes, recipient: str) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", server.port, timeout=120) as client:
        client.login(WORKER, WORKER_PASSWORD)
        client.mail(WORKER)
        code, text = client.rcpt(recipient)
        assert code == 250, text
        code, text = client.data(raw)
        return code, text.decode()


@pytest.mark.parametrize("name", CASES)
def test_a_hidden_value_never_reaches_the_recipient(
    name: str, server: TactfulServer, upstream: Sink
) -> None:
    case = CASES[name]
    marker = "read-" + re.sub(r"\W+", "-", name)
    raw = build(case, marker)
    assert where_value_is(raw, case.value), "the case must hide the value where it can be read"
    code, reply = submit(server, raw, case.recipient)
    assert code == 250, reply
    held = "Held for review" in reply
    deadline = time.monotonic() + (2 if held else 30)
    arrived: list[bytes] = []
    while time.monotonic() < deadline and not arrived:
        arrived = [
            r.data
            for r in upstream.received
            if case.recipient in r.recipients and marker.encode() in r.data
        ]
        time.sleep(0.1)
    if held:
        assert not arrived, "a held message reached its recipient"
        return
    assert len(arrived) == 1, f"neither held nor delivered: {reply}"
    readable = where_value_is(arrived[0], case.value)
    assert readable == [], f"{name}: the value reached the recipient ({reply})"
