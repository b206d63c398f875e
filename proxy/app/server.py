"""Assemble and run everything ``tactful serve`` runs in one process.

This is the composition root: the only place that knows how the pieces
fit (database → spool → upstream and DKIM → analysis pool → SMTP front
door, scheduler, and the HTTP side for reviewers and the SMS API). Tests
start the same thing in-process, so what they exercise is what ships.
With ``smtp.processes`` above 1, :func:`run_front_end` is the composition
root of each extra SMTP front-end process (:mod:`proxy.app.frontends`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import uvicorn
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from proxy.accounts.auth import parse_host_port
from proxy.accounts.users import UsersFile, UsersFileError
from proxy.app.frontends import (
    FrontEndLink,
    FrontEnds,
    FrontEndSpec,
    analysis_share,
    check_clock_travels,
    front_end_specs,
)
from proxy.app.health import health_routes
from proxy.core.clock import Clock, system_clock
from proxy.core.config import Settings
from proxy.core.consent import Channel
from proxy.core.metrics import Metrics
from proxy.outbound.dkim_sign import signer_from_settings
from proxy.outbound.target import probe_extensions, upstream_from_settings
from proxy.pipeline.act import DeliveryRecorder, Pipeline
from proxy.pipeline.analysis_pool import AnalysisPool
from proxy.pipeline.forward import EmailForwarder, Forwarder, Outbound
from proxy.pipeline.notice_queue import NoticeQueue
from proxy.pipeline.notices import NoticeLinks
from proxy.pipeline.scheduler import Scheduler, SentHook
from proxy.pipeline.services import Services
from proxy.review.app import build_review_app
from proxy.review.digest import send_digest
from proxy.review.links import links_from_settings
from proxy.sms.api import build_sms_routes
from proxy.sms.deliver import sms_forwarder
from proxy.smtp.replies import PipelineProcessor
from proxy.smtp.server import RunningServer
from proxy.smtp.server import serve as serve_smtp
from proxy.store.cluster import ClusterJobs
from proxy.store.crypto import MessageCipher, load_or_create_key
from proxy.store.db import make_engine
from proxy.store.disclosures import DisclosureRecorder, record_spooled_delivery
from proxy.store.login_failures import LoginFailures, LoginLimits
from proxy.store.migrations import upgrade
from proxy.store.record_writer import RecordWriter
from proxy.store.spool_metrics import SpoolCollector
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_view import SpooledMessage

log = logging.getLogger(__name__)

# Front-end processes load their own analysis workers' model before they
# listen; on a busy machine that takes a while.
FRONT_ENDS_START_SECONDS = 300.0


def build_services(
    settings: Settings, db_url: str, *, clock: Clock = system_clock, migrate: bool = True
) -> Services:
    """Blocking: the long-lived objects, without the analysis pool (the
    caller starts it in the event loop; CLI tools do not need it).

    ``clock`` is the one clock of this process: everything built here, and
    everything :func:`start` builds from these services, reads it."""
    engine = make_engine(db_url)
    if migrate:
        upgrade(engine)
    cipher = MessageCipher(load_or_create_key(settings.hold))
    spool = SpoolStore(
        engine,
        cipher,
        clock=clock,
        expire_after=timedelta(days=settings.hold.expire_days),
        lease=timedelta(seconds=settings.hold.delivery_lease_seconds),
    )
    outbound = Outbound(
        upstream=upstream_from_settings(settings),
        signer=signer_from_settings(settings, clock),
        findings_header=settings.notices.findings_header,
    )
    metrics = Metrics()
    metrics.register(SpoolCollector(engine, clock))
    return Services(
        settings=settings,
        clock=clock,
        db_url=db_url,
        engine=engine,
        spool=spool,
        outbound=outbound,
        notices=NoticeQueue(spool, settings),
        linter=None,
        logins=login_failures(settings, engine, clock, metrics=metrics),
        metrics=metrics,
    )


def login_failures(
    settings: Settings, engine: Engine, clock: Clock, *, metrics: Metrics | None = None
) -> LoginFailures:
    """The one login throttle every door shares (see :mod:`proxy.store.login_failures`)."""
    users = UsersFile(settings.smtp.users_file)

    def account_exists(name: str) -> bool:
        try:
            return users.current().get(name) is not None
        except UsersFileError:
            return False

    limits = LoginLimits(
        settings.review.login_max_failures,
        timedelta(minutes=settings.review.login_lockout_minutes),
    )
    return LoginFailures(
        engine, limits, clock=clock, account_exists=account_exists, metrics=metrics
    )


def channel_forwarders(
    services: Services, environ: Mapping[str, str] | None = None
) -> dict[Channel, Forwarder]:
    """One upstream per channel: the mail server always, the SMS provider
    when one is configured. Raises :class:`proxy.core.config.ConfigError`
    when a provider is configured but its secret is missing."""
    forwarders: dict[Channel, Forwarder] = {Channel.EMAIL: EmailForwarder(services.outbound)}
    sms = sms_forwarder(services.settings, environ)
    if sms is not None:
        forwarders[Channel.SMS] = sms
    return forwarders


def build_pipeline(
    services: Services,
    forwarders: Mapping[Channel, Forwarder],
    *,
    links: NoticeLinks | None = None,
    recorder: DeliveryRecorder | None = None,
) -> Pipeline:
    """The one pipeline every front door hands its submissions to."""
    return Pipeline(
        settings=services.settings,
        clock=services.clock,
        linter=services.linter,
        forwarders=forwarders,
        spool=services.spool,
        notices=services.notices,
        kick=lambda: services.kick(),  # late: the scheduler is wired after this
        links=links,
        recorder=recorder or DisclosureRecorder(services.engine),
        metrics=services.metrics,
    )


@dataclass
class RunningTactful:
    services: Services
    smtp: RunningServer
    scheduler: Scheduler
    pool: AnalysisPool | None
    http: uvicorn.Server | None = None
    http_address: tuple[str, int] | None = None
    records: RecordWriter | None = None
    front_ends: FrontEnds | None = None  # smtp.processes > 1
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _periodic: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def smtp_address(self) -> tuple[str, int]:
        return self.smtp.address()

    async def stop(self) -> None:
        """Stop taking mail, finish what is in hand, then stop the rest."""
        if self.front_ends is not None:  # they finish their sessions meanwhile
            self.front_ends.request_stop()
        await self.smtp.stop()
        if self.front_ends is not None:
            await self.front_ends.stop()
        self.scheduler.stop()
        if self.http is not None:
            self.http.should_exit = True
        for task in self._periodic:  # nothing in hand to finish
            task.cancel()
        await asyncio.gather(*self._tasks, *self._periodic, return_exceptions=True)
        if self.records is not None:  # every door is closed: commit what is queued
            await asyncio.to_thread(self.records.stop)
        if self.pool is not None:
            await asyncio.to_thread(self.pool.close)
        self.services.engine.dispose()


def _sent_hook(services: Services) -> SentHook:
    """Deferred and released mail that went out belongs in the disclosure log."""

    async def on_sent(message: SpooledMessage, at: datetime) -> None:
        try:
            await asyncio.to_thread(record_spooled_delivery, services.engine, message, at)
        except Exception as exc:  # the mail is sent; a log gap must be visible
            log.error("disclosure for %s not recorded: %s", message.id, type(exc).__name__)

    return on_sent


class EmbeddedHttpServer(uvicorn.Server):
    """uvicorn, minus its signal handling: ``tactful serve`` owns SIGTERM
    and SIGINT and stops the SMTP side first, then this."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _start_http(
    services: Services, sms_routes: Sequence[BaseRoute], pool: AnalysisPool | None = None
) -> tuple[uvicorn.Server, asyncio.Task[Any], tuple[str, int]]:
    """The HTTP side: health and metrics, the SMS API's routes, then the
    review web app."""
    model_ready = pool.ready if pool is not None else None
    routes = [*health_routes(services, model_ready), *sms_routes]
    app = Starlette(routes=[*routes, Mount("/", app=build_review_app(services))])
    listen = services.settings.review.listen
    host, port = parse_host_port(listen, default_port=8025)
    # log_config=None: uvicorn's records go to the process's own handler
    # (text or JSON lines, see proxy.core.logs) instead of a format of its own.
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", log_config=None
    )
    server = EmbeddedHttpServer(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises the bind error
            raise OSError(f"the review web app could not listen on {listen}")
        await asyncio.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()
    return server, task, (bound[0], bound[1])


async def _every(
    name: str,
    every: timedelta,
    job: Callable[[Services, datetime], Awaitable[object]],
    services: Services,
    holder: str,
) -> None:
    """Run ``job(services, now)`` every ``every`` (the reviewers' digest)
    once across the cluster, until cancelled: each node looks every minute
    (or every period, if shorter) and runs the job only if it wins this
    period's claim (:class:`proxy.store.cluster.ClusterJobs`). A failing
    round is logged and the next one still runs."""
    jobs = ClusterJobs(services.engine)
    poll = min(every.total_seconds(), 60.0)
    try:  # the first period starts now, as on a single node
        await asyncio.to_thread(jobs.claim, name, services.clock(), every, holder)
    except Exception as exc:
        log.error("periodic job %s cannot reach the database: %s", name, type(exc).__name__)
    while True:
        await asyncio.sleep(poll)
        try:
            if await asyncio.to_thread(jobs.claim, name, services.clock(), every, holder):
                await job(services, services.clock())
        except Exception as exc:
            log.error("periodic job %s failed: %s", name, type(exc).__name__)


async def start(
    settings: Settings,
    db_url: str,
    *,
    scheduler_interval: float = 5.0,
    clock: Clock = system_clock,
) -> RunningTactful:
    """Start every listener and background job in the running loop."""
    if settings.smtp.processes > 1:
        check_clock_travels(clock)
    services = await asyncio.to_thread(build_services, settings, db_url, clock=clock)
    pool: AnalysisPool | None = None
    if settings.analysis.enabled:
        pool = AnalysisPool(analysis_share(settings, 0), db_url)
        await pool.start()
        services.linter = pool
    forwarders = channel_forwarders(services)
    scheduler = Scheduler(
        services, forwarders, on_sent=_sent_hook(services), interval=scheduler_interval
    )
    services.kick = scheduler.kick
    services.notices.set_kick(scheduler.kick)
    links = links_from_settings(settings, clock)
    records = RecordWriter(services.engine)
    pipeline = build_pipeline(services, forwarders, links=links, recorder=records)
    extensions = await probe_extensions(settings)
    records.start()
    try:
        smtp = await serve_smtp(
            settings,
            PipelineProcessor(pipeline, settings.agency.tz),
            clock=clock,
            logins=services.logins,
            upstream_extensions=extensions,
        )
    except BaseException:
        records.stop()  # no door was open: nothing is queued, it only ends the thread
        if pool is not None:
            pool.close()
        raise
    running = RunningTactful(services, smtp, scheduler, pool, records=records)
    loop = asyncio.get_running_loop()
    if settings.smtp.processes > 1:  # the migrations ran and the ports are bound
        running.front_ends = FrontEnds(
            run_front_end, front_end_specs(settings, db_url, clock, smtp), scheduler.kick, loop
        )
        running.front_ends.start()
    running._tasks.append(loop.create_task(scheduler.run()))
    if settings.review.digest_hours > 0:
        digest = _every(
            "review-digest",
            timedelta(hours=settings.review.digest_hours),
            send_digest,
            services,
            scheduler.owner,
        )
        running._periodic.append(loop.create_task(digest))
    sms_routes = build_sms_routes(services, pipeline)
    server, task, address = await _start_http(services, sms_routes, pool)
    running.http, running.http_address = server, address
    running._tasks.append(task)
    if running.front_ends is not None:
        try:
            await running.front_ends.wait_ready(FRONT_ENDS_START_SECONDS)
        except BaseException:
            await running.stop()
            raise
    return running


async def run_front_end(spec: FrontEndSpec, link: FrontEndLink) -> None:
    """One extra SMTP front-end process: the front door and the pipeline
    behind it, nothing else; the main process runs the scheduler (woken by
    ``link.kick``), the web side and the periodic jobs."""
    settings, clock = spec.settings, spec.clock
    services = await asyncio.to_thread(
        build_services, settings, spec.db_url, clock=clock, migrate=False
    )
    services.kick = link.kick
    services.notices.set_kick(link.kick)
    pool: AnalysisPool | None = None
    records = RecordWriter(services.engine)
    records.start()
    try:
        if settings.analysis.enabled:
            pool = AnalysisPool(settings, spec.db_url)
            await pool.start()
            services.linter = pool
        links = links_from_settings(settings, clock)
        pipeline = build_pipeline(
            services, channel_forwarders(services), links=links, recorder=records
        )
        smtp = await serve_smtp(
            settings,
            PipelineProcessor(pipeline, settings.agency.tz),
            clock=clock,
            logins=services.logins,
            upstream_extensions=await probe_extensions(settings),
            sockets=spec.sockets,
        )
        link.ready()
        await link.stop_requested()
        await smtp.stop()
    finally:
        # Every session has ended: commit the records still queued.
        await asyncio.to_thread(records.stop)
        if pool is not None:
            await asyncio.to_thread(pool.close)
        services.engine.dispose()
