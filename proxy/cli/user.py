"""``tactful user``: add, list and remove the people who may log in.

The password is read from standard input (one line), never from the
command line, where it would end up in shell history and ``ps`` output.
At a terminal it is asked for twice without echo.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TextIO

from proxy.accounts.users import (
    Role,
    UserInputError,
    UsersFileError,
    check_password,
    load_users,
    locked_users_file,
    new_user,
    normalize_name,
    save_users,
)
from proxy.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from proxy.core.config import load_settings


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    parser = subparsers.add_parser(
        "user",
        parents=[common],
        help="manage who may log in (add, list, remove)",
        description="Manage the accounts people use to log in to Tactful.",
    )
    actions = parser.add_subparsers(dest="user_action", metavar="ACTION", parser_class=type(parser))
    actions.required = True

    add = actions.add_parser(
        "add",
        parents=[common],
        help="add a user (password read from standard input)",
        description=(
            "Add a user. The password is read from standard input (one line); at a "
            "terminal you are asked twice. A user may send mail as their user name "
            "when it is an address, and as each --address."
        ),
    )
    add.add_argument("name", metavar="NAME", help="the login name, e.g. jane@agency.org")
    add.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in Role],
        help="worker, reviewer, admin or auditor",
    )
    add.add_argument(
        "--address",
        action="append",
        default=[],
        metavar="ADDR",
        help="another sender address this user may use (repeatable)",
    )
    add.set_defaults(func=run_add)

    lst = actions.add_parser("list", parents=[common], help="show users and their addresses")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=run_list)

    rm = actions.add_parser("remove", parents=[common], help="remove a user")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(func=run_remove)


def read_password(stdin: TextIO) -> str:
    """One line from a pipe, or typed twice (not echoed) at a terminal."""
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Password again: ")
        if first != second:
            raise UserInputError("the two passwords do not match; nothing was changed")
        return check_password(first)
    line = stdin.readline()
    return check_password(line.rstrip("\r\n"))


def _users_file(args: argparse.Namespace) -> str:
    return load_settings(args.config).smtp.users_file


def run_add(args: argparse.Namespace) -> int:
    path = _users_file(args)
    try:
        name = normalize_name(args.name)
        password = read_password(sys.stdin)
        user = new_user(name, Role(args.role), password, args.address)
    except UserInputError as exc:
        print(f"tactful user add: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with locked_users_file(path):
            directory = load_users(path)
            if directory.get(name) is not None:
                print(
                    f"tactful user add: {name} already exists; "
                    "remove it first to change the password or role",
                    file=sys.stderr,
                )
                return EXIT_FINDINGS
            save_users(path, directory.with_user(user))
    except (UsersFileError, OSError) as exc:
        print(f"tactful user add: {_describe(exc)}", file=sys.stderr)
        return EXIT_FINDINGS
    addresses = ", ".join(user.addresses) or "none"
    print(f"Added {user.name} ({user.role.value}); may send as: {addresses}")
    if not user.addresses:
        print(
            f"Note: {user.name} has no sender address, so they cannot send mail through "
            "Tactful. Add one with --address if they need to.",
        )
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    try:
        directory = load_users(_users_file(args))
    except UsersFileError as exc:
        print(f"tactful user list: {exc}", file=sys.stderr)
        return EXIT_FINDINGS
    if args.json:
        rows = [
            {"name": u.name, "role": u.role.value, "addresses": list(u.addresses)}
            for u in directory.users
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not directory.users:
        print("No users yet. Add one with: tactful user add NAME --role worker")
        return EXIT_OK
    width = max(len(u.name) for u in directory.users)
    for u in directory.users:
        print(f"{u.name:<{width}}  {u.role.value:<8}  {', '.join(u.addresses) or '-'}")
    return EXIT_OK


def run_remove(args: argparse.Namespace) -> int:
    path = _users_file(args)
    try:
        name = normalize_name(args.name)
    except UserInputError as exc:
        print(f"tactful user remove: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with locked_users_file(path):
            directory = load_users(path)
            if directory.get(name) is None:
                print(f"tactful user remove: there is no user {name}", file=sys.stderr)
                return EXIT_FINDINGS
            save_users(path, directory.without(name))
    except (UsersFileError, OSError) as exc:
        print(f"tactful user remove: {_describe(exc)}", file=sys.stderr)
        return EXIT_FINDINGS
    print(f"Removed {name}")
    return EXIT_OK


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"cannot write the user file: {exc.strerror or exc}"
    return str(exc)
