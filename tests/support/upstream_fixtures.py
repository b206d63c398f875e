"""Real upstream mail servers for tests: an aiosmtpd sink that records what
it received, and Postfix's ``smtp-sink`` as a fast, independently written
server that can be told to misbehave (refuse, tempfail, hang up).

Import the fixtures into a test module with
``from tests.support.upstream_fixtures import sink, free_port`` (pytest picks
up fixtures imported into the module namespace).
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as AioSMTP
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
HAVE_SMTP_SINK = os.access(SMTP_SINK, os.X_OK)
needs_smtp_sink = pytest.mark.skipif(
    not HAVE_SMTP_SINK,
    reason="Postfix smtp-sink not installed (make debian-packages installs postfix)",
)


def free_port() -> int:
    """A TCP port nothing listens on (it is closed again at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, *, attempts: int = 200) -> None:
    for _ in range(attempts):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.025)
    raise RuntimeError(f"nothing started listening on port {port}")


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    mail_options: list[str]


@dataclass
class RecordingHandler:
    """Accepts mail and records each transaction, unless told to refuse.

    ``rcpt_replies`` maps a recipient to the reply its RCPT gets;
    ``data_reply`` replaces the 250 after the final dot.
    """

    rcpt_replies: Mapping[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self,
        server: AioSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: AioSMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        assert envelope.mail_from is not None
        assert isinstance(envelope.original_content, bytes)
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                list(envelope.mail_options),
            )
        )
        return f"250 2.0.0 Ok: queued as Q{len(self.received)}"


class Sink:
    """A running aiosmtpd server and what it has received."""

    def __init__(self, handler: RecordingHandler, controller: Controller) -> None:
        self.handler = handler
        self.controller = controller
        self.port: int = controller.port

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@contextmanager
def run_sink(handler: RecordingHandler | None = None, **controller_kwargs: Any) -> Iterator[Sink]:
    handler = handler or RecordingHandler()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), decode_data=False, **controller_kwargs
    )
    controller.start()
    try:
        yield Sink(handler, controller)
    finally:
        controller.stop()


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A recording aiosmtpd server that accepts everything."""
    with run_sink() as running:
        yield running


def accept_login(user: str, password: str) -> Any:
    """An aiosmtpd authenticator accepting exactly this user and password."""

    def authenticator(
        server: AioSMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return authenticator


def self_signed_tls(directory: Path, hostname: str = "localhost") -> tuple[ssl.SSLContext, Path]:
    """A server TLS context with a fresh self-signed certificate, and that
    certificate's path for the client to trust."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from tests.support.smtp_fixtures import CERT_VALID_FROM, CERT_VALID_UNTIL

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
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
                [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "upstream-cert.pem"
    key_path = directory / "upstream-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


@dataclass
class SmtpSink:
    port: int
    dump_dir: Path

    def dumps(self) -> list[bytes]:
        """Every transaction smtp-sink captured (its own headers first)."""
        return [p.read_bytes() for p in sorted(self.dump_dir.iterdir()) if p.is_file()]


@contextmanager
def run_smtp_sink(options: list[str]) -> Iterator[SmtpSink]:
    """Postfix ``smtp-sink`` on a free local port with the given options.

    Each transaction is dumped into a directory so a test can check what
    arrived. As root, smtp-sink insists on dropping to another user, which
    must be able to write there (pytest's tmp_path is private to us).
    """
    if not HAVE_SMTP_SINK:
        pytest.skip("Postfix smtp-sink not installed (make debian-packages installs postfix)")
    dump_dir = Path(tempfile.mkdtemp(prefix="tactful-smtp-sink-"))
    dump_dir.chmod(0o777)
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    cmd = [SMTP_SINK, *user, "-d", f"{dump_dir}/%H%M%S.", *options, f"127.0.0.1:{port}", "10"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            wait_for_port(port)
        except RuntimeError:
            proc.kill()
            _, err = proc.communicate()
            raise RuntimeError(f"smtp-sink did not start: {err.decode(errors='replace')}") from None
        yield SmtpSink(port, dump_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(dump_dir, ignore_errors=True)
