"""The Prometheus metrics of one ``tactful serve`` process.

Why here, in the shared types: every stage reports into them (the
pipeline its verdicts, the login throttle its lock-outs), and each stage
may import only from below. Why an object rather than prometheus-client's
global registry: the composition root builds one per process and hands it
down, so tests can start several servers in one process and read each
one's numbers.

Labels are a closed vocabulary: channels, actions, rule codes, doors and
error kinds. Never an address, a subject, a client id or a user name,
which would put client data in every scrape and every monitoring system.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

# Exposition content type of the text format /metrics answers with.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Linting takes milliseconds to a few seconds; the time budget is 60 s.
LINT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Counters and histograms, registered on this object's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "tactful_messages",
            "Messages judged, by channel, the action taken (unjudged: could not be "
            "checked, the sender's program retries; unlinted: analysis is off) and the "
            "action the policy decided (they differ in monitor mode).",
            ["channel", "verdict", "policy"],
            registry=self.registry,
        )
        self.rule_hits = Counter(
            "tactful_rule_hits",
            "Rules that fired, by rule code and the action the policy gave them.",
            ["rule", "action"],
            registry=self.registry,
        )
        self.lint_seconds = Histogram(
            "tactful_lint_seconds",
            "Time to read and judge one message (in the analysis pool).",
            ["channel"],
            buckets=LINT_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "tactful_upstream_errors",
            "Messages the upstream (mail server or SMS provider) did not accept, by "
            "channel and kind (temporary: 4xx or unreachable; permanent: 5xx).",
            ["channel", "kind"],
            registry=self.registry,
        )
        self.logins = Counter(
            "tactful_logins",
            "Password checks, by door (smtp, review, sms) and result.",
            ["door", "result"],
            registry=self.registry,
        )
        self.lockouts = Counter(
            "tactful_lockouts",
            "Lock-outs after too many wrong passwords, by door and scope.",
            ["door", "scope"],
            registry=self.registry,
        )

    def register(self, collector: Collector) -> None:
        """Add a collector read at scrape time (the spool's depth)."""
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """The text format; blocking when a collector reads the database."""
        return generate_latest(self.registry)

    def count_login(self, door: str, succeeded: bool) -> None:
        self.logins.labels(door=door, result="success" if succeeded else "failure").inc()

    def count_hits(self, hits: Iterable[tuple[str, str]]) -> None:
        for rule, action in hits:
            self.rule_hits.labels(rule=rule, action=action).inc()
