"""CPU and latency of the records a delivered message leaves (issue 15).

Each message is a warned one to a client and an outsider: two disclosure
rows, three client links, a ``message.sent`` and a ``message.warn`` audit
entry. Four ways of writing them, on a fresh database each:

* ``one per transaction``: :class:`DisclosureRecorder`, each message in a
  transaction of its own (what the pipeline did before the group writer;
  the scheduler's path still is);
* ``grouped by 8``: :func:`record_deliveries`, eight messages per transaction;
* ``writer, 1 sender`` / ``writer, 8 senders``: :class:`RecordWriter` with
  one or eight asyncio senders in a closed loop, each awaiting its
  message's commit as the pipeline does (latency per message: from the call
  to the commit), and the same senders not awaiting (latency: the call only;
  then the writer is stopped, which commits the rest).

CPU is ``time.process_time`` of the whole process (every thread, user and
system) divided by the messages. With PostgreSQL (``--db``) the server's
own CPU is not in it.

    .venv/bin/python benchmarks/record_writer.py [--messages N] [--db URL] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from proxy.core.findings import Category, Entity, Finding  # noqa: E402
from proxy.core.verdict import (  # noqa: E402
    Action,
    Recipient,
    RecipientKind,
    RecipientVerdict,
    Verdict,
)
from proxy.store.audit import AuditTrail, NewEntry, new_entry  # noqa: E402
from proxy.store.db import make_engine, session_factory  # noqa: E402
from proxy.store.disclosures import (  # noqa: E402
    DisclosureRecorder,
    delivery_for_verdict,
    record_deliveries,
)
from proxy.store.migrations import upgrade  # noqa: E402
from proxy.store.record_writer import RecordWriter  # noqa: E402

AT = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
CLIENT = Recipient("maria@example.com", RecipientKind.CLIENT, "email", frozenset({"C-1"}))
OUTSIDER = Recipient("office@rentals.example.net", RecipientKind.EXTERNAL, "email")
NAMED = Finding(Entity.CLIENT, "body", 0, 5, 0.9, "clients", text="Kevin", client_id="C-2")
CONDITION = Finding(
    Entity.SENSITIVE_CONDITION, "body", 10, 20, 0.9, "conditions",
    text="depression", category=Category.MENTAL_HEALTH, about_person=True,
)  # fmt: skip
VERDICT = Verdict(
    verdict=Action.WARN, enforced=Action.WARN, mode="enforce",
    recipients=(RecipientVerdict(CLIENT, Action.WARN, ()),
                RecipientVerdict(OUTSIDER, Action.WARN, ())),
    hits=(), findings=(NAMED, CONDITION),
)  # fmt: skip


def warned(message_id: str) -> tuple[NewEntry, ...]:
    details: dict[str, str | int | bool | None] = {
        "rules": "channel-preference", "recipients": 2, "policy": "warn",
        "monitor": False, "channel": "email",
    }  # fmt: skip
    return (
        new_entry(
            actor="jane@example.org", action="message.warn", target=message_id,
            details=details, at=AT,
        ),
    )  # fmt: skip


@contextmanager
def fresh_database(base: str | None) -> Iterator[Engine]:
    """A migrated empty database: a SQLite file, or a throwaway schema."""
    if base is None:
        with tempfile.TemporaryDirectory() as home:
            engine = make_engine(f"sqlite:///{Path(home) / 'bench.db'}")
            upgrade(engine)
            yield engine
            engine.dispose()
        return
    schema = f"bench_{uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _figures(
    name: str, count: int, cpu: float, wall: float, latencies: list[float]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "way": name,
        "messages": count,
        "cpu_ms_per_message": round(cpu / count * 1000, 3),
        "wall_ms_per_message": round(wall / count * 1000, 3),
    }
    if latencies:
        ordered = sorted(latencies)
        row["latency_p50_ms"] = round(statistics.median(ordered) * 1000, 3)
        row["latency_p99_ms"] = round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 3)
    return row


def one_per_transaction(engine: Engine, count: int, prefix: str) -> dict[str, Any]:
    recorder = DisclosureRecorder(engine)
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(count):
        recorder.record(f"{prefix}{n}", VERDICT, AT, warned(f"{prefix}{n}"))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return _figures("one per transaction", count, cpu, wall, [])


def grouped(engine: Engine, count: int, prefix: str, size: int = 8) -> dict[str, Any]:
    sessions = session_factory(engine)
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, count, size):
        group = [
            delivery_for_verdict(f"{prefix}{n}", VERDICT, AT, warned(f"{prefix}{n}"))
            for n in range(start, min(start + size, count))
        ]
        with sessions.begin() as session:
            record_deliveries(session, group)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return _figures(f"grouped by {size}", count, cpu, wall, [])


def through_writer(
    engine: Engine, count: int, prefix: str, senders: int, *, awaited: bool
) -> dict[str, Any]:
    writer = RecordWriter(engine)
    latencies: list[float] = []
    pending: list[Awaitable[None]] = []

    async def send(first: int) -> None:
        for n in range(first, count, senders):
            started = time.perf_counter()
            recording = writer.delivered(f"{prefix}{n}", VERDICT, AT, warned(f"{prefix}{n}"))
            if awaited:
                await recording
            else:  # what not awaiting would cost the sender: the call
                pending.append(asyncio.ensure_future(recording))
                await asyncio.sleep(0)
            latencies.append(time.perf_counter() - started)

    async def run() -> None:
        await asyncio.gather(*(send(k) for k in range(senders)))
        await asyncio.gather(*pending)

    writer.start()
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(run())
    writer.stop()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    name = f"writer, {senders} sender{'s' if senders > 1 else ''}"
    return _figures(f"{name}{'' if awaited else ', not awaiting'}", count, cpu, wall, latencies)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "postgresql" if args.db else "sqlite",
        "load_average_at_start": os.getloadavg(),
        "ways": [],
    }
    ways: list[Callable[[Engine, int, str], dict[str, Any]]] = [
        one_per_transaction,
        grouped,
        lambda e, count, prefix: through_writer(e, count, prefix, 1, awaited=True),
        lambda e, count, prefix: through_writer(e, count, prefix, 1, awaited=False),
        lambda e, count, prefix: through_writer(e, count, prefix, 8, awaited=True),
        lambda e, count, prefix: through_writer(e, count, prefix, 8, awaited=False),
    ]
    for way in ways:
        with fresh_database(args.db) as engine:
            way(engine, 40, "warm-")  # statement caches, the pool's connections
            result["ways"].append(way(engine, args.messages, "m-"))
            assert AuditTrail(engine).verify().ok
    result["load_average_at_end"] = os.getloadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--db", help="a PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['database']}, load average at start {result['load_average_at_start']}")
    print(f"{'way':34} {'CPU ms/msg':>10} {'wall ms/msg':>11} {'p50 ms':>8} {'p99 ms':>8}")
    for row in result["ways"]:
        print(
            f"{row['way']:34} {row['cpu_ms_per_message']:>10} {row['wall_ms_per_message']:>11} "
            f"{row.get('latency_p50_ms', ''):>8} {row.get('latency_p99_ms', ''):>8}"
        )
    print(f"load average at end {result['load_average_at_end']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
