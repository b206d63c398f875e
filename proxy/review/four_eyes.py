"""Four eyes, the one definition: a reviewer may not decide on a message
they sent.

The reviewer is known by their account name and every sender address of
that account (the web app takes them from the session; ``tactful held``
looks the ``--as`` name up in the user file). The message is known by the
account that sent it (``user``) and its envelope sender. If any of the
reviewer's identities equals either of the message's after trimming and
:meth:`str.casefold`, the reviewer sent it. casefold rather than lower:
people and mail programs change case, and casefold also joins what lower
keeps apart ("Groß" and "GROSS"). Erring towards "same person" only ever
means that a second reviewer decides.

Apart from :mod:`proxy.review.decisions` because routing
(:mod:`proxy.review.routing`) uses the same rule, and the review service
uses routing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from proxy.accounts.users import UserDirectory
from proxy.store.spool_view import SpooledMessage


@dataclass(frozen=True, slots=True)
class Reviewer:
    """The name recorded with the decision, and the sender addresses four
    eyes compares besides it."""

    name: str
    addresses: tuple[str, ...] = ()

    @classmethod
    def looked_up(cls, name: str, directory: UserDirectory) -> Reviewer:
        """``name`` as given (the decision records it), with the sender
        addresses of the account of that name when there is one."""
        account = directory.get(name)
        return cls(name.strip(), account.addresses if account is not None else ())


def _folded(values: Iterable[str]) -> set[str]:
    return {value.strip().casefold() for value in values} - {""}


def is_author(reviewer: Reviewer, *, sender: str, user: str) -> bool:
    """Did ``reviewer`` send a message from ``sender`` while logged in as ``user``?"""
    mine = _folded((reviewer.name, *reviewer.addresses))
    return not mine.isdisjoint(_folded((sender, user)))


def sent_it(reviewer: Reviewer, message: SpooledMessage) -> bool:
    return is_author(reviewer, sender=message.sender, user=message.user)
