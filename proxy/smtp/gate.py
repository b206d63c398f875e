"""How many SMTP connections may be open at once, across all listeners.

``smtp.max_connections`` is one limit for the submission and the
implicit-TLS listener together, so the count lives outside any one
connection. The gate also knows every open connection, which is what lets
shutdown tell each of them goodbye and wait for it to finish.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from proxy.core.submission import SmtpReply


class Connection(Protocol):
    """What the gate needs of a connection
    (:class:`proxy.smtp.connection.TactfulSMTP`)."""

    @property
    def handler_task(self) -> asyncio.Task[None] | None: ...

    def say_goodbye(self, reply: SmtpReply) -> None: ...


class ConnectionGate:
    """Counts open connections across all listeners (``smtp.max_connections``)
    and lets shutdown say goodbye to the ones still open."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: set[Connection] = set()

    def admit(self, connection: Connection) -> bool:
        if len(self._open) >= self._limit:
            return False
        self._open.add(connection)
        return True

    def release(self, connection: Connection) -> None:
        self._open.discard(connection)

    def close_all(self, reply: SmtpReply) -> list[asyncio.Task[None]]:
        """Tell every open connection goodbye; returns their tasks to await."""
        tasks: list[asyncio.Task[None]] = []
        for connection in list(self._open):
            connection.say_goodbye(reply)
            if connection.handler_task is not None:
                tasks.append(connection.handler_task)
        return tasks
