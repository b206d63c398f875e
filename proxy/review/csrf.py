"""CSRF tokens for every form that changes something.

Logged-in forms carry the session's token. Forms used before logging in
(the login form, a sender's cancel confirmation) use a double-submit
token: a random value in a SameSite=Strict cookie that the form must echo,
which another site can neither read nor set.
"""

from __future__ import annotations

import hmac
import secrets

FIELD = "csrf"
FORM_COOKIE = "tactful_form"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: object) -> bool:
    """Constant-time comparison; a missing or non-text value never matches."""
    if not expected or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
