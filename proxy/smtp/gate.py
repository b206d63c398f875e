"""How many SMTP connections may be open at once, across all listeners, and
from one client address.

``smtp.max_connections`` is one limit for the submission and the
implicit-TLS listener together, so the count lives outside any one
connection. The gate also knows every open connection, which is what lets
shutdown tell each of them goodbye and wait for it to finish.

A flood of connections that never log in must not lock the workers out:

* one client address (IPv6: one /64) may hold at most
  ``smtp.max_connections_per_client`` connections;
* the last ``smtp.reserved_connections`` slots (a tenth by default) go only
  to an address with no connection of its own still waiting to log in, so
  a worker connecting from their own machine gets in even when
  unauthenticated connections fill the rest;
* a connection that has not logged in within
  ``smtp.pre_auth_timeout_seconds`` is closed
  (:mod:`proxy.smtp.connection`), so held slots come back quickly.

Clients on ``smtp.trusted_networks`` never log in; they are not limited per
address and are never counted as waiting (the admin vouched for them).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from enum import Enum
from typing import Protocol

from proxy.core.submission import SmtpReply


class Connection(Protocol):
    """What the gate needs of a connection
    (:class:`proxy.smtp.connection.TactfulSMTP`)."""

    @property
    def handler_task(self) -> asyncio.Task[None] | None: ...

    def say_goodbye(self, reply: SmtpReply) -> None: ...


class Admission(Enum):
    ADMITTED = "admitted"
    FULL = "full"  # every slot (or every slot but the reserve) is taken
    CLIENT_FULL = "client-full"  # this address holds its share already


class ConnectionGate:
    """Counts open connections across all listeners and per client address,
    keeps the reserve, and lets shutdown say goodbye to the ones still open."""

    def __init__(self, limit: int, *, per_client: int | None = None, reserve: int = 0) -> None:
        self._limit = limit
        self._per_client = per_client if per_client is not None else limit
        self._reserve = min(reserve, limit - 1)
        self._open: dict[Connection, str | None] = {}  # connection -> client (None: trusted)
        self._per_address: Counter[str] = Counter()
        self._waiting: Counter[str] = Counter()  # not logged in yet, by client
        self._waiting_connections: set[Connection] = set()
        # Every connection this gate was asked about, admitted or not: with
        # several front-end processes, how the kernel spread them.
        self.connections_seen = 0

    def admit(self, connection: Connection, client: str | None) -> Admission:
        """``client`` is the address as counted, or None for a trusted network."""
        self.connections_seen += 1
        if len(self._open) >= self._limit:
            return Admission.FULL
        if client is not None:
            if self._per_address[client] >= self._per_client:
                return Admission.CLIENT_FULL
            if len(self._open) >= self._limit - self._reserve and self._waiting[client]:
                return Admission.FULL
            self._per_address[client] += 1
            self._waiting[client] += 1
            self._waiting_connections.add(connection)
        self._open[connection] = client
        return Admission.ADMITTED

    def logged_in(self, connection: Connection) -> None:
        """The connection authenticated: it no longer waits."""
        if connection in self._waiting_connections:
            self._waiting_connections.discard(connection)
            client = self._open.get(connection)
            if client is not None:
                self._waiting[client] -= 1
                if self._waiting[client] <= 0:
                    del self._waiting[client]

    def release(self, connection: Connection) -> None:
        if connection not in self._open:
            return
        self.logged_in(connection)
        client = self._open.pop(connection)
        if client is not None:
            self._per_address[client] -= 1
            if self._per_address[client] <= 0:
                del self._per_address[client]

    def close_all(self, reply: SmtpReply) -> list[asyncio.Task[None]]:
        """Tell every open connection goodbye; returns their tasks to await."""
        tasks: list[asyncio.Task[None]] = []
        for connection in list(self._open):
            connection.say_goodbye(reply)
            if connection.handler_task is not None:
                tasks.append(connection.handler_task)
        return tasks
