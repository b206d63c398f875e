"""The local user file: who may log in to Tactful and which sender
addresses each person may use.

A JSON file (``smtp.users_file``) rather than a database table, so an admin
can create the first account before any database exists and the SMTP front
door can authenticate even while the database is down. Passwords are stored
only as argon2id hashes (argon2-cffi). Writes go to a temporary file that
replaces the old one, so a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from enum import StrEnum
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict, ValidationError

FILE_VERSION = 1
MAX_NAME_LENGTH = 254
# Printable, no spaces: names are typed into mail programs as the login.
_NAME_RE = re.compile(r"[^\s\x00-\x1f\x7f]+")


class Role(StrEnum):
    WORKER = "worker"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    AUDITOR = "auditor"


class UsersFileError(Exception):
    """The user file is unreadable or malformed; the text says how to fix it."""


class UserInputError(ValueError):
    """A name, address or password given by an admin is not acceptable."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    addresses: tuple[str, ...]
    password_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class UserDirectory:
    """An immutable snapshot of the user file; edits return a new snapshot."""

    users: tuple[User, ...] = ()

    def get(self, name: str) -> User | None:
        key = name.strip().lower()
        return next((u for u in self.users if u.name == key), None)

    def with_user(self, user: User) -> UserDirectory:
        others = tuple(u for u in self.users if u.name != user.name)
        return UserDirectory(tuple(sorted((*others, user), key=lambda u: u.name)))

    def without(self, name: str) -> UserDirectory:
        key = name.strip().lower()
        return UserDirectory(tuple(u for u in self.users if u.name != key))


class _UserRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    role: Role
    addresses: tuple[str, ...] = ()
    password_hash: str


class _UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1] = 1
    users: tuple[_UserRecord, ...] = ()


def normalize_name(name: str) -> str:
    """Login names are case-insensitive, as mail programs often change case."""
    value = name.strip().lower()
    if not value:
        raise UserInputError("the user name is empty")
    if len(value) > MAX_NAME_LENGTH:
        raise UserInputError(f"the user name is longer than {MAX_NAME_LENGTH} characters")
    if not _NAME_RE.fullmatch(value):
        raise UserInputError("the user name must not contain spaces or control characters")
    return value


def normalize_address(address: str) -> str:
    """A plain ``local@domain`` address, lower-cased for comparison with
    MAIL FROM (mail systems treat sender addresses case-insensitively)."""
    value = address.strip()
    if not value or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        raise UserInputError("an address must be written like name@agency.org, without spaces")
    try:
        parsed = Address(addr_spec=value)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise UserInputError("an address must be written like name@agency.org") from exc
    if not parsed.username or not parsed.domain or "." not in parsed.domain.strip("."):
        raise UserInputError("an address must be written like name@agency.org")
    return value.lower()


def sender_addresses(name: str, extras: Iterable[str]) -> tuple[str, ...]:
    """The user name itself if it is an address, plus the extra addresses."""
    found: list[str] = []
    candidates = [name] if "@" in name else []
    for candidate in (*candidates, *extras):
        address = normalize_address(candidate)
        if address not in found:
            found.append(address)
    return tuple(found)


def check_password(password: str) -> str:
    if not password:
        raise UserInputError("the password is empty; type a password")
    if any(c in password for c in "\x00\r\n"):
        raise UserInputError("the password must be a single line without NUL characters")
    return password


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    return (hasher or PasswordHasher()).hash(check_password(password))


def verify_password(password_hash: str, password: str, hasher: PasswordHasher) -> bool:
    """argon2-cffi signals a mismatch by raising; this turns it into a bool
    so callers can branch without exception handling. CPU-heavy: call it
    from a worker thread, never on the event loop."""
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_user(name: str, role: Role, password: str, addresses: Iterable[str] = ()) -> User:
    clean = normalize_name(name)
    return User(
        name=clean,
        role=role,
        addresses=sender_addresses(clean, addresses),
        password_hash=hash_password(password),
    )


def load_users(path: str | Path) -> UserDirectory:
    """A missing file is an empty directory (a fresh install has no users yet)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UserDirectory()
    except OSError as exc:
        raise UsersFileError(f"cannot read the user file {file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsersFileError(f"the user file {file} is not UTF-8 text") from exc
    try:
        data = _UsersFile.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise UsersFileError(
            f"the user file {file} is damaged ({problems}); fix it or restore a backup"
        ) from exc
    return UserDirectory(
        tuple(
            User(r.name, r.role, tuple(r.addresses), r.password_hash)
            for r in sorted(data.users, key=lambda r: r.name)
        )
    )


class UsersFile:
    """The user file, re-read only when it changes on disk (mtime, size,
    inode), so ``tactful user add`` takes effect at once while logins and
    every review page do not re-parse it. Thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._directory = UserDirectory()

    def current(self) -> UserDirectory:
        """Raises :class:`UsersFileError` if the file cannot be read or is damaged."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return UserDirectory()
        except OSError as exc:
            raise UsersFileError(f"cannot read the user file {self.path}: {exc.strerror}") from exc
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        with self._lock:
            if self._stamp != stamp:
                self._directory = load_users(self.path)
                self._stamp = stamp
            return self._directory


def _serialize(directory: UserDirectory) -> str:
    payload = _UsersFile(
        users=tuple(
            _UserRecord(
                name=u.name, role=u.role, addresses=u.addresses, password_hash=u.password_hash
            )
            for u in directory.users
        )
    )
    return json.dumps(payload.model_dump(mode="json"), indent=2) + "\n"


def save_users(path: str | Path, directory: UserDirectory) -> None:
    """Atomic replace with mode 0600: the file holds password hashes."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(_serialize(directory))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def locked_users_file(path: str | Path) -> Iterator[None]:
    """Serialise read-modify-write cycles of two admins editing at once."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    lock = file.with_name(f".{file.name}.lock")
    with open(lock, "a", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
