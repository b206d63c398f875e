"""Assemble and run everything ``tactful serve`` runs in one process.

This is the composition root: the only place that knows how the pieces
fit (database → spool → upstream and DKIM → analysis pool → SMTP front
door, scheduler, and the HTTP side for reviewers and the SMS API). Tests
start the same thing in-process, so what they exercise is what ships.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from proxy.act import NoticeQueue, Outbound, SubmissionPipeline
from proxy.analysis_pool import AnalysisPool
from proxy.config import Settings
from proxy.crypto import MessageCipher, load_or_create_key
from proxy.db import make_engine
from proxy.dkim_sign import signer_from_settings
from proxy.migrations import upgrade
from proxy.relay import probe_extensions, upstream_from_settings
from proxy.scheduler import Scheduler, SentHook, SpoolDeliverer
from proxy.services import Services
from proxy.smtp_server import RunningServer
from proxy.smtp_server import serve as serve_smtp
from proxy.spool_store import SpoolStore

log = logging.getLogger(__name__)


def build_services(settings: Settings, db_url: str, *, migrate: bool = True) -> Services:
    """Blocking: the long-lived objects, without the analysis pool (the
    caller starts it in the event loop; CLI tools do not need it)."""
    engine = make_engine(db_url)
    if migrate:
        upgrade(engine)
    cipher = MessageCipher(load_or_create_key(settings.hold))
    spool = SpoolStore(engine, cipher, expire_after=timedelta(days=settings.hold.expire_days))
    outbound = Outbound(
        upstream=upstream_from_settings(settings),
        signer=signer_from_settings(settings),
        findings_header=settings.notices.findings_header,
    )
    return Services(
        settings=settings,
        db_url=db_url,
        engine=engine,
        spool=spool,
        outbound=outbound,
        notices=NoticeQueue(spool, settings),
        linter=None,
    )


def _optional(module: str, attribute: str) -> Any | None:
    """A front end that may not be installed in this build (review web
    app, SMS API): None when its module is absent."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            return None
        raise
    return getattr(found, attribute, None)


@dataclass
class RunningTactful:
    services: Services
    smtp: RunningServer
    scheduler: Scheduler
    pool: AnalysisPool | None
    http: Any | None = None  # uvicorn.Server
    http_address: tuple[str, int] | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _periodic: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def smtp_address(self) -> tuple[str, int]:
        return self.smtp.address()

    async def stop(self) -> None:
        """Stop taking mail, finish what is in hand, then stop the rest."""
        await self.smtp.stop()
        self.scheduler.stop()
        if self.http is not None:
            self.http.should_exit = True
        for task in self._periodic:  # nothing in hand to finish
            task.cancel()
        await asyncio.gather(*self._tasks, *self._periodic, return_exceptions=True)
        if self.pool is not None:
            await asyncio.to_thread(self.pool.close)
        self.services.engine.dispose()


def _sent_hook(services: Services) -> SentHook | None:
    record = _optional("proxy.disclosures", "record_spooled_delivery")
    if record is None:
        return None

    async def on_sent(message: Any, at: Any) -> None:
        try:
            await asyncio.to_thread(record, services.engine, message, at)
        except Exception as exc:  # the mail is sent; a log gap must be visible
            log.error("disclosure for %s not recorded: %s", message.id, type(exc).__name__)

    return on_sent


def _embedded_http_server_class() -> Any:
    import uvicorn

    class EmbeddedHttpServer(uvicorn.Server):
        """uvicorn, minus its signal handling: ``tactful serve`` owns SIGTERM
        and SIGINT and stops the SMTP side first, then this."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return EmbeddedHttpServer


async def _start_http(services: Services, extra_routes: Sequence[Any]) -> tuple[Any, Any] | None:
    build_review = _optional("proxy.web.app", "build_review_app")
    if build_review is None and not extra_routes:
        return None
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from proxy.auth import parse_host_port

    routes = list(extra_routes)
    if build_review is not None:
        routes.append(Mount("/", app=build_review(services)))
    app = Starlette(routes=routes)
    review = getattr(services.settings, "review", None)
    listen = getattr(review, "listen", "127.0.0.1:8025")
    host, port = parse_host_port(listen, default_port=8025)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = _embedded_http_server_class()(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises the bind error
            raise OSError(f"the review web app could not listen on {listen}")
        await asyncio.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()
    return server, (task, (bound[0], bound[1]))


async def _every(seconds: float, job: Any, services: Services) -> None:
    """Run ``job(services, now)`` every ``seconds`` (the reviewers' digest)
    until cancelled; a failing round is logged and the next one still runs."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job(services, datetime.now(UTC))
        except Exception as exc:
            log.error(
                "periodic job %s failed: %s", getattr(job, "__name__", job), type(exc).__name__
            )


async def start(
    settings: Settings, db_url: str, *, scheduler_interval: float = 5.0
) -> RunningTactful:
    """Start every listener and background job in the running loop."""
    services = await asyncio.to_thread(build_services, settings, db_url)
    pool: AnalysisPool | None = None
    if settings.analysis.enabled:
        pool = AnalysisPool(settings, db_url)
        await pool.start()
        services.linter = pool
    deliverers: list[SpoolDeliverer] = []
    make_sms_deliverer = _optional("proxy.sms.deliver", "sms_deliverer")
    if make_sms_deliverer is not None:
        sms = make_sms_deliverer(services)
        if sms is not None:
            deliverers.append(sms)
    scheduler = Scheduler(
        services, deliverers, on_sent=_sent_hook(services), interval=scheduler_interval
    )
    services.kick = scheduler.kick
    services.notices.set_kick(scheduler.kick)
    links_factory = _optional("proxy.web.links", "links_from_settings")
    recorder_factory = _optional("proxy.disclosures", "DisclosureRecorder")
    pipeline_links = links_factory(settings) if links_factory is not None else None
    recorder = recorder_factory(services.engine) if recorder_factory is not None else None
    pipeline = SubmissionPipeline(
        settings=settings,
        linter=services.linter,
        outbound=services.outbound,
        spool=services.spool,
        notices=services.notices,
        links=pipeline_links,
        recorder=recorder,
    )
    extensions = await probe_extensions(settings)
    try:
        smtp = await serve_smtp(settings, pipeline, upstream_extensions=extensions)
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    running = RunningTactful(services, smtp, scheduler, pool)
    running._tasks.append(asyncio.get_running_loop().create_task(scheduler.run()))
    digest = _optional("proxy.web.digest", "send_digest")
    hours = getattr(getattr(settings, "review", None), "digest_hours", 0)
    if digest is not None and hours > 0:
        loop = asyncio.get_running_loop()
        running._periodic.append(loop.create_task(_every(hours * 3600.0, digest, services)))
    build_sms = _optional("proxy.sms.api", "build_sms_routes")
    sms_routes = (
        build_sms(services, links=pipeline_links, recorder=recorder)
        if build_sms is not None
        else []
    )
    http = await _start_http(services, sms_routes)
    if http is not None:
        server, (task, address) = http
        running.http, running.http_address = server, address
        running._tasks.append(task)
    return running
