"""Errors in Twilio's JSON shape, so programs written for Twilio show them.

Twilio answers failures with ``{"code", "message", "more_info", "status"}``
and its client libraries turn that into an exception carrying the code and
the message. Tactful's messages are plain words for the worker who sees
them; codes are Twilio's own where one means the same thing, so existing
error handling (e.g. "21211: fix the number") keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
# Tactful's own codes are documented with the SMS setup.
TACTFUL_MORE_INFO = "docs/sms.md#error-codes"

# Twilio's codes for the same conditions.
AUTHENTICATION = 20003
NOT_FOUND = 20404
TOO_MANY_REQUESTS = 20429
SERVICE_UNAVAILABLE = 20503
INVALID_TO = 21211
INVALID_FROM = 21212
MISSING_TO = 21604
MISSING_FROM = 21603
MISSING_BODY = 21602
BODY_TOO_LONG = 21617
UNSUBSCRIBED = 21610  # the recipient replied STOP / withdrew consent
# Tactful's own (93xxx is not a Twilio range).
POLICY_BLOCKED = 93001  # a rule in the agency's policy blocks the text
NO_PROVIDER = 93002  # no sms.provider configured
UNSUPPORTED_PARAMETER = 93003  # a parameter Tactful does not pass on
TACTFUL_CODES = frozenset({POLICY_BLOCKED, NO_PROVIDER, UNSUPPORTED_PARAMETER})


@dataclass(frozen=True, slots=True)
class SmsError:
    status: int
    code: int
    message: str
    retry_after: int | None = None  # seconds, for 429 and 503

    @property
    def more_info(self) -> str:
        if self.code in TACTFUL_CODES:
            return TACTFUL_MORE_INFO
        return MORE_INFO.format(code=self.code)

    def body(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": self.more_info,
            "status": self.status,
        }

    def response(self) -> JSONResponse:
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="Tactful SMS"'
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_auth() -> SmsError:
    return SmsError(
        401,
        AUTHENTICATION,
        "The user name or password is wrong. Use your Tactful login, or an API key "
        "your administrator set up.",
    )
