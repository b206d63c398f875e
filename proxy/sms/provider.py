"""The upstream SMS provider, spoken to in Twilio's Messages API.

Each outcome is kept as the provider gave it (status, JSON body,
Retry-After) so the Messages endpoint can hand it back faithfully, and so
the spool deliverer can tell "try again later" (429, 5xx, no answer) from
"never" (other 4xx). A request that got no answer is :class:`Unreachable`,
never an invented status.

A fresh connection per text: texts are few, and a client bound to no event
loop works from the web server and the scheduler alike.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from proxy.core.config import ConfigError, Settings
from proxy.core.config import SmsProvider as ProviderSettings

log = logging.getLogger(__name__)

MESSAGES_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"


@dataclass(frozen=True, slots=True)
class OutgoingText:
    """One text as the provider's form fields. Its repr hides the number
    and the words: they are client data."""

    to: str = field(repr=False)
    body: str = field(repr=False)
    from_: str | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None

    def form(self) -> dict[str, str]:
        fields = {"To": self.to, "Body": self.body}
        if self.from_:
            fields["From"] = self.from_
        if self.messaging_service_sid:
            fields["MessagingServiceSid"] = self.messaging_service_sid
        if self.status_callback:
            fields["StatusCallback"] = self.status_callback
        return fields


@dataclass(frozen=True, slots=True)
class ProviderReply:
    """What the provider answered, untouched."""

    status: int
    content: bytes = field(repr=False)
    content_type: str
    retry_after: str | None = None

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def temporary(self) -> bool:
        """Worth trying again later: rate-limited or the provider's own fault."""
        return self.status == 429 or self.status >= 500

    def error_code(self) -> int | None:
        """The Twilio error code in the body, if there is one (never its text,
        which may quote the number)."""
        try:
            data = httpx.Response(self.status, content=self.content).json()
        except ValueError:
            return None
        code = data.get("code") if isinstance(data, dict) else None
        return code if isinstance(code, int) else None


@dataclass(frozen=True, slots=True)
class Unreachable:
    """No answer: a timeout, a refused connection, a broken exchange."""

    reason: str  # an exception class name, safe to log


ProviderOutcome = ProviderReply | Unreachable


class ProviderClient:
    """Sends texts to the configured Twilio-compatible provider."""

    def __init__(
        self,
        settings: ProviderSettings,
        environ: Mapping[str, str] | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not settings.base_url or not settings.account_sid:
            raise ConfigError("sms.provider needs base_url and account_sid")
        env = os.environ if environ is None else environ
        if settings.api_key_sid:
            if not settings.api_key_secret_env:
                raise ConfigError("sms.provider.api_key_sid needs api_key_secret_env")
            login, secret_env = settings.api_key_sid, settings.api_key_secret_env
        else:
            login, secret_env = settings.account_sid, settings.auth_token_env
        secret = env.get(secret_env, "")
        if not secret:
            raise ConfigError(
                f"the SMS provider's secret is not set: put it in the environment "
                f"variable {secret_env} (sms.provider)"
            )
        self._auth = httpx.BasicAuth(login, secret)
        self._url = settings.base_url.rstrip("/") + MESSAGES_PATH.format(sid=settings.account_sid)
        self._timeout = settings.timeout_seconds
        self._transport = transport

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> ProviderClient | None:
        """``None`` when no provider is configured."""
        provider = settings.sms.provider
        return cls(provider, environ) if provider.configured else None

    async def send(self, text: OutgoingText) -> ProviderOutcome:
        try:
            async with httpx.AsyncClient(
                auth=self._auth, timeout=self._timeout, transport=self._transport
            ) as client:
                response = await client.post(
                    self._url, data=text.form(), headers={"Accept": "application/json"}
                )
        except httpx.HTTPError as exc:
            log.warning("SMS provider not reached: %s", type(exc).__name__)
            return Unreachable(type(exc).__name__)
        return ProviderReply(
            status=response.status_code,
            content=response.content,
            content_type=response.headers.get("content-type", "application/json"),
            retry_after=response.headers.get("retry-after"),
        )
