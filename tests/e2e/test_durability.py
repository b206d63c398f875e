"""A 250 is a promise: ``kill -9`` the server mid-stream and every message
that got a 250 is still there after a restart, exactly once.

The server is the real ``tactful serve`` subprocess. A client sends a
stream of uniquely numbered messages while the server is SIGKILLed at a
random moment (so some kills land between the commit and the reply) or
right after a 250. After a restart, the outbox (passed mail) or the
spool (held mail) must hold each acknowledged message once; a message
whose reply was lost may be there at most once (the client would retry).
"""

from __future__ import annotations

import mailbox
import random
import re
import smtplib
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from proxy.core.clock import system_clock
from proxy.store.crypto import MessageCipher, load_or_create_key
from proxy.store.db import make_engine
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import SpoolStore
from tests.support.proxy_fixtures import WORKER, WORKER_PASSWORD, TactfulServer, example

pytestmark = pytest.mark.timeout(900)

COLLEAGUE = "scolleague@example.org"
EXTERNAL = "intake@partner.example.net"


def numbered(template: bytes, n: int) -> bytes:
    return re.sub(rb"Message-ID: <[^>]+>", f"Message-ID: <dur-{n}@example.org>".encode(), template)


class Stream(threading.Thread):
    """Sends numbered messages until the server goes away."""

    def __init__(self, server: TactfulServer, template: bytes, rcpt: str, first: int) -> None:
        super().__init__(daemon=True)
        self.server, self.template, self.rcpt, self.next = server, template, rcpt, first
        self.acknowledged: dict[int, str] = {}  # number -> reply text
        self.attempted: list[int] = []
        self.first_ack = threading.Event()

    def run(self) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", self.server.port, timeout=60) as client:
                client.login(WORKER, WORKER_PASSWORD)
                while True:
                    n = self.next
                    self.next += 1
                    self.attempted.append(n)
                    client.mail(WORKER)
                    client.rcpt(self.rcpt)
                    code, text = client.data(numbered(self.template, n))
                    if code == 250:
                        self.acknowledged[n] = text.decode()
                        self.first_ack.set()
        except (OSError, smtplib.SMTPException):
            return  # the server was killed


def run_rounds(
    server: TactfulServer, template: bytes, rcpt: str, rounds: int, *extra: str
) -> tuple[dict[int, str], list[int]]:
    acknowledged: dict[int, str] = {}
    attempted: list[int] = []
    rng = random.Random(20261124)
    first = 0
    for round_no in range(rounds):
        server.start(*extra)
        stream = Stream(server, template, rcpt, first)
        stream.start()
        assert stream.first_ack.wait(120), server.log_text()[-3000:]
        if round_no:  # the first round is killed right after its first 250
            time.sleep(rng.uniform(0.05, 1.5))
        server.kill()
        stream.join(60)
        acknowledged |= stream.acknowledged
        attempted += stream.attempted
        first = stream.next
    server.start(*extra)  # recovery: the server must come back on the same state
    server.stop()
    return acknowledged, attempted


def test_passed_mail_survives_kill_9(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    server = TactfulServer(
        home=tmp_path, upstream=f"maildir:{outbox}", db_url=f"sqlite:///{tmp_path / 't.db'}"
    )
    server.prepare()
    acknowledged, attempted = run_rounds(
        server, example("01-pass-internal.eml"), COLLEAGUE, 4, "--no-lint"
    )
    assert len(acknowledged) >= 4
    found = Counter()
    for msg in mailbox.Maildir(outbox, create=False):
        found[str(msg["Message-ID"])] += 1
    for n in acknowledged:
        assert found[f"<dur-{n}@example.org>"] == 1, f"acknowledged message {n} lost or doubled"
    for n in set(attempted) - set(acknowledged):
        assert found[f"<dur-{n}@example.org>"] <= 1


def test_held_mail_survives_kill_9(tmp_path: Path, db_url: str) -> None:
    """On SQLite (WAL, synchronous=FULL) and on PostgreSQL (synchronous commit)."""
    server = TactfulServer(home=tmp_path, upstream=f"maildir:{tmp_path / 'outbox'}", db_url=db_url)
    server.prepare()
    acknowledged, attempted = run_rounds(server, example("02-dob-external.eml"), EXTERNAL, 2)
    assert acknowledged
    spool = SpoolStore(
        make_engine(server.db_url),
        MessageCipher(load_or_create_key(server.settings().hold)),
        clock=system_clock,  # the server's clock: this spool shares its database
    )
    held = [m for m in spool.by_state([SpoolState.HELD]) if m.user == WORKER]
    by_message_id: Counter[str] = Counter()
    for message in held:
        raw = spool.raw(message.id)
        assert raw is not None
        found = re.search(rb"Message-ID: <(dur-\d+)@example.org>", raw)
        assert found
        by_message_id[found.group(1).decode()] += 1
    for n, reply in acknowledged.items():
        ref = re.search(r"reference ([0-9a-f]{32})", reply)
        assert ref, reply
        row = spool.get(ref.group(1))
        assert row is not None and row.state == SpoolState.HELD, f"held message {n} lost"
        assert by_message_id[f"dur-{n}"] == 1
    for n in set(attempted) - set(acknowledged):
        assert by_message_id[f"dur-{n}"] <= 1
