"""The accounting of disclosures, printable, for admins and auditors.

A client who asks what the agency disclosed about them is handed this
page (or ``tactful disclosures CLIENT --format csv``): the same lines,
from :mod:`proxy.pipeline.accounting`. It names recipients and addresses
because that is what the client is entitled to see; viewing it is an
audit entry with the client id only, and nothing of it is logged.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime, time, timedelta

from starlette.requests import Request
from starlette.responses import Response

from proxy.pipeline.accounting import FIELDS, accounting
from proxy.review.kit import Kit
from proxy.review.permissions import Permission
from proxy.store.disclosures import DisclosureLog

MAX_CLIENT_ID = 64


class DisclosurePages:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.log = DisclosureLog(kit.services.engine)

    def _day(self, text: str) -> datetime | None:
        """Midnight of a YYYY-MM-DD day in the agency's zone; None if empty;
        raises ValueError if it is not a date."""
        if not text.strip():
            return None
        day = date.fromisoformat(text.strip())
        return datetime.combine(day, time(0), tzinfo=self.kit.settings.agency.tz)

    def _checked_day(self, text: str, label: str, problems: list[str]) -> datetime | None:
        try:
            return self._day(text)
        except ValueError:
            problems.append(f"'{label}' must be a date written YYYY-MM-DD.")
            return None

    async def show(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.VIEW_DISCLOSURES)
        if isinstance(who, Response):
            return who
        params = request.query_params
        client_id = params.get("client", "").strip()
        since_text, until_text = params.get("since", ""), params.get("until", "")
        form = {"client": client_id, "since": since_text, "until": until_text}
        problems: list[str] = []
        if len(client_id) > MAX_CLIENT_ID:
            problems.append(f"A client id has at most {MAX_CLIENT_ID} characters.")
        since = self._checked_day(since_text, "From", problems)
        until = self._checked_day(until_text, "To", problems)
        if until is not None:
            until += timedelta(days=1)  # the whole of that day
        if since is not None and until is not None and until <= since:
            problems.append("'To' is before 'From'.")
        if problems or not client_id:
            return kit.page(
                "disclosures.html", who, form=form, problems=problems, entries=None,
                status=400 if problems else 200,
            )  # fmt: skip
        found = await asyncio.to_thread(self.log.for_client, client_id, since=since, until=until)
        entries = accounting(found, client_id, kit.settings.agency.tz)
        await kit.record(who.user, "disclosures.view", target=client_id,
                         details={"entries": len(entries)})  # fmt: skip
        if params.get("format") == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(FIELDS)
            writer.writerows(entry.as_row() for entry in entries)
            name = "".join(c if c.isalnum() or c in "-_" else "_" for c in client_id)
            return Response(
                out.getvalue(),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="disclosures-{name}.csv"'},
            )
        return kit.page(
            "disclosures.html", who, form=form, problems=[], entries=entries,
            printed_at=kit.clock(),
        )  # fmt: skip
