"""The SMTP submission listeners: ``serve()`` starts them inside the
application's own event loop and :class:`RunningServer` stops them cleanly.

The protocol itself is :mod:`proxy.smtp.connection`; this module wires
connections to one shared handler, connection gate and TLS context, binds
the submission port (plain + STARTTLS) and, when configured, the
implicit-TLS port, and refuses to start where passwords would cross the
network unencrypted. With ``smtp.processes`` above 1 the ports are bound
with SO_REUSEPORT, so that the front-end processes (:mod:`proxy.app.frontends`)
can bind them too and the kernel spreads connections over all of them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from proxy.accounts.auth import AuthBackend, make_auth_backend, parse_host_port
from proxy.core.clock import Clock
from proxy.core.config import ConfigError, Settings
from proxy.core.submission import MessageProcessor, SmtpReply
from proxy.smtp.connection import TactfulSMTP, is_loopback
from proxy.smtp.gate import ConnectionGate
from proxy.smtp.receive import FrontDoorPolicy, SubmissionHandler
from proxy.smtp.tls import build_tls_context
from proxy.store.login_failures import LoginFailures

log = logging.getLogger(__name__)


def _is_loopback_host(host: str) -> bool:
    return host == "localhost" or is_loopback((host, 0))


class _NoClientData(logging.Filter):
    """aiosmtpd logs every sender and recipient address at INFO and each
    message line at DEBUG; recipient addresses are client data. Only its
    warnings and errors pass, minus a deprecation notice it emits itself on
    every login."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        return not str(record.msg).startswith("Session.login_data is deprecated")


def quiet_library_logging() -> None:
    logger = logging.getLogger("mail.log")
    if not any(isinstance(f, _NoClientData) for f in logger.filters):
        logger.addFilter(_NoClientData())
    # The filter drops them anyway; at WARNING aiosmtpd's several INFO lines
    # per connection are not even built.
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


ListenerName = Literal["submission", "implicit-tls"]


@dataclass(frozen=True, slots=True)
class Listener:
    name: ListenerName
    host: str
    port: int


class RunningServer:
    """Handle on the started listeners; ``stop()`` shuts them down cleanly."""

    def __init__(
        self,
        servers: list[tuple[Listener, asyncio.Server]],
        handler: SubmissionHandler,
        gate: ConnectionGate,
    ) -> None:
        self._servers = servers
        self._handler = handler
        self._gate = gate

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return tuple(listener for listener, _ in self._servers)

    def shared_sockets(self) -> dict[ListenerName, socket.socket]:
        """A duplicate of each listening socket, for another process to accept
        on (see ``sockets`` in :func:`serve`); the caller closes them."""
        return {
            listener.name: socket.socket(fileno=os.dup(server.sockets[0].fileno()))
            for listener, server in self._servers
        }

    def address(self, name: ListenerName = "submission") -> tuple[str, int]:
        for listener in self.listeners:
            if listener.name == name:
                return listener.host, listener.port
        raise LookupError(f"no {name} listener is running")

    async def stop(self, *, grace_seconds: float = 30.0) -> None:
        """Stop accepting, let messages being processed finish, then close."""
        for _, server in self._servers:
            server.close()
        try:
            await asyncio.wait_for(self._handler.drain(), grace_seconds)
        except TimeoutError:
            log.warning("stopping with messages still being processed")
        await asyncio.sleep(0)  # let finished DATA replies reach their clients
        goodbye = SmtpReply(421, "4.3.2", ("Service shutting down, try again later",))
        connections = self._gate.close_all(goodbye)
        if connections:
            await asyncio.wait(connections, timeout=5)
        for _, server in self._servers:
            await server.wait_closed()
        log.info(
            "SMTP listeners of process %d closed after %d connections",
            os.getpid(),
            self._gate.connections_seen,
        )


async def serve(
    settings: Settings,
    processor: MessageProcessor,
    *,
    clock: Clock,
    upstream_extensions: frozenset[str] | None = None,
    logins: LoginFailures | None = None,
    auth_backend: AuthBackend | None = None,
    allow_plaintext_auth_on_loopback: bool = True,
    sockets: Mapping[ListenerName, socket.socket] | None = None,
) -> RunningServer:
    """Start the submission listener (plain + STARTTLS) and, when
    configured, the implicit-TLS one, in the running event loop.

    ``upstream_extensions`` are the EHLO keywords of the upstream server;
    extensions it lacks (8BITMIME, SMTPUTF8) are not offered to clients.
    A port of 0 binds a free port; see :meth:`RunningServer.address`.

    ``logins`` is the login throttle the composition root shares with the
    review app (:mod:`proxy.store.login_failures`); it is required: without
    it wrong passwords would only be limited per connection.

    ``sockets`` are listening sockets another process bound, one per
    listener, to accept on instead of binding the configured ports: a
    front-end process accepts on the main process's.
    """
    config = settings.smtp
    tls_context = await asyncio.to_thread(build_tls_context, settings)
    host, port = parse_host_port(config.listen, default_port=587)
    if tls_context is None and not _is_loopback_host(host):
        raise ConfigError(
            f"smtp.listen is {config.listen} but no TLS certificate is configured, so "
            "passwords would cross the network unencrypted. Set smtp.tls.cert_file and "
            "key_file, or listen on 127.0.0.1."
        )
    if config.gateway.client_ca_file and tls_context is None:
        raise ConfigError(
            "smtp.gateway.client_ca_file needs smtp.tls.cert_file and key_file: the mail "
            "system shows its certificate during TLS"
        )
    if config.gateway.enabled and not settings.agency.domains:
        raise ConfigError(
            "smtp.gateway needs agency.domains: gateway mail is relayed only from the "
            "agency's own addresses"
        )
    if config.implicit_tls_listen and tls_context is None:
        raise ConfigError("smtp.implicit_tls_listen needs smtp.tls.cert_file and key_file")
    if logins is None:
        raise ValueError("serve() needs the shared login throttle (Services.logins)")
    quiet_library_logging()
    backend = auth_backend if auth_backend is not None else make_auth_backend(settings)
    extensions = (
        None if upstream_extensions is None else frozenset(e.upper() for e in upstream_extensions)
    )
    policy = FrontDoorPolicy(
        config.max_message_size,
        config.max_recipients,
        extensions,
        config.trusted_networks,
        gateway=config.gateway,
        agency_domains=settings.agency.domains,
    )
    handler = SubmissionHandler(processor, backend, policy, clock, logins)
    gate = ConnectionGate(
        config.max_connections,
        per_client=config.max_connections_per_client,
        reserve=config.reserve,
    )
    loop = asyncio.get_running_loop()

    def factory(implicit: bool) -> TactfulSMTP:
        return TactfulSMTP(
            handler,
            config=config,
            gate=gate,
            tls_context=tls_context,
            implicit_tls=implicit,
            allow_plaintext_auth_on_loopback=allow_plaintext_auth_on_loopback,
            loop=loop,
        )

    servers: list[tuple[Listener, asyncio.Server]] = []
    wanted: list[tuple[ListenerName, str, int, ssl.SSLContext | None]] = [
        ("submission", host, port, None)
    ]
    if config.implicit_tls_listen:
        tls_host, tls_port = parse_host_port(config.implicit_tls_listen, default_port=465)
        wanted.append(("implicit-tls", tls_host, tls_port, tls_context))
    try:
        for name, bind_host, bind_port, context in wanted:
            implicit = context is not None
            handshake = config.idle_timeout_seconds if implicit else None

            def connection(implicit: bool = implicit) -> TactfulSMTP:
                return factory(implicit)

            if sockets is not None:  # typeshed types the two ways apart
                server = await loop.create_server(
                    connection, sock=sockets[name], ssl=context, ssl_handshake_timeout=handshake
                )
            else:
                server = await loop.create_server(
                    connection,
                    bind_host,
                    bind_port,
                    ssl=context,
                    ssl_handshake_timeout=handshake,
                    reuse_address=True,
                )
            bound = server.sockets[0].getsockname()
            servers.append((Listener(name, bound[0], bound[1]), server))
    except OSError as exc:
        for _, server in servers:
            server.close()
        raise ConfigError(f"cannot listen for SMTP: {exc.strerror or exc}") from exc
    return RunningServer(servers, handler, gate)
