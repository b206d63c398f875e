"""Turning a lint result into what people and tools read.

This is the one place findings are serialised, and it never emits the matched
value: the JSON contract has offsets, not text, so reports are safe to keep.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from proxy.core.findings import Finding
from proxy.core.verdict import Action, RuleHit
from proxy.lint.engine import LintResult
from proxy.lint.public_details import AGENCY, DIRECTORY, SIGNATURE

_INFORMATIONAL_MESSAGE = "Noted for information; no action needed on its own."
_PUBLIC_MESSAGES = {
    AGENCY: "The agency's own contact details (agency.contact_details): not a client's.",
    DIRECTORY: "A public place's published contact details (agency.public_directory).",
    SIGNATURE: "The sender's own office address, in their signature: not a client's.",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One reported line: a rule that fired, or a finding no rule acted on."""

    rule: str | None
    action: Action
    message: str
    finding: Finding | None
    overridden: bool = False


def _finding_key(f: Finding) -> tuple[object, ...]:
    """What makes two findings the same place in the message (``Finding``
    equality also compares score and detector)."""
    return (f.entity, f.location, f.start, f.end, f.client_id)


def _hit_key(hit: RuleHit) -> tuple[object, ...]:
    return (hit.rule, _finding_key(hit.finding) if hit.finding is not None else None)


def rows(result: LintResult) -> list[Row]:
    """One row per (rule, finding), keeping the most severe action across
    recipients, plus findings that no rule acted on."""
    best: dict[tuple[object, ...], RuleHit] = {}
    for hit in result.verdict.hits:
        key = _hit_key(hit)
        if key not in best or hit.action > best[key].action:
            best[key] = hit
    covered = {_finding_key(h.finding) for h in best.values() if h.finding is not None}
    out = [Row(h.rule, h.action, h.message, h.finding, h.overridden) for h in best.values()]
    out.extend(
        Row(None, Action.PASS, _PUBLIC_MESSAGES.get(f.public or "", _INFORMATIONAL_MESSAGE), f)
        for f in result.findings
        if _finding_key(f) not in covered
    )
    out.sort(key=_row_order)
    return out


def _row_order(row: Row) -> tuple[Any, ...]:
    f = row.finding
    return (
        -row.action.severity,
        f.location if f else "",
        f.start if f else -1,
        row.rule or "",
    )


def line_col(result: LintResult, finding: Finding) -> tuple[int, int] | None:
    """1-based line and column of a finding in its source's text."""
    text = result.message.full_text.get(finding.location)
    if text is None or finding.start > len(text):
        return None
    before = text[: finding.start]
    line = before.count("\n") + 1
    col = finding.start - (before.rfind("\n") + 1) + 1
    return line, col


def to_json(file: str, result: LintResult) -> dict[str, Any]:
    """The stable ``tactful lint --json`` object for one file."""
    verdict = result.verdict
    return {
        "file": file,
        "verdict": verdict.verdict.value,
        "enforced": verdict.enforced.value,
        "mode": verdict.mode,
        "defer_until": verdict.defer_until.isoformat() if verdict.defer_until else None,
        "urgent": verdict.urgent,
        "override": verdict.override_reason is not None,
        "findings": [
            {
                "rule": r.rule,
                "entity": r.finding.entity.value if r.finding else None,
                "category": r.finding.category.value if r.finding and r.finding.category else None,
                "client_id": r.finding.client_id if r.finding else None,
                "location": r.finding.location if r.finding else None,
                "start": r.finding.start if r.finding else None,
                "end": r.finding.end if r.finding else None,
                "score": round(r.finding.score, 3) if r.finding else None,
                "action": r.action.value,
                "message": r.message,
            }
            for r in rows(result)
        ],
        "recipients": [
            {
                "address": rv.recipient.address,
                "kind": rv.recipient.kind.value,
                "channel": rv.recipient.channel,
                "verdict": rv.verdict.value,
            }
            for rv in verdict.recipients
        ],
    }


def human_lines(file: str, result: LintResult, *, verbose: bool = False) -> Iterable[str]:
    """Linter-style lines: ``FILE:LOCATION[:LINE:COL]: ACTION RULE [ENTITY] message``."""
    for row in rows(result):
        if row.rule is None and not verbose:
            continue  # informational finding; shown with -v
        where = file
        tag = ""
        if row.finding is not None:
            f = row.finding
            where += f":{f.location}"
            pos = line_col(result, f)
            if pos is not None and f.end > f.start:
                where += f":{pos[0]}:{pos[1]}"
            tag = f" [{f.entity.value}" + (f"/{f.category.value}" if f.category else "") + "]"
        rule = row.rule or "info"
        note = " (overridden)" if row.overridden else ""
        yield f"{where}: {row.action.value} {rule}{tag}{note} {row.message}"
    verdict = result.verdict
    summary = f"{file}: verdict {verdict.verdict.value}"
    if verdict.enforced is not verdict.verdict:
        summary += f" (monitor mode: would {verdict.verdict.value}, does {verdict.enforced.value})"
    if verdict.defer_until is not None:
        summary += f", deferred until {verdict.defer_until.isoformat()}"
    per = ", ".join(
        f"{rv.recipient.address} ({rv.recipient.kind.value}/{rv.recipient.channel}): "
        f"{rv.verdict.value}"
        for rv in verdict.recipients
    )
    if per:
        summary += f" — {per}"
    yield summary
