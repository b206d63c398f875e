"""The review web app, assembled: routes, static files, security headers.

``tactful serve`` mounts :func:`build_review_app` on ``review.listen``;
tests build it around a temporary database the same way.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from proxy.core.package_data import data_directory
from proxy.pipeline.services import Services
from proxy.review.cancel import CancelPages
from proxy.review.consent_pages import ConsentPages
from proxy.review.disclosure_pages import DisclosurePages
from proxy.review.headers import SecurityHeaders
from proxy.review.kit import Kit
from proxy.review.links import CancelLinks, links_from_settings
from proxy.review.login import LoginPages
from proxy.review.messages import MessagePages
from proxy.review.permissions import Permission

AUDIT_ROWS = 200


class AuditPages:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit

    async def show(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.VIEW_AUDIT)
        if isinstance(who, Response):
            return who
        # Looking is recorded as looking; a check records what it found,
        # never a bare flag that reads like a failed check.
        report = None
        if request.query_params.get("verify") == "1":
            report = await asyncio.to_thread(kit.audit.verify)
            outcome = {"result": "intact" if report.ok else "broken", "checked": report.checked}
            await kit.record(who.user, "audit.verify", details=outcome)
        else:
            await kit.record(who.user, "audit.view")
        entries = await asyncio.to_thread(kit.audit.entries, AUDIT_ROWS)
        return kit.page("audit.html", who, entries=list(reversed(entries)), report=report)


def build_review_app(
    services: Services,
    *,
    links: CancelLinks | None = None,
) -> Starlette:
    kit = Kit(services, links or links_from_settings(services.settings, services.clock))
    login = LoginPages(kit)
    messages = MessagePages(kit)
    cancel = CancelPages(kit)
    consent = ConsentPages(kit)
    audit = AuditPages(kit)
    routes = [
        Route("/", messages.queue, methods=["GET"]),
        Route("/login", login.show, methods=["GET"]),
        Route("/login", login.submit, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/messages/{message_id}", messages.view, methods=["GET"]),
        Route("/messages/{message_id}/release", messages.release, methods=["POST"]),
        Route("/messages/{message_id}/redact", messages.redact_preview, methods=["GET"]),
        Route(
            "/messages/{message_id}/release-redacted", messages.release_redacted, methods=["POST"]
        ),
        Route("/messages/{message_id}/return", messages.return_to_sender, methods=["POST"]),
        Route("/messages/{message_id}/delete", messages.delete, methods=["POST"]),
        Route("/messages/{message_id}/decided", messages.decided, methods=["GET"]),
        Route("/decide", messages.bulk, methods=["POST"]),
        Route("/decided", messages.bulk_result, methods=["GET"]),
        Route("/cancel/{token}", cancel.show, methods=["GET"]),
        Route("/cancel/{token}", cancel.submit, methods=["POST"]),
        Route("/audit", audit.show, methods=["GET"]),
        Route("/disclosures", DisclosurePages(kit).show, methods=["GET"]),
        Route("/consent", consent.search, methods=["GET"]),
        Route("/consent/add", consent.add_form, methods=["GET"]),
        Route("/consent/add", consent.add, methods=["POST"]),
        Route("/consent/import", consent.import_form, methods=["GET"]),
        Route("/consent/import", consent.import_file, methods=["POST"]),
        Route("/consent/client/{client_id}", consent.client, methods=["GET"]),
        Route("/consent/client/{client_id}/revoke", consent.revoke, methods=["POST"]),
        # Package data (proxy/review/static), found through importlib.resources.
        Mount(
            "/static",
            app=StaticFiles(directory=data_directory("proxy.review", "static")),
            name="static",
        ),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
    app.state.kit = kit
    return app
