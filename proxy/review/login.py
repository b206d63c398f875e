"""Logging in and out of the review app.

Only reviewers, admins and auditors may log in; a worker's account is for
sending mail. Failures are throttled per account and client address (and
per address) by the one throttle SMTP AUTH shares
(:mod:`proxy.store.login_failures`), and logged with the account (if it
exists) and the address, never the password or whatever was typed as a name.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from argon2 import PasswordHasher
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from proxy.accounts.users import (
    Role,
    User,
    UserDirectory,
    UserInputError,
    hash_password,
    normalize_name,
)
from proxy.accounts.users import verify_password as check
from proxy.review import csrf
from proxy.review.kit import Kit, client_address, safe_next
from proxy.review.permissions import REVIEW_ROLES
from proxy.review.sessions import COOKIE_NAME

log = logging.getLogger(__name__)

BOOTSTRAP_HINT = (
    "No administrator account exists yet. On the server, create one with: "
    "tactful user add NAME --role admin (it asks for the password; there is no default)."
)


class LoginPages:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self._hasher = PasswordHasher()
        self._decoy: str | None = None

    def _verify(self, directory: UserDirectory, name: str, password: str) -> User | None:
        """The account, or None for a wrong name or password. Blocking
        (argon2). An unknown name still costs one hash check, so timing does
        not tell which names exist."""
        user = directory.get(name) if name else None
        if user is None:
            if self._decoy is None:
                self._decoy = hash_password(secrets.token_urlsafe(16), self._hasher)
            check(self._decoy, password or "-", self._hasher)
            return None
        return user if check(user.password_hash, password, self._hasher) else None

    async def _render(
        self,
        request: Request,
        *,
        error: str | None = None,
        status: int = 200,
        name: str = "",
        next_path: object = None,
    ) -> Response:
        """The login page; after a failure it keeps the name typed and the
        page asked for, so only the password has to be typed again."""
        directory = await self.kit.directory()
        no_admin = not any(u.role is Role.ADMIN for u in directory.users)
        token = self.kit.form_token(request)
        idle = request.query_params.get("idle") == "1"
        response = self.kit.page(
            "login.html",
            None,
            status=status,
            form_token=token,
            error=error,
            idle=idle and error is None,
            bootstrap=BOOTSTRAP_HINT if no_admin else None,
            next=safe_next(next_path or request.query_params.get("next")),
            name=name,
        )
        self.kit.set_cookie(request, response, csrf.FORM_COOKIE, token)
        return response

    async def show(self, request: Request) -> Response:
        return await self._render(request)

    async def submit(self, request: Request) -> Response:
        kit = self.kit
        data = await request.form(max_files=0, max_fields=10)
        if not csrf.tokens_match(request.cookies.get(csrf.FORM_COOKIE), data.get(csrf.FIELD)):
            log.warning("review login without a valid form token from %s", client_address(request))
            return await self._render(
                request, error="The login form expired. Please try again.", status=403
            )
        raw_name, password = data.get("name"), data.get("password")
        name = ""
        if isinstance(raw_name, str):
            try:
                name = normalize_name(raw_name)
            except UserInputError:
                name = ""
        password = password if isinstance(password, str) else ""
        address = client_address(request)
        key = name or "(empty)"
        blocked = await asyncio.to_thread(kit.throttle.blocked_until, key, address)
        if blocked is not None:
            log.warning("review login refused: too many failures (from %s)", address)
            local = kit.when(blocked)
            return await self._render(
                request,
                error=f"Too many wrong passwords. Logging in is paused until {local}.",
                status=429,
                name=name,
                next_path=data.get("next"),
            )
        directory = await kit.directory()
        user = await asyncio.to_thread(self._verify, directory, name, password)
        if user is None or user.role not in REVIEW_ROLES:
            # A right password for a worker account is not a guess: not throttled.
            failures = (
                await asyncio.to_thread(kit.throttle.failed, key, address, door="review")
                if user is None
                else 0
            )
            known = directory.get(name) if name else None
            actor = known.name if known is not None else "unknown-user"
            why = "wrong password" if user is None else f"role {user.role.value} may not log in"
            log.warning(
                "review login failed for %s from %s: %s (%d in a row)",
                actor,
                address,
                why,
                failures,
            )
            await kit.record(
                actor,
                "review.login_failed",
                details={"remote": address[:60], "role_refused": user is not None},
            )
            text = (
                "The name or password is not right."
                if user is None
                else "This account is for sending mail; it cannot use the review app. "
                "Ask an administrator for a reviewer account."
            )
            return await self._render(
                request,
                error=text,
                status=401 if user is None else 403,
                name=name,
                next_path=data.get("next"),
            )
        await asyncio.to_thread(kit.throttle.succeeded, key, address, door="review")
        session = await kit.sessions.create(user.name, user.role, user.addresses)
        await kit.record(user.name, "review.login", details={"remote": address[:60]})
        log.info("review login: %s (%s) from %s", user.name, user.role.value, address)
        response = RedirectResponse(safe_next(data.get("next")), status_code=303)
        kit.set_cookie(request, response, COOKIE_NAME, session.token)
        return response

    async def logout(self, request: Request) -> Response:
        who = await self.kit.who(request)
        if isinstance(who, Response):
            return who
        data = await self.kit.form(request, who)
        if isinstance(data, Response):
            return data
        await self.kit.sessions.end(who.token)
        await self.kit.record(who.user, "review.logout")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response
