"""Operations endpoints of the shipped ``tactful serve``: after real
traffic, ``/metrics`` shows the counters moved and carries no client data;
``/healthz`` and ``/readyz`` answer on the web listener; the JSON log is
one object per line."""

from __future__ import annotations

import json
import re
import smtplib
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.proxy_fixtures import (
    WORKER,
    WORKER_PASSWORD,
    TactfulServer,
    example,
)
from tests.support.upstream_fixtures import Sink, free_port, run_sink, wait_for_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# What the traffic below contains that must never show in a scrape or a log.
CLIENT_DATA = (
    "jworker",
    "jane@",
    "scolleague",
    "intake@partner",
    "Coverage Thursday",
    "Referral",
    "03/14/1988",
    "1988",
    "example.net",
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Sink]:
    with run_sink() as sink:
        yield sink


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: Sink) -> Iterator[TactfulServer]:
    home = tmp_path_factory.mktemp("tactful-ops")
    web_port = free_port()
    instance = TactfulServer(
        home=home,
        upstream=f"127.0.0.1:{upstream.port}",
        db_url=f"sqlite:///{home / 'tactful.db'}",
        overrides={"log_format": "json", "review": {"listen": f"127.0.0.1:{web_port}"}},
    )
    instance.prepare()
    instance.start()
    wait_for_port(web_port)  # the web side starts just after the SMTP listener
    yield instance
    instance.stop()


def web(server: TactfulServer) -> httpx.Client:
    return httpx.Client(base_url=f"http://{server.settings().review.listen}", timeout=30)


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of the text exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
        if found == wanted:
            return float(match.group(3))
    return 0.0


def send(server: TactfulServer, raw: bytes, recipient: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", server.port, timeout=120) as client:
        client.login(WORKER, WORKER_PASSWORD)
        client.mail(WORKER)
        assert client.rcpt(recipient)[0] == 250
        return client.data(raw)


def test_health_and_readiness_answer(server: TactfulServer) -> None:
    with web(server) as client:
        assert client.get("/healthz").text == "ok\n"
        ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["model"] == {"ok": True, "detail": "loaded"}
    assert checks["upstream"]["ok"] and checks["migrations"]["ok"]


def test_metrics_move_with_traffic_and_carry_no_client_data(
    server: TactfulServer, upstream: Sink
) -> None:
    with web(server) as client:
        before = client.get("/metrics").text
    assert send(server, example("01-pass-internal.eml"), "scolleague@example.org")[0] == 250
    code, text = send(server, example("02-dob-external.eml"), "intake@partner.example.net")
    assert code == 250 and b"Held for review" in text, text
    with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(WORKER, "not-the-password")
    with web(server) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    after = answer.text

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("tactful_messages_total", channel="email", verdict="pass", policy="pass") == 1
    assert moved("tactful_messages_total", channel="email", verdict="hold", policy="hold") == 1
    assert moved("tactful_lint_seconds_count", channel="email") == 2
    assert moved("tactful_logins_total", door="smtp", result="success") == 2
    # smtplib tries each mechanism offered (PLAIN, then LOGIN): two failures.
    assert moved("tactful_logins_total", door="smtp", result="failure") == 2
    assert sample(after, "tactful_spool_messages", state="held") == 1
    assert sample(after, "tactful_spool_oldest_age_seconds", state="held") >= 0
    rule_hits = [line for line in after.splitlines() if line.startswith("tactful_rule_hits_total{")]
    assert rule_hits, after
    for needle in CLIENT_DATA:
        assert needle.lower() not in after.lower(), needle


def test_the_json_log_is_one_object_per_line_without_client_data(server: TactfulServer) -> None:
    deadline = time.monotonic() + 10
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = [line for line in server.log_text().splitlines() if line.startswith("{")]
        if any("Held" in line or "hold" in line for line in lines):
            break
        time.sleep(0.2)
    entries = [json.loads(line) for line in lines]
    assert entries
    # Every line is a JSON object, but for what serve prints on standard
    # output for the person who started it.
    printed = (
        "Tactful is accepting mail",
        "  review web app on",
        "  implicit TLS on",
        "  event loop: ",
    )
    others = [
        line
        for line in server.log_text().splitlines()
        if line.strip() and not line.startswith("{") and not line.startswith(printed)
    ]
    assert others == []
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    assert any(entry["message"].startswith("message ") for entry in entries)
    text = "\n".join(lines).lower()
    for needle in CLIENT_DATA:
        assert needle.lower() not in text, needle
