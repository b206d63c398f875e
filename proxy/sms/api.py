"""The Twilio-compatible Messages endpoint: texts judged like email.

A program written for Twilio changes only its base URL to send through
Tactful. Each text is linted with channel ``sms`` and then, as the verdict
says, forwarded to the provider (pass, warn, redact with the masked
words), scheduled (defer), held for a reviewer (hold) or refused (reject).

The promise is the email proxy's: a 201 only once the provider took the
text or it is committed to the spool; anything that goes wrong on the way
is a 5xx or 429 with Retry-After, so the program tries again and nothing
is lost. Bad input is refused before anything is linted or forwarded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from proxy.accounts.auth import AuthBackend, AuthOutcome, Identity, make_auth_backend
from proxy.accounts.users import Role
from proxy.core.consent import Channel
from proxy.core.submission import Submission
from proxy.core.verdict import Action, Verdict
from proxy.lint.explain import when
from proxy.lint.rules import CONSENT_REVOKED
from proxy.lint.segments import count_segments
from proxy.pipeline.act import Pipeline
from proxy.pipeline.notices import MASK_EXAMPLE, masked_details
from proxy.pipeline.outcome import Disposition, Outcome
from proxy.pipeline.services import Services
from proxy.sms import errors
from proxy.sms.errors import SmsError
from proxy.sms.form import FormProblem, read_form
from proxy.sms.inbound import InboundWebhook
from proxy.sms.keywords import KeywordHandler
from proxy.sms.phone import e164, envelope_address
from proxy.sms.provider import OutgoingText, ProviderReply
from proxy.sms.textmail import body_of, to_message

log = logging.getLogger(__name__)

MESSAGES_ROUTE = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
INBOUND_ROUTE = "/sms/inbound"
ACCEPTED_FIELDS = frozenset({"To", "From", "Body", "StatusCallback", "MessagingServiceSid"})
RETRY_AFTER = 30  # seconds, when Tactful itself cannot judge or reach anyone
MAX_REASONS = 5


@dataclass(frozen=True, slots=True)
class _Key:
    secret_env: str
    user: str


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, password = decoded.partition(":")
    return (login, password) if sep and login else None


def _sender_address(identity: Identity) -> str:
    """Where notices about this worker's texts go."""
    if "@" in identity.name:
        return identity.name
    return min(identity.addresses) if identity.addresses else identity.name


class MessagesEndpoint:
    """``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``."""

    def __init__(
        self,
        services: Services,
        pipeline: Pipeline,
        *,
        auth: AuthBackend,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._settings = services.settings
        self._auth = auth
        self._env = os.environ if environ is None else environ
        self._keys = {k.sid: _Key(k.secret_env, k.user) for k in self._settings.sms.api_keys}
        self._clock = services.clock
        if services.logins is None:
            raise ValueError("the SMS API needs the shared login throttle (Services.logins)")
        self._logins = services.logins

    # --- the request -----------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        account_sid = request.path_params["AccountSid"]
        identity = await self._authenticate(request)
        if isinstance(identity, SmsError):
            return identity.response()
        fields = await read_form(request)
        if isinstance(fields, FormProblem):
            if fields.too_large:
                return self._too_long().response()
            return SmsError(400, errors.UNSUPPORTED_PARAMETER, fields.text).response()
        text = self._validate(fields)
        if isinstance(text, SmsError):
            return text.response()
        if not self._pipeline.forwards(Channel.SMS):
            return SmsError(
                503,
                errors.NO_PROVIDER,
                "Tactful has no SMS provider configured (sms.provider in the configuration), "
                "so texts cannot be sent. Ask your administrator.",
            ).response()
        return await self._process(account_sid, identity, text)

    async def _authenticate(self, request: Request) -> Identity | SmsError:
        """Basic auth through the login throttle SMTP AUTH and the review app
        share: a wrong password or key counts per login and client address."""
        credentials = _basic_credentials(request)
        if credentials is None:
            return errors.bad_auth()
        login, password = credentials
        client = request.client.host if request.client is not None else "unknown"
        until = await asyncio.to_thread(self._logins.blocked_until, login, client)
        if until is not None:
            seconds = max(60, math.ceil((until - self._logins.clock()).total_seconds()))
            return SmsError(
                429,
                errors.TOO_MANY_REQUESTS,
                "Too many wrong passwords for this login from your address: logging in is "
                f"paused for {math.ceil(seconds / 60)} more minutes. Check the password or "
                "API key your program uses, then try again.",
                retry_after=seconds,
            )
        found = await self._check(login, password)
        if found is None:
            await asyncio.to_thread(self._logins.failed, login, client, door="sms")
            return errors.bad_auth()
        if isinstance(found, Identity):
            await asyncio.to_thread(self._logins.succeeded, login, client, door="sms")
        return found

    async def _check(self, login: str, password: str) -> Identity | SmsError | None:
        """The identity, an error to answer (the backend is down), or None
        for a wrong password or key."""
        key = self._keys.get(login)
        if key is not None:
            secret = self._env.get(key.secret_env, "")
            if secret and hmac.compare_digest(secret.encode(), password.encode()):
                user = key.user.strip().lower()
                return Identity(user, Role.WORKER, frozenset({user}))
            return None
        decision = await self._auth.authenticate(login, password)
        if decision.outcome is AuthOutcome.ACCEPTED and decision.identity is not None:
            return decision.identity
        if decision.outcome is AuthOutcome.UNAVAILABLE:
            return SmsError(
                503,
                errors.SERVICE_UNAVAILABLE,
                "Tactful cannot check logins right now. Try again in a minute.",
                retry_after=RETRY_AFTER,
            )
        return None

    def _too_long(self) -> SmsError:
        limit = self._settings.sms.max_body_chars
        return SmsError(
            400,
            errors.BODY_TOO_LONG,
            f"The text is too long: at most {limit} characters. Shorten it, or send the "
            f"details through {self._settings.agency.secure_portal}.",
        )

    def _validate(self, fields: Mapping[str, str]) -> OutgoingText | SmsError:
        unknown = sorted(set(fields) - ACCEPTED_FIELDS)
        if unknown:
            return SmsError(
                400,
                errors.UNSUPPORTED_PARAMETER,
                "Tactful does not support these parameters, so the text was not sent: "
                + ", ".join(unknown[:5])
                + ". Send only To, From (or MessagingServiceSid), Body and StatusCallback.",
            )
        raw_to = fields.get("To", "").strip()
        if not raw_to:
            return SmsError(
                400, errors.MISSING_TO, "A 'To' phone number is required. Add the client's number."
            )
        number = e164(raw_to, self._settings.agency.default_region)
        if number is None:
            return SmsError(
                400,
                errors.INVALID_TO,
                "The 'To' number is not a valid phone number. Check it, including the "
                "area code (and the country code for numbers abroad).",
            )
        sender = fields.get("From", "").strip() or None
        service = fields.get("MessagingServiceSid", "").strip() or None
        if sender is None and service is None:
            return SmsError(
                400,
                errors.MISSING_FROM,
                "A 'From' phone number (or a MessagingServiceSid) is required.",
            )
        if any(c in (sender or "") + (service or "") for c in "\r\n\0"):
            return SmsError(400, errors.INVALID_FROM, "The 'From' value contains a line break.")
        body = fields.get("Body", "")
        if not body.strip():
            return SmsError(400, errors.MISSING_BODY, "The text is empty. Write a message to send.")
        if len(body) > self._settings.sms.max_body_chars:
            return self._too_long()
        callback = fields.get("StatusCallback", "").strip() or None
        if callback is not None and (
            not callback.startswith(("http://", "https://")) or any(c in callback for c in "\r\n ")
        ):
            return SmsError(400, errors.UNSUPPORTED_PARAMETER, "StatusCallback must be a URL.")
        return OutgoingText(
            to=number,
            body=body,
            from_=sender,
            messaging_service_sid=service,
            status_callback=callback,
        )

    # --- the verdict -----------------------------------------------------------

    async def _process(self, account_sid: str, identity: Identity, text: OutgoingText) -> Response:
        """A text is a submission on the SMS channel: the one pipeline judges
        and acts; this only turns its outcome into the Messages API's answer."""
        now = self._clock()
        message_id = uuid.uuid4().hex
        sender = _sender_address(identity)
        submission = Submission(
            id=message_id,
            sender=sender,
            recipients=(envelope_address(text.to),),
            user=identity.name,
            raw=to_message(sender=sender, text=text, message_id=message_id, at=now),
            received_at=now,
            channel=Channel.SMS,
        )
        outcome = await self._pipeline.handle(submission)
        match outcome.disposition:
            case Disposition.UNJUDGED:
                return SmsError(
                    503,
                    errors.SERVICE_UNAVAILABLE,
                    "Tactful could not check this text just now, so it was not sent. "
                    "Try again in a minute.",
                    retry_after=RETRY_AFTER,
                ).response()
            case Disposition.REJECTED:
                assert outcome.verdict is not None
                return _rejection(outcome.verdict).response()
            case Disposition.HELD:
                return _created(
                    account_sid,
                    submission,
                    text,
                    status="accepted",
                    tactful=_tactful(
                        submission.id,
                        Action.HOLD,
                        "Held for a supervisor to review; it has NOT been sent. You will get "
                        "an email when they decide.",
                        list(outcome.reasons),
                    ),
                )
            case Disposition.DEFERRED:
                assert outcome.send_at is not None
                local = outcome.send_at.astimezone(self._settings.agency.tz)
                return _created(
                    account_sid,
                    submission,
                    replace(text, body=body_of(outcome.raw)),  # as masked, if it was
                    status="scheduled",
                    tactful=_tactful(
                        submission.id,
                        Action.DEFER,
                        f"Scheduled: it has NOT been sent yet and will be sent on {when(local)}."
                        + _masked_words(outcome.masked, " When it goes, "),
                        list(outcome.reasons),
                        masked=outcome.masked,
                        send_at=outcome.send_at,
                    ),
                )
        reply = outcome.forwarded.reply if outcome.forwarded is not None else None
        if isinstance(reply, ProviderReply):
            return _faithful(reply, _sent(submission.id, outcome))
        return SmsError(
            503,
            errors.SERVICE_UNAVAILABLE,
            "The SMS provider could not be reached, so the text was not sent. "
            "Try again in a minute.",
            retry_after=RETRY_AFTER,
        ).response()


# --- answers -------------------------------------------------------------------


def _masked_words(masked: int, lead: str) -> str:
    if not masked:
        return ""
    details = f"{masked} detail{'s' if masked != 1 else ''}"
    verb = "are" if masked != 1 else "is"
    return f"{lead}{details} {verb} masked (like {MASK_EXAMPLE})."


def _tactful(
    reference: str,
    action: Action,
    note: str,
    reasons: list[str],
    *,
    masked: int = 0,
    send_at: datetime | None = None,
) -> dict[str, object]:
    """What Tactful did, in every 201: a program reads ``action`` (pass,
    warn, redact, defer, hold) and ``masked`` to know whether the text went
    as written; ``note`` and ``reasons`` are for the person."""
    return {
        "reference": reference,
        "action": action.value,
        "note": f"{note} Reference {reference}.",
        "reasons": reasons[:MAX_REASONS],
        "masked": masked,
        "send_at": send_at.astimezone(UTC).isoformat() if send_at is not None else None,
    }


def _sent(reference: str, outcome: Outcome) -> dict[str, object]:
    """The ``tactful`` object of a text the provider took now: the wording
    is after the fact (it has gone), so the advice is for next time."""
    verdict = outcome.verdict
    action = verdict.enforced if verdict is not None else Action.PASS
    if outcome.masked and verdict is not None:
        what = [f"Masked: {detail}." for detail in masked_details(verdict)]
        return _tactful(
            reference,
            Action.REDACT,
            "Sent." + _masked_words(outcome.masked, " "),
            [*what, *outcome.reasons],
            masked=outcome.masked,
        )
    if outcome.reasons:
        return _tactful(
            reference,
            Action.WARN,
            "Sent as written, with advice for next time in the reasons.",
            list(outcome.reasons),
        )
    return _tactful(reference, action, "Sent.", [])


def _faithful(reply: ProviderReply, tactful: Mapping[str, object] | None = None) -> Response:
    """The provider's own answer; a retryable one always carries a hint. A
    201 the provider accepted gains the ``tactful`` object, like every 201
    Tactful gives, so a program can tell a masked text from one sent as
    written; its own fields are untouched."""
    headers: dict[str, str] = {}
    if reply.retry_after:
        headers["Retry-After"] = reply.retry_after
    elif reply.temporary:
        headers["Retry-After"] = str(RETRY_AFTER)
    content = reply.content
    if tactful is not None and reply.accepted:
        content = _with_tactful(content, tactful)
    return Response(
        content, status_code=reply.status, headers=headers, media_type=reply.content_type
    )


def _with_tactful(content: bytes, tactful: Mapping[str, object]) -> bytes:
    try:
        resource = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return content  # not a Message resource: passed on as the provider sent it
    if not isinstance(resource, dict):
        return content
    resource["tactful"] = dict(tactful)
    return json.dumps(resource).encode()


def _rejection(verdict: Verdict) -> SmsError:
    reasons = verdict.reasons(Action.REJECT) or ["A rule does not allow this text."]
    revoked = any(
        h.rule == CONSENT_REVOKED and h.action == Action.REJECT and not h.overridden
        for h in verdict.hits
    )
    shown = reasons[:MAX_REASONS]
    message = "Not sent: Tactful blocked this text. " + " ".join(shown)
    if len(reasons) > len(shown):
        message += f" ...and {len(reasons) - len(shown)} more reasons."
    return SmsError(400, errors.UNSUBSCRIBED if revoked else errors.POLICY_BLOCKED, message)


def _created(
    account_sid: str,
    submission: Submission,
    text: OutgoingText,
    *,
    status: str,
    tactful: dict[str, object],
) -> JSONResponse:
    """A Message resource like Twilio's, so clients read ``sid`` and
    ``status`` as usual; ``tactful`` says what happened and why."""
    sid = f"SM{submission.id}"
    created = format_datetime(submission.received_at.astimezone(UTC), usegmt=True)
    body = {
        "sid": sid,
        "account_sid": account_sid,
        "to": text.to,
        "from": text.from_,
        "messaging_service_sid": text.messaging_service_sid,
        "body": text.body,
        "status": status,
        "num_segments": str(count_segments(text.body).segments),
        "num_media": "0",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": created,
        "date_updated": created,
        "date_sent": None,
        "error_code": None,
        "error_message": None,
        "price": None,
        "price_unit": None,
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        "subresource_uris": {},
        "tactful": tactful,
    }
    return JSONResponse(body, status_code=201)


# --- wiring -------------------------------------------------------------------


def build_sms_routes(
    services: Services,
    pipeline: Pipeline,
    *,
    auth: AuthBackend | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[BaseRoute]:
    """The Messages endpoint and the inbound webhook, for any Starlette app.

    Texts go through ``pipeline``, the same one as email; without an SMS
    forwarder in it (no provider configured) texts are refused with a
    clear 503. ``auth`` defaults to the SMTP front door's backend.
    """
    settings = services.settings
    messages = MessagesEndpoint(
        services, pipeline, auth=auth or make_auth_backend(settings), environ=environ
    )
    inbound = InboundWebhook(
        settings, KeywordHandler(services.engine), environ=environ, clock=services.clock
    )
    return [
        Route(MESSAGES_ROUTE, messages.handle, methods=["POST"], name="sms_messages"),
        Route(INBOUND_ROUTE, inbound.handle, methods=["POST"], name="sms_inbound"),
    ]
