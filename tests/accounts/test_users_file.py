"""The shared, change-aware view of the user file used by SMTP logins and
the review app."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.accounts.users import (
    Role,
    UserDirectory,
    UsersFile,
    UsersFileError,
    new_user,
    save_users,
)


def test_reread_only_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    users = UsersFile(path)
    assert users.current() == UserDirectory()  # no file yet: nobody
    save_users(path, UserDirectory().with_user(new_user("sam", Role.REVIEWER, "pw-pw-pw-pw", [])))
    first = users.current()
    assert first.get("sam") is not None
    assert users.current() is first  # unchanged file: the same object, not re-parsed
    save_users(path, first.with_user(new_user("ria", Role.REVIEWER, "pw-pw-pw-pw", [])))
    assert users.current().get("ria") is not None


def test_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text("{not json")
    with pytest.raises(UsersFileError, match="damaged"):
        UsersFile(path).current()
