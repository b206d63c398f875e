"""aiosmtpd's ``SMTP``, with ``dir()`` narrowed so its per-connection search is cheap.

``SMTP.__init__`` finds its AUTH mechanisms, handler hooks and command
methods by walking ``inspect.getmembers`` and ``dir`` of the connection and
of the handler, and parses the EHLO hook's signature, on every connection.
The walk fetches every attribute of the class hierarchy (about 175 names on
a connection): some 0.2 ms, a tenth of the front door's CPU per message with
linting off. Yet the names it keeps (``auth_*``, ``handle_*``, ``smtp_*``)
depend only on the classes.

We keep aiosmtpd's own constructor and shorten what its search walks.
``dir()`` and ``inspect.getmembers`` take the names from the object's
``__dir__``, and Python leaves that answer to the class (``dir`` is
documented as a convenience listing, not a definition of the attributes).
:class:`ProtocolNames` answers with the names carrying a searched prefix:
those of the class, found once per class, plus any the instance holds
itself (a handler may set a ``handle_X`` in its ``__init__``). So aiosmtpd
finds exactly what its full walk finds; ``tests/smtp/test_lean_smtp.py``
builds connections both ways and compares them attribute by attribute, so
an aiosmtpd that searched for another prefix would be caught. The price:
``dir()`` of a connection or handler lists only those names (``vars()``
still shows its state).

aiosmtpd parses the EHLO hook's signature to tell its old 4-argument form
from the new one. ``inspect.signature`` returns a function's
``__signature__`` when it has one (PEP 362), so the mixin stores the
signature ``inspect`` computes, once, when the class is created; a hook set
on an instance is left to ``inspect`` as before.
"""

from __future__ import annotations

import inspect
from typing import Any

from aiosmtpd.smtp import SMTP

# What aiosmtpd's constructor keeps from its search: AUTH mechanisms on the
# connection and the handler, hooks on the handler, commands on the connection.
SEARCHED_PREFIXES = ("auth_", "handle_", "smtp_")


_CLASS_NAMES: dict[type, tuple[str, ...]] = {}


def protocol_names(cls: type) -> tuple[str, ...]:
    """The names with a searched prefix that instances of ``cls`` have through
    their class (a class does not change after definition here)."""
    names = _CLASS_NAMES.get(cls)
    if names is None:
        names = _CLASS_NAMES[cls] = tuple(
            name for name in dir(cls) if name.startswith(SEARCHED_PREFIXES)
        )
    return names


class ProtocolNames:
    """Mixin for the objects aiosmtpd searches: the connection and the handler."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Through the class, so a hook inherited from a plain base counts too.
        hook = getattr(cls, "handle_EHLO", None)
        if inspect.isfunction(hook) and getattr(hook, "__signature__", None) is None:
            hook.__signature__ = inspect.signature(hook)  # type: ignore[attr-defined]

    def __dir__(self) -> list[str]:
        names = protocol_names(type(self))
        own = [n for n in getattr(self, "__dict__", ()) if n.startswith(SEARCHED_PREFIXES)]
        if not own:
            return list(names)
        return list(dict.fromkeys((*names, *own)))


class LeanSMTP(ProtocolNames, SMTP):
    """``SMTP`` whose per-connection search walks only the names it keeps."""
