"""The review app in real headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright; no browser is downloaded), served by a real uvicorn
on a free port, releasing to a real SMTP upstream (aiosmtpd sink).

Screenshots of the queue and message pages go to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from proxy.core.consent import Registry
from proxy.lint.engine import LintEngine
from proxy.pipeline.scheduler import Scheduler
from proxy.store.spool_model import SpoolState
from tests.support.upstream_fixtures import Sink, run_sink
from tests.support.web_fixtures import (
    EXTERNAL,
    PASSWORD,
    REVIEWER,
    ThreadLinter,
    World,
    build_world,
    hold,
)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
)

HELD = (
    "From: Jane Worker <jane@example.org>\r\n"
    f"To: <{EXTERNAL}>\r\n"
    "Subject: Benefits paperwork\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: text/plain; charset="utf-8"\r\n'
    "\r\n"
    "For the application: the mother's DOB: 03/14/1988 and SSN 123-45-6789.\r\n"
    "Thanks.\r\n"
).encode()

HOSTILE = (
    "From: Jane Worker <jane@example.org>\r\n"
    f"To: <{EXTERNAL}>\r\n"
    'Subject: <img src=x onerror="alert(1)">\r\n'
    "MIME-Version: 1.0\r\n"
    'Content-Type: text/html; charset="utf-8"\r\n'
    "\r\n"
    "<p>DOB: 03/14/1988</p><script>alert(2)</script>"
    '<img src="x" onerror="alert(3)"><svg onload="alert(4)"></svg>'
    "<p>&lt;img src=x onerror=alert(5)&gt;</p>\r\n"
).encode()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, nlp_service: Any) -> LintEngine:
    from tests.support.web_fixtures import web_settings

    return LintEngine(web_settings(tmp_path_factory.mktemp("e")), Registry(), nlp=nlp_service)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with run_sink() as running:
        yield running


class Served:
    """uvicorn in a thread on a socket bound here first, so no other test
    can take the port between choosing and binding it."""

    def __init__(self, world: World) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(world.app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        for _ in range(400):
            if self.server.started:
                return self
            time.sleep(0.025)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


def record_dialog(seen: list[str], dialog: Any) -> None:
    """Any alert/confirm means script ran: remember it and close it."""
    seen.append(dialog.message)
    dialog.dismiss()


def log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Your name").fill(REVIEWER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def test_log_in_open_release_with_masking_and_it_arrives_upstream(
    tmp_path: Path, sink: Sink, engine: LintEngine, browser: Any
) -> None:
    world = build_world(
        tmp_path, f"sqlite:///{tmp_path / 'b.db'}", upstream=f"127.0.0.1:{sink.port}",
        linter=ThreadLinter(engine),
    )  # fmt: skip
    message = hold(world, HELD, engine=engine)
    ARTIFACTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    with Served(world) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("dialog", lambda d: record_dialog(dialogs, d))
        log_in(page, served.url)
        row = page.get_by_role("row").filter(has_text="jane@example.org")
        assert row.count() == 1
        # Reasons in words, not rule codes.
        assert "Remove the date of birth from the message" in row.inner_text()
        assert "personal-identifier" not in row.inner_text()
        page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)

        row.get_by_role("link", name="Benefits paperwork").click()
        page.wait_for_url(f"{served.url}/messages/{message.id}")
        assert page.locator("mark").count() >= 2
        assert page.locator("mark", has_text="123-45-6789").count() == 1
        page.screenshot(path=str(ARTIFACTS / "message.png"), full_page=True)

        page.get_by_role("button", name="Preview release with details masked").click()
        assert page.get_by_text("***-**-6789").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "redaction-preview.png"), full_page=True)
        page.get_by_label("Why it may go with these details masked").fill(
            "The intake team can work with the masked numbers."
        )
        page.get_by_role("button", name="Release with details masked").click()
        page.get_by_role("heading", name="Released").wait_for()
    assert dialogs == []
    assert world.services.spool.get(message.id).state is SpoolState.RELEASED  # type: ignore[union-attr]

    # Playwright's sync API keeps an event loop in this thread: deliver from another.
    with ThreadPoolExecutor(1) as pool:
        delivered = pool.submit(asyncio.run, Scheduler(world.services).run_once()).result()
    assert delivered >= 1
    arrived = [r for r in sink.received if EXTERNAL in r.recipients]
    assert len(arrived) == 1
    assert b"***-**-6789" in arrived[0].data and b"123-45-6789" not in arrived[0].data
    # Exactly what the preview showed: every flagged detail masked.
    assert b"**/**/****" in arrived[0].data and b"03/14/1988" not in arrived[0].data
    assert world.services.spool.get(message.id).state is SpoolState.SENT  # type: ignore[union-attr]
    # The sender's notice went through the same upstream.
    assert any(r.recipients == ["jane@example.org"] for r in sink.received)


def test_hostile_html_runs_nothing_in_chromium_and_the_queue_fits_a_phone(
    tmp_path: Path, engine: LintEngine, browser: Any
) -> None:
    world = build_world(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", linter=ThreadLinter(engine))
    message = hold(world, HOSTILE, engine=engine)
    ARTIFACTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    with Served(world) as served:
        page = browser.new_page(viewport={"width": 375, "height": 740})
        page.on("dialog", lambda d: record_dialog(dialogs, d))
        # Control: the listener does catch a dialog when script runs.
        page.set_content("<script>alert('control')</script>")
        assert dialogs == ["control"]
        dialogs.clear()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        log_in(page, served.url)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=str(ARTIFACTS / "queue-phone.png"), full_page=True)
        page.goto(f"{served.url}/messages/{message.id}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # give any injected handler a chance to fire
        assert page.locator("main img, main script, main svg, main iframe").count() == 0
        assert "<img src=x onerror=" in page.locator("h1").inner_text()
        page.screenshot(path=str(ARTIFACTS / "message-hostile.png"), full_page=True)
    assert dialogs == []
    assert all(url.startswith(served.url) for url in requests)
