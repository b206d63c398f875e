"""``/healthz``, ``/readyz`` and ``/metrics`` on the web listener, for
load balancers, Kubernetes probes and Prometheus.

``/healthz`` says only that the process answers: a failing database must
not get a node restarted (it would not help). ``/readyz`` says whether
this node can take mail now (database, migrations, model, upstream); a
node that is not ready is taken out of the load balancer until it is.
Answers name the failing check in plain words, never an address or a
message, and ``/metrics`` carries only counts (see
:mod:`proxy.core.metrics`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from proxy.core.metrics import CONTENT_TYPE
from proxy.outbound.target import parse_target
from proxy.pipeline.services import Services
from proxy.store.migrations import current_revision, head_revision

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 5.0  # seconds each readiness check may take

ModelCheck = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


class Health:
    def __init__(self, services: Services, model_ready: ModelCheck | None) -> None:
        self._services = services
        self._model_ready = model_ready

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> Response:
        checks = await asyncio.gather(self._database(), self._model(), self._upstream())
        flat = [check for group in checks for check in group]
        ready = all(check.ok for check in flat)
        if not ready:
            log.warning("not ready: %s", ", ".join(check.name for check in flat if not check.ok))
        body = {
            "ready": ready,
            "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in flat},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(self, request: Request) -> Response:
        data = await asyncio.to_thread(self._services.metrics.exposition)
        return Response(data, media_type=CONTENT_TYPE)

    # --- the checks ----------------------------------------------------------

    async def _database(self) -> list[Check]:
        engine = self._services.engine

        def probe() -> tuple[str | None, str | None]:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return current_revision(engine), head_revision()

        try:
            current, head = await asyncio.wait_for(asyncio.to_thread(probe), CHECK_TIMEOUT)
        except Exception as exc:
            reason = "did not answer in time" if isinstance(exc, TimeoutError) else "unreachable"
            return [
                Check("database", False, f"the database {reason} ({type(exc).__name__})"),
                Check("migrations", False, "unknown while the database does not answer"),
            ]
        migrations = (
            Check("migrations", True, f"at {head}")
            if current == head
            else Check(
                "migrations",
                False,
                f"the database is at {current or 'no revision'} but this version needs "
                f"{head}: run tactful db upgrade",
            )
        )
        return [Check("database", True, "answers"), migrations]

    async def _model(self) -> list[Check]:
        if self._model_ready is None:
            return [Check("model", True, "analysis is off (analysis.enabled: false)")]
        if await self._model_ready():
            return [Check("model", True, "loaded")]
        return [Check("model", False, "the analysis workers did not answer (model loading?)")]

    async def _upstream(self) -> list[Check]:
        target = parse_target(self._services.settings.upstream.target)
        if isinstance(target, Path):
            folder = target if target.exists() else target.parent
            if folder.is_dir() and os.access(folder, os.W_OK):
                return [Check("upstream", True, "the outbox folder is writable")]
            return [Check("upstream", False, "the outbox folder is missing or not writable")]
        host, port = target
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CHECK_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            return [
                Check(
                    "upstream",
                    False,
                    f"cannot connect to the upstream mail server ({type(exc).__name__})",
                )
            ]
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return [Check("upstream", True, "accepts connections")]


def health_routes(services: Services, model_ready: ModelCheck | None) -> list[BaseRoute]:
    health = Health(services, model_ready)
    return [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", health.metrics, methods=["GET"]),
    ]
