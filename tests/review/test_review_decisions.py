"""The one review service, through both of its front ends: the review web
app (a real Starlette app through TestClient) and ``tactful held`` (the
real CLI), on one real database (SQLite, and PostgreSQL when configured).

Four eyes used to be checked twice, differently: the web app compared the
account with ``lower()`` and knew the reviewer's aliases; the CLI compared
the ``--as`` name with ``casefold()`` and knew no aliases. Each let through
a reviewer the other refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from proxy.accounts.users import Role, load_users, new_user, save_users
from proxy.cli import main
from proxy.store.spool_model import SpoolState
from tests.support.web_fixtures import (
    ADMIN,
    PASSWORD,
    REVIEWER,
    REVIEWER2,
    WORKER,
    World,
    build_world,
    hold,
    login,
    session_token,
)

# Sam sends from the shared front-desk account, from his alias, in the
# case his mail program chose.
ALIAS = "sam.ortiz@example.org"
# Jürgen's account is "groß"; the SMS key that texts for him names "GROSS".
GROSS = "groß"


@dataclass(frozen=True)
class Case:
    reviewer: str  # the account that logs in, and the CLI's --as
    sender: str  # the held message's envelope sender
    user: str  # the account the held message was sent from


CASES = {
    "sender is one of the reviewer's aliases": Case(
        REVIEWER, "Sam.Ortiz@Example.org", "frontdesk@example.org"
    ),
    "account differs only by case (casefold)": Case(GROSS, "jg@example.org", "GROSS"),
}


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    built = build_world(tmp_path, db_url, accounts=(WORKER, REVIEWER2, ADMIN))
    path = Path(built.services.settings.smtp.users_file)
    users = load_users(path)
    users = users.with_user(new_user(REVIEWER, Role.REVIEWER, PASSWORD, [ALIAS]))
    users = users.with_user(new_user(GROSS, Role.REVIEWER, PASSWORD))
    save_users(path, users)
    yield built
    built.services.engine.dispose()


def cli(world: World, *argv: str) -> int:
    """``tactful held`` on the world's database, hold key and user file."""
    settings = world.services.settings
    config = world.tmp / "cli.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "hold": {"key_file": settings.hold.key_file, "key_env": settings.hold.key_env},
                "smtp": {"users_file": settings.smtp.users_file},
                "notices": {"from_address": "tactful@example.org"},
                # The same routing as the web app: the CLI decides by the same rules.
                "review": {
                    "supervisors": {k: list(v) for k, v in settings.review.supervisors.items()},
                    "enforce_routing": settings.review.enforce_routing,
                },
            }
        ),
        encoding="utf-8",
    )
    return main(["held", *argv, "--db", world.services.db_url, "--config", str(config)])


@pytest.mark.parametrize("case_name", list(CASES))
def test_four_eyes_in_the_web_app(world: World, case_name: str) -> None:
    case = CASES[case_name]
    message = hold(world, sender=case.sender, user=case.user)
    with TestClient(world.app, follow_redirects=False) as client:
        assert login(client, case.reviewer).status_code == 303
        page = client.get(f"/messages/{message.id}")
        assert "another reviewer must decide" in page.text
        assert f'action="/messages/{message.id}/release"' not in page.text
        token = session_token(client)
        for action in ("release", "return"):
            refused = client.post(
                f"/messages/{message.id}/{action}", data={"reason": "looks fine", "csrf": token}
            )
            assert refused.status_code == 403, action
            assert "someone else" in refused.text
        assert client.get(f"/messages/{message.id}/redact").status_code == 403
    after = world.services.spool.get(message.id)
    assert after is not None and after.state is SpoolState.HELD and after.has_content

    # Anyone else may decide: the rule refuses the author, not the message.
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER2)
        done = client.post(
            f"/messages/{message.id}/release",
            data={"reason": "checked", "csrf": session_token(client)},
        )
        assert done.status_code == 303
        assert client.get(done.headers["location"]).status_code == 200
    after = world.services.spool.get(message.id)
    assert after is not None and after.state is SpoolState.RELEASED
    assert after.decided_by == REVIEWER2


@pytest.mark.parametrize("case_name", list(CASES))
def test_four_eyes_in_the_cli(
    world: World, case_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[case_name]
    message = hold(world, sender=case.sender, user=case.user)
    for action in ("release", "reject", "delete"):
        code = cli(world, action, message.id, "--reason", "looks fine", "--as", case.reviewer)
        assert code == 1, action
        assert "four-eyes" in capsys.readouterr().err
    after = world.services.spool.get(message.id)
    assert after is not None and after.state is SpoolState.HELD and after.has_content

    assert cli(world, "release", message.id[:8], "--reason", "checked", "--as", REVIEWER2) == 0
    after = world.services.spool.get(message.id)
    assert after is not None and after.state is SpoolState.RELEASED
    assert after.decided_by == REVIEWER2


def test_routing_decides_who_may_decide_in_the_web_app_and_the_cli(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """review.supervisors sends Jane's mail to Ria; with enforce_routing on
    (the default) Sam, another reviewer, may neither release nor return it,
    in the browser or at the terminal; Ria and an admin may."""
    world = build_world(
        tmp_path, db_url, accounts=(WORKER, REVIEWER, REVIEWER2, ADMIN),
        supervisors={WORKER: [REVIEWER2]},
    )  # fmt: skip
    try:
        first, second, third = hold(world), hold(world), hold(world)
        with TestClient(world.app, follow_redirects=False) as client:
            login(client, REVIEWER)
            token = session_token(client)
            for action in ("release", "return"):
                refused = client.post(
                    f"/messages/{first.id}/{action}", data={"reason": "fine", "csrf": token}
                )
                assert refused.status_code == 403, action
                assert "Assigned to another reviewer" in refused.text
                assert f"This message is for {REVIEWER2} to decide" in refused.text
            assert client.get(f"/messages/{first.id}/redact").status_code == 403
        assert cli(world, "release", first.id, "--reason", "fine", "--as", REVIEWER) == 1
        assert f"is for {REVIEWER2} to decide" in capsys.readouterr().err
        after = world.services.spool.get(first.id)
        assert after is not None and after.state is SpoolState.HELD and after.decided_by is None

        with TestClient(world.app, follow_redirects=False) as client:
            login(client, REVIEWER2)
            done = client.post(
                f"/messages/{first.id}/release",
                data={"reason": "checked", "csrf": session_token(client)},
            )
            assert done.status_code == 303  # to the result page
        assert cli(world, "reject", second.id, "--reason", "use the portal", "--as", ADMIN) == 0
        assert cli(world, "release", third.id, "--reason", "ok", "--as", REVIEWER2) == 0
        decided = [world.services.spool.get(m.id) for m in (first, second, third)]
        assert [(m.state, m.decided_by) for m in decided if m is not None] == [
            (SpoolState.RELEASED, REVIEWER2),
            (SpoolState.RETURNED, ADMIN),
            (SpoolState.RELEASED, REVIEWER2),
        ]
    finally:
        world.services.engine.dispose()


def test_routing_can_be_turned_off(tmp_path: Path, db_url: str) -> None:
    world = build_world(
        tmp_path, db_url, accounts=(WORKER, REVIEWER, REVIEWER2),
        supervisors={WORKER: [REVIEWER2]}, enforce_routing=False,
    )  # fmt: skip
    try:
        message = hold(world)
        assert cli(world, "release", message.id, "--reason", "fine", "--as", REVIEWER) == 0
        after = world.services.spool.get(message.id)
        assert after is not None and after.decided_by == REVIEWER
    finally:
        world.services.engine.dispose()
