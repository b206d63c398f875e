"""Real HTTP on both sides of the SMS API, for ``tests/sms/``.

``run_app`` serves any Starlette app with uvicorn on 127.0.0.1 in a thread.
``FakeProvider`` is a small Twilio-compatible provider: it answers the
Messages API like Twilio (201 and a Message resource) or as a test
scripts it (429, 500, 400, a hang), and records every request it got.
``SmsWorld`` builds Tactful's services around a fresh database, the real
lint engine (reloading the consent registry from the database on every
text, as the analysis pool does), an aiosmtpd sink for notices, and the
SMS routes. Import as ``from sms_fixtures import ...``.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proxy.accounts.users import Role, UserDirectory, save_users
from proxy.app.server import build_pipeline, channel_forwarders, login_failures
from proxy.core.clock import ManualClock
from proxy.core.config import Settings, deep_merge, settings_from_mapping
from proxy.lint.engine import LintEngine, LintResult
from proxy.outbound.relay import SmtpUpstream
from proxy.pipeline.analysis_pool import AnalysisFailure
from proxy.pipeline.forward import Outbound
from proxy.pipeline.notice_queue import NoticeQueue
from proxy.pipeline.services import Services
from proxy.sms.api import build_sms_routes
from proxy.store.consent_csv import read_consent_csv
from proxy.store.consent_store import ConsentStore
from proxy.store.crypto import MessageCipher
from proxy.store.db import make_engine
from proxy.store.migrations import upgrade
from proxy.store.registry_source import registry_from_database
from proxy.store.spool_store import SpoolStore
from tests.support.accounts import hashed_once
from tests.support.proxy_fixtures import ALL_DAY, CONSENT_CSV
from tests.support.upstream_fixtures import Sink, free_port, run_sink

# When the example registry was imported: a fixed moment, whatever today is.
IMPORTED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

WORKER = "jane@example.org"
WORKER_PASSWORD = "jane-password-42"
PROVIDER_SID = "ACagency0000000000000000000000000"
PROVIDER_TOKEN = "provider-auth-token-123"
CLIENT_SID = "ACworker0000000000000000000000000"
AGENCY_NUMBER = "+13125550100"
MARIA = "+13125550142"  # C-1001, texts granted
JAMES = "+13125550163"  # C-1002, texts granted (email revoked)
KEY = bytes(range(32))
CHICAGO = "America/Chicago"


@contextmanager
def run_app(app: Any) -> Iterator[int]:
    """Serve ``app`` on a free port until the block ends."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test web server did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(20)


@dataclass
class ProviderCall:
    account_sid: str
    auth: tuple[str, str]
    form: dict[str, str]


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeProvider:
    """A Twilio-compatible provider that records what it was sent."""

    def __init__(self) -> None:
        self.calls: list[ProviderCall] = []
        self.script: list[Scripted] = []
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route(
                    "/2010-04-01/Accounts/{sid}/Messages.json", self._messages, methods=["POST"]
                )
            ]
        )

    def then(self, status: int, body: dict[str, Any], **headers: str) -> None:
        self.script.append(Scripted(status, body, dict(headers)))

    def hang(self, seconds: float) -> None:
        self.script.append(Scripted(201, {}, {}, delay=seconds))

    async def _messages(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        login, _, secret = base64.b64decode(header.partition(" ")[2]).decode().partition(":")
        form = {k: str(v) for k, v in (await request.form()).multi_items()}
        with self._lock:
            scripted = self.script.pop(0) if self.script else None
        if scripted is not None and scripted.delay:
            await asyncio.sleep(scripted.delay)
            return JSONResponse({"status": "too late"}, status_code=201)
        self.calls.append(ProviderCall(request.path_params["sid"], (login, secret), form))
        if scripted is not None:
            return JSONResponse(scripted.body, scripted.status, headers=scripted.headers)
        sid = "SM" + uuid.uuid4().hex
        return JSONResponse(
            {
                "sid": sid,
                "account_sid": request.path_params["sid"],
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "date_created": "Tue, 24 Nov 2026 16:00:00 +0000",
                "date_updated": "Tue, 24 Nov 2026 16:00:00 +0000",
                "date_sent": None,
                "error_code": None,
                "error_message": None,
                "price": None,
                "uri": f"/2010-04-01/Accounts/{request.path_params['sid']}/Messages/{sid}.json",
            },
            status_code=201,
        )

    @property
    def bodies(self) -> list[str]:
        return [c.form.get("Body", "") for c in self.calls]


class ThreadLinter:
    """The real engine in a thread, re-reading the registry from the
    database for every text as the analysis pool's workers do."""

    def __init__(self, settings: Settings, db_url: str, nlp: Any) -> None:
        self.engine = LintEngine(settings, nlp=nlp)
        self.db_url = db_url

    def _lint(self, raw: bytes, kwargs: dict[str, Any]) -> LintResult:
        self.engine.registry = registry_from_database(self.db_url, migrate=False)
        return self.engine.lint(raw, **kwargs)

    async def lint(self, raw: bytes, **kwargs: Any) -> LintResult | AnalysisFailure:
        return await asyncio.to_thread(self._lint, raw, kwargs)


class FailingLinter:
    async def lint(self, raw: bytes, **kwargs: Any) -> LintResult | AnalysisFailure:
        return AnalysisFailure("timeout")


def sms_settings(provider_url: str | None, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "agency": {"working_hours": ALL_DAY, "holidays": [], "timezone": CHICAGO},
        "sms": {
            "provider": {
                "base_url": provider_url,
                "account_sid": PROVIDER_SID,
                "timeout_seconds": 2,
            }
        },
    }
    return deep_merge(base, overrides)


@dataclass
class SmsWorld:
    services: Services
    provider: FakeProvider
    provider_port: int
    port: int  # Tactful's SMS API
    sink: Sink
    clock: ManualClock  # the services' clock: API, spool, scheduler
    home: Path
    environ: dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def consent(self) -> ConsentStore:
        return ConsentStore(self.services.engine)


@contextmanager
def sms_world(
    tmp_path: Path,
    db_url: str,
    nlp: Any,
    *,
    now: datetime,
    linter: Any = None,
    provider_url: str | None = None,
    settings_overrides: dict[str, Any] | None = None,
    kick: Callable[[], None] | None = None,
    extra_env: dict[str, str] | None = None,
    no_provider: bool = False,
    recorder: Any = None,
) -> Iterator[SmsWorld]:
    """Everything up: provider, database with the example registry, users,
    notices sink, and Tactful's SMS routes on their own port."""
    with ExitStack() as stack:
        provider = FakeProvider()
        provider_port = stack.enter_context(run_app(provider.app))
        sink = stack.enter_context(run_sink())
        users = tmp_path / "users.json"
        worker = hashed_once(WORKER, Role.WORKER, WORKER_PASSWORD)
        save_users(users, UserDirectory().with_user(worker))
        mapping = sms_settings(
            None if no_provider else provider_url or f"http://127.0.0.1:{provider_port}",
            smtp={"users_file": str(users)},
            **(settings_overrides or {}),
        )
        settings = settings_from_mapping(mapping)
        engine = make_engine(db_url)
        upgrade(engine)
        ConsentStore(engine).import_records(read_consent_csv(CONSENT_CSV), at=IMPORTED)
        clock = ManualClock(now)
        spool = SpoolStore(engine, MessageCipher(KEY), clock=clock)
        services = Services(
            settings=settings,
            clock=clock,
            db_url=db_url,
            engine=engine,
            spool=spool,
            outbound=Outbound(SmtpUpstream("127.0.0.1", sink.port, starttls="off"), None, True),
            notices=NoticeQueue(spool, settings),
            linter=linter if linter is not None else ThreadLinter(settings, db_url, nlp),
            logins=login_failures(settings, engine, clock),
        )
        if kick is not None:
            services.kick = kick
        environ = {"TACTFUL_SMS_AUTH_TOKEN": PROVIDER_TOKEN, **(extra_env or {})}
        pipeline = build_pipeline(
            services, channel_forwarders(services, environ), recorder=recorder
        )
        routes = build_sms_routes(services, pipeline, environ=environ)
        app = Starlette(routes=routes)
        port = stack.enter_context(run_app(app))
        stack.callback(engine.dispose)
        yield SmsWorld(services, provider, provider_port, port, sink, clock, tmp_path, environ)


def chicago(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(CHICAGO)).astimezone(UTC)
