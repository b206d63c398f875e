"""Which event loop runs the proxy: uvloop when it is installed, else asyncio's.

uvloop (the optional extra ``fast``: ``pip install tactful[fast]``) runs the
same asyncio code about a tenth faster on the SMTP front door, where the one
server process does every session's parsing, DKIM and relaying. Nothing in
Tactful depends on it; without it the standard loop runs everything.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
CHOICES: tuple[EventLoopChoice, ...] = ("auto", "uvloop", "asyncio")


class EventLoopUnavailableError(RuntimeError):
    """uvloop was asked for by name but is not installed."""


def loop_factory(choice: EventLoopChoice) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop's name and a factory for it."""
    if choice == "asyncio":
        return "asyncio", asyncio.new_event_loop
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            raise EventLoopUnavailableError(
                "uvloop is not installed; install the 'fast' extra (pip install "
                "'tactful[fast]') or use --event-loop asyncio"
            ) from None
        return "asyncio", asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return "uvloop", factory


def run(main: Coroutine[Any, Any, T], choice: EventLoopChoice = "auto") -> T:
    """``asyncio.run`` on the chosen loop."""
    _, factory = loop_factory(choice)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
