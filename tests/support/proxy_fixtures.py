"""``tactful serve`` as a real subprocess, configured into a temp directory.

The end-to-end and durability tests drive the shipped command, not an
in-process imitation: its own config loading, migrations, analysis pool,
scheduler and signal handling. Import as ``from tests.support.proxy_fixtures import ...``.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from proxy.accounts.users import Role, UserDirectory, save_users
from proxy.core.config import Settings, deep_merge, settings_from_mapping
from proxy.outbound.dkim_sign import txt_value
from tests.support.accounts import hashed_once
from tests.support.upstream_fixtures import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CONSENT_CSV = REPO / "config" / "consent.example.csv"
EXAMPLES_DATE = date(2026, 11, 24)  # the Date of the example messages
TACTFUL = [sys.executable, "-m", "proxy.cli"]

WORKER = "jane@example.org"
WORKER_PASSWORD = "jane-password-42"
# The examples are written From: Jane Worker <jworker@example.org>; it is
# listed for her, so she may send them (the header From: must be hers).
WORKER_ALIAS = "jworker@example.org"
REVIEWER = "sam@example.org"
REVIEWER_PASSWORD = "sam-password-42"
ALL_DAY = {
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "start": "00:00",
    "end": "23:59:59.999999",
}


def example(name: str) -> bytes:
    """An example message with CRLF line ends, as a mail program sends it."""
    raw = (EXAMPLES / name).read_bytes()
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def consent_valid_today(directory: Path) -> Path:
    """The example registry for a server that runs on the real clock.

    The examples are dated 2026-11-24 and some consents in the example CSV
    end in 2027. A `tactful serve` subprocess judges by today's date, so on
    a later day those would have expired and the tests would change
    meaning. Here consents still valid on the examples' date never expire;
    the ones already expired then stay expired."""
    with CONSENT_CSV.open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        fields = list(reader.fieldnames or ())
        rows = list(reader)
    for row in rows:
        ends = row["expires_on"]
        if ends and date.fromisoformat(ends) >= EXAMPLES_DATE:
            row["expires_on"] = ""
    path = directory / "consent.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def tactful_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    env["TACTFUL_OFFLINE"] = "1"
    env.pop("TACTFUL_HOLD_KEY", None)
    env.update(extra or {})
    return env


def run_cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TACTFUL, *args],
        cwd=cwd,
        env=tactful_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class TactfulServer:
    """One configured instance; ``start``/``kill`` may repeat on the same
    state directory (that is the point of the durability tests)."""

    home: Path
    upstream: str  # "HOST:PORT" or "maildir:PATH"
    db_url: str
    overrides: dict[str, Any] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        return self.home / "tactful.yaml"

    def settings_mapping(self) -> dict[str, Any]:
        base: dict[str, Any] = {
            "agency": {"working_hours": ALL_DAY, "holidays": []},
            "smtp": {
                "listen": f"127.0.0.1:{self.port}",
                "users_file": str(self.home / "users.json"),
            },
            "upstream": {"target": self.upstream, "starttls": "off"},
            "dkim": {"key_file": str(self.home / "dkim.key")},
            "hold": {"key_file": str(self.home / "hold.key")},
            "analysis": {"pool_size": 1},
            "database": {"url": self.db_url},
        }
        if "review" in Settings.model_fields:
            base["review"] = {"listen": f"127.0.0.1:{free_port()}"}
        return deep_merge(base, self.overrides)

    def settings(self) -> Settings:
        return settings_from_mapping(self.settings_mapping())

    def prepare(self, *, registry: bool = True) -> None:
        """Config, users, DKIM key, migrations and (unless ``registry`` is
        false: each command is a few seconds) the example registry."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(self.settings_mapping()))
        directory = UserDirectory()
        directory = directory.with_user(
            hashed_once(WORKER, Role.WORKER, WORKER_PASSWORD, (WORKER_ALIAS,))
        )
        directory = directory.with_user(hashed_once(REVIEWER, Role.REVIEWER, REVIEWER_PASSWORD))
        save_users(self.home / "users.json", directory)
        conf = ["--config", str(self.config_file)]
        commands = [["dkim", "keygen", *conf], ["db", "upgrade", *conf]]
        if registry:
            commands.append(["consent", "import", str(consent_valid_today(self.home)), *conf])
        for args in commands:
            done = run_cli(*args, cwd=self.home)
            assert done.returncode == 0, done.stdout + done.stderr

    def start(self, *extra: str) -> None:
        log = (self.home / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [*TACTFUL, "serve", "--config", str(self.config_file), *extra],
            cwd=self.home,
            env=tactful_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, analysis workers included
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tactful serve exited: {self.log_text()[-2000:]}")
            try:
                wait_for_port(self.port, attempts=4)
                return
            except RuntimeError:
                continue
        raise RuntimeError("tactful serve did not start listening in 120 s")

    def kill(self) -> None:
        """SIGKILL to the server and its analysis workers at once: no
        clean-up, no flushing -- a power cut, as far as they can tell."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log_text(self) -> str:
        path = self.home / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""


def dns_for(server: TactfulServer) -> Callable[..., bytes | None]:
    """A dkimpy ``dnsfunc`` that knows the server's DKIM key record, to
    verify what it relayed without DNS."""
    key = serialization.load_pem_private_key((server.home / "dkim.key").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    record = txt_value(key.public_key()).encode()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"tactful._domainkey.example.org." else None

    return dnsfunc
