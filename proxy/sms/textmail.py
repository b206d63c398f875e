"""A text message as a small RFC 5322 message, and back.

Held and scheduled texts wait in the same spool as email, so reviewers
see them in the same queue, ``tactful held`` lists them, and the lint
engine reads them like any message. The envelope recipient is
``sms:+E164``; the provider fields a text needs besides its words (the
sending number, a messaging service, a status callback URL) ride in
``X-Tactful-Sms-*`` headers, which carry no client data.
"""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime

from proxy.lint.headers import TEXT_FROM_FIELD, TEXT_SERVICE_FIELD
from proxy.sms.provider import OutgoingText

SUBJECT = "Text message"
FROM_HEADER = TEXT_FROM_FIELD
SERVICE_HEADER = TEXT_SERVICE_FIELD
CALLBACK_HEADER = "X-Tactful-Sms-Status-Callback"
CHANNEL_HEADER = "X-Tactful-Channel"


class TextMailError(ValueError):
    """A spooled text cannot be read back (no text part)."""


def _header_safe(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise TextMailError("a provider field contains a line break")
    return value


def to_message(*, sender: str, text: OutgoingText, message_id: str, at: datetime) -> bytes:
    """``sender`` is the worker's email address (notices go there)."""
    message = EmailMessage(policy=email_policy.SMTP)
    message["From"] = sender
    message["To"] = text.to
    message["Subject"] = SUBJECT
    message["Date"] = format_datetime(at)
    message["Message-ID"] = f"<{message_id}@sms.tactful>"
    message[CHANNEL_HEADER] = "sms"
    if text.from_:
        message[FROM_HEADER] = _header_safe(text.from_)
    if text.messaging_service_sid:
        message[SERVICE_HEADER] = _header_safe(text.messaging_service_sid)
    if text.status_callback:
        message[CALLBACK_HEADER] = _header_safe(text.status_callback)
    message.set_content(text.body, charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


def body_of(raw: bytes) -> str:
    """The words of a spooled (possibly masked) text."""
    return _body(message_from_bytes(raw, policy=email_policy.default))


def _body(parsed: EmailMessage) -> str:
    part = parsed.get_body(("plain",)) if parsed.is_multipart() else parsed
    if part is None or part.get_content_type() != "text/plain":
        raise TextMailError("the stored text message has no text part")
    content = part.get_content()  # type: ignore[attr-defined]
    if not isinstance(content, str):
        raise TextMailError("the stored text message has no text part")
    # The policy writes CRLF (SMTP's line end) and set_content ends every
    # text with a newline; the worker's text had neither.
    content = content.replace("\r\n", "\n")
    return content[:-1] if content.endswith("\n") else content


def from_message(raw: bytes, to: str) -> OutgoingText:
    """The provider request for one recipient number of a spooled text."""
    parsed = message_from_bytes(raw, policy=email_policy.default)

    def header(name: str) -> str | None:
        value = parsed.get(name)
        return str(value).strip() or None if value is not None else None

    return OutgoingText(
        to=to,
        body=_body(parsed),
        from_=header(FROM_HEADER),
        messaging_service_sid=header(SERVICE_HEADER),
        status_callback=header(CALLBACK_HEADER),
    )
