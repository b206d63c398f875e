"""Forwarding texts to the SMS provider: the SMS channel's forwarder.

The pipeline (a text from the Messages API, judged now) and the scheduler
(released holds, scheduled texts) both hand texts to the provider through
this. The provider's answer comes back twice (see
:class:`proxy.pipeline.forward.Forwarded`): as the status the spool
records and retries on (taken; "later" for 429, 5xx or no answer;
refused otherwise), whose text never quotes the provider's own error
message (it can quote the number), and as the provider's own reply,
which the Messages API relays faithfully to the program that asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from proxy.core.config import Settings
from proxy.outbound.relay import DeliveryResult, RecipientResult
from proxy.pipeline.forward import Forwarded
from proxy.sms.phone import number_of
from proxy.sms.provider import ProviderClient, ProviderReply, Unreachable
from proxy.sms.textmail import TextMailError, from_message

log = logging.getLogger(__name__)

UNREACHABLE_TEXT = "The SMS provider could not be reached; the text will be retried"


def _result(outcome: ProviderReply | Unreachable) -> RecipientResult:
    if isinstance(outcome, Unreachable):
        return RecipientResult(451, "4.4.1", UNREACHABLE_TEXT)
    if outcome.accepted:
        return RecipientResult(250, "2.0.0", "Sent to the SMS provider")
    if outcome.temporary:
        return RecipientResult(
            451,
            "4.4.1",
            f"The SMS provider could not take the text yet (HTTP {outcome.status}); "
            "it will be retried",
        )
    code = outcome.error_code()
    detail = f"HTTP {outcome.status}" + (f", error {code}" if code is not None else "")
    return RecipientResult(554, "5.0.0", f"The SMS provider refused the text ({detail})")


class SmsForwarder:
    """Texts to the provider, one request per recipient number."""

    def __init__(self, provider: ProviderClient) -> None:
        self._provider = provider

    async def forward(
        self, sender: str, recipients: Sequence[str], raw: bytes, codes: Sequence[str]
    ) -> Forwarded:
        if not recipients:
            return Forwarded(DeliveryResult(False, 554, "5.1.3", "The text has no recipient"))
        per: dict[str, RecipientResult] = {}
        reply: ProviderReply | Unreachable | None = None
        for recipient in recipients:
            number = number_of(recipient)
            if number is None:  # never guess where a text goes
                per[recipient] = RecipientResult(554, "5.1.3", "Not a text message recipient")
                continue
            try:
                text = await asyncio.to_thread(from_message, raw, number)
            except TextMailError as exc:
                log.error("a text cannot be read back: %s", exc)
                status = DeliveryResult(False, 554, "5.6.0", f"The stored text is damaged: {exc}")
                return Forwarded(status)
            reply = await self._provider.send(text)
            per[recipient] = _result(reply)
        failed = [r for r in per.values() if not r.accepted]
        if not failed:
            status = DeliveryResult(True, 250, "2.0.0", "Sent to the SMS provider", per)
            return Forwarded(status, reply)
        # A temporary failure wins: the whole text is retried. A partly sent
        # one is rare (one number per text from the API) and a repeat beats
        # a loss.
        first = next((r for r in failed if 400 <= r.code < 500), failed[0])
        status = DeliveryResult(False, first.code, first.enhanced, first.text, per)
        return Forwarded(status, reply)


def sms_forwarder(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> SmsForwarder | None:
    """The forwarder for ``tactful serve``, or ``None`` without a provider.

    Raises :class:`proxy.core.config.ConfigError` when a provider is configured
    but its secret is missing from the environment.
    """
    provider = ProviderClient.from_settings(settings, environ)
    return SmsForwarder(provider) if provider is not None else None
