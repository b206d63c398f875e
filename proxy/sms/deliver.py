"""Sending spooled texts (released holds, scheduled texts) to the provider.

The scheduler owns retries and states; this only translates the provider's
answer into the SMTP-shaped :class:`DeliveryResult` it understands: taken
is 250, "later" (429, 5xx, no answer) is 451 and retried, any other refusal
is permanent. The provider's own error text is never passed on: it can
quote the number.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from proxy.outbound.relay import DeliveryResult, RecipientResult
from proxy.pipeline.services import Services
from proxy.sms.phone import number_of
from proxy.sms.provider import ProviderClient, ProviderReply, Unreachable
from proxy.sms.textmail import TextMailError, from_message
from proxy.store.spool_view import SpooledMessage

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


class SmsDeliverer:
    """The scheduler's deliverer for spooled texts (``sms:`` recipients)."""

    def __init__(self, provider: ProviderClient) -> None:
        self._provider = provider

    def handles(self, message: SpooledMessage) -> bool:
        return bool(message.recipients) and all(
            number_of(r) is not None for r in message.recipients
        )

    async def deliver(self, message: SpooledMessage, raw: bytes) -> DeliveryResult:
        if not message.recipients:
            return DeliveryResult(False, 554, "5.1.3", "The stored text has no recipient")
        per: dict[str, RecipientResult] = {}
        for recipient in message.recipients:
            number = number_of(recipient)
            if number is None:  # handles() said otherwise; never guess
                per[recipient] = RecipientResult(554, "5.1.3", "Not a text message recipient")
                continue
            try:
                text = await asyncio.to_thread(from_message, raw, number)
            except TextMailError as exc:
                log.error("spooled text %s cannot be read: %s", message.id, exc)
                return DeliveryResult(False, 554, "5.6.0", f"The stored text is damaged: {exc}")
            per[recipient] = _result(await self._provider.send(text))
        failed = [r for r in per.values() if not r.accepted]
        if not failed:
            return DeliveryResult(True, 250, "2.0.0", "Sent to the SMS provider", per)
        # A temporary failure wins: the whole text is retried. A partly sent
        # one is rare (one number per text from the API) and a repeat beats
        # a loss.
        first = next((r for r in failed if 400 <= r.code < 500), failed[0])
        return DeliveryResult(False, first.code, first.enhanced, first.text, per)


def sms_deliverer(
    services: Services, environ: Mapping[str, str] | None = None
) -> SmsDeliverer | None:
    """The deliverer for ``tactful serve``, or ``None`` without a provider.

    Raises :class:`proxy.core.config.ConfigError` when a provider is configured
    but its secret is missing from the environment.
    """
    provider = ProviderClient.from_settings(services.settings, environ)
    return SmsDeliverer(provider) if provider is not None else None
