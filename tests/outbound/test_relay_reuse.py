"""Kept-open upstream connections (upstream.idle_connections): fewer
connections, the same deliveries and replies, and a fresh connection
whenever the kept one is gone, too old, or belongs to another event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiosmtpd.smtp import SMTP as AioSMTP
from aiosmtpd.smtp import Envelope, Session

from proxy.core.config import settings_from_mapping
from proxy.outbound.relay import SmtpUpstream
from proxy.outbound.target import upstream_from_settings
from tests.support.upstream_fixtures import RecordingHandler, Sink, run_sink

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"


@dataclass
class CountingHandler(RecordingHandler):
    """Counts connections by their EHLO (sent once per connection)."""

    ehlos: int = 0

    async def handle_EHLO(
        self,
        server: AioSMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.ehlos += 1
        session.host_name = hostname
        return responses


@pytest.fixture
def counting_sink() -> Iterator[Sink]:
    with run_sink(
        CountingHandler(rcpt_replies={"gone@example.org": "550 5.1.1 No such user"})
    ) as s:
        yield s


def _ehlos(sink: Sink) -> int:
    assert isinstance(sink.handler, CountingHandler)
    return sink.handler.ehlos


def _upstream(sink: Sink, idle: int, **kwargs: float) -> SmtpUpstream:
    return SmtpUpstream("127.0.0.1", sink.port, starttls="off", idle_connections=idle, **kwargs)


def test_kept_connection_carries_the_next_messages(counting_sink: Sink) -> None:
    upstream = _upstream(counting_sink, 2)

    async def three() -> list[bool]:
        results = []
        for n in range(3):
            result = await upstream.deliver("a@example.org", [f"b{n}@example.org"], MESSAGE)
            results.append(result.accepted)
        return results

    assert asyncio.run(three()) == [True, True, True]
    assert [r.recipients for r in counting_sink.received] == [
        ["b0@example.org"],
        ["b1@example.org"],
        ["b2@example.org"],
    ]
    assert _ehlos(counting_sink) == 1


def test_without_idle_connections_every_message_connects(counting_sink: Sink) -> None:
    upstream = _upstream(counting_sink, 0)

    async def three() -> None:
        for _ in range(3):
            assert (await upstream.deliver("a@example.org", ["b@example.org"], MESSAGE)).accepted

    asyncio.run(three())
    assert _ehlos(counting_sink) == 3


def test_a_refusal_is_passed_back_and_the_next_message_still_goes(counting_sink: Sink) -> None:
    upstream = _upstream(counting_sink, 2)

    async def scenario() -> None:
        refused = await upstream.deliver("a@example.org", ["gone@example.org"], MESSAGE)
        assert not refused.accepted and refused.code == 550
        ok = await upstream.deliver("a@example.org", ["b@example.org"], MESSAGE)
        assert ok.accepted
        again = await upstream.deliver("a@example.org", ["gone@example.org"], MESSAGE)
        assert again.code == 550 and "No such user" in again.text

    asyncio.run(scenario())
    assert [r.recipients for r in counting_sink.received] == [["b@example.org"]]


def test_a_connection_the_upstream_closed_is_replaced() -> None:
    handler = CountingHandler()
    # The upstream hangs up on connections idle for 0.3 s.
    with run_sink(handler, server_kwargs={"timeout": 0.3}) as sink:
        upstream = _upstream(sink, 2)

        async def scenario() -> None:
            assert (await upstream.deliver("a@example.org", ["b@example.org"], MESSAGE)).accepted
            await asyncio.sleep(1.0)
            assert (await upstream.deliver("a@example.org", ["c@example.org"], MESSAGE)).accepted

        asyncio.run(scenario())
        assert len(sink.received) == 2
        assert handler.ehlos == 2


def test_a_connection_idle_too_long_is_not_reused(counting_sink: Sink) -> None:
    upstream = _upstream(counting_sink, 2, idle_seconds=0.1)

    async def scenario() -> None:
        assert (await upstream.deliver("a@example.org", ["b@example.org"], MESSAGE)).accepted
        await asyncio.sleep(0.3)
        assert (await upstream.deliver("a@example.org", ["c@example.org"], MESSAGE)).accepted

    asyncio.run(scenario())
    assert _ehlos(counting_sink) == 2


def test_concurrent_deliveries_never_share_a_connection(counting_sink: Sink) -> None:
    upstream = _upstream(counting_sink, 2)

    async def scenario() -> None:
        for _ in range(2):
            results = await asyncio.gather(
                *(
                    upstream.deliver("a@example.org", [f"r{i}@example.org"], MESSAGE)
                    for i in range(2)
                )
            )
            assert all(r.accepted for r in results)

    asyncio.run(scenario())
    assert len(counting_sink.received) == 4
    assert _ehlos(counting_sink) == 2


def test_another_event_loop_gets_its_own_connection(counting_sink: Sink) -> None:
    upstream = _upstream(counting_sink, 2)
    for recipient in ("b@example.org", "c@example.org"):
        result = asyncio.run(upstream.deliver("a@example.org", [recipient], MESSAGE))
        assert result.accepted
    assert len(counting_sink.received) == 2
    assert _ehlos(counting_sink) == 2


def test_the_setting_reaches_the_relay(counting_sink: Sink) -> None:
    settings = settings_from_mapping(
        {
            "upstream": {
                "target": f"127.0.0.1:{counting_sink.port}",
                "starttls": "off",
                "idle_connections": 3,
            }
        }
    )
    upstream = upstream_from_settings(settings)
    assert isinstance(upstream, SmtpUpstream)

    async def two() -> None:
        for _ in range(2):
            assert (await upstream.deliver("a@example.org", ["b@example.org"], MESSAGE)).accepted

    asyncio.run(two())
    assert _ehlos(counting_sink) == 1
