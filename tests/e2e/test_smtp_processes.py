"""``smtp.processes: 2``: the shipped ``tactful serve`` with a front-end
process beside the main one, both accepting on the main process's listening
socket, relaying to a real aiosmtpd upstream; and nothing left running
after it stops.

Which process takes a connection is the kernel's choice, so the tests look
it up in ``/proc`` (the process holding the server side of the client's
connection) and send until each process has served mail."""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import dkim
import pytest

from proxy.cli import main
from proxy.store.db import make_engine
from proxy.store.disclosures import DisclosureLog
from tests.support.proxy_fixtures import WORKER, WORKER_PASSWORD, TactfulServer, dns_for, example
from tests.support.upstream_fixtures import run_sink

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc"),
]

MESSAGES = 20
# Sending stops here even if one process never got a connection (the kernel
# picking the same one of two 60 times running would be a fault of its own).
MAX_MESSAGES = 60
COLLEAGUE = "scolleague@example.org"
# One line per process as its listeners close (no client data: a pid and a count).
CLOSED = re.compile(r"SMTP listeners of process (\d+) closed after (\d+) connections")


def message(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = WORKER
    msg["To"] = COLLEAGUE
    msg["Subject"] = f"Rota {n}"
    msg["Message-ID"] = f"<rota-{n}@example.org>"
    msg.set_content(f"Rota change number {n}: I can cover Thursday.\n")
    return msg.as_bytes(policy=SMTP)


def wait_for_log(server: TactfulServer, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.log_text():
        assert time.monotonic() < deadline, server.log_text()[-3000:]
        assert server.process is not None and server.process.poll() is None, server.log_text()
        time.sleep(0.1)


def front_end_pids(server: TactfulServer) -> list[int]:
    found = re.search(r"front ends: pid ([\d, ]+)\)", server.log_text())
    assert found, server.log_text()[-3000:]
    return [int(pid) for pid in found.group(1).split(", ")]


def serving_pid(client: smtplib.SMTP, pids: list[int]) -> int:
    """The process of ``pids`` that holds the server side of ``client``'s
    connection: /proc/net/tcp gives the socket's inode, /proc/PID/fd who has it."""
    assert client.sock is not None
    host, port = client.sock.getsockname()
    assert host == "127.0.0.1"
    remote = f"0100007F:{port:04X}"  # how /proc/net/tcp writes 127.0.0.1:port
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2] == remote:
            target = f"socket:[{fields[9]}]"
            for pid in pids:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(fd) == target:
                            return pid
    raise AssertionError(f"no process of {pids} holds the connection from port {port}")


def send_until_each_served(
    server: TactfulServer, at_least: int, send: Callable[[smtplib.SMTP, int], None]
) -> dict[int, int]:
    """Messages, one connection each, until there were ``at_least`` and every
    process served one; how many each process served."""
    assert server.process is not None
    pids = [server.process.pid, *front_end_pids(server)]
    served = dict.fromkeys(pids, 0)
    for n in range(MAX_MESSAGES):
        if n >= at_least and all(served.values()):
            break
        with smtplib.SMTP("127.0.0.1", server.port, timeout=120) as client:
            client.login(WORKER, WORKER_PASSWORD)
            served[serving_pid(client, pids)] += 1
            send(client, n)
    assert all(served.values()), served
    return served


def alive_in_session(session: int) -> list[str]:
    """Processes of ``tactful serve``'s session (it is started in its own)
    that are still running; zombies are dead, whoever reaps them."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may hold spaces.
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(text[: text.rindex(")") + 1])
    return found


def test_two_processes_share_the_port_and_stop_together(tmp_path: Path) -> None:
    with run_sink() as upstream:
        server = TactfulServer(
            home=tmp_path,
            upstream=f"127.0.0.1:{upstream.port}",
            db_url=f"sqlite:///{tmp_path / 'tactful.db'}",
            overrides={"smtp": {"processes": 2}, "analysis": {"enabled": False}},
        )
        server.prepare(registry=False)  # nothing here reads consent
        server.start()
        try:
            wait_for_log(server, "SMTP in 2 processes sharing the port")

            def send(client: smtplib.SMTP, n: int) -> None:
                assert client.sendmail(WORKER, [COLLEAGUE], message(n)) == {}

            served = send_until_each_served(server, MESSAGES, send)
        finally:
            server.stop()
        assert server.process is not None
        assert server.process.returncode == 0, server.log_text()[-3000:]
        session = server.process.pid
        log = server.log_text()

    sent = sum(served.values())
    arrived = sorted(upstream.received, key=lambda r: r.data)
    assert len(arrived) == sent
    for received in arrived:
        assert received.recipients == [COLLEAGUE]
        assert dkim.verify(received.data, dnsfunc=dns_for(server))
    subjects = {re.search(rb"Subject: Rota (\d+)", r.data).group(1) for r in arrived}  # type: ignore[union-attr]
    assert subjects == {str(n).encode() for n in range(sent)}

    connections = {int(pid): int(count) for pid, count in CLOSED.findall(log)}
    assert connections.keys() == served.keys(), log[-3000:]
    # Each counted every connection it took (a probe of the port, too).
    assert all(connections[pid] >= served[pid] for pid in served), (connections, served)
    assert "Traceback" not in log
    # multiprocessing's resource tracker notices the end of its pipe a moment
    # after the main process has gone; nothing else may be left at all.
    deadline = time.monotonic() + 10
    while alive_in_session(session) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive_in_session(session) == []


def test_mail_through_every_process_is_accounted_for(tmp_path: Path) -> None:
    """Each front-end process records what it delivered (disclosures and
    the audit trail) before its 250, like the main process; the chain of
    audit entries written by two processes stays whole."""
    with run_sink() as upstream:
        server = TactfulServer(
            home=tmp_path,
            upstream=f"127.0.0.1:{upstream.port}",
            db_url=f"sqlite:///{tmp_path / 'tactful.db'}",
            overrides={"smtp": {"processes": 2}, "analysis": {"pool_size": 2}},
        )
        server.prepare()
        server.start()
        try:
            wait_for_log(server, "SMTP in 2 processes sharing the port")
            raw = example("03-ssn-client-redact.eml")

            def send(client: smtplib.SMTP, n: int) -> None:
                # Passed with the SSN masked, straight to the client (C-1005).
                assert client.sendmail(WORKER, ["rosa.diaz@example.com"], raw) == {}

            sent = sum(send_until_each_served(server, 8, send).values())
            # Each 250 came after the records were committed: no waiting here.
            engine = make_engine(server.db_url)
            entries = DisclosureLog(engine).for_client("C-1005")
            engine.dispose()
        finally:
            server.stop()
        log = server.log_text()
    to_client = [r for r in upstream.received if r.recipients == ["rosa.diaz@example.com"]]
    assert len(to_client) == sent  # (the worker was also told, each time, what was masked)
    assert len(entries) == sent
    connections = {int(pid): int(count) for pid, count in CLOSED.findall(log)}
    assert len(connections) == 2 and all(connections.values()), connections
    assert main(["audit", "verify", "--db", server.db_url]) == 0
    assert "Traceback" not in log
