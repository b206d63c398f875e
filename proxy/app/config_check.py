"""``tactful config check``: the effective configuration, with secrets
hidden, and every problem found in it, before a node is started with it.

Loading the settings already refuses what cannot work (unknown keys, bad
values). This adds what loads but is unsafe or will fail at start: a
listener beyond this machine without TLS, a gateway network so wide that
Tactful would relay for strangers, a CA or key file that is not there.
Each problem says what is wrong and what to do, in plain words.

It lives in the composition layer because it looks at what several stages
will do with the settings (the SMTP listener, the users file, the
upstream), without starting any of them.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from proxy.accounts.users import UsersFile, UsersFileError
from proxy.core.config import (
    DEFAULT_CONFIG,
    ConfigError,
    Settings,
    deep_merge,
)
from proxy.outbound.target import parse_target

HIDDEN = "(hidden)"
# Keys whose values are secrets. Names of environment variables and files
# (``*_env``, ``*_file``) are not: they say where a secret is, not what.
_SECRET_KEY = re.compile(r"(password|secret|token|passphrase)$", re.IGNORECASE)

# Narrowest acceptable prefix for a network that may send without logging
# in: wider than this is an error (it is most of a provider or a country),
# and wider than the warning prefix deserves a second look.
_ERROR_PREFIX = {4: 16, 6: 48}
_WARNING_PREFIX = {4: 24, 6: 64}


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    level: Level
    key: str
    message: str


@dataclass(frozen=True, slots=True)
class Report:
    """What ``config check`` prints: the configuration as Tactful will use
    it (secrets hidden) and the problems, errors first."""

    origin: str
    effective: dict[str, Any]
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.level is Level.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if p.level is Level.WARNING)


def hide_secrets(data: Any, key: str = "") -> Any:
    """A copy with secret values replaced, and any password inside a
    database URL too."""
    if isinstance(data, Mapping):
        return {k: hide_secrets(v, str(k)) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [hide_secrets(v, key) for v in data]
    if isinstance(data, str) and data and _SECRET_KEY.search(key):
        return HIDDEN
    if isinstance(data, str) and key == "url" and "://" in data:
        try:
            url = make_url(data)
        except Exception:  # not a database URL after all
            return data
        if url.password:
            return url.render_as_string(hide_password=True).replace("***", HIDDEN)
    return data


def _read_mapping(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin} must contain a mapping of settings at the top level")
    return data


def _validation_problems(exc: ValidationError) -> Iterator[Problem]:
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            message = (
                "unknown key: Tactful does not read it (check the spelling against the "
                "shipped tactful.yaml)"
            )
        else:
            message = str(err["msg"])
        yield Problem(Level.ERROR, key, message)


def check_text(text: str | None, origin: str, *, base: Traversable = DEFAULT_CONFIG) -> Report:
    """Check an agency file's text (None: the shipped defaults alone).
    Raises :class:`ConfigError` only when the text is not a YAML mapping."""
    data = _read_mapping(base.read_text(encoding="utf-8"), str(base))
    if text is not None:
        data = deep_merge(data, _read_mapping(text, origin))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = tuple(_validation_problems(exc))
        return Report(origin, hide_secrets(data), problems)
    problems = tuple(sorted(semantic_problems(settings), key=lambda p: p.level != Level.ERROR))
    return Report(origin, hide_secrets(settings.model_dump(mode="json")), problems)


def check_file(path: str | Path | None) -> Report:
    """``path`` of ``-`` reads standard input's text (the caller passes it)."""
    if path is None:
        return check_text(None, "the shipped defaults")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    return check_text(text, str(path))


# --- what loads but will not work, or is unsafe -------------------------------------


def _beyond_loopback(listen: str) -> bool:
    host = listen.rpartition(":")[0].strip("[]") if ":" in listen else listen
    if host in ("localhost", ""):
        return host == ""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a host name: assume it is reachable from elsewhere


def _network_problems(
    key: str,
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    what: str,
    *,
    certificate_required: bool = False,
) -> Iterator[Problem]:
    """Too wide is an error, unless a named client certificate is required
    as well (a hosted mail service sends from wide, shared ranges)."""
    for network in networks:
        if network.prefixlen < _ERROR_PREFIX[network.version] and certificate_required:
            yield Problem(
                Level.WARNING,
                key,
                f"{network} is wide: only the client certificate named in client_names "
                "keeps other senders in it out. Keep the list to the mail service's "
                "published ranges.",
            )
        elif network.prefixlen < _ERROR_PREFIX[network.version]:
            yield Problem(
                Level.ERROR,
                key,
                f"{network} is too wide: every computer in it could {what} without logging "
                f"in (an open relay). List only the exact addresses needed, "
                f"/{_WARNING_PREFIX[network.version]} or narrower.",
            )
        elif network.prefixlen < _WARNING_PREFIX[network.version]:
            yield Problem(
                Level.WARNING,
                key,
                f"{network} is wider than /{_WARNING_PREFIX[network.version]}: make sure "
                f"every computer in it may {what} without logging in.",
            )
        if not network.is_private and not network.is_loopback and not certificate_required:
            yield Problem(
                Level.WARNING,
                key,
                f"{network} is a public network: computers on the internet could {what}. "
                "Prefer the private addresses the agency's own machines use.",
            )


def _file_problem(key: str, path: str | None, what: str, *, level: Level) -> Iterator[Problem]:
    if path and not os.access(path, os.R_OK):
        yield Problem(level, key, f"{path} ({what}) does not exist or cannot be read.")


def semantic_problems(settings: Settings) -> Iterator[Problem]:
    smtp = settings.smtp
    gateway = smtp.gateway
    has_tls = bool(smtp.tls.cert_file and smtp.tls.key_file)
    if bool(smtp.tls.cert_file) != bool(smtp.tls.key_file):
        yield Problem(Level.ERROR, "smtp.tls", "set both cert_file and key_file, or neither.")
    yield from _file_problem(
        "smtp.tls.cert_file", smtp.tls.cert_file, "the TLS certificate", level=Level.ERROR
    )
    yield from _file_problem(
        "smtp.tls.key_file", smtp.tls.key_file, "the TLS key", level=Level.ERROR
    )
    if _beyond_loopback(smtp.listen) and not has_tls:
        yield Problem(
            Level.ERROR,
            "smtp.listen",
            f"{smtp.listen} is reachable from other computers but no TLS certificate is "
            "set, so passwords and mail would cross the network unencrypted. Set "
            "smtp.tls.cert_file and key_file, or listen on 127.0.0.1.",
        )
    if smtp.implicit_tls_listen and not has_tls:
        yield Problem(
            Level.ERROR, "smtp.implicit_tls_listen", "needs smtp.tls.cert_file and key_file."
        )
    yield from _network_problems("smtp.trusted_networks", smtp.trusted_networks, "send")
    yield from _network_problems(
        "smtp.gateway.networks",
        gateway.networks,
        "relay mail as any agency worker",
        certificate_required=bool(gateway.client_ca_file and gateway.client_names),
    )
    if gateway.enabled and not settings.agency.domains:
        yield Problem(
            Level.ERROR,
            "smtp.gateway",
            "gateway mode needs agency.domains: only mail from the agency's own addresses "
            "is relayed.",
        )
    if gateway.client_ca_file and not has_tls:
        yield Problem(
            Level.ERROR,
            "smtp.gateway.client_ca_file",
            "a client certificate is shown during TLS: set smtp.tls.cert_file and key_file.",
        )
    yield from _file_problem(
        "smtp.gateway.client_ca_file",
        gateway.client_ca_file,
        "the CA of the mail system's certificate",
        level=Level.ERROR,
    )
    if gateway.client_names and not gateway.client_ca_file:
        yield Problem(
            Level.ERROR,
            "smtp.gateway.client_names",
            "names are only checked on a certificate: set client_ca_file too.",
        )
    if gateway.relay_accounts:
        yield from _relay_account_problems(settings)
    if (
        gateway.enabled
        and settings.upstream.starttls != "require"
        and not (settings.upstream.implicit_tls)
    ):
        target = parse_target(settings.upstream.target)
        if not isinstance(target, Path) and _beyond_loopback(f"{target[0]}:{target[1]}"):
            yield Problem(
                Level.WARNING,
                "upstream.starttls",
                "in gateway mode mail goes on to the smart host: set starttls: require so "
                "it never leaves unencrypted.",
            )
    if not settings.upstream.verify_tls:
        yield Problem(
            Level.WARNING,
            "upstream.verify_tls",
            "the upstream's certificate is not checked, so another server could pose as it.",
        )
    review = settings.review
    if _beyond_loopback(review.listen) and not review.base_url.startswith("https:"):
        yield Problem(
            Level.WARNING,
            "review.base_url",
            f"the review app listens on {review.listen} but its address is not https: "
            "reviewers' passwords and held mail would cross the network unencrypted. Put "
            "it behind an https proxy and set base_url to the https address.",
        )
    if settings.dkim.enabled and not os.access(settings.dkim.key_file, os.R_OK):
        yield Problem(
            Level.WARNING,
            "dkim.key_file",
            f"{settings.dkim.key_file} does not exist yet: create it with tactful dkim keygen "
            "(and publish the DNS record it prints).",
        )
    cores = os.cpu_count() or 1
    if settings.smtp.processes > cores:
        yield Problem(
            Level.WARNING,
            "smtp.processes",
            f"{settings.smtp.processes} processes on a machine with {cores} cores: more than "
            f"one per core only costs memory (about 180 MiB each). Set it to at most {cores}.",
        )
    if settings.on_error == "pass":
        yield Problem(
            Level.WARNING,
            "on_error",
            "pass relays mail unchecked whenever it cannot be judged; tempfail is safer.",
        )
    if settings.mode == "monitor":
        yield Problem(
            Level.WARNING,
            "mode",
            "monitor: nothing is stopped, only recorded. Switch to enforce after the trial.",
        )


def _relay_account_problems(settings: Settings) -> Iterator[Problem]:
    try:
        directory = UsersFile(settings.smtp.users_file).current()
    except UsersFileError:
        yield Problem(
            Level.WARNING,
            "smtp.gateway.relay_accounts",
            f"the users file {settings.smtp.users_file} cannot be read, so the relay "
            "accounts could not be checked.",
        )
        return
    for name in settings.smtp.gateway.relay_accounts:
        if directory.get(name) is None:
            yield Problem(
                Level.ERROR,
                "smtp.gateway.relay_accounts",
                f"there is no account {name!r}: create it with tactful user add.",
            )
