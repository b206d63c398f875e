"""Linting off the event loop: a process pool where each worker loads the
spaCy model and detectors once and then judges message after message.

Presidio and spaCy are CPU-bound and hold the GIL, so threads would stall the
SMTP server; processes keep the loop answering other sessions (NOOP, EHLO)
while a 10 MB message is analysed. Each message has a time budget; a worker
that overruns it is killed and replaced, and the caller gets a typed failure
that the proxy turns into a 451 (never a 250, never a loss). Each worker has
an executor of its own, so killing one (or one crashing) costs only the
messages it held: the others' go on, and the next message does not wait for
a whole pool to load the model again.

Messages are handed out without waiting: a free worker takes every message
queued at that moment, up to ``analysis.max_batch``, and judges them with one
spaCy batch (``LintEngine.lint_many``). A message that arrives while a worker
is free goes alone, at once; batches only form when messages are already
waiting, which is when one batch saves most (about a fifth of the NLP time
on short messages).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import datetime

from proxy.core.config import Settings
from proxy.core.consent import Registry
from proxy.core.logs import configure_logging
from proxy.lint.engine import LintEngine, LintRequest, LintResult
from proxy.store.registry_source import RegistryStamps, registry_from_database

log = logging.getLogger(__name__)

RESTART_DELAY = 5.0  # seconds between tries at starting a worker that failed to start


@dataclass(frozen=True, slots=True)
class AnalysisFailure:
    """Why a message could not be judged; carries no client data."""

    reason: str  # "timeout" | "worker-crashed" | "closed" | "error:<ExceptionType>"


# --- inside each worker process -------------------------------------------
# A worker is a single-purpose process; its engine is its whole state.
_engine: LintEngine | None = None
_registry_stamp: object = None
_db_url: str | None = None
_stamps: RegistryStamps | None = None


def _registry_state(url: str) -> tuple[object, Registry | None]:
    global _stamps
    if _stamps is None:
        _stamps = RegistryStamps(url)
    stamp = _stamps()
    if stamp == _registry_stamp:
        return stamp, None
    return stamp, registry_from_database(url, migrate=False)


def _die_with_parent() -> None:
    """If the server is killed outright (SIGKILL, OOM), its workers must not
    linger holding a model's worth of memory each: ask Linux to kill this
    worker when its parent dies. Elsewhere the pipe closing ends them."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before we asked
        os._exit(1)


def _init_worker(settings: Settings, db_url: str | None) -> None:
    global _engine, _registry_stamp, _db_url
    _die_with_parent()
    # A spawned worker starts with no logging set up: its warnings would be
    # bare text lines in a JSON log.
    configure_logging(settings.log_format, level=logging.WARNING)
    _db_url = db_url
    registry = Registry()
    if db_url is not None:
        _registry_stamp, loaded = _registry_state(db_url)
        registry = loaded if loaded is not None else registry
    _engine = LintEngine(settings, registry)
    # Warm the model so the first real message is not the slow one.
    _engine.nlp.doc("warm up")


def _refresh_registry() -> None:
    global _registry_stamp
    assert _engine is not None, "worker initializer did not run"
    if _db_url is not None:
        # Consent changes (a revocation!) must apply to the very next message.
        stamp, fresh = _registry_state(_db_url)
        if fresh is not None:
            _engine.registry = fresh
            _registry_stamp = stamp


def _slim(result: LintResult) -> LintResult:
    # The parsed text is not needed by the caller; don't ship megabytes back.
    slim = replace(result.message, segments=(), extra_segments=(), full_text={})
    return replace(result, message=slim)


def _lint_batch_in_worker(requests: list[LintRequest]) -> list[LintResult | AnalysisFailure]:
    """Several messages, one spaCy batch; each failure is that message's own
    (an exception type name: exceptions may hold client text)."""
    assert _engine is not None, "worker initializer did not run"
    _refresh_registry()
    if len(requests) == 1:  # the common, unloaded case: exactly lint()
        request = requests[0]
        try:
            one: LintResult | Exception = _engine.lint(
                request.raw,
                sender=request.sender,
                recipients=request.recipients,
                at=request.at,
                channel=request.channel,
            )
        except Exception as exc:
            one = exc
        results = [one]
    else:
        results = _engine.lint_many(requests)
    return [
        _slim(r) if isinstance(r, LintResult) else AnalysisFailure(f"error:{type(r).__name__}")
        for r in results
    ]


def _ping() -> int:
    return os.getpid()


# --- in the server process --------------------------------------------------
@dataclass(eq=False)
class _Worker:
    """One worker process, in an executor of its own: a message that overruns
    its budget costs only this worker (killed and replaced), never the
    messages the other workers are judging at that moment."""

    executor: ProcessPoolExecutor
    busy: bool = False


@dataclass(eq=False)
class _Waiting:
    request: LintRequest
    future: asyncio.Future[LintResult | AnalysisFailure]
    worker: _Worker | None = field(default=None)  # set when handed out
    executor: ProcessPoolExecutor | None = field(default=None)  # the one it went to


class AnalysisPool:
    def __init__(self, settings: Settings, db_url: str | None) -> None:
        self.settings = settings
        self.db_url = db_url
        self.size = settings.analysis.pool_size or os.cpu_count() or 1
        self.budget = settings.analysis.time_budget_seconds
        self.max_batch = settings.analysis.max_batch
        self._workers = [_Worker(self._new_executor()) for _ in range(self.size)]
        self._waiting: deque[_Waiting] = deque()
        self._closed = False
        # The sizes of the latest batches, for tests and benchmarks.
        self.batch_sizes: deque[int] = deque(maxlen=1000)

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings, self.db_url),
        )

    async def start(self) -> None:
        """Start every worker and wait until each has loaded the model."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(worker.executor, _ping) for worker in self._workers)
        )

    async def ready(self, timeout: float = 5.0) -> bool:
        """Some worker answers (so its model is loaded) within ``timeout``."""
        loop = asyncio.get_running_loop()
        pings = set()
        for worker in self._workers:
            try:
                ping = loop.run_in_executor(worker.executor, _ping)
            except (BrokenProcessPool, RuntimeError):  # dead, or the pool is closed
                if not worker.busy and not self._closed:  # died while idle: replace it now
                    log.error("an analysis worker died; replacing it")
                    self._replace(worker, worker.executor)
                continue
            # A busy or restarting worker may answer after we stop listening.
            ping.add_done_callback(_ignore_outcome)
            pings.add(ping)
        deadline = loop.time() + timeout
        while pings:
            done, pings = await asyncio.wait(
                pings, timeout=max(0.0, deadline - loop.time()), return_when="FIRST_COMPLETED"
            )
            if not done:
                break
            if any(not ping.cancelled() and ping.exception() is None for ping in done):
                return True
        return False

    async def lint(
        self,
        raw: bytes,
        *,
        sender: str,
        recipients: tuple[str, ...],
        at: datetime,
        channel: str | None = None,
    ) -> LintResult | AnalysisFailure:
        if self._closed:
            return AnalysisFailure("closed")
        loop = asyncio.get_running_loop()
        waiting = _Waiting(
            LintRequest(raw, at, sender=sender, recipients=recipients, channel=channel),
            loop.create_future(),
        )
        self._waiting.append(waiting)
        self._hand_out()
        try:
            return await asyncio.wait_for(asyncio.shield(waiting.future), timeout=self.budget)
        except asyncio.CancelledError:
            # The caller is gone (the client hung up): don't judge it later.
            if waiting.worker is None:
                self._waiting.remove(waiting)
            raise
        except TimeoutError:
            if waiting.future.done():  # judged in the very moment the budget ran out
                return waiting.future.result()
            if waiting.worker is None:  # still queued: the workers are all busy
                self._waiting.remove(waiting)
                log.warning("analysis waited longer than its %.0fs budget", self.budget)
            else:
                log.warning("analysis exceeded its %.0fs budget; replacing its worker", self.budget)
                assert waiting.executor is not None
                self._replace(waiting.worker, waiting.executor)
            return AnalysisFailure("timeout")

    def _hand_out(self) -> None:
        """Give waiting messages to free workers, as many as are waiting (up
        to max_batch) per worker; never hold one back to fill a batch."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        for worker in self._workers:
            if not self._waiting:
                return
            if worker.busy:
                continue
            batch = [
                self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))
            ]
            executor = worker.executor
            try:
                future = loop.run_in_executor(
                    executor, _lint_batch_in_worker, [w.request for w in batch]
                )
            except (BrokenProcessPool, RuntimeError):  # it died while idle: wait for another
                self._waiting.extendleft(reversed(batch))
                if self._closed:
                    return
                log.error("an analysis worker died; replacing it")
                self._replace(worker, executor)
                continue
            for waiting in batch:
                waiting.worker, waiting.executor = worker, executor
            worker.busy = True
            self.batch_sizes.append(len(batch))
            # The budget holds for the batch itself, even once every caller
            # has gone (hung up) and no lint() is left to enforce it.
            overrun = loop.call_later(self.budget, self._overran, worker, executor)
            future.add_done_callback(
                lambda done, batch=batch, worker=worker, executor=executor, overrun=overrun: (
                    self._finished(done, batch, worker, executor, overrun)  # type: ignore[misc]
                )
            )

    def _overran(self, worker: _Worker, executor: ProcessPoolExecutor) -> None:
        if worker.executor is executor and worker.busy:
            log.warning("analysis exceeded its %.0fs budget; replacing its worker", self.budget)
            self._replace(worker, executor)

    def _finished(
        self,
        done: asyncio.Future[list[LintResult | AnalysisFailure]],
        batch: list[_Waiting],
        worker: _Worker,
        executor: ProcessPoolExecutor,
        overrun: asyncio.TimerHandle,
    ) -> None:
        overrun.cancel()
        if worker.executor is executor:
            worker.busy = False
        outcomes: list[LintResult | AnalysisFailure]
        if done.cancelled():
            outcomes = [AnalysisFailure("worker-crashed")] * len(batch)
        elif isinstance(done.exception(), BrokenProcessPool):
            if worker.executor is executor:  # not one killed for its budget
                log.error("an analysis worker died; replacing it")
                self._replace(worker, executor)
            outcomes = [AnalysisFailure("worker-crashed")] * len(batch)
        elif (error := done.exception()) is not None:  # a detector bug must not become a 250
            log.error("analysis failed: %s", type(error).__name__)
            outcomes = [AnalysisFailure(f"error:{type(error).__name__}")] * len(batch)
        else:
            outcomes = done.result()
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if not waiting.future.done():
                if isinstance(outcome, AnalysisFailure) and outcome.reason.startswith("error:"):
                    log.error("analysis failed: %s", outcome.reason.removeprefix("error:"))
                waiting.future.set_result(outcome)
        self._hand_out()

    def _replace(self, worker: _Worker, executor: ProcessPoolExecutor) -> None:
        """A new process for ``worker``; the other workers go on as they were."""
        if worker.executor is not executor or self._closed:
            return  # already replaced, or shutting down
        fresh = worker.executor = self._new_executor()
        # Taken out of the rotation until its model is loaded, so the mail
        # goes to the workers that are ready rather than queueing behind it.
        worker.busy = True
        # ProcessPoolExecutor cannot cancel a running call; the stuck worker
        # must be killed or it keeps burning a core on the runaway message.
        _kill(executor)
        executor.shutdown(wait=False, cancel_futures=True)
        if self._closed:  # close() ran meanwhile (in its thread): start nothing
            fresh.shutdown(wait=False, cancel_futures=True)
            return
        started = asyncio.get_running_loop().run_in_executor(fresh, _ping)
        started.add_done_callback(lambda done: self._started(worker, fresh, done))

    def _started(
        self, worker: _Worker, executor: ProcessPoolExecutor, started: asyncio.Future[int]
    ) -> None:
        if worker.executor is not executor or self._closed:
            _ignore_outcome(started)
            return
        if started.cancelled() or started.exception() is not None:
            # The model or the database is not there: try again later, not
            # in a tight loop; the other workers (if any) take the mail.
            log.error("a new analysis worker did not start; trying again in %gs", RESTART_DELAY)
            loop = asyncio.get_running_loop()
            loop.call_later(RESTART_DELAY, self._replace, worker, executor)
            return
        worker.busy = False
        self._hand_out()

    def close(self) -> None:
        """Blocking: end every worker. By now the doors are closed and their
        sessions ended, so a busy worker is judging what nobody waits for (a
        hung-up sender's runaway message) or still loading its model: it is
        killed rather than waited for."""
        self._closed = True
        for worker in self._workers:
            executor = worker.executor
            if worker.busy:
                _kill(executor)
            executor.shutdown(wait=True, cancel_futures=True)


def _kill(executor: ProcessPoolExecutor) -> None:
    for process in list(getattr(executor, "_processes", {}).values()):
        process.kill()


def _ignore_outcome(future: asyncio.Future[int]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not log it as never retrieved
