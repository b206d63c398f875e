"""The supervisor of the SMTP front-end processes (``proxy.app.frontends``),
with real spawned processes running small stand-ins for the front door:
kicks reach the main process's loop, a crash is restarted, a process that
cannot start fails the start, a stop leaves nothing running, and the
analysis workers are shared out rather than multiplied."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.app.frontends import (
    FrontEndError,
    FrontEndLink,
    FrontEnds,
    FrontEndSpec,
    analysis_share,
    check_clock_travels,
)
from proxy.core.clock import ManualClock, system_clock
from proxy.core.config import ConfigError, Settings, settings_from_mapping
from proxy.smtp.server import ListenerName

pytestmark = [pytest.mark.timeout(180)]

MOMENT = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)

# The stand-ins run in spawned processes, so they are module-level functions
# and learn their working directory from the spec (``db_url`` carries it:
# they have no database).


async def ready_and_kick(spec: FrontEndSpec, link: FrontEndLink) -> None:
    link.ready()
    link.kick()
    # The clock arrived by pickling: a ManualClock still at its moment.
    Path(spec.db_url, f"clock-{spec.index}").write_text(spec.clock().isoformat())
    await link.stop_requested()
    Path(spec.db_url, f"stopped-{spec.index}-{os.getpid()}").touch()


async def crash_once_after_ready(spec: FrontEndSpec, link: FrontEndLink) -> None:
    marker = Path(spec.db_url, "crashed")
    link.ready()
    if not marker.exists():
        marker.touch()
        os._exit(3)  # a crash: no clean stop
    Path(spec.db_url, f"second-{os.getpid()}").touch()
    await link.stop_requested()


async def answer_on_the_shared_socket(spec: FrontEndSpec, link: FrontEndLink) -> None:
    """Accepts on the main process's listening socket and tells each client
    its pid; crashes after its first answer, once, to be restarted."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{os.getpid()}\n".encode())
        await writer.drain()
        writer.close()
        marker = Path(spec.db_url, "crashed")
        if not marker.exists():
            marker.touch()
            os._exit(3)

    server = await asyncio.start_server(answer, sock=spec.sockets["submission"])
    link.ready()
    await link.stop_requested()
    server.close()


async def cannot_start(spec: FrontEndSpec, link: FrontEndLink) -> None:
    raise ConfigError("upstream.target is not HOST:PORT")


def settings(processes: int = 3) -> Settings:
    return settings_from_mapping({"smtp": {"processes": processes}})


def specs(
    directory: Path,
    count: int,
    clock: object = system_clock,
    sockets: dict[ListenerName, socket.socket] | None = None,
) -> list[FrontEndSpec]:
    return [
        FrontEndSpec(index, settings(count + 1), str(directory), clock, "asyncio", sockets or {})  # type: ignore[arg-type]
        for index in range(1, count + 1)
    ]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_kicks_cross_over_and_a_stop_ends_every_process(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, tuple[int, ...]]:
        kicks = 0
        kicked = asyncio.Event()

        def kick() -> None:
            nonlocal kicks
            kicks += 1
            kicked.set()

        loop = asyncio.get_running_loop()
        clock = ManualClock(MOMENT)
        front_ends = FrontEnds(ready_and_kick, specs(tmp_path, 2, clock), kick, loop)
        front_ends.start()
        try:
            await front_ends.wait_ready(120)
            await asyncio.wait_for(kicked.wait(), 60)
            pids = front_ends.pids
        finally:
            await front_ends.stop()
        return kicks, pids

    kicks, pids = asyncio.run(scenario())
    assert kicks >= 1 and len(pids) == 2
    assert all(gone(pid) for pid in pids)
    # Each stopped because it was asked to, after its own clean-up.
    assert sorted(p.name for p in tmp_path.glob("stopped-*")) == sorted(
        f"stopped-{i}-{pid}" for i, pid in zip((1, 2), pids, strict=True)
    )
    assert Path(tmp_path, "clock-1").read_text() == MOMENT.isoformat()


def test_a_crashed_process_is_restarted(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, ...]:
        loop = asyncio.get_running_loop()
        front_ends = FrontEnds(crash_once_after_ready, specs(tmp_path, 1), lambda: None, loop)
        front_ends.start()
        try:
            await front_ends.wait_ready(120)
            deadline = time.monotonic() + 120
            while not list(tmp_path.glob("second-*")):
                assert time.monotonic() < deadline, "the crashed process was not restarted"
                await asyncio.sleep(0.1)
            return front_ends.pids
        finally:
            await front_ends.stop()

    pids = asyncio.run(scenario())
    assert [p.name for p in tmp_path.glob("second-*")] == [f"second-{pids[0]}"]
    assert gone(pids[0])


def test_a_process_accepts_on_the_main_process_socket_also_after_a_restart(
    tmp_path: Path,
) -> None:
    """The main process listens and never accepts here: every connection is
    the front end's, through the descriptor it was handed at spawn."""
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]

    def ask() -> int:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
            return int(client.makefile().readline())

    async def scenario() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        shared: dict[ListenerName, socket.socket] = {"submission": listening.dup()}
        front_ends = FrontEnds(
            answer_on_the_shared_socket, specs(tmp_path, 1, sockets=shared), lambda: None, loop
        )
        front_ends.start()
        try:
            await front_ends.wait_ready(120)
            first = await asyncio.to_thread(ask)  # then that process crashes
            deadline = time.monotonic() + 120
            while True:  # until the restarted process answers
                assert time.monotonic() < deadline, "no answer after the restart"
                with contextlib.suppress(OSError, ValueError):
                    second = await asyncio.wait_for(asyncio.to_thread(ask), 10)
                    if second != first:
                        return first, second
                await asyncio.sleep(0.2)
        finally:
            await front_ends.stop()
            # The supervisor closed its duplicates; the main process's own
            # socket is still its own to close.
            assert shared["submission"].fileno() == -1
            assert listening.fileno() != -1

    try:
        first, second = asyncio.run(scenario())
    finally:
        listening.close()
    assert first != os.getpid() and second != os.getpid()
    assert gone(first) and gone(second)


def test_a_process_that_cannot_start_fails_the_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        front_ends = FrontEnds(cannot_start, specs(tmp_path, 1), lambda: None, loop)
        front_ends.start()
        try:
            await front_ends.wait_ready(120)
        finally:
            await front_ends.stop()

    with pytest.raises(FrontEndError, match="front-end process 1 exited while starting"):
        asyncio.run(scenario())


def test_a_clock_that_cannot_travel_is_refused_before_anything_starts() -> None:
    check_clock_travels(system_clock)
    check_clock_travels(ManualClock(MOMENT))
    with pytest.raises(TypeError, match="pickling"):
        check_clock_travels(lambda: MOMENT)


@pytest.mark.parametrize(
    ("pool_size", "processes", "shares"),
    [(2, 2, [1, 1]), (5, 2, [3, 2]), (4, 3, [2, 1, 1]), (1, 3, [1, 1, 1]), (8, 1, [8])],
)
def test_analysis_workers_are_shared_out(pool_size: int, processes: int, shares: list[int]) -> None:
    base = settings_from_mapping(
        {"smtp": {"processes": processes}, "analysis": {"pool_size": pool_size}}
    )
    assert [analysis_share(base, i).analysis.pool_size for i in range(processes)] == shares


@pytest.mark.parametrize("value", [0, 65])
def test_smtp_processes_is_bounded(value: int) -> None:
    with pytest.raises(ConfigError, match=r"smtp\.processes: .*between 1 and 64"):
        settings_from_mapping({"smtp": {"processes": value}})
