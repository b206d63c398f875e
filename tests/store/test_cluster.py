"""Sessions and periodic jobs in the database, shared by every node: on
SQLite and on PostgreSQL, with two engines standing for two nodes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from proxy.store.cluster import ClusterJobs, SessionRows, token_hash
from proxy.store.cluster_model import ReviewSessionRow
from proxy.store.db import make_engine, session_factory
from proxy.store.migrations import upgrade

NOW = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # a Saturday night
TOKEN = "k3Z-token-of-a-reviewer-0123456789abcdef"


@pytest.fixture
def nodes(db_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database: what two nodes each open."""
    first, second = make_engine(db_url), make_engine(db_url)
    upgrade(first)
    yield first, second
    first.dispose()
    second.dispose()


def test_a_session_made_on_one_node_is_seen_and_ended_on_the_other(
    nodes: tuple[Engine, Engine],
) -> None:
    a, b = SessionRows(nodes[0]), SessionRows(nodes[1])
    a.add(
        TOKEN, user="sam", role="reviewer", addresses=("sam@example.org",), csrf="c" * 43, now=NOW
    )
    stored = b.get(TOKEN)
    assert stored is not None
    assert (stored.user, stored.role, stored.addresses) == ("sam", "reviewer", ("sam@example.org",))
    assert stored.created == NOW
    assert b.seen(TOKEN, NOW + timedelta(minutes=3))
    seen = a.get(TOKEN)
    assert seen is not None and seen.last_seen == NOW + timedelta(minutes=3)
    b.remove(TOKEN)
    assert a.get(TOKEN) is None
    assert not a.seen(TOKEN, NOW)


def test_only_the_hash_of_the_token_is_stored(nodes: tuple[Engine, Engine]) -> None:
    SessionRows(nodes[0]).add(TOKEN, user="sam", role="reviewer", addresses=(), csrf="x", now=NOW)
    with session_factory(nodes[1])() as session:
        keys = session.execute(select(ReviewSessionRow.token_hash)).scalars().all()
    assert keys == [token_hash(TOKEN)]
    assert TOKEN not in keys[0]


def test_ending_a_user_and_pruning(nodes: tuple[Engine, Engine]) -> None:
    rows = SessionRows(nodes[0])
    rows.add("t-one", user="sam", role="reviewer", addresses=(), csrf="x", now=NOW)
    rows.add(
        "t-two", user="sam", role="reviewer", addresses=(), csrf="x", now=NOW - timedelta(hours=1)
    )
    rows.add(
        "t-three", user="ann", role="admin", addresses=(), csrf="x", now=NOW - timedelta(hours=13)
    )
    assert (
        rows.prune(
            idle_before=NOW - timedelta(minutes=30), created_before=NOW - timedelta(hours=12)
        )
        == 2
    )
    assert rows.count() == 1
    assert rows.remove_user("sam") == 1
    assert rows.count() == 0


def test_a_periodic_job_runs_once_per_period_across_nodes(nodes: tuple[Engine, Engine]) -> None:
    a, b = ClusterJobs(nodes[0]), ClusterJobs(nodes[1])
    every = timedelta(hours=4)
    # The first look starts the first period; nobody runs it at once.
    assert not a.claim("review-digest", NOW, every, "node-a")
    assert not b.claim("review-digest", NOW, every, "node-b")
    assert not b.claim("review-digest", NOW + timedelta(hours=3, minutes=59), every, "node-b")
    due = NOW + every
    assert b.claim("review-digest", due, every, "node-b")
    assert not a.claim("review-digest", due + timedelta(seconds=30), every, "node-a")
    assert a.last_run("review-digest") == (due, "node-b")
    # Node b is gone: node a takes the next period.
    assert a.claim("review-digest", due + every + timedelta(minutes=1), every, "node-a")
    # Jobs are independent.
    assert not a.claim("other-job", due, every, "node-a")


def test_racing_nodes_run_a_due_job_exactly_once(nodes: tuple[Engine, Engine]) -> None:
    jobs = [ClusterJobs(nodes[0]), ClusterJobs(nodes[1])]
    every = timedelta(minutes=10)
    jobs[0].claim("race", NOW, every, "setup")
    due = NOW + every
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def contender(index: int) -> None:
        barrier.wait()
        if jobs[index % 2].claim("race", due, every, f"node-{index}"):
            wins.append(f"node-{index}")

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(wins) == 1
    assert jobs[1].last_run("race") == (due, wins[0])
