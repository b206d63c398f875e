"""Several processes accepting SMTP on the same ports (``smtp.processes``).

With linting off, one Python process is the front door's limit (about 2 ms
of CPU per message: the SMTP dialogue, DKIM, relaying) however many cores
the machine has. So ``tactful serve`` (the main process: web side,
scheduler, digest, and an SMTP front door as ever) is joined by
``smtp.processes - 1`` front-end processes that run only the front door and
the pipeline behind it, with their own database engine, upstream client,
DKIM signer and share of the analysis workers.

Why it is built this way:

* **One listening socket, shared.** Every process accepts on the main
  process's listening sockets (a duplicate of each travels to the front-end
  process at spawn). A process that is busy does not get to ``accept``, so
  each new connection goes to one with time for it. Sockets of their own
  with SO_REUSEPORT, which we tried first, let the kernel hash connections
  over the processes whatever their load: with 8 senders one process held
  most of the sessions while the other idled (623 against 747 msg/s,
  ``benchmarks/proxy_throughput.py``), and it works only on Linux.

* **Spawned, after the main process is up.** A fresh interpreter
  (multiprocessing's ``spawn``) inherits no threads, sockets or event loop
  from the main process. It starts after the migrations ran and the main
  process bound the ports (so a port of 0 is a real port by then); the
  settings and the clock travel by pickling, so each process has its own
  clock: the system clock stays the system clock, a test's
  :class:`~proxy.core.clock.ManualClock` arrives as a copy at the same moment.
* **A stop is a stop, a crash is a crash.** A front-end process stops
  cleanly (finishing its sessions, as the main process does) on SIGTERM or
  SIGINT, which reach the whole process group under Ctrl-C and systemd, and
  also when its control pipe closes: the main process closes it to stop it,
  and the kernel closes it if the main process dies. A clean stop exits 0
  and is not undone; any other exit is logged and restarted, after a pause
  that doubles while restarts keep failing.
* **Kicks cross over.** Work a front-end process spools (deferred mail,
  notices) would wait for the main process's scheduler's next round; the
  front end writes one byte to its event pipe and the scheduler looks now.
  The pipe is non-blocking on that side: if it is full, a wake-up is
  already pending.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from proxy.accounts.auth import parse_host_port
from proxy.app.eventloop import EventLoopChoice
from proxy.app.eventloop import run as run_loop
from proxy.core.clock import Clock
from proxy.core.config import ConfigError, Settings
from proxy.core.logs import configure_logging
from proxy.smtp.server import ListenerName, RunningServer

log = logging.getLogger(__name__)

READY = b"R"
KICK = b"K"
# A front-end process stops within its own SMTP grace (30 s) plus its
# goodbyes (5 s) and its analysis pool; after this it is killed.
STOP_GRACE_SECONDS = 60.0
RESTART_PAUSE_SECONDS = 1.0
MAX_RESTART_PAUSE_SECONDS = 60.0
# A process that ran this long before dying starts the pause over.
STABLE_AFTER_SECONDS = 60.0


class FrontEndError(RuntimeError):
    """A front-end process could not start (its own error is in the log)."""


@dataclass(frozen=True, slots=True)
class FrontEndSpec:
    """What one front-end process is started with (pickled into it)."""

    index: int  # 1 .. smtp.processes - 1; the main process is 0
    settings: Settings  # ports as bound by the main process, its share of analysis workers
    db_url: str
    clock: Clock
    event_loop: EventLoopChoice
    # The main process's listening sockets; pickling passes the descriptors.
    sockets: Mapping[ListenerName, socket.socket]


class FrontEndLink:
    """A front-end process's side of its two pipes."""

    def __init__(self, control: Connection, events: Connection) -> None:
        # Connections only carry the descriptors across spawn; the pipes
        # carry raw bytes (control: none, ever; events: READY, KICK).
        self._control = control
        self._events = events

    def ready(self) -> None:
        """The listeners are up (blocking write: the pipe is empty now)."""
        os.write(self._events.fileno(), READY)
        os.set_blocking(self._events.fileno(), False)

    def kick(self) -> None:
        """Ask the main process's scheduler to look at the spool now."""
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._events.fileno(), KICK)

    async def stop_requested(self) -> None:
        """Until the main process closes the control pipe, or a stop signal."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        fd = self._control.fileno()
        loop.add_reader(fd, stop.set)  # readable only at end of file
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            loop.remove_reader(fd)


FrontEndMain = Callable[[FrontEndSpec, FrontEndLink], Coroutine[Any, Any, None]]


def _front_end_process(
    main: FrontEndMain, spec: FrontEndSpec, control: Connection, events: Connection
) -> None:
    """The spawned process's entry point."""
    # Until the loop's own handlers are installed, a Ctrl-C meant for the
    # group must not kill this process half-started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(spec.settings.log_format)
    link = FrontEndLink(control, events)
    try:
        run_loop(main(spec, link), spec.event_loop)
    except (ConfigError, OSError) as exc:  # a port, a file, a setting: words of our own
        log.error("front-end process %d cannot run: %s", spec.index, exc)
        raise SystemExit(1) from None
    except Exception as exc:  # its text may quote a message; its type does not
        log.error("front-end process %d failed: %s", spec.index, type(exc).__name__)
        raise SystemExit(1) from None


def loop_choice(loop: asyncio.AbstractEventLoop) -> EventLoopChoice:
    """Front-end processes run on the same kind of loop as the main one."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def analysis_share(settings: Settings, index: int) -> Settings:
    """The settings for process ``index``'s part of ``analysis.pool_size``
    (the main process, index 0, takes the remainder first; at least one
    worker each), so that more processes do not mean more copies of the model."""
    processes = settings.smtp.processes
    pool_size = settings.analysis.pool_size or os.cpu_count() or 1
    share = max(1, pool_size // processes + (1 if index < pool_size % processes else 0))
    analysis = settings.analysis.model_copy(update={"pool_size": share})
    return settings.model_copy(update={"analysis": analysis})


def _with_port(listen: str, default_port: int, port: int) -> str:
    host, _ = parse_host_port(listen, default_port=default_port)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bound_settings(settings: Settings, smtp: RunningServer) -> Settings:
    """The settings with the ports the main process actually bound (a
    configured port of 0 means whatever port it got)."""
    ports = {listener.name: listener.port for listener in smtp.listeners}
    update = {"listen": _with_port(settings.smtp.listen, 587, ports["submission"])}
    if settings.smtp.implicit_tls_listen and "implicit-tls" in ports:
        update["implicit_tls_listen"] = _with_port(
            settings.smtp.implicit_tls_listen, 465, ports["implicit-tls"]
        )
    return settings.model_copy(update={"smtp": settings.smtp.model_copy(update=update)})


def check_clock_travels(clock: Clock) -> None:
    """Before anything starts: each front-end process gets a pickled copy."""
    try:
        pickle.dumps(clock)
    except Exception as exc:
        raise TypeError(
            "smtp.processes > 1 hands the clock to each front-end process by pickling: "
            "pass a module-level function or a ManualClock, not a lambda"
        ) from exc


def front_end_specs(
    settings: Settings, db_url: str, clock: Clock, smtp: RunningServer
) -> list[FrontEndSpec]:
    """One spec per extra process, once the main process's ``smtp`` listens."""
    bound = _bound_settings(settings, smtp)
    choice = loop_choice(asyncio.get_running_loop())
    sockets = smtp.shared_sockets()  # closed by FrontEnds.stop
    return [
        FrontEndSpec(index, analysis_share(bound, index), db_url, clock, choice, sockets)
        for index in range(1, settings.smtp.processes)
    ]


@dataclass(eq=False)
class _Slot:
    """One front-end process, across its restarts."""

    spec: FrontEndSpec
    process: BaseProcess | None = None
    control: Connection | None = None  # our write end; closing it stops the process
    events: Connection | None = None  # our read end
    started_at: float = 0.0
    ready: bool = False
    ever_ready: bool = False
    failures: int = 0
    restart_at: float | None = None
    done: bool = False  # stopped cleanly, or given up on during the stop
    killed: bool = False


@dataclass(eq=False)
class FrontEnds:
    """The front-end processes and the thread that watches them.

    The thread, not the event loop, starts and waits for processes: starting
    one blocks for a moment, and waiting on their exit is a blocking call.
    It hands kicks to the loop with ``call_soon_threadsafe``."""

    main: FrontEndMain
    specs: list[FrontEndSpec]
    kick: Callable[[], None]
    loop: asyncio.AbstractEventLoop
    _slots: list[_Slot] = field(default_factory=list)
    _ready: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _wake_r: int = -1
    _wake_w: int = -1

    def start(self) -> None:
        self._slots = [_Slot(spec) for spec in self.specs]
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._watch, name="front-ends", daemon=True)
        self._thread.start()
        # If the main process leaves without stop() (an error), multiprocessing
        # joins its children at exit: they must have been told to stop first.
        # atexit runs the latest registration first, so this precedes that join.
        atexit.register(self.request_stop)

    @property
    def pids(self) -> tuple[int, ...]:
        with self._lock:
            return tuple(
                s.process.pid
                for s in self._slots
                if s.process is not None and s.process.pid is not None
            )

    async def wait_ready(self, timeout: float) -> None:
        """Until every front-end process listens; raises :class:`FrontEndError`
        if one exits first."""
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._ready), timeout)
        except TimeoutError:
            raise FrontEndError(
                f"the SMTP front-end processes were not ready after {timeout:.0f} s"
            ) from None

    def request_stop(self) -> None:
        """Ask every front-end process to stop (they finish their sessions)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self._lock:
            for slot in self._slots:
                self._close_control(slot)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    async def stop(self) -> None:
        """Stop them and wait until every one has exited."""
        self.request_stop()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
            os.close(self._wake_r)
            os.close(self._wake_w)
        for spec in self.specs:  # no process is left to restart
            for sock in spec.sockets.values():
                sock.close()
        atexit.unregister(self.request_stop)

    # -- the watching thread ------------------------------------------------

    def _spawn(self, slot: _Slot) -> None:
        context = multiprocessing.get_context("spawn")
        control_r, control_w = context.Pipe(duplex=False)
        events_r, events_w = context.Pipe(duplex=False)
        process = context.Process(
            target=_front_end_process,
            args=(self.main, slot.spec, control_r, events_w),
            name=f"tactful-smtp-{slot.spec.index}",
        )
        process.start()
        control_r.close()  # only the child holds these ends now
        events_w.close()
        with self._lock:
            slot.process, slot.control, slot.events = process, control_w, events_r
            slot.started_at, slot.ready, slot.restart_at = time.monotonic(), False, None
            if self._stopping.is_set():  # a stop came while this one started
                self._close_control(slot)
        log.info("front-end process %d started (pid %s)", slot.spec.index, process.pid)

    @staticmethod
    def _close_control(slot: _Slot) -> None:
        if slot.control is not None:
            slot.control.close()
            slot.control = None

    def _watch(self) -> None:
        try:
            for slot in self._slots:
                self._spawn(slot)
            self._loop_until_all_exited()
        except Exception as exc:  # never leave the main process waiting forever
            log.error("the front-end supervisor failed: %s", type(exc).__name__)
            if not self._ready.done():
                self._ready.set_exception(FrontEndError("the front-end supervisor failed"))
            for slot in self._slots:
                if slot.process is not None and slot.process.is_alive():
                    slot.process.kill()

    def _loop_until_all_exited(self) -> None:
        deadline: float | None = None
        while True:
            now = time.monotonic()
            if self._stopping.is_set() and deadline is None:
                deadline = now + STOP_GRACE_SECONDS
            if deadline is not None and now >= deadline:
                self._kill_the_rest()
            running = [s for s in self._slots if s.process is not None]
            if self._stopping.is_set() and not running:
                return
            waits = [t - now for s in self._slots if (t := s.restart_at) is not None]
            if deadline is not None:
                waits.append(deadline - now)
            timeout = max(0.0, min(waits)) if waits else None
            handles: list[object] = [self._wake_r]
            for slot in running:
                assert slot.process is not None
                handles.append(slot.process.sentinel)
                if slot.events is not None:
                    handles.append(slot.events)
            readable = wait(handles, timeout)  # type: ignore[arg-type]
            if self._wake_r in readable:
                os.read(self._wake_r, 512)
            for slot in running:
                if slot.events is not None and slot.events in readable:
                    self._read_events(slot)
                assert slot.process is not None
                if slot.process.sentinel in readable:
                    self._exited(slot)
            now = time.monotonic()
            for slot in self._slots:
                if slot.restart_at is not None and now >= slot.restart_at:
                    if self._stopping.is_set():
                        slot.restart_at, slot.done = None, True
                    else:
                        self._spawn(slot)

    def _read_events(self, slot: _Slot) -> None:
        assert slot.events is not None
        try:
            data = os.read(slot.events.fileno(), 4096)
        except OSError:
            data = b""
        if not data:  # the process closed its end: it is exiting
            slot.events.close()
            slot.events = None
            return
        if READY in data and not slot.ready:
            slot.ready = slot.ever_ready = True
            log.info("front-end process %d is accepting mail", slot.spec.index)
            if all(s.ready for s in self._slots) and not self._ready.done():
                self._ready.set_result(None)
        if KICK in data:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self.loop.call_soon_threadsafe(self.kick)

    def _exited(self, slot: _Slot) -> None:
        assert slot.process is not None
        slot.process.join()
        code = slot.process.exitcode
        pid = slot.process.pid
        ran = time.monotonic() - slot.started_at
        while slot.events is not None:  # what it wrote before it went (READY, say)
            self._read_events(slot)
        with self._lock:
            slot.process = None
            self._close_control(slot)
            slot.ready = False
        if self._stopping.is_set() or code == 0:
            # Exit 0 is a clean stop someone asked for (our pipe or a signal,
            # which under systemd reaches the front ends before the main
            # process has acted on its own): not restarted.
            slot.done = True
            log.info("front-end process %d (pid %s) stopped", slot.spec.index, pid)
            return
        if not slot.ever_ready and not self._ready.done():
            self._ready.set_exception(
                FrontEndError(
                    f"SMTP front-end process {slot.spec.index} exited while starting "
                    f"(exit code {code}); its error is in the log above"
                )
            )
            slot.done = True
            return
        slot.failures = 1 if ran >= STABLE_AFTER_SECONDS else slot.failures + 1
        pause = min(MAX_RESTART_PAUSE_SECONDS, RESTART_PAUSE_SECONDS * 2 ** (slot.failures - 1))
        log.error(
            "front-end process %d (pid %s) exited with code %s; restarting in %.0f s",
            slot.spec.index,
            pid,
            code,
            pause,
        )
        slot.restart_at = time.monotonic() + pause

    def _kill_the_rest(self) -> None:
        for slot in self._slots:
            if slot.process is not None and slot.process.is_alive() and not slot.killed:
                slot.killed = True
                log.warning(
                    "front-end process %d did not stop within %.0f s; killing it",
                    slot.spec.index,
                    STOP_GRACE_SECONDS,
                )
                slot.process.kill()
