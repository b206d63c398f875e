"""What ``tactful serve`` builds once and hands to every front end.

The SMTP pipeline, the review web app and the SMS API all need the same
few long-lived objects; passing them as one typed value keeps each front
end free of globals and lets tests build a :class:`Services` around a
temporary database and a sink upstream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from proxy.core.clock import Clock
from proxy.core.config import Settings
from proxy.core.metrics import Metrics
from proxy.pipeline.act import Linter
from proxy.pipeline.forward import Outbound
from proxy.pipeline.notice_queue import NoticeQueue
from proxy.store.login_failures import LoginFailures
from proxy.store.spool_store import SpoolStore


def _no_scheduler() -> None:
    """Default kick when no scheduler runs (CLI use): the next `tactful
    serve` picks the work up."""


@dataclass(slots=True)
class Services:
    settings: Settings
    clock: Clock  # the one clock every decision reads (proxy.core.clock)
    db_url: str
    engine: Engine
    spool: SpoolStore
    outbound: Outbound  # strip tags, findings header, DKIM, upstream
    notices: NoticeQueue  # durable notices to workers
    linter: Linter | None  # None when analysis is disabled
    kick: Callable[[], None] = field(default=_no_scheduler)  # wake the scheduler now
    # The one login throttle (SMTP AUTH, review app, SMS API); None only
    # where no door checks a password (a CLI tool, a pipeline test).
    logins: LoginFailures | None = None
    # This process's Prometheus metrics (GET /metrics).
    metrics: Metrics = field(default_factory=Metrics)
