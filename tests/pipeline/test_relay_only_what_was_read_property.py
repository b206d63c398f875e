"""Property: a known SSN, date of birth or client name, hidden with random
invisible characters and look-alike letters in a random place (the body,
a display name, an X- field, a file name, an HTML attribute or script),
never reaches the recipient in any decoding: the one pipeline (real
engine, real spool, real upstream) holds the message or masks the value.

Bounded to a few dozen examples so that it runs in seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.core.submission import Submission
from tests.pipeline.test_act import SENT_AT, WORKER, build
from tests.support.readings import where_value_is
from tests.support.upstream_fixtures import run_sink

CLIENT = "rosa.diaz@example.com"
EXTERNAL = "intake@partner.example.net"
# (label a reader sees before the value, value, recipient)
SECRETS = (
    ("SSN ", "512-44-8821", CLIENT),
    ("DOB: ", "03/14/1988", EXTERNAL),
    ("", "Maria Lopez", CLIENT),
)
INVISIBLE = (
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202a",
    "\u2066", "\u034f", "\ufe0f", "\u180b", "\u2062",
)  # fmt: skip
LOOKALIKES = {
    "a": "\u0430", "o": "\u043e", "e": "\u0435", "p": "\u0440", "i": "\u0456",
    "M": "\u041c", "L": "L", "1": "l", "0": "O", "8": "8",
}  # fmt: skip
PLACES = ("body", "display name", "x-field", "file name", "attribute", "script")


@st.composite
def disguised(draw: st.DrawFn, value: str) -> str:
    out = []
    for char in value:
        if char in LOOKALIKES and draw(st.booleans()):
            char = LOOKALIKES[char]
        out.append(char)
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(INVISIBLE)))
    return "".join(out)


def compose(place: str, text: str, recipient: str, marker: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Jane Worker <{WORKER}>"
    msg["To"] = f'"{text}" <{recipient}>' if place == "display name" else recipient
    msg["Subject"] = "Thursday"
    msg["Message-ID"] = f"<{marker}@example.org>"
    if place == "x-field":
        msg["X-Case-Note"] = text
    msg.set_content(f"Hello,\n{text}\n" if place == "body" else "Hello,\nsee you.\n")
    if place == "attribute":
        msg.add_alternative(f'<p>Hello</p><img alt="{text}" src="cid:a">', subtype="html")
    if place == "script":
        msg.add_alternative(f"<p>Hello</p><script>var x = '{text}';</script>", subtype="html")
    if place == "file name":
        msg.add_attachment(b"notes\n", maintype="text", subtype="plain", filename=f"{text}.txt")
    return msg.as_bytes(policy=policy.SMTP)


def test_a_hidden_value_is_held_or_masked_wherever_it_is(tmp_path: Path, nlp_service: Any) -> None:
    with run_sink() as sink:
        processor, _ = build(tmp_path, sink.port, nlp_service)

        @settings(
            max_examples=36,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            secret=st.sampled_from(SECRETS),
            place=st.sampled_from(PLACES),
            data=st.data(),
        )
        def check(secret: tuple[str, str, str], place: str, data: st.DataObject) -> None:
            label, value, recipient = secret
            text = label + data.draw(disguised(value), label="value as written")
            marker = uuid.uuid4().hex
            raw = compose(place, text, recipient, marker)
            assert where_value_is(raw, value)
            reply = asyncio.run(
                processor.process(
                    Submission(
                        id=marker,
                        sender=WORKER,
                        recipients=(recipient,),
                        user=WORKER,
                        raw=raw,
                        received_at=SENT_AT,
                    )
                )
            )
            assert reply.code == 250, reply
            for received in sink.received:
                if marker.encode() in received.data:
                    assert where_value_is(received.data, value) == [], (place, text)

        check()
