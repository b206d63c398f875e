"""The analysis pool: real worker processes with the real model.

It must judge exactly as the in-process engine does, give up on a message
that exceeds its budget without taking the pool down, never block the
event loop, and apply a consent revocation to the very next message.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.core.config import Settings, settings_from_mapping
from proxy.core.verdict import Action
from proxy.lint.engine import LintResult
from proxy.pipeline import analysis_pool
from proxy.pipeline.analysis_pool import AnalysisFailure, AnalysisPool
from proxy.store.consent_csv import read_consent_csv
from proxy.store.consent_store import ConsentStore
from proxy.store.db import make_engine
from proxy.store.migrations import upgrade
from tests.support.proxy_fixtures import ALL_DAY, CONSENT_CSV, example

pytestmark = pytest.mark.timeout(300)

# When the example registry was imported: a fixed moment, whatever today is.
IMPORTED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LINTED_AT = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Chicago

WORKER = "jane@example.org"


def settings(budget: float = 120.0, pool_size: int = 1) -> Settings:
    return settings_from_mapping(
        {
            "agency": {"working_hours": ALL_DAY, "holidays": []},
            "analysis": {"pool_size": pool_size, "time_budget_seconds": budget},
        }
    )


def worker_pids() -> list[int]:
    """This process's live multiprocessing children (the analysis workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return sorted(pids)


def long_message(kilobytes: int) -> bytes:
    line = b"Meeting notes from the team about scheduling and the new intake forms.\r\n"
    body = line * (kilobytes * 1024 // len(line))
    return (
        b"From: jane@example.org\r\nTo: sam@example.org\r\nSubject: notes\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    )


async def lint(pool: AnalysisPool, raw: bytes, *recipients: str) -> LintResult | AnalysisFailure:
    return await pool.lint(raw, sender=WORKER, recipients=recipients, at=LINTED_AT)


def test_pool_judges_like_the_engine_and_keeps_the_loop_free(tmp_path: Path) -> None:
    async def scenario() -> None:
        pool = AnalysisPool(settings(), None)
        try:
            await pool.start()
            held = await lint(pool, example("02-dob-external.eml"), "intake@partner.example.net")
            assert isinstance(held, LintResult)
            assert held.verdict.enforced == Action.HOLD

            # While a long message is analysed, other work on the loop goes on.
            done = asyncio.Event()
            ticks_before_done = 0

            async def ticker() -> None:
                nonlocal ticks_before_done
                while not done.is_set():
                    ticks_before_done += 1
                    await asyncio.sleep(0)

            ticking = asyncio.create_task(ticker())
            result = await lint(pool, long_message(50), "sam@example.org")
            done.set()
            await ticking
            assert isinstance(result, LintResult)
            assert result.verdict.enforced == Action.PASS
            assert ticks_before_done > 1
        finally:
            pool.close()

    asyncio.run(scenario())


def test_budget_exceeded_is_a_failure_and_the_pool_recovers() -> None:
    async def scenario() -> None:
        pool = AnalysisPool(settings(budget=0.05), None)
        try:
            await pool.start()
            failed = await lint(pool, long_message(2048), "sam@example.org")
            assert failed == AnalysisFailure("timeout")
            pool.budget = 60.0
            await pool.start()  # the replacement workers load the model
            again = await lint(pool, example("01-pass-internal.eml"), "sam@example.org")
            assert isinstance(again, LintResult)
            assert again.verdict.enforced == Action.PASS
        finally:
            pool.close()

    asyncio.run(scenario())


def test_a_message_over_its_budget_costs_only_its_own_worker() -> None:
    """Two workers; one message overruns its budget. Only its worker is
    killed and replaced: a message sent beside it is judged, and so is the
    very next one, at once, within a budget shorter than loading the model
    into a new worker takes."""
    quick = example("01-pass-internal.eml")

    async def scenario() -> None:
        pool = AnalysisPool(settings(pool_size=2), None)
        try:
            await pool.start()
            before = worker_pids()
            # Both workers warm: the first message a worker judges is its slowest.
            warm = await asyncio.gather(*(lint(pool, quick, "sam@example.org") for _ in range(2)))
            assert all(isinstance(r, LintResult) for r in warm)
            assert list(pool.batch_sizes) == [1, 1]  # one each
            pool.budget = 0.5  # the long message takes about 2 s, a quick one 0.02 s
            slow = asyncio.create_task(lint(pool, long_message(2048), "sam@example.org"))
            await asyncio.sleep(0.2)
            # One worker is busy for longer than the probe waits: the other answers.
            assert await pool.ready(timeout=0.5)
            beside = await lint(pool, quick, "sam@example.org")
            assert await slow == AnalysisFailure("timeout")
            assert isinstance(beside, LintResult)
            after = await lint(pool, quick, "sam@example.org")
            assert isinstance(after, LintResult)
            pool.budget = 120.0
            await pool.start()  # the replacement has loaded the model
            again = await asyncio.gather(*(lint(pool, quick, "sam@example.org") for _ in range(4)))
            assert all(isinstance(r, LintResult) for r in again)
            now = worker_pids()
            assert len(now) == 2
            assert len(set(now) & set(before)) == 1  # one replaced, one kept
        finally:
            pool.close()

    asyncio.run(scenario())


def test_a_runaway_message_whose_sender_hung_up_still_has_a_budget() -> None:
    """Nobody waits for it any more, but its worker is still replaced when
    the budget runs out, not left busy for as long as the message takes;
    a closed pool judges nothing and says so."""
    quick = example("01-pass-internal.eml")

    async def scenario() -> None:
        pool = AnalysisPool(settings(), None)
        try:
            await pool.start()
            (before,) = worker_pids()
            pool.budget = 1.0
            gone = asyncio.create_task(lint(pool, long_message(2048), "sam@example.org"))
            await asyncio.sleep(0.2)
            gone.cancel()
            with pytest.raises(asyncio.CancelledError):
                await gone
            deadline = asyncio.get_running_loop().time() + 60
            while before in worker_pids():  # killed at its budget, ~0.8 s from now
                assert asyncio.get_running_loop().time() < deadline, "the runaway was not stopped"
                await asyncio.sleep(0.1)
            pool.budget = 120.0
            judged = await lint(pool, quick, "sam@example.org")
            assert isinstance(judged, LintResult)
        finally:
            pool.close()
        assert await lint(pool, quick, "sam@example.org") == AnalysisFailure("closed")
        assert not await pool.ready(timeout=0.5)

    asyncio.run(scenario())


def test_a_worker_that_dies_costs_only_the_messages_it_held() -> None:
    async def scenario() -> None:
        pool = AnalysisPool(settings(pool_size=2), None)
        try:
            await pool.start()
            before = worker_pids()
            assert len(before) == 2
            judging = [
                asyncio.create_task(lint(pool, long_message(1024), "sam@example.org"))
                for _ in range(2)
            ]
            await asyncio.sleep(0.5)  # each worker is judging one of them
            os.kill(before[0], signal.SIGKILL)
            outcomes = await asyncio.gather(*judging)
            assert AnalysisFailure("worker-crashed") in outcomes
            assert sum(isinstance(o, LintResult) for o in outcomes) == 1
            await pool.start()  # the replacement has loaded the model
            quick = example("01-pass-internal.eml")
            again = await asyncio.gather(*(lint(pool, quick, "sam@example.org") for _ in range(4)))
            assert all(isinstance(r, LintResult) for r in again)
            now = worker_pids()
            assert len(now) == 2
            assert before[1] in now and before[0] not in now
        finally:
            pool.close()

    asyncio.run(scenario())


def test_a_worker_that_cannot_start_is_tried_again_until_it_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A replacement that fails to start (here: the database it reads the
    registry from is damaged) is not retried in a tight loop, and not given
    up on: once the database is back, the pool judges mail again."""
    monkeypatch.setattr(analysis_pool, "RESTART_DELAY", 0.2)
    database = tmp_path / "tactful.db"
    url = f"sqlite:///{database}"
    upgrade(url)
    quick = example("01-pass-internal.eml")

    async def scenario() -> None:
        pool = AnalysisPool(settings(budget=2.0), url)
        try:
            await pool.start()
            (pid,) = worker_pids()
            for path in tmp_path.glob("tactful.db*"):
                path.unlink()
            database.write_bytes(b"this is not a database\n" * 1000)
            os.kill(pid, signal.SIGKILL)
            lost = await lint(pool, quick, "sam@example.org")
            assert isinstance(lost, AnalysisFailure)  # no worker: a 451, the sender retries
            deadline = asyncio.get_running_loop().time() + 120
            while caplog.text.count("did not start") < 2:  # tried, and tried again
                assert asyncio.get_running_loop().time() < deadline, "no second try"
                await asyncio.sleep(0.1)
            database.unlink()
            upgrade(url)
            deadline = asyncio.get_running_loop().time() + 120
            while not await pool.ready(timeout=2.0):
                assert asyncio.get_running_loop().time() < deadline, "no worker came back"
                await asyncio.sleep(0.1)  # a dead worker answers at once: no answer
            judged = await lint(pool, quick, "sam@example.org")
            assert isinstance(judged, LintResult)
        finally:
            pool.close()

    asyncio.run(scenario())


def test_consent_revocation_applies_to_the_next_message(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    store = ConsentStore(engine)
    store.import_records(read_consent_csv(CONSENT_CSV), at=IMPORTED)
    raw = example("03-ssn-client-redact.eml")

    async def scenario() -> None:
        pool = AnalysisPool(settings(), db_url)
        try:
            await pool.start()
            before = await lint(pool, raw, "rosa.diaz@example.com")
            assert isinstance(before, LintResult)
            assert before.verdict.enforced == Action.REDACT
            store.revoke(
                "C-1005",
                evidence="client asked by phone",
                at=LINTED_AT,
            )
            after = await lint(pool, raw, "rosa.diaz@example.com")
            assert isinstance(after, LintResult)
            assert after.verdict.enforced == Action.REJECT
            assert "consent-revoked" in {h.rule for h in after.verdict.hits}
        finally:
            pool.close()

    try:
        asyncio.run(scenario())
    finally:
        engine.dispose()


def test_waiting_messages_are_batched_without_waiting_for_a_batch() -> None:
    """One worker, many messages at once: the first goes alone at once, the
    ones that queued meanwhile go together; each result is what the engine
    gives for that message alone."""
    from proxy.lint.engine import LintEngine
    from proxy.lint.nlp import NlpService

    messages = [
        (example("02-dob-external.eml"), "intake@partner.example.net"),
        (example("01-pass-internal.eml"), "sam@example.org"),
        (example("03-ssn-client-redact.eml"), "rosa.diaz@example.com"),
        (example("06-condition-external.eml"), "intake@partner.example.net"),
        (long_message(5), "sam@example.org"),
        (example("07-other-client.eml"), "rosa.diaz@example.com"),
    ]
    config = settings_from_mapping(
        {
            "agency": {"working_hours": ALL_DAY, "holidays": []},
            "analysis": {"pool_size": 1, "max_batch": 4},
        }
    )

    async def scenario() -> list[LintResult | AnalysisFailure]:
        pool = AnalysisPool(config, None)
        try:
            await pool.start()
            results = await asyncio.gather(
                *(
                    pool.lint(raw, sender=WORKER, recipients=(to,), at=LINTED_AT)
                    for raw, to in messages
                )
            )
            assert pool.batch_sizes[0] == 1  # nobody waited for a batch to fill
            assert max(pool.batch_sizes) > 1  # the queued ones went together
            assert max(pool.batch_sizes) <= 4
            assert sum(pool.batch_sizes) == len(messages)
            # A lone message later is handed out at once, alone.
            single = await lint(pool, example("01-pass-internal.eml"), "sam@example.org")
            assert isinstance(single, LintResult)
            assert pool.batch_sizes[-1] == 1
            return list(results)
        finally:
            pool.close()

    results = asyncio.run(scenario())
    engine = LintEngine(config, nlp=NlpService(config.nlp.model))
    for (raw, to), result in zip(messages, results, strict=True):
        assert isinstance(result, LintResult)
        alone = engine.lint(raw, sender=WORKER, recipients=(to,), at=LINTED_AT)
        assert result.verdict == alone.verdict
        assert result.findings == alone.findings
    assert {r.verdict.enforced for r in results if isinstance(r, LintResult)} >= {
        Action.PASS,
        Action.HOLD,
    }


def test_a_message_whose_sender_hung_up_is_not_judged_later() -> None:
    async def scenario() -> None:
        pool = AnalysisPool(settings(), None)
        try:
            await pool.start()
            busy = asyncio.create_task(lint(pool, long_message(200), "sam@example.org"))
            await asyncio.sleep(0)
            gone = asyncio.create_task(
                lint(pool, example("01-pass-internal.eml"), "sam@example.org")
            )
            await asyncio.sleep(0.05)
            gone.cancel()
            with pytest.raises(asyncio.CancelledError):
                await gone
            assert isinstance(await busy, LintResult)
            after = await lint(pool, example("01-pass-internal.eml"), "sam@example.org")
            assert isinstance(after, LintResult)
            # The busy one, then the one after: the cancelled one never went.
            assert list(pool.batch_sizes) == [1, 1]
        finally:
            pool.close()

    asyncio.run(scenario())
