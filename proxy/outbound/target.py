"""Which upstream the settings name: an SMTP server, or a Maildir outbox.

Kept apart from both kinds so that neither needs the other: the SMTP
client and the outbox share only the result types in
:mod:`proxy.outbound.relay`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from proxy.core.config import Settings
from proxy.core.config import Upstream as UpstreamSettings
from proxy.outbound.maildir_outbox import MaildirOutbox
from proxy.outbound.relay import SmtpUpstream, Upstream, UpstreamConfigError

log = logging.getLogger(__name__)

_MAILDIR_PREFIX = "maildir:"


def parse_target(target: str) -> tuple[str, int] | Path:
    """``HOST:PORT`` (``[v6]:PORT`` too) or ``maildir:PATH``."""
    if target.startswith(_MAILDIR_PREFIX):
        path = target[len(_MAILDIR_PREFIX) :].strip()
        if not path:
            raise UpstreamConfigError(
                "upstream.target 'maildir:' needs a directory, e.g. maildir:var/outbox"
            )
        return Path(path)
    host, sep, port_text = target.rpartition(":")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UpstreamConfigError(
            f"upstream.target must be HOST:PORT (e.g. mail.example.org:25) or "
            f"maildir:PATH (e.g. maildir:var/outbox), got {target!r}"
        )
    return host, int(port_text)


def _password(conf: UpstreamSettings, environ: Mapping[str, str]) -> str | None:
    if conf.username is None:
        return None
    if conf.password_env is None:
        raise UpstreamConfigError(
            "upstream.username is set but upstream.password_env is not: name the "
            "environment variable that holds the upstream password"
        )
    password = environ.get(conf.password_env)
    if password is None:
        raise UpstreamConfigError(
            f"upstream.password_env names {conf.password_env}, but that environment "
            "variable is not set"
        )
    return password


def upstream_from_settings(
    settings: Settings, *, environ: Mapping[str, str] | None = None
) -> Upstream:
    """The configured upstream; raises :class:`UpstreamConfigError` on bad settings."""
    conf = settings.upstream
    target = parse_target(conf.target)
    if isinstance(target, Path):
        return MaildirOutbox(target)
    host, port = target
    return SmtpUpstream(
        host,
        port,
        starttls=conf.starttls,
        implicit_tls=conf.implicit_tls,
        verify_tls=conf.verify_tls,
        username=conf.username,
        password=_password(conf, os.environ if environ is None else environ),
        timeout=conf.timeout_seconds,
        local_hostname=settings.smtp.hostname,
        idle_connections=conf.idle_connections,
    )


async def probe_extensions(
    settings: Settings, *, environ: Mapping[str, str] | None = None
) -> frozenset[str] | None:
    """What the upstream announces in EHLO, so the front door offers no more.

    ``None`` for a maildir outbox (no limits of its own). An unreachable
    upstream gives an empty set: advertise only the basics until it is back.
    """
    upstream = upstream_from_settings(settings, environ=environ)
    if not isinstance(upstream, SmtpUpstream):
        return None
    found = await upstream.extensions()
    if found is None:
        log.warning("could not ask the upstream for its extensions; advertising none")
        return frozenset()
    return found
