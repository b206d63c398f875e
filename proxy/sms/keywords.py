"""STOP, START and HELP replies: the client's own word on being texted.

A client who replies STOP has withdrawn consent to texts, as surely as if
they had told their worker: every granted SMS consent row for that number
is revoked at once, with the reply as evidence, so the very next text to
them is refused. START (or UNSTOP) only undoes a revocation that a STOP
reply made: it never creates consent nobody recorded, and never overrides
a withdrawal the agency recorded some other way. HELP is only recorded.

The audit trail gets the keyword, how many rows changed and the client
ids; never the number or anything else the client wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from proxy.core.clock import change_stamp
from proxy.core.consent import Channel, ConsentStatus
from proxy.store.audit import record as audit
from proxy.store.consent_store import ConsentRow
from proxy.store.db import session_factory

log = logging.getLogger(__name__)

ACTOR = "sms inbound"
# Revocations made by a STOP reply start with this, so START can find them.
EVIDENCE_MARK = "text-message opt-out:"


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


_WORDS: dict[str, Keyword] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), Keyword.STOP),
    **dict.fromkeys(("START", "UNSTOP"), Keyword.START),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
}


def keyword_of(body: str) -> tuple[Keyword, str] | None:
    """The keyword and the word used, when the whole reply is one keyword
    (any case, surrounding spaces and a final full stop or ! ignored), as
    carriers and Twilio match them. "Please stop by" is not a STOP."""
    word = body.strip().rstrip(".!").strip().upper()
    keyword = _WORDS.get(word)
    return (keyword, word) if keyword is not None else None


@dataclass(frozen=True, slots=True)
class KeywordOutcome:
    keyword: Keyword
    rows: int  # consent rows changed
    client_ids: tuple[str, ...]
    known_number: bool  # the registry has this number for texts at all


def stop_evidence(word: str, at: datetime, message_sid: str | None) -> str:
    moment = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    reference = f" (provider message {message_sid})" if message_sid else ""
    return f"{EVIDENCE_MARK} the client replied {word} to a text on {moment}{reference}"


class KeywordHandler:
    """Applies a keyword to the consent registry; blocking (database)."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def apply(
        self,
        keyword: Keyword,
        word: str,
        number: str,
        *,
        at: datetime,
        message_sid: str | None = None,
    ) -> KeywordOutcome:
        """``number`` is E.164. Registry changes and audit entries commit
        together or not at all."""
        with self._sessions.begin() as session:
            rows = list(
                session.scalars(
                    select(ConsentRow).where(
                        ConsentRow.address == number, ConsentRow.channel == Channel.SMS.value
                    )
                )
            )
            if keyword is Keyword.STOP:
                changed = self._stop(session, rows, word, at, message_sid)
            elif keyword is Keyword.START:
                changed = self._start(session, rows, at)
            else:
                changed = []
            ids = tuple(sorted({r.client_id for r in changed}))
            audit(
                session,
                actor=ACTOR,
                action=f"sms.{keyword.value}",
                details={"keyword": word, "rows": len(changed), "known_number": bool(rows)},
                at=at,
            )
        log.info("inbound %s: %d consent row(s) changed", keyword.value, len(changed))
        return KeywordOutcome(keyword, len(changed), ids, bool(rows))

    @staticmethod
    def _stop(
        session: Session,
        rows: list[ConsentRow],
        word: str,
        at: datetime,
        message_sid: str | None,
    ) -> list[ConsentRow]:
        evidence = stop_evidence(word, at, message_sid)
        changed = [r for r in rows if r.status == ConsentStatus.GRANTED.value]
        for row in changed:
            row.status = ConsentStatus.REVOKED.value
            row.revoked_at = at
            row.revocation_evidence = evidence
            row.updated_at = change_stamp()  # running proxies reload on this
        for client_id in sorted({r.client_id for r in changed}):
            audit(
                session,
                actor=ACTOR,
                action="consent.revoke",
                target=client_id,
                details={
                    "rows": sum(1 for r in changed if r.client_id == client_id),
                    "channel": Channel.SMS.value,
                    "source": "sms_stop",
                    "evidence_given": True,
                },
                at=at,
            )
        return changed

    @staticmethod
    def _start(session: Session, rows: list[ConsentRow], at: datetime) -> list[ConsentRow]:
        changed = [
            r
            for r in rows
            if r.status == ConsentStatus.REVOKED.value
            and (r.revocation_evidence or "").startswith(EVIDENCE_MARK)
        ]
        for row in changed:
            row.status = ConsentStatus.GRANTED.value
            row.revoked_at = None
            row.revocation_evidence = None
            row.updated_at = change_stamp()
        for client_id in sorted({r.client_id for r in changed}):
            audit(
                session,
                actor=ACTOR,
                action="consent.grant",
                target=client_id,
                details={"channel": Channel.SMS.value, "source": "sms_start"},
                at=at,
            )
        return changed
