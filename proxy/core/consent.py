"""Consent registry records: who agreed to be contacted where, and how.

These are plain values; storage lives in :mod:`proxy.store.consent_store` and the CSV format
in :mod:`proxy.store.consent_csv`. Detectors and the policy read a
:class:`Registry` snapshot, never the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from proxy.core.findings import Category


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Relationship(StrEnum):
    SELF = "self"
    AUTHORIZED = "authorized"


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"


# A release of information that covers identifying details (date of birth,
# Medicaid number, address...) says so with this word in its scope.
SCOPE_IDENTIFIERS = "identifiers"
SCOPE_NAMES: tuple[str, ...] = (*(c.value for c in Category), SCOPE_IDENTIFIERS)

# The columns every consent file has, in this order.
CSV_COLUMNS: tuple[str, ...] = (
    "client_id",
    "name",
    "aliases",
    "address",
    "channel",
    "relationship",
    "status",
    "granted_on",
    "expires_on",
    "preferred",
    "identifiers",
    "notes",
)
# Optional since consent rows carry the terms of a release of information;
# files without them import as before (no restriction, not Part 2).
SCOPE_COLUMNS: tuple[str, ...] = ("recipient_name", "scope", "purpose", "part2")
ALL_CSV_COLUMNS: tuple[str, ...] = (*CSV_COLUMNS, *SCOPE_COLUMNS)


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One row: one client, one address, one channel.

    ``address`` is normalised: a lower-cased email address, or E.164 for sms.
    """

    client_id: str
    # Client data stays out of reprs (and so out of logs and tracebacks).
    name: str = field(repr=False)
    aliases: tuple[str, ...] = field(repr=False)
    address: str = field(repr=False)
    channel: Channel
    relationship: Relationship
    status: ConsentStatus
    granted_on: date
    expires_on: date | None
    preferred: bool
    identifiers: tuple[str, ...] = field(repr=False)
    notes: str = field(default="", repr=False)
    # The terms of a release (relationship authorized): who the party is,
    # which categories (SCOPE_NAMES) it covers -- empty means no restriction --
    # and the purpose stated on it. ``part2`` on any row of a client makes the
    # client's substance-use information 42 CFR Part 2 records.
    recipient_name: str = field(default="", repr=False)
    scope: tuple[str, ...] = ()
    purpose: str = field(default="", repr=False)
    part2: bool = False

    def covers(self, item: str) -> bool:
        """Whether this row's scope covers a category or ``identifiers``."""
        return not self.scope or item in self.scope

    def expired(self, today: date) -> bool:
        return self.expires_on is not None and self.expires_on < today


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """What identifies a client in text: names, aliases, known identifiers."""

    client_id: str
    names: tuple[str, ...] = field(repr=False)
    identifiers: tuple[str, ...] = field(repr=False)


class Registry:
    """An immutable, indexed snapshot of the consent registry."""

    def __init__(self, records: Iterable[ConsentRecord] = ()) -> None:
        self.records: tuple[ConsentRecord, ...] = tuple(records)
        by_address: dict[str, list[ConsentRecord]] = {}
        by_client: dict[str, list[ConsentRecord]] = {}
        for record in self.records:
            by_address.setdefault(record.address, []).append(record)
            by_client.setdefault(record.client_id, []).append(record)
        self._by_address: Mapping[str, tuple[ConsentRecord, ...]] = {
            k: tuple(v) for k, v in by_address.items()
        }
        # The policy asks this per client recipient of every message.
        self._by_client: Mapping[str, tuple[ConsentRecord, ...]] = {
            k: tuple(v) for k, v in by_client.items()
        }
        clients: dict[str, tuple[set[str], set[str]]] = {}
        for record in self.records:
            names, idents = clients.setdefault(record.client_id, (set(), set()))
            if record.relationship is Relationship.SELF:
                names.add(record.name)
                names.update(record.aliases)
            idents.update(record.identifiers)
        self.part2_clients: frozenset[str] = frozenset(
            r.client_id for r in self.records if r.part2
        )
        self._clients: Mapping[str, ClientIdentity] = {
            cid: ClientIdentity(cid, tuple(sorted(n for n in names if n)), tuple(sorted(i)))
            for cid, (names, i) in clients.items()
        }

    def for_address(self, address: str) -> tuple[ConsentRecord, ...]:
        """Rows whose address is ``address`` (already normalised)."""
        return self._by_address.get(address, ())

    def clients(self) -> Mapping[str, ClientIdentity]:
        return self._clients

    def rows_for_client(self, client_id: str) -> tuple[ConsentRecord, ...]:
        return self._by_client.get(client_id, ())

    def __len__(self) -> int:
        return len(self.records)
