"""One writer for the records of delivered messages, committing in groups.

Every message the upstream accepts leaves records: its disclosures, a
``message.sent`` audit entry and, if it went with warnings, a
``message.warn`` entry. Written one message per transaction through the
ORM, they cost more CPU in ``tactful serve``'s one process than the SMTP
conversation itself, and each waits for its own commit. This writer takes
whatever is queued when it is free (up to ``max_group`` messages; it never
waits for more to arrive) and writes all of it in one transaction: one
statement for the disclosures, one for their clients, one claim of the
audit chain's head for every entry (:func:`proxy.store.audit.record_many`).
Under load many messages share one commit; alone, a message waits for
about one commit, as before.

The pipeline awaits its message's group: when :meth:`RecordWriter.delivered`
returns, the records are committed (or the failure is in the log), so a 250
still means "accepted upstream, and on record".
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from proxy.core.verdict import Verdict
from proxy.store.audit import NewEntry
from proxy.store.disclosures import Delivery, delivery_for_verdict, record_deliveries

log = logging.getLogger(__name__)

MAX_GROUP = 100


@dataclass(frozen=True, slots=True)
class _Waiting:
    delivery: Delivery
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]


def _settle(futures: Sequence[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a caller that gave up (cancelled) is skipped
            future.set_result(None)


class RecordWriter:
    """The group writer: a :class:`proxy.pipeline.act.DeliveryRecorder`.

    Guarantees: :meth:`delivered` returns once its records are committed
    (with the others of their group), or once a failed write is logged with
    the message id and the error type only; it never raises, because the
    message has already gone and the sender is owed its 250. A group that
    fails is written again one message per transaction, so one bad message
    cannot lose the others' records. :meth:`stop` (``tactful serve``'s
    shutdown) writes and commits everything still queued before it returns;
    a message delivered after that is written in a transaction of its own.
    Concurrent writers (other nodes, other processes) queue on the audit
    chain's head row as every audit writer does.
    """

    def __init__(self, engine: Engine, *, max_group: int = MAX_GROUP) -> None:
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self._engine = engine
        self._max_group = max_group
        self._queue: deque[_Waiting] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        with self._ready:
            if self._thread is not None:
                raise RuntimeError("the record writer is already started")
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Blocking: commit everything queued, then end the writer thread."""
        with self._ready:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._ready.notify()
        if thread is not None:
            thread.join()

    async def delivered(
        self, message_id: str, verdict: Verdict, at: datetime, entries: Sequence[NewEntry] = ()
    ) -> None:
        """Record a message the upstream accepted; returns once committed."""
        try:
            delivery = delivery_for_verdict(message_id, verdict, at, entries)
        except ValueError as exc:  # a time without a zone: a bug, but the message has gone
            _lost(message_id, exc)
            return
        if delivery.disclosures or delivery.entries:
            await self.write(delivery)

    async def write(self, delivery: Delivery) -> None:
        """Queue ``delivery`` and wait for its group's commit; never raises."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(delivery, loop, loop.create_future())
        with self._ready:
            running = self._thread is not None
            if running:
                self._queue.append(waiting)
                self._ready.notify()
        if not running:  # not started, or shut down: on its own
            await asyncio.to_thread(self._commit, [waiting])
            return
        await waiting.done

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._stopping:
                    self._ready.wait()
                if not self._queue:  # stopping, and nothing left
                    return
                count = min(len(self._queue), self._max_group)
                group = [self._queue.popleft() for _ in range(count)]
            self._commit(group)

    def _commit(self, group: list[_Waiting]) -> None:
        try:
            self._write(group)
        except Exception as exc:
            if len(group) == 1:
                _lost(group[0].delivery.message_id, exc)
            else:  # again one by one, so only what cannot be written is lost
                for waiting in group:
                    try:
                        self._write([waiting])
                    except Exception as alone:
                        _lost(waiting.delivery.message_id, alone)
        finally:
            self._wake(group)

    def _write(self, group: Sequence[_Waiting]) -> None:
        # A bare connection: the ORM session's bookkeeping cost 0.4 ms of
        # the 1.1 ms these statements take before the 250.
        with self._engine.begin() as connection:
            record_deliveries(connection, [waiting.delivery for waiting in group])

    @staticmethod
    def _wake(group: Sequence[_Waiting]) -> None:
        """One call into each waiting event loop per group, not per message."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for waiting in group:
            by_loop.setdefault(waiting.loop, []).append(waiting.done)
        for loop, futures in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, futures)
            except RuntimeError:  # that loop has closed: nobody is waiting
                pass


def _lost(message_id: str, exc: Exception) -> None:
    # The message id and the kind of error only: an exception's text can
    # quote the statement's parameters (recipients' addresses).
    log.error(
        "records of message %s not written (disclosures and audit entries): %s",
        message_id,
        type(exc).__name__,
    )
