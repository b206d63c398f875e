"""aiosmtpd's ``SMTP`` without the introspection it does for every connection.

``SMTP.__init__`` finds its AUTH mechanisms, handler hooks and command
methods with ``inspect.getmembers`` and ``dir`` on itself and on the handler,
and reads the EHLO hook's signature, every time a client connects: about a
quarter of the front door's per-connection CPU with linting off. Those names
depend only on the classes (and on the handler, which is one per server), so
:class:`LeanSMTP` finds them once per class pair and then only binds them.

The constructor below is aiosmtpd 1.4.6's, with that one change; a test
builds the same connection both ways and compares every attribute, so an
aiosmtpd upgrade that changes ``SMTP.__init__`` is caught rather than
silently half-copied.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from warnings import warn

from aiosmtpd import __version__ as aiosmtpd_version
from aiosmtpd import smtp as aiosmtpd_smtp
from aiosmtpd.smtp import SMTP, AuthCallbackType, AuthenticatorType

log = logging.getLogger("mail.log")

# The aiosmtpd whose constructor this copies; with any other, LeanSMTP is
# plain SMTP.
AIOSMTPD_VERSION = "1.4.6"
COPIED = aiosmtpd_version == AIOSMTPD_VERSION


@dataclass(frozen=True, slots=True)
class _Names:
    """What ``SMTP.__init__`` would find on this (SMTP class, handler class)."""

    own_auth: tuple[str, ...]
    handler_auth: tuple[str, ...]
    handle_hooks: tuple[str, ...]
    smtp_methods: tuple[str, ...]


_NAMES: dict[tuple[type, type], _Names] = {}
_EHLO_VERSIONS: dict[object, str] = {}


def _class_names(cls: type, prefix: str) -> tuple[str, ...]:
    return tuple(name for name in dir(cls) if name.startswith(prefix))


def _names(smtp_class: type, handler: object) -> _Names:
    key = (smtp_class, type(handler))
    names = _NAMES.get(key)
    if names is None:
        handler_class = type(handler)
        names = _NAMES[key] = _Names(
            own_auth=_class_names(smtp_class, "auth_"),
            handler_auth=_class_names(handler_class, "auth_"),
            handle_hooks=_class_names(handler_class, "handle_"),
            smtp_methods=_class_names(smtp_class, "smtp_"),
        )
    return names


def _with_instance_names(names: tuple[str, ...], obj: object, prefix: str) -> tuple[str, ...]:
    """Class names plus the object's own attributes with that prefix (a
    handler may set ``handle_X`` in its ``__init__``), sorted as ``dir``."""
    own = [n for n in getattr(obj, "__dict__", ()) if n.startswith(prefix)]
    return tuple(sorted({*names, *own})) if own else names


def _ehlo_version(hook: Callable[..., Any]) -> str:
    function = getattr(hook, "__func__", hook)
    version = _EHLO_VERSIONS.get(function)
    if version is None:
        count = len(inspect.signature(hook).parameters)
        if count == 4:
            version = "old"
        elif count == 5:
            version = "new"
        else:
            raise RuntimeError("Unsupported EHLO Hook")
        _EHLO_VERSIONS[function] = version
    if version == "old":
        warn(
            "Use the 5-argument handle_EHLO() hook instead of "
            "the 4-argument handle_EHLO() hook; "
            "support for the 4-argument handle_EHLO() hook will be "
            "removed in version 2.0",
            DeprecationWarning,
            stacklevel=3,
        )
    return version


class LeanSMTP(SMTP):
    """``SMTP`` whose constructor binds cached names instead of searching."""

    def __init__(
        self,
        handler: Any,
        *,
        data_size_limit: int | None = aiosmtpd_smtp.DATA_SIZE_DEFAULT,
        enable_SMTPUTF8: bool = False,
        decode_data: bool = False,
        hostname: str | None = None,
        ident: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        timeout: float = 300,
        auth_required: bool = False,
        auth_require_tls: bool = True,
        auth_exclude_mechanism: Iterable[str] | None = None,
        auth_callback: AuthCallbackType | None = None,
        command_call_limit: int | dict[str, int] | None = None,
        authenticator: AuthenticatorType | None = None,
        proxy_protocol_timeout: float | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not COPIED:
            super().__init__(
                handler,
                data_size_limit=data_size_limit,
                enable_SMTPUTF8=enable_SMTPUTF8,
                decode_data=decode_data,
                hostname=hostname,
                ident=ident,
                tls_context=tls_context,
                require_starttls=require_starttls,
                timeout=timeout,
                auth_required=auth_required,
                auth_require_tls=auth_require_tls,
                auth_exclude_mechanism=auth_exclude_mechanism,
                auth_callback=auth_callback,
                command_call_limit=command_call_limit,
                authenticator=authenticator,
                proxy_protocol_timeout=proxy_protocol_timeout,
                loop=loop,
            )
            return
        self.__ident__ = ident or aiosmtpd_smtp.__ident__
        self.loop = loop if loop else aiosmtpd_smtp.make_loop()
        asyncio.StreamReaderProtocol.__init__(
            self,
            asyncio.StreamReader(loop=self.loop, limit=self.line_length_limit),
            client_connected_cb=self._cb_client_connected,
            loop=self.loop,
        )
        self.event_handler = handler
        assert data_size_limit is None or isinstance(data_size_limit, int)
        self.data_size_limit = data_size_limit
        self.enable_SMTPUTF8 = enable_SMTPUTF8
        self._decode_data = decode_data
        self.command_size_limits.clear()
        self.hostname = hostname if hostname else socket.getfqdn()
        self.tls_context = tls_context
        if tls_context:
            if tls_context.verify_mode not in {ssl.CERT_NONE, ssl.CERT_OPTIONAL}:
                log.warning(
                    "tls_context.verify_mode not in {CERT_NONE, "
                    "CERT_OPTIONAL}; this might cause client "
                    "connection problems"
                )
            elif tls_context.check_hostname:
                log.warning(
                    "tls_context.check_hostname == True; this might cause client "
                    "connection problems"
                )
        self.require_starttls = tls_context and require_starttls  # type: ignore[assignment]
        self._timeout_duration = timeout
        self._timeout_handle = None
        self._tls_handshake_okay = True
        self._tls_protocol = None
        self._original_transport = None
        self.session = None
        self.envelope = None
        self.transport = None
        self._handler_coroutine = None
        if not auth_require_tls and auth_required:
            warn(
                "Requiring AUTH while not requiring TLS can lead to security vulnerabilities!",
                stacklevel=2,
            )
            log.warning("auth_required == True but auth_require_tls == False")
        self._auth_require_tls = auth_require_tls

        if proxy_protocol_timeout is not None:
            if proxy_protocol_timeout <= 0:
                raise ValueError("proxy_protocol_timeout must be > 0")
            elif proxy_protocol_timeout < 3.0:
                log.warning("proxy_protocol_timeout < 3.0")
        self._proxy_timeout = proxy_protocol_timeout

        self._authenticator: AuthenticatorType | None
        self._auth_callback: AuthCallbackType | None
        if authenticator is not None:
            self._authenticator = authenticator
            self._auth_callback = None
        else:
            self._auth_callback = auth_callback or aiosmtpd_smtp.login_always_fail
            self._authenticator = None

        self._auth_required = auth_required

        names = _names(type(self), handler)
        auth_methods: dict[str, aiosmtpd_smtp._AuthMechAttr] = {}
        for obj, candidates in (
            (self, _with_instance_names(names.own_auth, self, "auth_")),
            (handler, _with_instance_names(names.handler_auth, handler, "auth_")),
        ):
            for name in candidates:
                method = getattr(obj, name)
                mechanism = getattr(
                    method,
                    "__auth_mechanism_name__",
                    name.replace("auth_", "").replace("__", "-"),
                )
                auth_methods[mechanism] = aiosmtpd_smtp._AuthMechAttr(method, obj is self)
        self._auth_methods = auth_methods
        for mechanism in auth_exclude_mechanism or []:
            self._auth_methods.pop(mechanism, None)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "Available AUTH mechanisms: "
                + " ".join(
                    m + "(builtin)" if impl.is_builtin else m
                    for m, impl in sorted(self._auth_methods.items())
                )
            )
        self._handle_hooks = {
            m.replace("handle_", ""): getattr(handler, m)
            for m in _with_instance_names(names.handle_hooks, handler, "handle_")
        }
        ehlo_hook = self._handle_hooks.get("EHLO")
        self._ehlo_hook_ver = None if ehlo_hook is None else _ehlo_version(ehlo_hook)
        self._smtp_methods = {
            m.replace("smtp_", ""): getattr(self, m)
            for m in _with_instance_names(names.smtp_methods, self, "smtp_")
        }

        self._call_limit_default: int
        if command_call_limit is None:
            self._enforce_call_limit = False
        else:
            self._enforce_call_limit = True
            if isinstance(command_call_limit, int):
                self._call_limit_base = {}
                self._call_limit_default = command_call_limit
            elif isinstance(command_call_limit, dict):
                if not all(map(aiosmtpd_smtp.is_int, command_call_limit.values())):
                    raise TypeError("All command_call_limit values must be int")
                self._call_limit_base = command_call_limit
                self._call_limit_default = command_call_limit.get(
                    "*", aiosmtpd_smtp.CALL_LIMIT_DEFAULT
                )
            else:
                raise TypeError("command_call_limit must be int or Dict[str, int]")
