"""What every page handler shares: templates, the session check, CSRF,
permission checks and audit records.

Handlers return either the page or the response that replaces it (a
redirect to the login page, a 403); ``isinstance(x, Response)`` tells which,
so a refusal is an ordinary value rather than an exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from proxy.accounts.users import UserDirectory, UsersFile
from proxy.core.package_data import data_directory
from proxy.pipeline.services import Services
from proxy.review import csrf
from proxy.review.decisions import clean_reason
from proxy.review.links import CancelLinks
from proxy.review.permissions import REVIEW_ROLES, Permission, allowed
from proxy.review.sessions import COOKIE_NAME, Ended, ReviewSession, SessionStore
from proxy.store.audit import AuditTrail, DetailValue
from proxy.store.consent_csv import RowError
from proxy.store.login_failures import LoginFailures

log = logging.getLogger(__name__)

MAX_FIELDS = 60


def safe_next(value: object) -> str:
    """Only same-site paths: never redirect a reviewer to another site."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


class Kit:
    def __init__(
        self,
        services: Services,
        links: CancelLinks,
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.users = UsersFile(services.settings.smtp.users_file)
        self.links = links
        self.clock = services.clock
        review = self.settings.review
        self.sessions = SessionStore(
            services.engine, timedelta(minutes=review.session_idle_minutes), clock=self.clock
        )
        if services.logins is None:
            raise ValueError("the review app needs the shared login throttle (Services.logins)")
        # The one throttle SMTP AUTH and the SMS API count in too.
        self.throttle: LoginFailures = services.logins
        self.audit = AuditTrail(services.engine)
        self.env = jinja2.Environment(
            # Package data (proxy/review/templates), found through
            # importlib.resources so an installed wheel renders too.
            loader=jinja2.FileSystemLoader(data_directory("proxy.review", "templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = self.when
        self.env.globals["errors_by_field"] = errors_by_field

    # --- rendering -----------------------------------------------------------

    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(self.settings.agency.tz)
        return local.strftime("%a %d %b %Y, %H:%M %Z")

    def page(
        self,
        template: str,
        who: ReviewSession | None,
        *,
        status: int = 200,
        form_token: str | None = None,
        **context: Any,
    ) -> HTMLResponse:
        body = self.env.get_template(template).render(
            who=who,
            csrf_token=who.csrf if who is not None else form_token,
            can=(lambda p: who is not None and allowed(who.role, p)),
            P=Permission,
            agency=self.settings.agency.name,
            **context,
        )
        return HTMLResponse(body, status_code=status)

    def message_page(
        self,
        who: ReviewSession | None,
        title: str,
        text: str,
        *,
        status: int = 200,
        back: str | None = "/",
        form_token: str | None = None,
    ) -> HTMLResponse:
        return self.page(
            "notice.html",
            who,
            status=status,
            title=title,
            text=text,
            back=back,
            form_token=form_token,
        )

    # --- cookies ---------------------------------------------------------------

    def secure_cookies(self, request: Request) -> bool:
        mode = self.settings.review.cookie_secure
        if mode != "auto":
            return mode == "true"
        return request.url.scheme == "https" or self.settings.review.base_url.startswith("https:")

    def set_cookie(self, request: Request, response: Response, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            httponly=True,
            secure=self.secure_cookies(request),
            samesite="strict",
            path="/",
        )

    def form_token(self, request: Request) -> str:
        """The pre-login double-submit token (see :mod:`proxy.review.csrf`)."""
        existing = request.cookies.get(csrf.FORM_COOKIE)
        return existing if existing and len(existing) >= 32 else csrf.new_token()

    # --- who is asking -----------------------------------------------------------

    async def directory(self) -> UserDirectory:
        return await asyncio.to_thread(self.users.current)

    async def who(self, request: Request) -> ReviewSession | Response:
        """The logged-in reviewer, or a redirect to the login page."""
        token = request.cookies.get(COOKIE_NAME)
        found = await self.sessions.touch(token)
        if isinstance(found, Ended):
            target = request.url.path
            if request.url.query and request.method == "GET":
                target += f"?{request.url.query}"
            query = f"next={quote(target, safe='')}"
            if found.idle:
                query += "&idle=1"
            return RedirectResponse(f"/login?{query}", status_code=303)
        # An account removed or changed since login ends its sessions.
        account = (await self.directory()).get(found.user)
        if account is None or account.role is not found.role or account.role not in REVIEW_ROLES:
            await self.sessions.end_user(found.user)
            return RedirectResponse("/login", status_code=303)
        return found

    async def require(self, request: Request, permission: Permission) -> ReviewSession | Response:
        found = await self.who(request)
        if isinstance(found, Response):
            return found
        if not allowed(found.role, permission):
            return self.message_page(
                found,
                "Not allowed",
                f"Your role ({found.role.value}) cannot {permission.value}.",
                status=403,
            )
        return found

    async def form(
        self, request: Request, who: ReviewSession, **limits: Any
    ) -> FormData | Response:
        """The posted form, if its CSRF token is this session's."""
        data = await request.form(
            max_files=limits.get("max_files", 0),
            max_fields=MAX_FIELDS,
            max_part_size=limits.get("max_part_size", 1024 * 1024),
        )
        if not csrf.tokens_match(who.csrf, data.get(csrf.FIELD)):
            log.warning("review app: form without a valid CSRF token from %s refused", who.user)
            return self.message_page(
                who,
                "Form expired",
                "This form is out of date or did not come from Tactful. Go back, reload "
                "the page and try again.",
                status=403,
            )
        return data

    # --- audit ---------------------------------------------------------------

    async def record(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        details: Mapping[str, DetailValue] | None = None,
    ) -> None:
        await asyncio.to_thread(
            self.audit.record,
            actor=actor,
            action=action,
            target=target,
            details=details,
            at=self.clock(),
        )


def errors_by_field(errors: Sequence[RowError]) -> dict[str, list[str]]:
    """Form errors by field, in the order found (the first is focused), so
    each can be tied to its field (aria-invalid, aria-describedby)."""
    found: dict[str, list[str]] = {}
    for error in errors:
        if error.column:
            found.setdefault(error.column, []).append(error.message)
    return found


def reason_from(data: FormData, name: str = "reason") -> str | None:
    """A required reason or evidence note, by the same rule as a decision's
    (:func:`proxy.review.decisions.clean_reason`)."""
    return clean_reason(data.get(name))


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"
