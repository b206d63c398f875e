"""Send what the spool owes: deferred mail whose window opened, released
holds, and notices; expire holds nobody decided on.

It runs inside ``tactful serve``, wakes every few seconds or when kicked
(a release, a new notice), and survives restarts because all of its state
is in the database: a row is claimed with a lease before sending, so two
nodes never send the same message and a node that dies mid-send only
delays it until the lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from proxy.core.consent import Channel
from proxy.pipeline.forward import EmailForwarder, Forwarder
from proxy.pipeline.notices import (
    About,
    expired_notice,
    part2_unsent_notice,
    partly_undeliverable_notice,
    undeliverable_notice,
)
from proxy.pipeline.part2 import NoticeError, goes_as_text, with_notice
from proxy.pipeline.services import Services
from proxy.store.crypto import DecryptionError
from proxy.store.disclosures import purge_expired
from proxy.store.spool_summary import partial_summary
from proxy.store.spool_view import SpooledMessage

log = logging.getLogger(__name__)

# Waits after each failed attempt; the last one repeats.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
)
NOTICE_USER = "tactful"  # the spool user of notices: never notify about a notice
# How often the disclosure log is purged of entries past disclosures.retention_years.
PURGE_EVERY = timedelta(hours=1)


SentHook = Callable[[SpooledMessage, datetime], Awaitable[None]]


def retry_delay(attempts: int) -> timedelta:
    return RETRY_DELAYS[min(max(attempts, 1), len(RETRY_DELAYS)) - 1]


class Scheduler:
    def __init__(
        self,
        services: Services,
        forwarders: Mapping[Channel, Forwarder] | None = None,
        *,
        on_sent: SentHook | None = None,
        interval: float = 5.0,
        owner: str | None = None,
    ) -> None:
        self._services = services
        # Email always; other channels (texts) when the composition root has
        # an upstream for them. Chosen by the channel the spool recorded.
        self._forwarders = {Channel.EMAIL: EmailForwarder(services.outbound), **(forwarders or {})}
        self._on_sent = on_sent
        self._interval = interval
        self._clock = services.clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._next_purge: datetime | None = None  # None: at the first round

    def kick(self) -> None:
        """Look at the spool now rather than at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        """Until :meth:`stop`; a failing round is logged and retried."""
        while not self._stopping:
            try:
                await self.run_once()
            except Exception as exc:  # the database may be briefly away
                log.error("scheduler round failed: %s", type(exc).__name__)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            except TimeoutError:
                pass
            self._wake.clear()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run_once(self) -> int:
        """One round: expire, then send everything due. Returns how many
        messages were handed to an upstream (accepted or not)."""
        spool = self._services.spool
        now = self._clock()
        try:
            for message in await asyncio.to_thread(spool.expire, now):
                await self._notify_expired(message)
        except Exception as exc:  # expiry must never stop mail that is owed
            log.error("expiring held messages failed: %s", type(exc).__name__)
        await self._purge_disclosures(now)
        sent = 0
        for message in await asyncio.to_thread(spool.due_for_delivery, now):
            if self._stopping:
                break
            if await self._send(message):
                sent += 1
        return sent

    async def _purge_disclosures(self, now: datetime) -> None:
        """Hourly: the accounting of disclosures keeps what the retention
        setting says and no more (each purge is in the audit trail)."""
        if self._next_purge is not None and now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY
        years = self._services.settings.disclosures.retention_years
        try:
            deleted = await asyncio.to_thread(
                purge_expired, self._services.engine, now=now, retention_years=years
            )
        except Exception as exc:  # never stops mail that is owed; retried next hour
            log.error("purging old disclosures failed: %s", type(exc).__name__)
            return
        if deleted:
            log.info("purged %d disclosure entries older than %d years", deleted, years)

    async def _send(self, message: SpooledMessage) -> bool:
        spool = self._services.spool
        now = self._clock()
        lease = await asyncio.to_thread(spool.claim_for_delivery, message.id, now, self.owner)
        if lease is None:
            return False  # another node got it, or it was decided meanwhile
        try:
            raw = await asyncio.to_thread(spool.raw, message.id)
        except DecryptionError:
            log.error("spooled message %s cannot be decrypted; check the hold key", message.id)
            retry_at = now + RETRY_DELAYS[-1]
            await asyncio.to_thread(spool.mark_failed, lease, 451, "4.3.0", retry_at, now)
            return False
        if raw is None:
            log.error("spooled message %s has no content; marking it refused", message.id)
            await asyncio.to_thread(spool.mark_refused, lease, 554, "5.3.0", now)
            return False
        forwarder = self._forwarders.get(lease.message.channel)
        if forwarder is None:
            log.error(
                "spooled %s %s cannot be sent: no upstream is configured for that channel",
                lease.message.channel.value,
                message.id,
            )
            retry_at = now + RETRY_DELAYS[-1]
            await asyncio.to_thread(spool.mark_failed, lease, 451, "4.3.0", retry_at, now)
            return False
        summary = lease.message.summary
        if summary.part2_notice:
            text_message = goes_as_text(
                lease.message.channel, (r.channel for r in summary.recipients)
            )
            try:
                raw = await asyncio.to_thread(
                    with_notice, raw, self._services.settings, summary.terms,
                    text_message=text_message,
                )  # fmt: skip
            except NoticeError as exc:
                # Released or not, Part 2 records never leave without the notice.
                log.error("spooled message %s not sent: %s", message.id, exc)
                await asyncio.to_thread(spool.mark_refused, lease, 554, "5.6.0", now)
                await self._services.notices.send(
                    part2_unsent_notice(
                        about=About.spooled(lease.message), sender=lease.message.sender
                    )
                )
                return False
        forwarded = await forwarder.forward(
            lease.message.sender, lease.message.recipients, raw, summary.rule_codes
        )
        result = forwarded.status
        done = self._clock()
        if result.accepted:
            refused = result.refused
            note = partial_summary(r.code for r in refused.values()) if refused else None
            await asyncio.to_thread(spool.mark_sent, lease, done, note)
            log.info("spooled message %s sent (attempt %d)", message.id, lease.message.attempts)
            if lease.message.user != NOTICE_USER:
                if self._on_sent is not None:
                    await self._on_sent(lease.message, done)
                if refused:  # never silently: the sender must resend to them
                    await self._services.notices.send(
                        partly_undeliverable_notice(
                            about=About.spooled(lease.message),
                            sender=lease.message.sender,
                            refused=sorted(refused),
                            codes=[r.code for r in refused.values()],
                        )
                    )
        elif 400 <= result.code < 500:
            self._upstream_error(lease.message, "temporary")
            retry_at = done + retry_delay(lease.message.attempts)
            await asyncio.to_thread(
                spool.mark_failed, lease, result.code, result.enhanced, retry_at, done
            )
            log.warning(
                "spooled message %s not sent (%d %s); retrying at %s",
                message.id,
                result.code,
                result.enhanced,
                retry_at.isoformat(timespec="seconds"),
            )
        else:
            self._upstream_error(lease.message, "permanent")
            await asyncio.to_thread(spool.mark_refused, lease, result.code, result.enhanced, done)
            log.warning(
                "spooled message %s refused (%d %s)", message.id, result.code, result.enhanced
            )
            if lease.message.user != NOTICE_USER:
                await self._services.notices.send(
                    undeliverable_notice(
                        about=About.spooled(lease.message),
                        sender=lease.message.sender,
                        code=result.code,
                        enhanced=result.enhanced,
                    )
                )
        return True

    def _upstream_error(self, message: SpooledMessage, kind: str) -> None:
        self._services.metrics.upstream_errors.labels(
            channel=message.channel.value, kind=kind
        ).inc()

    async def _notify_expired(self, message: SpooledMessage) -> None:
        if message.user == NOTICE_USER:
            return
        days = self._services.settings.hold.expire_days
        await self._services.notices.send(
            expired_notice(about=About.spooled(message), sender=message.sender, days=days)
        )
