"""Shared fixtures. Keep them explicit: tests say what real parts they use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ENV = "TACTFUL_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def nlp_service():  # type: ignore[no-untyped-def]
    """The spaCy model, loaded once for the whole run (about a second)."""
    from proxy.nlp import NlpService

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(POSTGRES_ENV):
        return
    skip = pytest.mark.skip(reason=f"PostgreSQL tests need {POSTGRES_ENV}; .ci/run sets it")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
