"""Real SMTP parts for the front-door tests.

* :class:`SinkHandler`: an aiosmtpd server standing in for the agency mail
  server; it records every envelope it receives, so tests assert what really
  arrived "upstream".
* :class:`RelayProcessor`: a :class:`~proxy.core.submission.MessageProcessor` that
  relays each submission to the sink with aiosmtplib and answers 250 only
  after the sink accepted it.
* :class:`FrontDoor`: Tactful's own listeners (``proxy.smtp.server.serve``)
  running in a background event loop thread, so blocking clients (smtplib,
  swaks, msmtp) can talk to them from the test thread.

Import explicitly: ``from tests.support.smtp_fixtures import ...``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP as AioSMTP
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine

from proxy.accounts.auth import AuthBackend
from proxy.accounts.users import Role, UserDirectory, new_user, save_users
from proxy.app.server import login_failures
from proxy.core.clock import ManualClock
from proxy.core.config import Settings, settings_from_mapping
from proxy.core.submission import MessageProcessor, SmtpReply, Submission
from proxy.smtp.server import ListenerName, RunningServer, serve
from proxy.store.db import make_engine
from proxy.store.login_failures import LoginFailures
from proxy.store.migrations import upgrade

# The front door stamps submissions with this (a fixed moment, any day).
RECEIVED_AT = dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)

T = TypeVar("T")

PASSWORD = "correct horse battery"
ALICE = "alice@example.org"  # a worker who may also send as intake@example.org
ALICE_EXTRA = "intake@example.org"
BOB = "bob"  # a reviewer whose login is not an address; sends as bob@example.org
BOB_ADDRESS = "bob@example.org"


async def _cancel_all_but_me() -> None:
    me = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not me]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


class BackgroundLoop:
    """An asyncio loop in a daemon thread; ``run`` executes a coroutine there."""

    def __init__(
        self, loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    ) -> None:
        self.loop = loop_factory()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(_cancel_all_but_me())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class SinkHandler:
    """Collects every envelope the sink server accepts."""

    def __init__(self) -> None:
        self.received: list[Delivered] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: AioSMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        assert envelope.mail_from is not None
        with self._lock:
            self.received.append(
                Delivered(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 2.0.0 Delivered"

    def messages(self) -> list[Delivered]:
        with self._lock:
            return list(self.received)


@dataclass
class Sink:
    host: str
    port: int
    handler: SinkHandler
    server: asyncio.Server


async def start_sink(*, credentials: tuple[str, str] | None = None) -> Sink:
    """An aiosmtpd server on a free loopback port. With ``credentials`` it
    requires AUTH (plaintext allowed: it is on loopback), like an agency
    server the upstream auth backend logs in to."""
    handler = SinkHandler()
    loop = asyncio.get_running_loop()

    def authenticator(
        server: AioSMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            credentials is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == credentials
        )
        return AuthResult(success=ok)

    def factory() -> AioSMTP:
        if credentials is None:
            return AioSMTP(handler, hostname="sink.localhost", loop=loop)
        return AioSMTP(
            handler,
            hostname="sink.localhost",
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=False,
            loop=loop,
        )

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return Sink("127.0.0.1", port, handler, server)


@dataclass
class RelayProcessor:
    """Relays to the sink; remembers every submission it was handed."""

    host: str
    port: int
    submissions: list[Submission] = field(default_factory=list)

    async def process(self, submission: Submission) -> SmtpReply:
        self.submissions.append(submission)
        await aiosmtplib.send(
            submission.raw,
            sender=submission.sender,
            recipients=list(submission.recipients),
            hostname=self.host,
            port=self.port,
            start_tls=False,
        )
        return SmtpReply(250, "2.0.0", (f"Accepted, reference {submission.id}",))


class ExplodingProcessor:
    """Fails the way a bug would, with client data in the exception text."""

    SECRET = "Jane Client DOB 01/02/1990"

    def __init__(self) -> None:
        self.calls = 0

    async def process(self, submission: Submission) -> SmtpReply:
        self.calls += 1
        raise RuntimeError(f"boom while handling {self.SECRET}")


# Test certificates are valid over a fixed, wide window rather than around
# "now": under faketime the test process sees a moved clock while setuid
# programs (Postfix's postdrop, and so the mail it queues) see the real one,
# and a certificate dated by one clock must still verify by the other.
CERT_VALID_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
CERT_VALID_UNTIL = dt.datetime(2099, 12, 31, tzinfo=dt.UTC)


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost / 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(CERT_VALID_FROM)
        .not_valid_after(CERT_VALID_UNTIL)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def write_users_file(path: Path) -> Path:
    directory = UserDirectory()
    directory = directory.with_user(new_user(ALICE, Role.WORKER, PASSWORD, [ALICE_EXTRA]))
    directory = directory.with_user(new_user(BOB, Role.REVIEWER, PASSWORD, [BOB_ADDRESS]))
    save_users(path, directory)
    return path


@dataclass
class FrontDoor:
    """A running Tactful front door plus the sink behind it."""

    settings: Settings
    running: RunningServer
    sink: Sink
    processor: MessageProcessor
    cert_file: Path

    @property
    def host(self) -> str:
        return self.running.address("submission")[0]

    @property
    def port(self) -> int:
        return self.running.address("submission")[1]

    @property
    def tls_port(self) -> int:
        return self.running.address("implicit-tls")[1]

    def delivered(self) -> list[Delivered]:
        return self.sink.handler.messages()


@dataclass
class FrontDoorFactory:
    """Starts front doors with per-test settings; stops them all at the end."""

    bg: BackgroundLoop
    users_file: Path
    cert_file: Path
    key_file: Path
    state: Path  # a directory for each door's own database
    started: list[FrontDoor] = field(default_factory=list)
    engines: list[Engine] = field(default_factory=list)

    def login_failures(self, db_url: str | None = None) -> LoginFailures:
        """The shared login throttle, built as ``tactful serve`` builds it
        (shipped limits, accounts from the users file), on a fresh, migrated
        database: a SQLite file of this door's own unless ``db_url`` is given."""
        url = db_url or f"sqlite:///{self.state / f'door-{len(self.engines)}.db'}"
        engine = make_engine(url)
        upgrade(engine)
        self.engines.append(engine)
        settings = settings_from_mapping({"smtp": {"users_file": str(self.users_file)}})
        return login_failures(settings, engine, ManualClock(RECEIVED_AT))

    def __call__(
        self,
        *,
        smtp: dict[str, Any] | None = None,
        processor: MessageProcessor | None = None,
        upstream_extensions: frozenset[str] | None = None,
        allow_plaintext_auth_on_loopback: bool = True,
        auth_backend: AuthBackend | None = None,
        implicit_tls: bool = True,
        tls: bool = True,
        logins: LoginFailures | None = None,
        sockets: Mapping[ListenerName, socket.socket] | None = None,
    ) -> FrontDoor:
        sink = self.bg.run(start_sink())
        overrides: dict[str, Any] = {
            "listen": "127.0.0.1:0",
            "users_file": str(self.users_file),
            "idle_timeout_seconds": 30,
        }
        if tls:
            overrides["tls"] = {"cert_file": str(self.cert_file), "key_file": str(self.key_file)}
            if implicit_tls:
                overrides["implicit_tls_listen"] = "127.0.0.1:0"
        overrides.update(smtp or {})
        settings = settings_from_mapping({"smtp": overrides})
        chosen = processor if processor is not None else RelayProcessor(sink.host, sink.port)
        running = self.bg.run(
            serve(
                settings,
                chosen,
                clock=ManualClock(RECEIVED_AT),
                logins=logins if logins is not None else self.login_failures(),
                upstream_extensions=upstream_extensions,
                auth_backend=auth_backend,
                allow_plaintext_auth_on_loopback=allow_plaintext_auth_on_loopback,
                sockets=sockets,
            )
        )
        door = FrontDoor(settings, running, sink, chosen, self.cert_file)
        self.started.append(door)
        return door

    def stop_all(self) -> None:
        for door in self.started:
            self.bg.run(door.running.stop(grace_seconds=5))
            door.sink.server.close()
        for engine in self.engines:
            engine.dispose()


@pytest.fixture(scope="module")
def bg_loop() -> Iterator[BackgroundLoop]:
    bg = BackgroundLoop()
    yield bg
    bg.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_users_file(tmp_path_factory.mktemp("users") / "users.json")


@pytest.fixture
def front_door(
    bg_loop: BackgroundLoop, users_file: Path, tls_files: tuple[Path, Path], tmp_path: Path
) -> Iterator[FrontDoorFactory]:
    factory = FrontDoorFactory(bg_loop, users_file, *tls_files, tmp_path)
    yield factory
    factory.stop_all()


class RawClient:
    """A byte-exact SMTP client over a plain socket, for what real mail
    programs never send: bare line ends, pipelined commands, NUL bytes."""

    def __init__(
        self, host: str, port: int, *, timeout: float = 20, source: str | None = None
    ) -> None:
        # ``source``: another loopback address (127.0.0.2, ...) to connect
        # from, so one test can be several client machines.
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None
        )
        self._file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> tuple[int, str]:
        """One (possibly multi-line) reply; code 0 if the server hung up."""
        lines: list[str] = []
        while True:
            raw = self._file.readline()
            if not raw:
                return 0, "\n".join(lines)
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), "\n".join(lines)

    def command(self, line: str) -> tuple[int, str]:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def starttls(self) -> None:
        code, _ = self.command("STARTTLS")
        assert code == 220
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self._file = self.sock.makefile("rb")

    def login(self, user: str, password: str) -> tuple[int, str]:
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.command(f"AUTH PLAIN {token}")

    def closed_by_server(self) -> bool:
        """True once the server has closed the connection."""
        try:
            return self._file.read(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def session(
    door: FrontDoor, *, tls: bool = False, user: str = ALICE, source: str | None = None
) -> RawClient:
    """A raw client that is through EHLO (and STARTTLS) and logged in."""
    client = RawClient(door.host, door.port, source=source)
    assert client.reply()[0] == 220
    assert client.command("EHLO client.example")[0] == 250
    if tls:
        client.starttls()
        assert client.command("EHLO client.example")[0] == 250
    code, text = client.login(user, PASSWORD)
    assert code == 235, text
    return client
