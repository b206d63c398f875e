"""The key-file helper both secrets use, seen through the review signing key
(the hold key's own tests are in test_crypto.py)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from proxy.core.config import Review
from proxy.review.secret import KEY_BYTES, ReviewKeyError, load_or_create_review_key
from proxy.store import key_file


def _review(tmp_path: Path) -> Review:
    return Review(secret_key_env="TEST_REVIEW_KEY", secret_key_file=str(tmp_path / "k" / "r.key"))


def test_review_key_file_created_owner_only_and_reused(tmp_path: Path) -> None:
    review = _review(tmp_path)
    first = load_or_create_review_key(review, {})
    path = Path(review.secret_key_file)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == KEY_BYTES
    assert base64.b64decode(path.read_text()) == first
    assert load_or_create_review_key(review, {}) == first


def test_review_key_from_environment_wins(tmp_path: Path) -> None:
    review = _review(tmp_path)
    key = os.urandom(24)
    env = {"TEST_REVIEW_KEY": base64.b64encode(key).decode()}
    assert load_or_create_review_key(review, env) == key
    assert not Path(review.secret_key_file).exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [("not base64!!", "not valid base64"), (base64.b64encode(b"x" * 8).decode(), "too short")],
)
def test_bad_review_key_in_environment(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ReviewKeyError, match=message) as info:
        load_or_create_review_key(_review(tmp_path), {"TEST_REVIEW_KEY": value})
    assert "TEST_REVIEW_KEY" in str(info.value)


def test_readable_review_key_file_is_refused(tmp_path: Path) -> None:
    review = _review(tmp_path)
    load_or_create_review_key(review, {})
    os.chmod(review.secret_key_file, 0o640)
    with pytest.raises(ReviewKeyError, match="chmod 600"):
        load_or_create_review_key(review, {})


def test_a_key_file_created_meanwhile_is_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes starting together: the one that loses the O_EXCL race
    uses the winner's key instead of writing a second one."""
    review = _review(tmp_path)
    path = Path(review.secret_key_file)
    winner = os.urandom(KEY_BYTES)
    real_read = key_file._read
    calls = 0

    def read_after_the_other_process_wrote(kind: key_file.SecretKind, path_: Path) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 1:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(base64.b64encode(winner) + b"\n")
            path.chmod(0o600)
            raise FileNotFoundError(path)
        return real_read(kind, path_)

    monkeypatch.setattr(key_file, "_read", read_after_the_other_process_wrote)
    assert load_or_create_review_key(review, {}) == winner
    assert calls == 2
