"""Signed, expiring links a sender can follow without logging in.

The cancel link in a held notice is a capability: whoever has it may
withdraw that one message, nothing else. It carries the message id signed
with the review key (itsdangerous, HMAC-SHA256) and a timestamp, so a
changed id or an old link is refused. Following it only shows a
confirmation page: mail scanners fetch links, so the cancel itself is a
POST.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from proxy.core.clock import Clock
from proxy.core.config import Settings
from proxy.review.secret import load_or_create_review_key

_SALT = "tactful.cancel-link.v1"


class LinkProblem(Enum):
    INVALID = "invalid"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class CancelTarget:
    message_id: str


class CancelLinks:
    """Implements :class:`proxy.pipeline.notices.NoticeLinks`."""

    def __init__(
        self,
        key: bytes,
        base_url: str,
        max_age: timedelta,
        *,
        clock: Clock,
    ) -> None:
        class _Signer(TimestampSigner):
            # itsdangerous reads time.time() itself, both to stamp a link
            # and to check its age: both must come from our clock.
            def get_timestamp(self) -> int:
                return int(clock().timestamp())

        self._serializer = URLSafeTimedSerializer(key, salt=_SALT, signer=_Signer)
        self._base = base_url.rstrip("/")
        self._max_age = max_age

    def token(self, message_id: str) -> str:
        return str(self._serializer.dumps(message_id))

    def cancel_url(self, message_id: str) -> str | None:
        return f"{self._base}/cancel/{self.token(message_id)}"

    def check(self, token: str) -> CancelTarget | LinkProblem:
        """The message a token names, or why it cannot be used."""
        try:
            value = self._serializer.loads(token, max_age=int(self._max_age.total_seconds()))
        except SignatureExpired:
            return LinkProblem.EXPIRED
        except BadSignature:
            return LinkProblem.INVALID
        if not isinstance(value, str) or not value:
            return LinkProblem.INVALID
        return CancelTarget(value)


def links_from_settings(settings: Settings, clock: Clock) -> CancelLinks:
    """What ``tactful serve`` hands the SMTP pipeline for held notices."""
    review = settings.review
    return CancelLinks(
        load_or_create_review_key(review),
        review.base_url,
        timedelta(days=review.cancel_link_days),
        clock=clock,
    )
