"""The provider's inbound webhook: replies from clients' phones.

Only a request the provider signed is believed (``X-Twilio-Signature``,
checked by Twilio's own ``RequestValidator`` with the account's auth
token): anyone else could otherwise revoke or restore a client's consent
by posting a form. The answer is empty TwiML, which tells the provider to
send nothing back; the provider's own opt-out handling sends the usual
confirmation.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from twilio.request_validator import RequestValidator

from proxy.core.clock import Clock
from proxy.core.config import Settings
from proxy.sms.form import FormProblem, read_form
from proxy.sms.keywords import KeywordHandler, keyword_of
from proxy.sms.phone import e164

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SIGNATURE_HEADER = "X-Twilio-Signature"


def _twiml(status: int = 200) -> Response:
    return Response(EMPTY_TWIML, status_code=status, media_type="text/xml")


class InboundWebhook:
    def __init__(
        self,
        settings: Settings,
        handler: KeywordHandler,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Clock,
    ) -> None:
        provider = settings.sms.provider
        env = os.environ if environ is None else environ
        token = env.get(provider.auth_token_env, "")
        self._validator = RequestValidator(token) if token else None
        self._validate = provider.validate_signature
        self._token_env = provider.auth_token_env
        self._public_url = provider.inbound_url
        self._region = settings.agency.default_region
        self._handler = handler
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        params = await read_form(request)
        if isinstance(params, FormProblem):
            status = 413 if params.too_large else 400
            return Response(params.text, status_code=status, media_type="text/plain")
        if self._validate:
            if self._validator is None:
                log.error(
                    "inbound text refused: set the provider auth token in %s to check "
                    "signatures (sms.provider.auth_token_env)",
                    self._token_env,
                )
                return Response(
                    "Tactful cannot check the provider's signature: no auth token is set",
                    status_code=503,
                    media_type="text/plain",
                )
            url = self._public_url or str(request.url)
            signature = request.headers.get(SIGNATURE_HEADER, "")
            if not signature or not self._validator.validate(url, params, signature):
                log.warning("inbound text refused: missing or wrong %s", SIGNATURE_HEADER)
                return Response("Invalid signature", status_code=403, media_type="text/plain")
        found = keyword_of(params.get("Body", ""))
        if found is None:
            log.info("inbound text received (not a keyword)")
            return _twiml()
        keyword, word = found
        number = e164(params.get("From", ""), self._region)
        if number is None:
            log.warning("inbound %s from a number that cannot be read; ignored", keyword.value)
            return _twiml()
        await asyncio.to_thread(
            self._handler.apply,
            keyword,
            word,
            number,
            at=self._clock(),
            message_sid=params.get("MessageSid") or params.get("SmsSid") or None,
        )
        return _twiml()
