"""A secret key from an environment variable, else from a file created on
first use.

Both of Tactful's long-lived secrets come this way: the hold key that
encrypts held messages (:mod:`proxy.store.crypto`) and the review app's
signing key for cancel links (:mod:`proxy.review.secret`). Why one helper:
the care a key file needs is easy to get subtly wrong in one copy and not
the other, and each step matters --

* the file is created with ``O_EXCL`` and mode 0600 from the start, so no
  other user can ever read it, and two processes starting at once never
  write two different keys (the loser reads the winner's key back);
* it is fsynced, so a crash right after start-up cannot leave an empty key
  file behind while messages were already encrypted or links sent with it;
* a file that group or others can access is refused rather than used: a
  key anyone on the host can read protects nothing.

Error texts name where the key came from and how to fix it, never the key.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Printed in errors: how an operator makes a key to put in the variable.
GENERATE_HINT = (
    'python -c "import os, base64; print(base64.b64encode(os.urandom(32)).decode())"'
)


@dataclass(frozen=True, slots=True)
class SecretKind:
    """What differs between Tactful's secrets: how errors name the key
    ("hold key"), how many random bytes a new one gets, which lengths are
    acceptable (``length_problem`` says what is wrong, e.g. "is too short
    ...", or None), and the exception each failure raises."""

    label: str
    new_key_bytes: int
    length_problem: Callable[[bytes], str | None]
    error: Callable[[str], Exception]


def load_or_create_secret(
    kind: SecretKind, *, env_var: str, path: Path, environ: Mapping[str, str] | None = None
) -> bytes:
    """The key in ``env_var`` if that is set, else the one in ``path``,
    which is created if it does not exist. Every failure raises
    ``kind.error(text)``."""
    env = os.environ if environ is None else environ
    value = env.get(env_var)
    if value:
        return _decode(kind, value, f"environment variable {env_var}")
    try:
        return _read(kind, path)
    except FileNotFoundError:
        pass
    try:
        return _create(path, kind.new_key_bytes)
    except FileExistsError:
        # Another process created it between our read and our create.
        return _read(kind, path)
    except OSError as exc:
        raise kind.error(f"cannot create the {kind.label} file {path}: {exc.strerror}") from None


def _decode(kind: SecretKind, text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise kind.error(
            f"the {kind.label} in {origin} is not valid base64; generate one with: {GENERATE_HINT}"
        ) from None
    problem = kind.length_problem(key)
    if problem is not None:
        raise kind.error(f"the {kind.label} in {origin} {problem}")
    return key


def _read(kind: SecretKind, path: Path) -> bytes:
    """The key in an existing file; FileNotFoundError if there is none."""
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise kind.error(f"cannot read the {kind.label} file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise kind.error(
            f"refusing to use the {kind.label} file {path}: other users can access it "
            f"(mode {stat.S_IMODE(mode):03o}); run: chmod 600 {path}"
        )
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise kind.error(f"the {kind.label} file {path} is not base64 text") from None
    return _decode(kind, text, f"key file {path}")


def _create(path: Path, size: int) -> bytes:
    """Write a new random key, readable by the owner only, durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, base64.b64encode(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key
