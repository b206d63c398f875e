"""The review app's signing key: from an environment variable, else a file
created on first start.

Why a persistent key and not one made at start-up: cancel links sit in
senders' mailboxes for days and must survive a restart of ``tactful serve``,
and several nodes behind one name must accept each other's links. The file
is created and guarded exactly like the hold key's, by
:mod:`proxy.store.key_file`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from proxy.core.config import Review
from proxy.store.key_file import SecretKind, load_or_create_secret

KEY_BYTES = 32
# HMAC keys shorter than this are guessable; a longer one given in the
# environment is fine.
MIN_KEY_BYTES = 16


class ReviewKeyError(Exception):
    """The signing key cannot be read or created; the text says how to fix it."""


def _length_problem(key: bytes) -> str | None:
    if len(key) >= MIN_KEY_BYTES:
        return None
    return f"is too short (at least {MIN_KEY_BYTES} bytes)"


_REVIEW_KEY = SecretKind("review key", KEY_BYTES, _length_problem, ReviewKeyError)


def load_or_create_review_key(review: Review, environ: Mapping[str, str] | None = None) -> bytes:
    """The key from ``review.secret_key_env`` if set, else from
    ``review.secret_key_file`` (created, mode 0600, on first start)."""
    return load_or_create_secret(
        _REVIEW_KEY,
        env_var=review.secret_key_env,
        path=Path(review.secret_key_file),
        environ=environ,
    )
