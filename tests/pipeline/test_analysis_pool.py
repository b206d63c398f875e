"""The analysis pool: real worker processes with the real model.

It must judge exactly as the in-process engine does, give up on a message
that exceeds its budget without taking the pool down, never block the
event loop, and apply a consent revocation to the very next message.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.core.config import Settings, settings_from_mapping
from proxy.core.verdict import Action
from proxy.lint.engine import LintResult
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


def settings(budget: float = 120.0) -> Settings:
    return settings_from_mapping(
        {
            "agency": {"working_hours": ALL_DAY, "holidays": []},
            "analysis": {"pool_size": 1, "time_budget_seconds": budget},
        }
    )


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
