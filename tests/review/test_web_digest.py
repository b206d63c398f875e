"""Routing of held messages to reviewers, and the reviewers' digest."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from proxy.accounts.users import Role, UserDirectory, new_user
from proxy.review.digest import send_digest
from proxy.review.routing import assign
from proxy.store.spool_model import SpoolState
from tests.support.web_fixtures import (
    ADMIN,
    EXTERNAL,
    PASSWORD,
    REVIEWER,
    REVIEWER2,
    WORKER,
    build_world,
    hold,
)


def directory(*accounts: tuple[str, Role]) -> UserDirectory:
    users = UserDirectory()
    for name, role in accounts:
        users = users.with_user(new_user(name, role, PASSWORD))
    return users


PEOPLE = directory(
    (WORKER, Role.WORKER), (REVIEWER, Role.REVIEWER), (REVIEWER2, Role.REVIEWER),
    (ADMIN, Role.ADMIN),
)  # fmt: skip


def test_mapped_senders_go_to_their_supervisors() -> None:
    got = assign(WORKER, WORKER, {WORKER: (REVIEWER2,)}, PEOPLE)
    assert got.reviewers == (REVIEWER2,) and got.by_mapping
    by_account = assign("other@example.org", WORKER, {WORKER: (REVIEWER,)}, PEOPLE)
    assert by_account.reviewers == (REVIEWER,)


def test_unmapped_or_stale_mappings_fall_back_to_every_reviewer() -> None:
    unmapped = assign("bob@example.org", "bob@example.org", {}, PEOPLE)
    assert set(unmapped.reviewers) == {REVIEWER, REVIEWER2} and not unmapped.by_mapping
    # A supervisor whose account is gone, or who is not a reviewer.
    stale = assign(WORKER, WORKER, {WORKER: ("gone@example.org", WORKER)}, PEOPLE)
    assert set(stale.reviewers) == {REVIEWER, REVIEWER2}


def test_the_sender_is_never_their_own_reviewer() -> None:
    own = assign(REVIEWER, REVIEWER, {REVIEWER: (REVIEWER,)}, PEOPLE)
    assert own.reviewers == (REVIEWER2,)
    lonely = directory((REVIEWER, Role.REVIEWER), (ADMIN, Role.ADMIN))
    assert assign(REVIEWER, REVIEWER, {}, lonely).reviewers == (ADMIN,)
    admins_only = directory((ADMIN, Role.ADMIN), (WORKER, Role.WORKER))
    assert assign(WORKER, WORKER, {}, admins_only).reviewers == (ADMIN,)


def test_routing_skips_a_reviewer_the_four_eyes_rule_would_refuse() -> None:
    """A message from a reviewer's alias, sent from another account, is not
    theirs to decide, so it is not routed to them either (it used to be,
    by the mapping, and then sat with someone who could not act on it)."""
    alias = "sam.ortiz@example.org"
    people = PEOPLE.with_user(new_user(REVIEWER, Role.REVIEWER, PASSWORD, [alias]))
    got = assign("Sam.Ortiz@Example.org", "frontdesk", {"frontdesk": (REVIEWER,)}, people)
    assert got.reviewers == (REVIEWER2,) and not got.by_mapping
    folded = PEOPLE.with_user(new_user("groß", Role.REVIEWER, PASSWORD))
    assert "groß" not in assign("jg@example.org", "GROSS", {}, folded).reviewers


def _digests(world_services: object) -> list[EmailMessage]:
    from proxy.pipeline.services import Services

    assert isinstance(world_services, Services)
    found = []
    for row in world_services.spool.by_state([SpoolState.DEFERRED]):
        raw = world_services.spool.raw(row.id)
        assert raw is not None
        mail = message_from_bytes(raw, policy=default)
        assert isinstance(mail, EmailMessage)
        if str(mail["X-Tactful-Notice"]).startswith("digest:"):
            found.append(mail)
    return found


def test_digest_lists_each_reviewers_pending_messages_with_links(tmp_path: Path) -> None:
    world = build_world(
        tmp_path, f"sqlite:///{tmp_path / 'd.db'}", supervisors={WORKER: [REVIEWER2]},
        base_url="https://review.example.org",
    )  # fmt: skip
    assert asyncio.run(send_digest(world.services, world.clock())) == 0  # nothing pending
    jane = hold(world)
    bob = hold(world, sender="bob@example.org")
    sent = asyncio.run(send_digest(world.services, world.clock() + timedelta(hours=1)))
    mails = {str(m["To"]): m for m in _digests(world.services)}
    assert sent == len(mails) == 2  # sam and ria; the admin is not a reviewer here
    ria = mails[REVIEWER2].get_content()
    sam = mails[REVIEWER].get_content()
    assert f"https://review.example.org/messages/{jane.id}" in ria
    assert f"https://review.example.org/messages/{bob.id}" in ria
    assert jane.id not in sam and bob.id in sam
    assert "2 held messages" in str(mails[REVIEWER2]["Subject"])
    assert "personal-identifier" in ria and "1 h 42 min" in ria
    # No client data: neither recipients nor the subject or text of the message.
    for body in (ria, sam):
        assert EXTERNAL not in body and "Referral" not in body and "1988" not in body
