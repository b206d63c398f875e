"""Which reviewers a held message goes to.

The agency maps senders (address or account name) to their supervisors in
``review.supervisors``. A message whose sender is not mapped, or whose
supervisors no longer have a reviewing account, goes to every reviewer
instead: a held message must never sit where nobody looks. The sender is
never their own reviewer, by the same four-eyes rule that refuses their
decision (:func:`proxy.review.four_eyes.is_author`): a message is not
routed to someone who could not decide on it.

With ``review.enforce_routing`` (on by default) the routing is also the
rule for who decides: when the mapping names a worker's reviewers, only
they and the admins may release or return that worker's mail
(:func:`may_decide`), from the web app and ``tactful held`` alike. A
supervisor's caseload is theirs to judge; another reviewer acting on it
would sidestep the agency's own assignment. A message that fell back to
every reviewer may be decided by any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from proxy.accounts.users import Role, User, UserDirectory
from proxy.core.config import Review
from proxy.review.four_eyes import Reviewer, is_author

DECIDING_ROLES = frozenset({Role.REVIEWER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Assignment:
    reviewers: tuple[str, ...]
    # False when the message fell back to every reviewer.
    by_mapping: bool

    def includes(self, name: str) -> bool:
        return name in self.reviewers


def _deciders(directory: UserDirectory) -> tuple[User, ...]:
    reviewers = tuple(u for u in directory.users if u.role is Role.REVIEWER)
    if reviewers:
        return reviewers
    # No reviewer accounts yet: the admins are the reviewers.
    return tuple(u for u in directory.users if u.role is Role.ADMIN)


def assign(
    sender: str,
    user: str,
    supervisors: Mapping[str, tuple[str, ...]],
    directory: UserDirectory,
) -> Assignment:
    """Reviewers for a message sent by ``sender`` (logged in as ``user``)."""

    def may_decide(account: User) -> bool:
        return not is_author(Reviewer(account.name, account.addresses), sender=sender, user=user)

    mapped: list[str] = []
    for key in (sender.strip().lower(), user.strip().lower()):
        for name in supervisors.get(key, ()):
            account = directory.get(name)
            if (
                account is not None
                and account.role in DECIDING_ROLES
                and may_decide(account)
                and account.name not in mapped
            ):
                mapped.append(account.name)
    if mapped:
        return Assignment(tuple(mapped), by_mapping=True)
    everyone = tuple(u.name for u in _deciders(directory) if may_decide(u))
    if not everyone:
        # Only the sender can review: fall back to admins other than them.
        everyone = tuple(u.name for u in directory.users if u.role is Role.ADMIN and may_decide(u))
    return Assignment(everyone, by_mapping=False)


@dataclass(frozen=True, slots=True)
class Routing:
    """What routing needs, as the review service asks for it: the user file
    now (accounts change while the server runs) and the agency's mapping."""

    directory: Callable[[], UserDirectory]
    supervisors: Mapping[str, tuple[str, ...]]
    enforce: bool = True

    @classmethod
    def configured(cls, review: Review, directory: Callable[[], UserDirectory]) -> Routing:
        return cls(directory, review.supervisors, review.enforce_routing)


@dataclass(frozen=True, slots=True)
class NotAReviewer:
    """``name`` has no reviewer or admin account, so it cannot decide."""

    name: str


@dataclass(frozen=True, slots=True)
class NotAssigned:
    """Routing is enforced and the message goes to other reviewers."""

    reviewers: tuple[str, ...]


def may_decide(
    routing: Routing, name: str, *, sender: str, user: str
) -> NotAReviewer | NotAssigned | None:
    """None when ``name`` may decide on a message from ``sender`` (logged in
    as ``user``); four eyes is checked separately."""
    directory = routing.directory()
    account = directory.get(name)
    if account is None or account.role not in DECIDING_ROLES:
        return NotAReviewer(name)
    if not routing.enforce or account.role is Role.ADMIN:
        return None
    assignment = assign(sender, user, routing.supervisors, directory)
    if assignment.by_mapping and not assignment.includes(account.name):
        return NotAssigned(assignment.reviewers)
    return None
