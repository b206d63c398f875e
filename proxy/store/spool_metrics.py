"""The spool's depth for ``/metrics``: how many messages wait in each
state and how old the oldest is, read from the database at scrape time so
every node reports the cluster's one spool."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from proxy.core.clock import Clock
from proxy.store.db import aware, session_factory
from proxy.store.spool_model import SpoolRow, SpoolState

# States in which a message still waits for someone: a reviewer, its
# window, or the scheduler. Sent, returned and purged rows are history.
WAITING = (SpoolState.HELD, SpoolState.DEFERRED, SpoolState.RELEASED)


class SpoolCollector(Collector):
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._sessions = session_factory(engine)
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "tactful_spool_messages", "Messages waiting in the spool, by state.", labels=["state"]
        )
        oldest = GaugeMetricFamily(
            "tactful_spool_oldest_age_seconds",
            "Age of the oldest message waiting in the spool, by state (0 when none).",
            labels=["state"],
        )
        with self._sessions() as session:
            rows = session.execute(
                select(SpoolRow.state, func.count(), func.min(SpoolRow.received_at))
                .where(SpoolRow.state.in_([s.value for s in WAITING]))
                .group_by(SpoolRow.state)
            ).all()
        found = {state: (count, first) for state, count, first in rows}
        now = self._clock()
        for state in WAITING:
            count, first = found.get(state.value, (0, None))
            depth.add_metric([state.value], float(count))
            age = (now - aware(first)).total_seconds() if first is not None else 0.0
            oldest.add_metric([state.value], max(age, 0.0))
        yield depth
        yield oldest
