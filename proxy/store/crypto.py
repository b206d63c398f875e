"""Encryption at rest for held and deferred messages.

A held message is client data sitting on disk for days, in a database file
that ends up in backups. AES-256-GCM keeps it unreadable without the key and
detects any change; binding each blob to its message id (as associated data)
means a row's content cannot be swapped into another row -- a reviewer
releasing message A never sends message B's text.

Blob layout: one version byte, the 96-bit nonce, then ciphertext with its tag.
The version byte lets a later key or algorithm change coexist with old rows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from proxy.core.config import ConfigError, Hold
from proxy.store.key_file import SecretKind, load_or_create_secret

KEY_BYTES = 32
NONCE_BYTES = 12
_VERSION = b"\x01"
_HEADER = len(_VERSION) + NONCE_BYTES
_TAG_BYTES = 16


class DecryptionError(Exception):
    """A stored blob cannot be opened: wrong key, changed bytes or a blob
    belonging to another message. Says nothing about the content."""


class HoldKeyError(ConfigError):
    """The hold key is missing, malformed or not protected; the text names
    where it came from and how to fix it, never the key."""


class MessageCipher:
    """AES-256-GCM with a fresh random nonce per message."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise HoldKeyError(f"the hold key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "MessageCipher(<key hidden>)"

    def encrypt(self, message_id: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, _aad(message_id))

    def decrypt(self, message_id: str, blob: bytes) -> bytes:
        if len(blob) < _HEADER + _TAG_BYTES:
            raise DecryptionError("the stored message is truncated and cannot be decrypted")
        if blob[:1] != _VERSION:
            raise DecryptionError(
                f"the stored message uses an unknown format (version {blob[0]})"
            )
        nonce = blob[1:_HEADER]
        try:
            return self._aead.decrypt(nonce, blob[_HEADER:], _aad(message_id))
        except InvalidTag:
            raise DecryptionError(
                "the stored message cannot be decrypted: it was changed, belongs to "
                "another message, or the hold key is not the one it was stored with"
            ) from None


def _aad(message_id: str) -> bytes:
    # The version is authenticated too, so it cannot be flipped to downgrade.
    return _VERSION + message_id.encode("utf-8")


def _length_problem(key: bytes) -> str | None:
    if len(key) == KEY_BYTES:
        return None
    return f"decodes to {len(key)} bytes; it must be {KEY_BYTES} bytes (44 base64 characters)"


_HOLD_KEY = SecretKind("hold key", KEY_BYTES, _length_problem, HoldKeyError)


def load_or_create_key(hold: Hold, environ: Mapping[str, str] | None = None) -> bytes:
    """The hold key: from ``hold.key_env`` if that variable is set, else from
    ``hold.key_file``, which is created (mode 0600) on first use; a file
    others can read is refused (see :mod:`proxy.store.key_file`)."""
    return load_or_create_secret(
        _HOLD_KEY, env_var=hold.key_env, path=Path(hold.key_file), environ=environ
    )
