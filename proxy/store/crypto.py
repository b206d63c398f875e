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

import base64
import binascii
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from proxy.core.config import ConfigError, Hold

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


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise HoldKeyError(
            f"the hold key in {origin} is not valid base64; generate one with: "
            "python -c \"import os, base64; print(base64.b64encode(os.urandom(32)).decode())\""
        ) from None
    if len(key) != KEY_BYTES:
        raise HoldKeyError(
            f"the hold key in {origin} decodes to {len(key)} bytes; it must be "
            f"{KEY_BYTES} bytes (44 base64 characters)"
        )
    return key


def _create_key_file(path: Path) -> bytes:
    """Write a new random key, readable by the owner only, durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, base64.b64encode(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def _read_key_file(path: Path) -> bytes:
    origin = f"key file {path}"
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise HoldKeyError(
            f"refusing to use the {origin}: other users can access it "
            f"(mode {stat.S_IMODE(mode):03o}); run: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise HoldKeyError(f"the {origin} is not base64 text") from None
    return _decode_key(text, origin)


def load_or_create_key(hold: Hold, environ: Mapping[str, str] | None = None) -> bytes:
    """The hold key: from ``hold.key_env`` if that variable is set, else from
    ``hold.key_file``, which is created (mode 0600) on first use.

    A file that group or others can read is refused rather than used: a key
    anyone on the host can read protects nothing.
    """
    env = os.environ if environ is None else environ
    value = env.get(hold.key_env)
    if value:
        return _decode_key(value, f"environment variable {hold.key_env}")
    path = Path(hold.key_file)
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise HoldKeyError(f"cannot read the hold key file {path}: {exc.strerror}") from None
    try:
        return _create_key_file(path)
    except FileExistsError:
        # Another process created it between our read and our create.
        return _read_key_file(path)
    except OSError as exc:
        raise HoldKeyError(f"cannot create the hold key file {path}: {exc.strerror}") from None
