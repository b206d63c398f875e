"""Test accounts whose passwords are hashed once per test run.

Hashing a password is deliberately slow (about 0.2 s here); the review and
SMS worlds create the same few accounts for every test, so the hashed
records are made once and reused. Each is a real record from
:func:`proxy.accounts.users.new_user`: logins in the tests check real
password hashes.
"""

from __future__ import annotations

from functools import cache

from proxy.accounts.users import Role, User, new_user


@cache
def _user(name: str, role: Role, password: str, addresses: tuple[str, ...]) -> User:
    return new_user(name, role, password, addresses)


def hashed_once(name: str, role: Role, password: str, addresses: tuple[str, ...] = ()) -> User:
    return _user(name, role, password, tuple(addresses))
