"""The sender's cancel link: withdraw one's own held message without
logging in.

GET only shows what would be cancelled (mail scanners open links); the
POST does it, with a double-submit CSRF token. The page shows the
reference and the time, never the message: whoever holds the link may not
be the sender.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from proxy.pipeline.notices import About, cancelled_notice
from proxy.review import csrf
from proxy.review.kit import Kit
from proxy.review.links import LinkProblem
from proxy.review.messages import already_words
from proxy.review.titles import titles_in
from proxy.store.spool_decisions import AlreadyDecided, NotFound
from proxy.store.spool_model import SpoolState
from proxy.store.spool_view import SpooledMessage


class CancelPages:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit

    async def _target(self, request: Request, token: str) -> SpooledMessage | Response:
        kit = self.kit
        checked = kit.links.check(token)
        if checked is LinkProblem.EXPIRED:
            return kit.message_page(
                None,
                "This link has expired",
                "The cancel link is too old to use. Ask your supervisor to return the "
                "message instead.",
                status=410,
                back=None,
            )
        if isinstance(checked, LinkProblem):
            return kit.message_page(
                None,
                "This link is not valid",
                "The cancel link is damaged or was changed. Use the link from the notice "
                "exactly as it was sent.",
                status=400,
                back=None,
            )
        message = await asyncio.to_thread(kit.services.spool.get, checked.message_id)
        if message is None:
            return kit.message_page(
                None,
                "Not found",
                "There is no held message with this reference.",
                status=404,
                back=None,
            )
        return message

    async def show(self, request: Request) -> Response:
        kit = self.kit
        token = request.path_params["token"]
        message = await self._target(request, token)
        if isinstance(message, Response):
            return message
        form_token = kit.form_token(request)
        # The sender knows their message by its subject, not its reference.
        subject = await asyncio.to_thread(titles_in, kit.services.spool, [message])
        response = kit.page(
            "cancel.html",
            None,
            form_token=form_token,
            message=message,
            subject=subject[message.id],
            token=token,
            held=message.state is SpoolState.HELD,
            decided=already_words(AlreadyDecided(message.id, message.state, message.decided_by)),
        )
        kit.set_cookie(request, response, csrf.FORM_COOKIE, form_token)
        return response

    async def submit(self, request: Request) -> Response:
        kit = self.kit
        token = request.path_params["token"]
        data = await request.form(max_files=0, max_fields=5)
        if not csrf.tokens_match(request.cookies.get(csrf.FORM_COOKIE), data.get(csrf.FIELD)):
            return kit.message_page(
                None,
                "Form expired",
                "Open the cancel link from your email again and press the button there.",
                status=403,
                back=None,
            )
        message = await self._target(request, token)
        if isinstance(message, Response):
            return message
        result = await asyncio.to_thread(kit.services.spool.cancel, message.id, message.sender)
        if isinstance(result, AlreadyDecided):
            return kit.message_page(
                None,
                "Too late to cancel",
                f"{already_words(result)} It can no longer be cancelled.",
                status=409,
                back=None,
            )
        if isinstance(result, NotFound):
            return kit.message_page(
                None,
                "Not found",
                "There is no held message with this reference.",
                status=404,
                back=None,
            )
        await kit.services.notices.send(
            cancelled_notice(about=About.spooled(message), sender=message.sender)
        )
        return kit.message_page(
            None, "Cancelled", "Your message was cancelled. It will not be sent.", back=None
        )
