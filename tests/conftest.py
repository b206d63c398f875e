"""Shared fixtures. Keep them explicit: tests say what real parts they use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import pytest

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ENV = "TACTFUL_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def nlp_service():  # type: ignore[no-untyped-def]
    """The spaCy model, loaded once for the whole run (about a second)."""
    from proxy.lint.nlp import NlpService

    return NlpService("en_core_web_sm")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test); .ci/run sets it"
        )
    yield url


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A throwaway PostgreSQL schema; yields a URL whose connections use it."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from proxy.store.db import make_engine

    schema = f"test_{uuid4().hex[:12]}"
    admin = make_engine(base_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a throwaway PostgreSQL schema.
    Tests using it run once on each."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tactful.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


# The slow kinds, by where they live, so `pytest -m "not e2e and not browser"`
# is the quick pass: e2e starts the shipped `tactful serve` (or builds the
# wheel) in a subprocess; browser drives headless Chromium.
E2E_DIR = Path(__file__).resolve().parent / "e2e"
BROWSER_MODULES = {"test_browser.py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason=f"PostgreSQL tests need {POSTGRES_ENV}; .ci/run sets it")
    for item in items:
        path = Path(str(item.fspath))
        if E2E_DIR in path.parents:
            item.add_marker(pytest.mark.e2e)
        if path.name in BROWSER_MODULES:
            item.add_marker(pytest.mark.browser)
        if "postgres" in item.keywords and not os.environ.get(POSTGRES_ENV):
            item.add_marker(skip)
