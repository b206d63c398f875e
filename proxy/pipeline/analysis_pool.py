"""Linting off the event loop: a process pool where each worker loads the
spaCy model and detectors once and then judges message after message.

Presidio and spaCy are CPU-bound and hold the GIL, so threads would stall the
SMTP server; processes keep the loop answering other sessions (NOOP, EHLO)
while a 10 MB message is analysed. Each message has a time budget; a worker
that overruns it is killed and the pool rebuilt, and the caller gets a typed
failure that the proxy turns into a 451 (never a 250, never a loss).

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


@dataclass(frozen=True, slots=True)
class AnalysisFailure:
    """Why a message could not be judged; carries no client data."""

    reason: str  # "timeout" | "worker-crashed" | "error:<ExceptionType>"


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
class _Waiting:
    request: LintRequest
    future: asyncio.Future[LintResult | AnalysisFailure]
    executor: ProcessPoolExecutor | None = field(default=None)  # set when handed out


class AnalysisPool:
    def __init__(self, settings: Settings, db_url: str | None) -> None:
        self.settings = settings
        self.db_url = db_url
        self.size = settings.analysis.pool_size or os.cpu_count() or 1
        self.budget = settings.analysis.time_budget_seconds
        self.max_batch = settings.analysis.max_batch
        self._executor = self._new_executor()
        self._waiting: deque[_Waiting] = deque()
        self._running = 0  # batches handed to the current executor, at most size
        # The sizes of the latest batches, for tests and benchmarks.
        self.batch_sizes: deque[int] = deque(maxlen=1000)

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings, self.db_url),
        )

    async def start(self) -> None:
        """Start every worker and wait until each has loaded the model."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._executor, _ping) for _ in range(self.size))
        )

    async def ready(self, timeout: float = 5.0) -> bool:
        """A worker answers (so its model is loaded) within ``timeout``."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(self._executor, _ping), timeout)
        except Exception:  # timed out, or the pool is broken and being recycled
            return False
        return True

    async def lint(
        self,
        raw: bytes,
        *,
        sender: str,
        recipients: tuple[str, ...],
        at: datetime,
        channel: str | None = None,
    ) -> LintResult | AnalysisFailure:
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
            if waiting.executor is None:
                self._waiting.remove(waiting)
            raise
        except TimeoutError:
            if waiting.executor is None:  # still queued: the workers are all busy
                self._waiting.remove(waiting)
                log.warning("analysis waited longer than its %.0fs budget", self.budget)
            else:
                log.warning("analysis exceeded its %.0fs budget; recycling workers", self.budget)
                self._recycle(waiting.executor)
            return AnalysisFailure("timeout")

    def _hand_out(self) -> None:
        """Give waiting messages to free workers, as many as are waiting (up
        to max_batch) per worker; never hold one back to fill a batch."""
        while self._running < self.size and self._waiting:
            batch = [
                self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))
            ]
            executor = self._executor
            for waiting in batch:
                waiting.executor = executor
            self._running += 1
            self.batch_sizes.append(len(batch))
            future = asyncio.get_running_loop().run_in_executor(
                executor, _lint_batch_in_worker, [w.request for w in batch]
            )
            future.add_done_callback(
                lambda done, batch=batch, executor=executor: self._finished(  # type: ignore[misc]
                    done, batch, executor
                )
            )

    def _finished(
        self,
        done: asyncio.Future[list[LintResult | AnalysisFailure]],
        batch: list[_Waiting],
        executor: ProcessPoolExecutor,
    ) -> None:
        if executor is self._executor:
            self._running -= 1
        outcomes: list[LintResult | AnalysisFailure]
        if done.cancelled():
            outcomes = [AnalysisFailure("worker-crashed")] * len(batch)
        elif isinstance(done.exception(), BrokenProcessPool):
            log.error("an analysis worker died; recycling workers")
            self._recycle(executor)
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

    def _recycle(self, executor: ProcessPoolExecutor) -> None:
        if executor is not self._executor:
            return  # someone else already replaced it
        self._executor = self._new_executor()
        self._running = 0  # the old executor's batches no longer count
        # ProcessPoolExecutor cannot cancel a running call; the stuck worker
        # must be killed or it keeps burning a core on the runaway message.
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)
        self._hand_out()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
