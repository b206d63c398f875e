"""Consent registry pages: find a client, see their rows, add or revoke
consent with an evidence note, import a CSV after previewing its errors.

Adding a row goes through the same CSV reader as an import, so the web
form and the file accept exactly the same values and give the same plain
error messages.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from proxy.core.consent import ALL_CSV_COLUMNS, SCOPE_NAMES, Channel, ConsentRecord, ConsentStatus
from proxy.review.kit import Kit, reason_from
from proxy.review.permissions import Permission
from proxy.store.consent_address import AddressError, normalize_address
from proxy.store.consent_csv import ConsentCsvError, RowError, read_consent_csv
from proxy.store.consent_store import ConsentStore, ConsentStoreError

MAX_CLIENTS_SHOWN = 200
MAX_IMPORT_BYTES = 5 * 1024 * 1024
PREVIEW_ROWS = 50


# The CSV's column names are the file format; people see these labels (the
# add form's) in error messages instead.
COLUMN_LABELS = {
    "client_id": "Client id",
    "name": "Client's name",
    "aliases": "Other names",
    "address": "Email address or phone number",
    "channel": "Channel",
    "relationship": "Whose address is it?",
    "status": "Status",
    "granted_on": "Consent given on",
    "expires_on": "Consent ends on",
    "preferred": "Preferred way to reach the client",
    "identifiers": "Identifiers",
    "notes": "Notes",
    "evidence": "Evidence",
    "recipient_name": "Who they are",
    "scope": "What the release covers",
    "purpose": "Purpose stated on the release",
    "part2": "42 CFR Part 2 records",
}

STATE_WORDS = {"granted": "Granted", "revoked": "Revoked", "expired": "Expired"}


def consent_state(record: ConsentRecord, today: date) -> str:
    """Granted, revoked or expired on ``today``: an expired consent no
    longer allows contact, so it must not be counted or shown as granted
    (the linter's rule, :meth:`ConsentRecord.expired`)."""
    if record.status is ConsentStatus.REVOKED:
        return "revoked"
    return "expired" if record.expired(today) else "granted"


@dataclass(frozen=True, slots=True)
class ClientSummary:
    client_id: str
    name: str
    rows: int
    granted: int
    expired: int
    revoked: int


@dataclass(frozen=True, slots=True)
class ConsentRow:
    record: ConsentRecord
    state: str

    @property
    def state_words(self) -> str:
        return STATE_WORDS[self.state]


def _matches(record: ConsentRecord, needle: str) -> bool:
    values = (record.client_id, record.name, record.address, *record.aliases)
    return any(needle in value.lower() for value in values)


def _csv_line(values: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ALL_CSV_COLUMNS)
    writer.writerow([values.get(column, "") for column in ALL_CSV_COLUMNS])
    return out.getvalue()


class ConsentPages:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.store = ConsentStore(kit.services.engine)

    def _today(self) -> date:
        return self.kit.clock().astimezone(self.kit.settings.agency.tz).date()

    async def search(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.VIEW_CONSENT)
        if isinstance(who, Response):
            return who
        needle = request.query_params.get("q", "").strip().lower()[:200]
        records = await asyncio.to_thread(self.store.list)
        grouped: dict[str, list[ConsentRecord]] = defaultdict(list)
        for record in records:
            grouped[record.client_id].append(record)
        today = self._today()
        clients = [
            ClientSummary(
                client_id,
                rows[0].name,
                len(rows),
                sum(consent_state(r, today) == "granted" for r in rows),
                sum(consent_state(r, today) == "expired" for r in rows),
                sum(consent_state(r, today) == "revoked" for r in rows),
            )
            for client_id, rows in grouped.items()
            if not needle or any(_matches(r, needle) for r in rows)
        ]
        return kit.page(
            "consent_search.html",
            who,
            clients=clients[:MAX_CLIENTS_SHOWN],
            more=max(len(clients) - MAX_CLIENTS_SHOWN, 0),
            q=needle,
            total=len(grouped),
        )

    async def client(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.VIEW_CONSENT)
        if isinstance(who, Response):
            return who
        client_id = request.path_params["client_id"]
        rows = await asyncio.to_thread(self.store.list, client_id)
        if not rows:
            return kit.message_page(
                who,
                "Not found",
                "There is no client with this id.",
                status=404,
                back="/consent",
            )
        await kit.record(who.user, "consent.view", client_id[:200])
        return kit.page(
            "consent_client.html",
            who,
            client_id=client_id,
            rows=[ConsentRow(r, consent_state(r, self._today())) for r in rows],
            notice=request.query_params.get("done", ""),
        )

    async def add_form(self, request: Request) -> Response:
        who = await self.kit.require(request, Permission.EDIT_CONSENT)
        if isinstance(who, Response):
            return who
        today = self.kit.clock().astimezone(self.kit.settings.agency.tz).date()
        values = {
            "granted_on": today.isoformat(),
            "channel": "email",
            "relationship": "self",
            "client_id": request.query_params.get("client_id", "")[:100],
        }
        return self.kit.page(
            "consent_add.html", who, values=values, errors=[], labels=COLUMN_LABELS,
            scope_names=SCOPE_NAMES,
        )

    async def add(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.EDIT_CONSENT)
        if isinstance(who, Response):
            return who
        data = await kit.form(request, who)
        if isinstance(data, Response):
            return data
        fields = (
            "client_id",
            "name",
            "aliases",
            "address",
            "channel",
            "relationship",
            "granted_on",
            "expires_on",
            "identifiers",
            "evidence",
            "recipient_name",
            "purpose",
        )
        values = {k: str(data.get(k, "") or "").strip() for k in fields}
        values["preferred"] = "yes" if data.get("preferred") else "no"
        # The scope is ticked from the known categories; anything else sent
        # is kept so the CSV reader names it.
        values["scope"] = ";".join(str(v).strip() for v in data.getlist("scope") if str(v).strip())
        values["part2"] = "yes" if data.get("part2") else "no"
        values["status"] = "granted"
        errors: list[RowError] = []
        evidence = reason_from(data, "evidence")
        if evidence is None:
            errors.append(RowError(2, "evidence", "write who agreed, when and how"))
        values["notes"] = f"Added by {who.user}: {evidence or ''}"
        records: list[ConsentRecord] = []
        try:
            records = read_consent_csv(
                io.StringIO(_csv_line(values)),
                default_region=kit.settings.agency.default_region,
                source="form",
            )
        except ConsentCsvError as exc:
            errors.extend(exc.errors)
        if errors:
            return kit.page(
                "consent_add.html",
                who,
                values=values,
                errors=errors,
                labels=COLUMN_LABELS,
                status=422,
                scope_names=SCOPE_NAMES,
            )
        try:
            await asyncio.to_thread(
                lambda: self.store.import_records(records, actor=who.user, at=kit.clock())
            )
        except ConsentStoreError as exc:
            return kit.page(
                "consent_add.html",
                who,
                values=values,
                errors=[RowError(2, None, str(exc))],
                labels=COLUMN_LABELS,
                status=409,
                scope_names=SCOPE_NAMES,
            )
        record = records[0]
        return RedirectResponse(f"/consent/client/{record.client_id}?done=added", status_code=303)

    async def revoke(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.EDIT_CONSENT)
        if isinstance(who, Response):
            return who
        data = await kit.form(request, who)
        if isinstance(data, Response):
            return data
        client_id = request.path_params["client_id"]
        back = f"/consent/client/{client_id}"
        evidence = reason_from(data, "evidence")
        if evidence is None:
            return kit.message_page(
                who,
                "Evidence is needed",
                "Write who withdrew consent, when and how, then try again.",
                status=422,
                back=back,
            )
        channel_value = str(data.get("channel", "") or "")
        channel = {c.value: c for c in Channel}.get(channel_value)
        address: str | None = None
        raw_address = str(data.get("address", "") or "").strip()
        if raw_address and channel is not None:
            try:
                address = normalize_address(
                    raw_address, channel, kit.settings.agency.default_region
                )
            except AddressError as exc:
                return kit.message_page(
                    who, "Address not understood", str(exc), status=422, back=back
                )
        changed = await asyncio.to_thread(
            lambda: self.store.revoke(
                client_id,
                address=address,
                channel=channel,
                evidence=f"{evidence} (recorded by {who.user})",
                at=kit.clock(),
                actor=who.user,
            )
        )
        return RedirectResponse(f"{back}?done=revoked-{changed}", status_code=303)

    async def import_form(self, request: Request) -> Response:
        who = await self.kit.require(request, Permission.EDIT_CONSENT)
        if isinstance(who, Response):
            return who
        return self.kit.page(
            "consent_import.html",
            who,
            labels=COLUMN_LABELS,
            errors=[],
            preview=None,
            csv_text="",
            summary=None,
            source="",
        )

    async def import_file(self, request: Request) -> Response:
        kit = self.kit
        who = await kit.require(request, Permission.EDIT_CONSENT)
        if isinstance(who, Response):
            return who
        data = await kit.form(request, who, max_files=1, max_part_size=MAX_IMPORT_BYTES)
        if isinstance(data, Response):
            return data
        upload = data.get("file")
        text: str
        source = "upload"
        if upload is not None and not isinstance(upload, str):
            source = (upload.filename or "upload.csv")[:100]
            content = await upload.read(MAX_IMPORT_BYTES + 1)
            if len(content) > MAX_IMPORT_BYTES:
                return kit.message_page(
                    who,
                    "File too large",
                    "Import at most 5 MB at a time.",
                    status=413,
                    back="/consent/import",
                )
            try:
                text = content.decode("utf-8-sig")
            except UnicodeDecodeError:
                return kit.page(
                    "consent_import.html",
                    who,
                    labels=COLUMN_LABELS,
                    preview=None,
                    csv_text="",
                    summary=None,
                    source=source,
                    status=422,
                    errors=[RowError(1, None, "is not UTF-8 text; save it as 'CSV UTF-8'")],
                )
        else:
            text = str(data.get("csv_text", "") or "")
        try:
            records = read_consent_csv(
                io.StringIO(text),
                default_region=kit.settings.agency.default_region,
                source=source,
            )
        except ConsentCsvError as exc:
            return kit.page(
                "consent_import.html",
                who,
                labels=COLUMN_LABELS,
                errors=exc.errors,
                preview=None,
                csv_text="",
                summary=None,
                source=source,
                status=422,
            )
        if data.get("confirm") != "yes":
            return kit.page(
                "consent_import.html",
                who,
                labels=COLUMN_LABELS,
                errors=[],
                preview=records[:PREVIEW_ROWS],
                count=len(records),
                csv_text=text,
                summary=None,
                source=source,
            )
        try:
            summary = await asyncio.to_thread(
                lambda: self.store.import_records(records, actor=who.user, at=self.kit.clock())
            )
        except ConsentStoreError as exc:
            return kit.message_page(
                who, "Nothing was imported", str(exc), status=409, back="/consent/import"
            )
        return kit.page(
            "consent_import.html",
            who,
            labels=COLUMN_LABELS,
            errors=[],
            preview=None,
            csv_text="",
            summary=summary,
            source=source,
        )
