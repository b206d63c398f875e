"""Notices to workers, queued durably in the spool.

Notices go through the spool like deferred mail due now, so they are
retried if the upstream is down and never delay the reply to the sender's
program. The texts themselves are in :mod:`proxy.pipeline.notices`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from proxy.core.config import Settings
from proxy.core.submission import Submission
from proxy.pipeline.notices import Notice
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_summary import VerdictSummary

log = logging.getLogger(__name__)


class NoticeQueue:
    """Notices go through the spool like deferred mail due now, so they are
    retried if the upstream is down and never delay the SMTP reply."""

    def __init__(
        self, spool: SpoolStore, settings: Settings, kick: Callable[[], None] | None = None
    ) -> None:
        self._spool = spool
        self._from = settings.notices.from_address
        self._agency = settings.agency.name
        self._mode = settings.mode
        self._kick = kick

    def set_kick(self, kick: Callable[[], None]) -> None:
        self._kick = kick

    def store(self, notice: Notice, now: datetime | None = None) -> str:
        """Blocking: commit the notice to the spool; returns its id."""
        moment = now or self._spool.clock()
        submission = Submission(
            id=uuid.uuid4().hex,
            sender=self._from,
            recipients=(notice.to,),
            user="tactful",
            raw=notice.to_bytes(self._from, agency=self._agency, now=moment),
            received_at=moment,
        )
        summary = VerdictSummary(verdict="pass", enforced="pass", mode=self._mode)
        self._spool.defer(submission, moment, summary, now=moment)
        return submission.id

    async def send(self, notice: Notice) -> None:
        """Queue ``notice``; a failure is logged, never raised: the message
        it is about is already safe."""
        try:
            await asyncio.to_thread(self.store, notice)
        except Exception as exc:
            log.error("could not queue a notice about %s: %s", notice.about, type(exc).__name__)
            return
        if self._kick is not None:
            self._kick()
