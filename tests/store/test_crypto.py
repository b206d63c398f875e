"""Encryption at rest: round trip, tamper and swap detection, key handling."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from proxy.core.config import ConfigError, Hold
from proxy.store.crypto import (
    KEY_BYTES,
    NONCE_BYTES,
    DecryptionError,
    HoldKeyError,
    MessageCipher,
    load_or_create_key,
)

BODY = b"Subject: visit\r\n\r\nMarker-7f3a: Jane's SSN is 123-45-6789\r\n"


@pytest.fixture
def cipher() -> MessageCipher:
    return MessageCipher(os.urandom(KEY_BYTES))


def test_round_trip(cipher: MessageCipher) -> None:
    blob = cipher.encrypt("abc123", BODY)
    assert cipher.decrypt("abc123", blob) == BODY


def test_ciphertext_does_not_contain_the_plaintext(cipher: MessageCipher) -> None:
    blob = cipher.encrypt("abc123", BODY)
    assert b"Marker-7f3a" not in blob
    assert b"123-45-6789" not in blob
    # version byte + nonce + ciphertext + 16-byte tag
    assert len(blob) == 1 + NONCE_BYTES + len(BODY) + 16


def test_every_encryption_uses_a_fresh_nonce(cipher: MessageCipher) -> None:
    blobs = [cipher.encrypt("same-id", BODY) for _ in range(200)]
    nonces = {blob[1 : 1 + NONCE_BYTES] for blob in blobs}
    assert len(nonces) == len(blobs)
    assert len(set(blobs)) == len(blobs)


@pytest.mark.parametrize("position", [0, 1, 5, 13, 40, -1])
def test_any_changed_byte_is_detected(cipher: MessageCipher, position: int) -> None:
    blob = bytearray(cipher.encrypt("abc123", BODY))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.decrypt("abc123", bytes(blob))


def test_truncated_blob_is_a_clear_error(cipher: MessageCipher) -> None:
    blob = cipher.encrypt("abc123", BODY)
    with pytest.raises(DecryptionError, match="truncated"):
        cipher.decrypt("abc123", blob[:20])


def test_blob_cannot_be_moved_to_another_message(cipher: MessageCipher) -> None:
    blob = cipher.encrypt("message-a", BODY)
    with pytest.raises(DecryptionError, match="another message"):
        cipher.decrypt("message-b", blob)


def test_wrong_key_is_detected_without_revealing_content(cipher: MessageCipher) -> None:
    blob = cipher.encrypt("abc123", BODY)
    other = MessageCipher(os.urandom(KEY_BYTES))
    with pytest.raises(DecryptionError) as info:
        other.decrypt("abc123", blob)
    assert "123-45-6789" not in str(info.value)
    assert "hold key" in str(info.value)


def test_cipher_rejects_short_key_and_hides_key_in_repr() -> None:
    with pytest.raises(HoldKeyError, match="32 bytes"):
        MessageCipher(b"short")
    key = os.urandom(KEY_BYTES)
    assert key.hex() not in repr(MessageCipher(key))


def _hold(tmp_path: Path, env: str = "TEST_HOLD_KEY") -> Hold:
    return Hold(key_env=env, key_file=str(tmp_path / "keys" / "hold.key"))


def test_key_from_environment(tmp_path: Path) -> None:
    key = os.urandom(KEY_BYTES)
    loaded = load_or_create_key(_hold(tmp_path), {"TEST_HOLD_KEY": base64.b64encode(key).decode()})
    assert loaded == key
    assert not (tmp_path / "keys" / "hold.key").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [("not base64!!", "not valid base64"), (base64.b64encode(b"x" * 16).decode(), "16 bytes")],
)
def test_bad_environment_key_is_a_clear_error(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(HoldKeyError, match=message) as info:
        load_or_create_key(_hold(tmp_path), {"TEST_HOLD_KEY": value})
    assert "TEST_HOLD_KEY" in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_key_file_created_owner_only_and_reused(tmp_path: Path) -> None:
    hold = _hold(tmp_path)
    first = load_or_create_key(hold, {})
    path = Path(hold.key_file)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == KEY_BYTES
    assert base64.b64decode(path.read_text()) == first
    assert load_or_create_key(hold, {}) == first


def test_environment_wins_over_key_file(tmp_path: Path) -> None:
    hold = _hold(tmp_path)
    from_file = load_or_create_key(hold, {})
    env_key = os.urandom(KEY_BYTES)
    loaded = load_or_create_key(hold, {"TEST_HOLD_KEY": base64.b64encode(env_key).decode()})
    assert loaded == env_key != from_file


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_readable_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    hold = _hold(tmp_path)
    load_or_create_key(hold, {})
    os.chmod(hold.key_file, mode)
    with pytest.raises(HoldKeyError, match="chmod 600"):
        load_or_create_key(hold, {})


def test_corrupt_key_file_is_a_clear_error(tmp_path: Path) -> None:
    hold = _hold(tmp_path)
    path = Path(hold.key_file)
    path.parent.mkdir()
    path.write_text("too short\n")
    os.chmod(path, 0o600)
    with pytest.raises(HoldKeyError, match="key file"):
        load_or_create_key(hold, {})
