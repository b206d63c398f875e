"""Two ``tactful serve`` nodes on one PostgreSQL: several nodes, one truth.

Two real subprocesses, each with its own ports and working folder, share a
throwaway PostgreSQL schema, the hold key and the review key (as two
replicas share their Secrets). A message held through node A is released
by a reviewer who logged in on node B; the session works on A too and
survives B's restart. The upstream stalls the first delivery attempt, the
node that claimed the delivery is killed with SIGKILL, and the other node
delivers the message: exactly once.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import smtplib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from aiosmtpd.smtp import SMTP as AioSMTP
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import select

from proxy.store.db import make_engine, session_factory
from proxy.store.spool_model import SpoolRow
from tests.conftest import POSTGRES_ENV, postgres_schema
from tests.support.proxy_fixtures import (
    REVIEWER,
    REVIEWER_PASSWORD,
    WORKER,
    WORKER_PASSWORD,
    TactfulServer,
    example,
    run_cli,
)
from tests.support.upstream_fixtures import (
    RecordingHandler,
    Sink,
    free_port,
    run_sink,
    wait_for_port,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(400),
    pytest.mark.skipif(
        not os.environ.get(POSTGRES_ENV),
        reason=f"the two-node test needs PostgreSQL: set {POSTGRES_ENV} "
        "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)",
    ),
]

RECIPIENT = "intake@partner-clinic.example"
LEASE_SECONDS = 8


class StallFirstAttempt(RecordingHandler):
    """An upstream that keeps the first delivery to RECIPIENT waiting (as a
    slow smart host would) and records only what it really accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def handle_DATA(self, server: AioSMTP, session: Session, envelope: Envelope) -> str:
        if RECIPIENT in envelope.rcpt_tos:
            self.attempts += 1
            if self.attempts == 1:
                await asyncio.sleep(60)
                return "451 4.3.0 Try again later"
        reply: str = await super().handle_DATA(server, session, envelope)
        return reply


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Sink, StallFirstAttempt]]:
    handler = StallFirstAttempt()
    with run_sink(handler) as sink:
        yield sink, handler


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[Sink, StallFirstAttempt]
) -> Iterator[tuple[TactfulServer, TactfulServer]]:
    base_url = os.environ[POSTGRES_ENV]
    shared = tmp_path_factory.mktemp("shared-secrets")
    with postgres_schema(base_url) as db_url:
        nodes: list[TactfulServer] = []
        for name in ("node-a", "node-b"):
            review_port = free_port()
            node = TactfulServer(
                home=tmp_path_factory.mktemp(name),
                upstream=f"127.0.0.1:{upstream[0].port}",
                db_url=db_url,
                overrides={
                    "hold": {
                        "key_file": str(shared / "hold.key"),
                        "delivery_lease_seconds": LEASE_SECONDS,
                    },
                    "review": {
                        "listen": f"127.0.0.1:{review_port}",
                        "base_url": f"http://127.0.0.1:{review_port}",
                        "secret_key_file": str(shared / "review.key"),
                    },
                },
            )
            nodes.append(node)
        a, b = nodes
        a.prepare()  # migrations and the consent registry, once for the cluster
        b.home.mkdir(parents=True, exist_ok=True)
        b.config_file.write_text(yaml.safe_dump(b.settings_mapping()))
        (b.home / "users.json").write_bytes((a.home / "users.json").read_bytes())
        (b.home / "dkim.key").write_bytes((a.home / "dkim.key").read_bytes())
        done = run_cli("db", "upgrade", "--config", str(b.config_file), cwd=b.home)
        assert done.returncode == 0, done.stderr
        try:
            start(a)
            start(b)
            yield a, b
        finally:
            for node in (a, b):
                node.stop()
            for node in (a, b):
                assert "Traceback" not in node.log_text(), node.log_text()[-3000:]


def review_url(node: TactfulServer) -> str:
    listen: str = node.settings().review.listen
    return f"http://{listen}"


def start(node: TactfulServer) -> None:
    """Start, and wait for the web side too (it starts after SMTP)."""
    node.start()
    wait_for_port(int(node.settings().review.listen.rpartition(":")[2]))


def log_in(node: TactfulServer) -> str:
    """The session cookie a reviewer gets by logging in on ``node``."""
    with httpx.Client(base_url=review_url(node), timeout=30) as web:
        page = web.get("/login")
        assert page.status_code == 200
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        answer = web.post(
            "/login",
            data={
                "csrf": token.group(1),
                "next": "/",
                "name": REVIEWER,
                "password": REVIEWER_PASSWORD,
            },
        )
        assert answer.status_code == 303, answer.text
        cookie = answer.cookies.get("tactful_session")
        assert cookie
        return cookie


def queue_of(node: TactfulServer, cookie: str) -> httpx.Response:
    with httpx.Client(
        base_url=review_url(node), cookies={"tactful_session": cookie}, timeout=30
    ) as web:
        return web.get("/")


def release(node: TactfulServer, cookie: str, reference: str) -> httpx.Response:
    with httpx.Client(
        base_url=review_url(node), cookies={"tactful_session": cookie}, timeout=60
    ) as web:
        page = web.get(f"/messages/{reference}")
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        return web.post(
            f"/messages/{reference}/release",
            data={"csrf": token.group(1), "reason": "The parent agreed on the phone."},
        )


def lease_owner(db_url: str, reference: str) -> str | None:
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            owner: str | None = session.execute(
                select(SpoolRow.lease_owner).where(SpoolRow.id == reference)
            ).scalar_one_or_none()
            return owner
    finally:
        engine.dispose()


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_held_on_a_released_from_b_delivered_once_by_the_survivor(
    cluster: tuple[TactfulServer, TactfulServer],
    upstream: tuple[Sink, StallFirstAttempt],
) -> None:
    a, b = cluster
    sink, handler = upstream
    with smtplib.SMTP("127.0.0.1", a.port, timeout=120) as client:
        client.login(WORKER, WORKER_PASSWORD)
        client.mail(WORKER)
        assert client.rcpt(RECIPIENT)[0] == 250
        code, text = client.data(example("02-dob-external.eml"))
    assert code == 250, text
    held = re.search(rb"Held for review, reference ([0-9a-f]{32})", text)
    assert held, text
    reference = held.group(1).decode()

    # Logged in on B; the same cookie works on A.
    cookie = log_in(b)
    on_a = queue_of(a, cookie)
    assert on_a.status_code == 200 and reference in on_a.text
    # B restarts: the session is still there.
    b.stop()
    start(b)
    on_b = queue_of(b, cookie)
    assert on_b.status_code == 200 and reference in on_b.text

    released = release(b, cookie, reference)
    assert released.status_code in (200, 303), released.text
    wait_until(lambda: handler.attempts >= 1, 60, "the first delivery attempt")
    owner = lease_owner(a.db_url, reference)
    assert owner is not None
    claimant, survivor = (a, b) if owner.endswith(f":{a.process.pid}") else (b, a)
    assert claimant.process is not None
    assert owner.endswith(f":{claimant.process.pid}"), owner
    os.killpg(claimant.process.pid, signal.SIGKILL)
    claimant.process.wait(30)

    wait_until(
        lambda: any(RECIPIENT in r.recipients for r in sink.received),
        LEASE_SECONDS + 60,
        "the survivor to deliver",
    )
    time.sleep(LEASE_SECONDS + 6)  # long enough for any second delivery to show
    arrived = [r for r in sink.received if RECIPIENT in r.recipients]
    assert len(arrived) == 1
    assert b"<02-dob-external@example.org>" in arrived[0].data
    assert survivor.process is not None and survivor.process.poll() is None
    start(claimant)  # so the fixture's clean stop finds both running
