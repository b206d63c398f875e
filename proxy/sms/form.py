"""Reading a provider-style form post with a hard size limit.

Twilio's API and its webhooks speak ``application/x-www-form-urlencoded``
only. Reading the body ourselves, chunk by chunk, stops an oversized or
endless request early whether or not it declares its length, which a
general form parser would read whole first.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 100
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class FormProblem:
    """Why a request body could not be read; ``too_large`` or plain words."""

    too_large: bool
    text: str


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str] | FormProblem:
    """The form fields (the last value of a repeated field)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM_TYPE:
        return FormProblem(False, f"Send the parameters as {FORM_TYPE}.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return FormProblem(True, "The request is too large.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return FormProblem(True, "The request is too large.")
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return FormProblem(False, "The parameters could not be read (not UTF-8 form data).")
    return dict(pairs)
