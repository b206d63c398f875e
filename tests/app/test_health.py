"""``/healthz`` and ``/readyz`` name what is wrong: each readiness check
against a real database (SQLite and PostgreSQL), a real upstream socket
and a real outbox folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from proxy.app.health import health_routes
from proxy.app.server import build_services
from proxy.core.config import settings_from_mapping
from proxy.pipeline.services import Services
from proxy.store.db import make_engine
from proxy.store.migrations import downgrade
from tests.support.upstream_fixtures import free_port, run_sink


def services_for(tmp_path: Path, db_url: str, upstream: str, *, migrate: bool) -> Services:
    settings = settings_from_mapping(
        {
            "upstream": {"target": upstream, "starttls": "off"},
            "dkim": {"enabled": False},
            "hold": {"key_file": str(tmp_path / "hold.key")},
            "smtp": {"users_file": str(tmp_path / "users.json")},
        }
    )
    return build_services(settings, db_url, migrate=migrate)


@pytest.fixture
def sink_target() -> Iterator[str]:
    with run_sink() as sink:
        yield f"127.0.0.1:{sink.port}"


def readyz(services: Services, model: Any = None) -> tuple[int, dict[str, Any]]:
    app = Starlette(routes=health_routes(services, model))
    with TestClient(app) as client:
        assert client.get("/healthz").text == "ok\n"
        answer = client.get("/readyz")
        body: dict[str, Any] = answer.json()
        return answer.status_code, body


def test_ready_when_every_check_passes(tmp_path: Path, db_url: str, sink_target: str) -> None:
    services = services_for(tmp_path, db_url, sink_target, migrate=True)

    async def loaded() -> bool:
        return True

    try:
        code, body = readyz(services, loaded)
    finally:
        services.engine.dispose()
    assert code == 200, body
    assert body["ready"] is True
    assert set(body["checks"]) == {"database", "migrations", "model", "upstream"}
    assert all(check["ok"] for check in body["checks"].values())


def test_migrations_behind_make_the_node_unready_and_say_what_to_run(
    tmp_path: Path, db_url: str, sink_target: str
) -> None:
    services = services_for(tmp_path, db_url, sink_target, migrate=True)
    try:
        downgrade(services.engine, "0005_login_failures")  # as before an upgrade
        code, body = readyz(services)
    finally:
        services.engine.dispose()
    assert code == 503
    assert body["checks"]["database"]["ok"] is True
    migrations = body["checks"]["migrations"]
    assert migrations["ok"] is False
    assert "0005_login_failures" in migrations["detail"]
    assert "tactful db upgrade" in migrations["detail"]


def test_an_unreachable_upstream_or_a_silent_model_make_the_node_unready(
    tmp_path: Path, db_url: str
) -> None:
    services = services_for(tmp_path, db_url, f"127.0.0.1:{free_port()}", migrate=True)

    async def silent() -> bool:
        return False

    try:
        code, body = readyz(services, silent)
    finally:
        services.engine.dispose()
    assert code == 503
    assert body["checks"]["upstream"]["ok"] is False
    assert "cannot connect" in body["checks"]["upstream"]["detail"]
    assert body["checks"]["model"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_a_database_that_does_not_answer_is_named(tmp_path: Path, sink_target: str) -> None:
    services = services_for(tmp_path, f"sqlite:///{tmp_path / 'ok.db'}", sink_target, migrate=True)
    services.engine.dispose()
    # A PostgreSQL server that is not there (nothing listens on the port).
    services.engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
    try:
        code, body = readyz(services)
    finally:
        services.engine.dispose()
    assert code == 503
    assert body["checks"]["database"]["ok"] is False
    assert "unreachable" in body["checks"]["database"]["detail"]
    assert body["checks"]["migrations"]["ok"] is False


def test_a_maildir_outbox_is_ready_when_its_folder_is_writable(tmp_path: Path, db_url: str) -> None:
    services = services_for(tmp_path, db_url, f"maildir:{tmp_path / 'outbox'}", migrate=True)
    try:
        code, body = readyz(services)
    finally:
        services.engine.dispose()
    assert code == 200, body
    assert body["checks"]["model"]["detail"].startswith("analysis is off")
