"""Configuration: shipped defaults in ``proxy/core/defaults/tactful.yaml``
with an agency's partial file merged over them, validated by pydantic.

There is no global settings object; whoever needs settings is handed a
:class:`Settings`. Unknown keys are errors, so a typo never silently turns a
rule off.

Why it is longer than the house's ~400 lines: it is the schema of every
setting, one small model per section with its validation, so that the
whole configuration can be read in one place beside the shipped
``tactful.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, time
from importlib import resources
from importlib.resources.abc import Traversable
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from proxy.core.verdict import Action

# The shipped defaults are package data, read through importlib.resources so
# that an installed wheel finds them as well as a source checkout does.
DEFAULT_CONFIG: Traversable = resources.files("proxy.core") / "defaults" / "tactful.yaml"

# smtp.processes: more than one per core does not help, and each holds a
# database pool, an upstream client and its share of the analysis workers.
MAX_SMTP_PROCESSES = 64

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ConfigError(Exception):
    """A configuration file is unreadable or invalid; the text names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkingHours(_Strict):
    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: time = time(8, 0)
    end: time = time(18, 0)


class Agency(_Strict):
    name: str = "Your agency"
    domains: tuple[str, ...] = ()
    timezone: str = "America/Chicago"
    working_hours: WorkingHours = WorkingHours()
    holidays: tuple[date, ...] = ()
    case_number_patterns: tuple[str, ...] = ()
    default_region: str = "US"
    secure_portal: str = "the secure portal"
    # The agency's own street addresses and phone numbers (as in signatures):
    # never a personal identifier. See proxy.lint.public_details.
    contact_details: tuple[str, ...] = ()
    # Optional CSV (name,address,phone) of public places: courts, clinics, hotlines.
    public_directory: str | None = None
    # The agency's web domains (its email domains are ``domains``): addresses
    # at either are the agency's, never a client's.
    web_domains: tuple[str, ...] = ()
    # The agency's standard disclaimers, as written under its mail: read as
    # boilerplate, like the signature (common legal notices are recognised
    # without being listed).
    disclaimers: tuple[str, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("case_number_patterns")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
        return value

    @field_validator("domains", "web_domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(d.lower().strip() for d in value)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class QuietHours(_Strict):
    start: time = time(20, 0)
    end: time = time(8, 0)


class SmsProvider(_Strict):
    """The Twilio-compatible SMS provider texts go to (``tactful serve``).

    No ``base_url`` or ``account_sid``: no provider, and the SMS API answers
    that texts cannot be sent. Secrets are read from the environment, never
    from this file.
    """

    base_url: str | None = None  # e.g. https://api.twilio.com
    account_sid: str | None = None
    auth_token_env: str = "TACTFUL_SMS_AUTH_TOKEN"
    # Authenticate to the provider with an API key instead of the auth token
    # (the token is still used to check the provider's inbound signatures).
    api_key_sid: str | None = None
    api_key_secret_env: str | None = None
    timeout_seconds: float = Field(15.0, gt=0)
    # Check X-Twilio-Signature on /sms/inbound with the auth token.
    validate_signature: bool = True
    # The public URL the provider posts inbound texts to, when Tactful sits
    # behind a proxy (the signature covers the URL the provider used).
    inbound_url: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.account_sid)


class SmsApiKey(_Strict):
    """A key a program uses as its Basic-auth login on the SMS API, acting
    for a worker account (like a Twilio API key SID and secret)."""

    sid: str = Field(min_length=8)
    secret_env: str
    user: str  # the worker account the key sends as


class Sms(_Strict):
    gateway_domains: tuple[str, ...] = ()
    quiet_hours: QuietHours = QuietHours()
    provider: SmsProvider = SmsProvider()
    api_keys: tuple[SmsApiKey, ...] = ()
    # Longest text accepted (Twilio's own limit is 1600 characters).
    max_body_chars: int = Field(1600, ge=1)
    # More segments than this fire the sms-length rule.
    max_segments: int = Field(3, ge=1)

    @field_validator("gateway_domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(d.lower().strip() for d in value)


class Nlp(_Strict):
    model: str = "en_core_web_sm"
    language: str = "en"


class Limits(_Strict):
    """Bounds on the work one message can cause. Whatever is over a limit
    is reported as unscannable (and held), never skipped in silence."""

    max_depth: int = Field(10, ge=1)
    max_parts: int = Field(200, ge=1)
    max_decoded_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    max_text_chars: int = Field(500_000, ge=1000)
    # Containers (zip files, winmail.dat): how deeply they may nest, how many
    # files and bytes they may unpack to per message, and how hard a file in
    # a zip may be compressed (a zip bomb unpacks 1000:1 or more).
    max_archive_depth: int = Field(3, ge=1)
    max_archive_members: int = Field(500, ge=1)
    max_archive_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    max_compression_ratio: int = Field(100, ge=2)


class DetectorConfig(_Strict):
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)


class RuleConfig(_Strict):
    """Action for one rule, by recipient kind, with ``sms`` taking precedence
    for sms recipients and ``default`` for any kind not named."""

    default: Action = Action.PASS
    internal: Action | None = None
    client: Action | None = None
    authorized: Action | None = None
    external: Action | None = None
    sms: Action | None = None
    overridable: bool = True
    # A warn from this rule sends the sender a short notice with its advice
    # (the message itself goes as written).
    warn_notice: bool = True

    def action_for(self, kind: str, channel: str) -> Action:
        if channel == "sms" and self.sms is not None:
            return self.sms
        specific: Action | None = getattr(self, kind)
        return specific if specific is not None else self.default


class Policy(_Strict):
    rules: dict[str, RuleConfig] = Field(default_factory=dict)


class Database(_Strict):
    url: str = "sqlite:///var/tactful.db"


class TlsFiles(_Strict):
    cert_file: str | None = None
    key_file: str | None = None


def _cidr_networks(value: Any) -> Any:
    """CIDR strings to networks, with a plain-words error for a bad one."""
    if not isinstance(value, list | tuple):
        return value
    networks: list[IPv4Network | IPv6Network] = []
    for item in value:
        try:
            networks.append(ip_network(str(item), strict=True))
        except ValueError as exc:
            raise ValueError(
                f"{item!r} is not a network in CIDR form (e.g. 192.168.1.0/24): {exc}"
            ) from exc
    return tuple(networks)


class Gateway(_Strict):
    """Gateway mode: the agency's own mail system (Postfix, Microsoft 365,
    Google Workspace, a filter appliance) relays its outgoing mail through
    Tactful, so workers keep their mail program and password.

    A client is the mail system when it connects from ``networks`` (and,
    with ``client_ca_file``, shows a certificate signed by that CA, named
    in ``client_names`` if any are listed), or when it logs in as one of
    ``relay_accounts``. Its envelope sender must be an address in
    ``agency.domains`` and the header From: must be that same address:
    the sender is the worker the mail is judged and answered for.
    """

    networks: tuple[IPv4Network | IPv6Network, ...] = ()
    client_ca_file: str | None = None
    client_names: tuple[str, ...] = ()
    relay_accounts: tuple[str, ...] = ()

    @field_validator("networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        return _cidr_networks(value)

    @field_validator("client_names", "relay_accounts")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(name.strip().lower() for name in value)

    @property
    def enabled(self) -> bool:
        return bool(self.networks or self.relay_accounts)


class Smtp(_Strict):
    """The submission front door (``tactful serve``)."""

    listen: str = "127.0.0.1:2525"
    # Implicit TLS (465-style) listener; needs tls.cert_file/key_file.
    implicit_tls_listen: str | None = None
    hostname: str = "tactful.localhost"
    tls: TlsFiles = TlsFiles()
    # An entry point in group tactful.auth_backends: local, upstream, or a plugin.
    auth_backend: str = "local"
    users_file: str = "var/users.json"
    max_message_size: int = Field(25 * 1024 * 1024, ge=1024)
    max_recipients: int = Field(50, ge=1)
    max_line_length: int = Field(998, ge=78)
    max_connections: int = Field(100, ge=1)
    # Open connections one client address may hold at once (IPv6: per /64).
    max_connections_per_client: int = Field(10, ge=1)
    # Of max_connections, slots kept for a client address that has no
    # connection waiting to log in (None: a tenth of max_connections).
    reserved_connections: int | None = Field(None, ge=0)
    # A connection that has not logged in after this long is closed.
    pre_auth_timeout_seconds: float = Field(30.0, gt=0)
    idle_timeout_seconds: float = Field(120.0, gt=0)
    # Clients connecting from these networks may submit without AUTH (like
    # Postfix's permit_mynetworks), e.g. a copier or a load generator. Their
    # mail is linted like any other. Empty: everyone must log in.
    trusted_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    gateway: Gateway = Gateway()
    # Processes accepting SMTP on the same listening sockets: the main one
    # plus processes - 1 that run only the front door and the pipeline
    # behind it (proxy.app.frontends).
    processes: int = 1

    @property
    def reserve(self) -> int:
        """The reserved slots (``reserved_connections`` or its default)."""
        if self.reserved_connections is not None:
            return self.reserved_connections
        return self.max_connections // 10

    @model_validator(mode="after")
    def _reserve_fits(self) -> Smtp:
        if self.reserved_connections is not None and (
            self.reserved_connections >= self.max_connections
        ):
            raise ValueError("smtp.reserved_connections must be smaller than smtp.max_connections")
        return self

    @field_validator("trusted_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        return _cidr_networks(value)

    @field_validator("processes")
    @classmethod
    def _processes(cls, value: int) -> int:
        if not 1 <= value <= MAX_SMTP_PROCESSES:
            raise ValueError(
                f"must be between 1 and {MAX_SMTP_PROCESSES} (1: one process does "
                "everything; more than the number of cores does not help)"
            )
        return value


class Upstream(_Strict):
    """Where accepted mail goes: ``HOST:PORT`` or ``maildir:PATH``."""

    target: str = "maildir:var/outbox"
    starttls: Literal["auto", "require", "off"] = "auto"
    implicit_tls: bool = False
    verify_tls: bool = True
    username: str | None = None
    password_env: str | None = None
    timeout_seconds: float = Field(60.0, gt=0)
    # Connections kept open between deliveries (each reset before reuse,
    # as Postfix caches its own); 0: a new connection for every message.
    idle_connections: int = Field(4, ge=0, le=64)


class Dkim(_Strict):
    enabled: bool = True
    selector: str = "tactful"
    domain: str | None = None  # default: first of agency.domains
    key_file: str = "var/dkim.key"


class Hold(_Strict):
    """Held and deferred messages are encrypted at rest (AES-GCM).

    The key is read from the environment variable ``key_env`` if set there,
    else from ``key_file`` (created with mode 0600 on first start).
    """

    key_env: str = "TACTFUL_HOLD_KEY"
    key_file: str = "var/hold.key"
    expire_days: int = Field(14, ge=1)
    # How long a node owns a delivery it started: if it dies mid-send,
    # another node sends the message once this has passed.
    delivery_lease_seconds: int = Field(300, ge=5, le=3600)


class Analysis(_Strict):
    # false relays without linting (for benchmarks and emergencies only).
    enabled: bool = True
    pool_size: int | None = Field(None, ge=1)  # default: number of cores
    time_budget_seconds: float = Field(60.0, gt=0)
    # A free worker takes up to this many waiting messages into one spaCy
    # batch; it never waits for more to arrive.
    max_batch: int = Field(8, ge=1, le=64)


class Notices(_Strict):
    from_address: str = "tactful@example.org"
    # Add an X-Tactful-Findings header (rule codes only) to relayed mail. Off:
    # it reaches the recipient, and which kinds of detail a message had is
    # itself a disclosure; the audit trail keeps the codes either way.
    findings_header: bool = False


class Review(_Strict):
    """The review web app for supervisors (served by ``tactful serve``)."""

    listen: str = "127.0.0.1:8025"
    # The address reviewers and senders reach the app at; links in notices
    # and the digest start with it.
    base_url: str = "http://127.0.0.1:8025"
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    # Signs session-free links (the sender's cancel link). Read from the
    # environment variable ``secret_key_env`` if set, else from the file
    # (created with mode 0600 on first start).
    secret_key_env: str = "TACTFUL_REVIEW_KEY"
    secret_key_file: str = "var/review.key"
    cancel_link_days: int = Field(14, ge=1)
    # Sender address or account name -> reviewer account names. Anyone not
    # listed (or whose reviewers are all gone) goes to every reviewer.
    supervisors: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # Only the reviewers ``supervisors`` names for a sender (and admins) may
    # release or return that sender's mail, in the web app and the CLI.
    enforce_routing: bool = True
    # Hours between reviewers' digest emails; 0 turns the digest off.
    digest_hours: int = Field(4, ge=0)
    # auto: Secure cookies when the app is reached over https (base_url or
    # the request); true/false force it.
    cookie_secure: Literal["auto", "true", "false"] = "auto"
    login_max_failures: int = Field(5, ge=1)
    login_lockout_minutes: int = Field(15, ge=1)

    @field_validator("supervisors")
    @classmethod
    def _supervisors(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return {
            key.strip().lower(): tuple(name.strip().lower() for name in names)
            for key, names in value.items()
        }


# 42 CFR 2.32(a)(1) and (a)(2) as amended by the final rule of 16 February
# 2024 (89 FR 12472); the shipped tactful.yaml carries the same text, with
# where it comes from (tests/core/test_shipped_config.py keeps them equal).
PART2_NOTICE = (
    "This record which has been disclosed to you is protected by Federal confidentiality "
    "rules (42 CFR part 2). These rules prohibit you from using or disclosing this record, or"
    " testimony that describes the information contained in this record, in any civil, "
    "criminal, administrative, or legislative proceedings by any Federal, State, or local "
    "authority, against the patient, unless authorized by the consent of the patient, except "
    "as provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR "
    "2.64 or 2.65. In addition, the Federal rules prohibit you from making any other use or "
    "disclosure of this record unless at least one of the following applies: (i) Further use "
    "or disclosure is expressly permitted by the written consent of the individual whose "
    "information is being disclosed in this record or as otherwise permitted by 42 CFR part "
    "2. (ii) You are a covered entity or business associate and have received the record for "
    "treatment, payment, or health care operations, or (iii) You have received the record "
    "from a covered entity or business associate as permitted by 45 CFR part 164, subparts A "
    "and E. A general authorization for the release of medical or other information is NOT "
    "sufficient to meet the required elements of written consent to further use or redisclose"
    " the record (see 42 CFR 2.31)."
)
PART2_SHORT_NOTICE = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."


class Part2(_Strict):
    """The 42 CFR Part 2 notice (§2.32) added to each disclosure of a Part 2
    client's substance-use information."""

    notice: str = Field(PART2_NOTICE, min_length=1)  # §2.32(a)(1), for email
    short_notice: str = Field(PART2_SHORT_NOTICE, min_length=1)  # §2.32(a)(2), for texts


class Disclosures(_Strict):
    """The accounting of disclosures: HIPAA asks for six years."""

    retention_years: int = Field(6, ge=1)


class Settings(_Strict):
    mode: Literal["enforce", "monitor"] = "enforce"
    agency: Agency = Agency()
    sms: Sms = Sms()
    nlp: Nlp = Nlp()
    limits: Limits = Limits()
    detectors: dict[str, DetectorConfig] = Field(default_factory=dict)
    policy: Policy = Policy()
    database: Database = Database()
    smtp: Smtp = Smtp()
    upstream: Upstream = Upstream()
    dkim: Dkim = Dkim()
    hold: Hold = Hold()
    analysis: Analysis = Analysis()
    # What a failure (internal error, analysis timeout, database or upstream
    # down) does: "tempfail" answers 451 so the client retries (fail-closed);
    # "pass" relays unlinted.
    on_error: Literal["tempfail", "pass"] = "tempfail"
    notices: Notices = Notices()
    review: Review = Review()
    part2: Part2 = Part2()
    disclosures: Disclosures = Disclosures()
    # tactful serve's log: text lines, or one JSON object per line for log
    # shippers. Either way: ids and rule codes, never content.
    log_format: Literal["text", "json"] = "text"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` over ``base``; mappings merge, everything else replaces."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Traversable) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must contain a mapping of settings at the top level")
    return data


def _describe(exc: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling against proxy/core/defaults/tactful.yaml)"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def load_settings(
    path: str | Path | None = None, *, base: Traversable = DEFAULT_CONFIG
) -> Settings:
    """Shipped defaults, with the optional agency file merged over them."""
    data = _read_yaml(base)
    origin = str(base)
    if path is not None:
        data = deep_merge(data, _read_yaml(Path(path)))
        origin = f"{path} (merged over {base.name})"
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from exc


def settings_from_mapping(
    overrides: Mapping[str, Any], *, base: Traversable = DEFAULT_CONFIG
) -> Settings:
    """Defaults with ``overrides`` merged over them; used by tests and tools."""
    try:
        return Settings.model_validate(deep_merge(_read_yaml(base), overrides))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "overrides")) from exc
