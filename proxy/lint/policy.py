"""The policy decision: every reason, weighed per recipient, into one verdict.

Rules (:mod:`proxy.lint.rules`) say what is the case; the agency's YAML says what
each rule costs for each kind of recipient; this module applies the worker's
subject tags ([urgent], [override: reason]) and the rollout mode, and keeps
every hit so the worker sees all problems at once instead of fixing them one
bounce at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from proxy.core.config import RuleConfig, Settings
from proxy.core.consent import Channel, Registry
from proxy.core.findings import Finding
from proxy.core.message import ParsedMessage
from proxy.core.verdict import (
    Action,
    Recipient,
    RecipientVerdict,
    ReleaseTerms,
    RuleHit,
    Verdict,
    most_severe,
)
from proxy.lint import explain, rules
from proxy.lint.hours import next_working_start, quiet_hours_end
from proxy.lint.rules import RuleInput, RuleMatch


class PolicyConfigError(ValueError):
    """The policy has no entry for a rule Tactful needs to weigh."""


def missing_rules(settings: Settings) -> tuple[str, ...]:
    """Built-in rules the configuration gives no action for."""
    return tuple(name for name in rules.RULE_NAMES if name not in settings.policy.rules)


def unknown_rules(settings: Settings) -> tuple[str, ...]:
    """Configured rule names no rule uses: almost always a typo, worth a
    warning from ``tactful config check``."""
    return tuple(sorted(set(settings.policy.rules) - set(rules.RULE_NAMES)))


@dataclass(frozen=True, slots=True)
class _Tags:
    urgent: bool
    override_reason: str | None


def _rule_config(settings: Settings, name: str) -> RuleConfig:
    return settings.policy.rules[name]


def _recipient_hit(
    match: RuleMatch, recipient: Recipient, settings: Settings, tags: _Tags
) -> RuleHit | None:
    """Weigh one match for one recipient; ``None`` when it costs nothing."""
    config = _rule_config(settings, match.rule)
    action = config.action_for(recipient.kind.value, recipient.channel)
    if action is Action.DEFER and match.rule == rules.AFTER_HOURS and tags.urgent:
        if match.until is None:
            return None
        return RuleHit(
            rule=match.rule,
            action=Action.PASS,
            message=explain.urgent_skipped(match.until),
            recipient=recipient.address,
        )
    if action is Action.PASS:
        return None
    hit = RuleHit(
        rule=match.rule,
        action=action,
        message=explain.explain(match, recipient, action, settings),
        recipient=recipient.address,
        finding=match.finding,
        overridable=config.overridable and recipient.channel != Channel.SMS,
    )
    return _apply_override(hit, recipient, tags)


def _message_hit(
    match: RuleMatch, recipients: Sequence[Recipient], settings: Settings, tags: _Tags
) -> RuleHit | None:
    """A hit about the whole message weighs as much as it would for the most
    exposed recipient involved (so an ``sms:`` setting still counts)."""
    config = _rule_config(settings, match.rule)
    involved = [r for r in recipients if r.address in match.recipients]
    action = (
        most_severe([config.action_for(r.kind.value, r.channel) for r in involved])
        if involved
        else config.default
    )
    if action is Action.PASS:
        return None
    hit = RuleHit(
        rule=match.rule,
        action=action,
        message=explain.explain(match, None, action, settings),
        finding=match.finding,
        overridable=config.overridable and all(r.channel != Channel.SMS for r in involved),
    )
    sms = next((r for r in involved if r.channel == Channel.SMS), None)
    return _apply_override(hit, sms, tags)


def _apply_override(hit: RuleHit, recipient: Recipient | None, tags: _Tags) -> RuleHit:
    """``[override: reason]`` releases overridable holds only: never a
    reject, and never a hold on a text message (it cannot be recalled or
    kept from whoever else reads the phone)."""
    if tags.override_reason is None or hit.action is not Action.HOLD:
        return hit
    if not hit.overridable:
        return replace(hit, message=explain.not_overridable(hit.message, recipient))
    return replace(
        hit, action=Action.PASS, overridden=True, message=explain.overridden(hit.message)
    )


def _tags(message: ParsedMessage) -> _Tags:
    reason = message.tags.override_reason
    reason = reason.strip() if reason is not None else None
    return _Tags(urgent=message.tags.urgent, override_reason=reason or None)


def _defer_until(hits: Iterable[RuleHit], settings: Settings, now: datetime) -> datetime | None:
    """Any deferral waits for the next working window, whichever rule asked,
    and a text deferred for quiet hours also for their end: the later wins."""
    deferred = [h for h in hits if h.action is Action.DEFER]
    if not deferred:
        return None
    start = next_working_start(now, settings.agency)
    if any(h.rule == rules.QUIET_HOURS for h in deferred):
        quiet_end = quiet_hours_end(now, settings.sms, settings.agency.tz)
        if quiet_end is not None and (start is None or quiet_end > start):
            return quiet_end
    return start


def decide(
    message: ParsedMessage,
    findings: Sequence[Finding],
    recipients: Sequence[Recipient],
    settings: Settings,
    registry: Registry,
    now: datetime,
) -> Verdict:
    """One verdict for the message, with every reason kept.

    A recipient's verdict is the most severe of its hits; the message's is
    the most severe over recipients and message-wide hits. In ``monitor`` mode
    the verdict is still computed and recorded, but what is enforced never
    goes beyond a warning.
    """
    missing = missing_rules(settings)
    if missing:
        raise PolicyConfigError(
            "policy.rules has no entry for "
            + ", ".join(missing)
            + " (see the policy section of proxy/core/defaults/tactful.yaml)"
        )
    tags = _tags(message)
    inp = RuleInput(
        message=message, findings=tuple(findings), registry=registry, settings=settings, now=now
    )
    # Message-wide hits (exposed clients) concern every recipient: one copy
    # goes to all of them, so each recipient's verdict includes them.
    message_hits = tuple(
        hit
        for rule in rules.MESSAGE_RULES
        for match in rule(inp, recipients)
        if (hit := _message_hit(match, recipients, settings, tags)) is not None
    )
    message_actions = [h.action for h in message_hits]
    per_recipient: list[RecipientVerdict] = []
    all_hits: list[RuleHit] = []
    for recipient in recipients:
        hits = tuple(
            hit
            for rule in rules.RECIPIENT_RULES
            for match in rule(inp, recipient)
            if (hit := _recipient_hit(match, recipient, settings, tags)) is not None
        )
        per_recipient.append(
            RecipientVerdict(
                recipient=recipient,
                verdict=most_severe([h.action for h in hits] + message_actions),
                hits=hits,
            )
        )
        all_hits.extend(hits)
    all_hits.extend(message_hits)
    part2 = {r.address: set(rules.part2_clients(inp, r)) for r in recipients}
    terms = tuple(
        ReleaseTerms(
            recipient=r.address,
            client_id=row.client_id,
            recipient_name=row.recipient_name,
            scope=row.scope,
            purpose=row.purpose,
            part2=row.client_id in part2[r.address],
        )
        for r in recipients
        for row in rules.granted_releases(inp, r)
    )
    verdict = most_severe([rv.verdict for rv in per_recipient] + [h.action for h in message_hits])
    enforced = min(verdict, Action.WARN) if settings.mode == "monitor" else verdict
    return Verdict(
        verdict=verdict,
        enforced=enforced,
        mode=settings.mode,
        recipients=tuple(per_recipient),
        hits=tuple(all_hits),
        findings=tuple(findings),
        defer_until=_defer_until(all_hits, settings, now),
        urgent=tags.urgent,
        override_reason=tags.override_reason,
        terms=terms,
        part2_notice=any(part2.values()),
    )
