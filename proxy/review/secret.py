"""The review app's signing key: from an environment variable, else a file
created on first start.

Why a persistent key and not one made at start-up: cancel links sit in
senders' mailboxes for days and must survive a restart of ``tactful serve``,
and several nodes behind one name must accept each other's links.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from proxy.core.config import Review

KEY_BYTES = 32


class ReviewKeyError(Exception):
    """The signing key cannot be read or created; the text says how to fix it."""


def _decode(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ReviewKeyError(f"the review key in {origin} is not valid base64") from None
    if len(key) < 16:
        raise ReviewKeyError(f"the review key in {origin} is too short (at least 16 bytes)")
    return key


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ReviewKeyError(
            f"refusing to use the review key file {path}: other users can read it; "
            f"run: chmod 600 {path}"
        )
    return _decode(path.read_text(encoding="ascii"), f"file {path}")


def _create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, base64.b64encode(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def load_or_create_review_key(review: Review, environ: Mapping[str, str] | None = None) -> bytes:
    env = os.environ if environ is None else environ
    value = env.get(review.secret_key_env)
    if value:
        return _decode(value, f"environment variable {review.secret_key_env}")
    path = Path(review.secret_key_file)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise ReviewKeyError(f"cannot read the review key file {path}: {exc}") from None
    try:
        return _create(path)
    except FileExistsError:
        return _read(path)
    except OSError as exc:
        raise ReviewKeyError(f"cannot create the review key file {path}: {exc.strerror}") from None
