"""consent-scope and the Part 2 decisions of the shipped policy.

A release of information covers what it names: findings outside it hold
the message for a reviewer, inside it they go out as before. The registry,
messages and findings are built by hand as in test_policy; the shipped
tactful.yaml supplies the actions.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from proxy.core.findings import Category, Entity, Finding
from proxy.core.message import SubjectTags
from proxy.core.verdict import Action
from proxy.lint import rules
from tests.lint.test_policy import (
    ANN,
    CONDITION,
    DOB,
    ENFORCE,
    HAL_COUNSEL,
    HAL_COUNSEL_SMS,
    KIM,
    LANDLORD,
    MENTIONS_BO,
    SIS,
    SSN,
    TOPIC,
    found,
    judge,
    message,
)

USE = found(Entity.SENSITIVE_CONDITION, text="methadone", about_person=True,
            category=Category.SUBSTANCE_USE)  # fmt: skip
USE_OF_HAL = replace(USE, client_id="C-1008")
USE_OF_ANN = replace(USE, client_id="C-1001")
HIV = found(Entity.SENSITIVE_CONDITION, text="HIV positive", about_person=True,
            category=Category.HIV_STI)  # fmt: skip
HIV_OF_BO = replace(HIV, client_id="C-1002")
UNKNOWN_KIND = found(Entity.SENSITIVE_CONDITION, text="x", about_person=True)
CASE_NO = found(Entity.CASE_NUMBER, text="CASE-2026-00412")
AGENCY_ADDRESS = replace(found(Entity.STREET_ADDRESS, text="200 W Adams"), public="agency")


@pytest.mark.parametrize(
    ("findings", "outside"),
    [
        ((USE,), None),  # the release covers substance use
        ((USE_OF_HAL,), None),
        ((TOPIC,), None),  # a topic, not about a person
        ((AGENCY_ADDRESS,), None),  # the agency's own address is nobody's secret
        ((HIV_OF_BO,), None),  # another client's: other-client's business, not this release's
        ((CONDITION,), ("mental_health",)),
        ((DOB,), ("identifiers",)),
        ((SSN,), ("identifiers",)),
        ((CASE_NO,), ("identifiers",)),
        ((HIV,), ("hiv_sti",)),
        ((UNKNOWN_KIND,), (rules.UNCATEGORISED,)),
        ((USE, CONDITION, DOB), ("mental_health", "identifiers")),
    ],
)
def test_a_release_with_a_scope_holds_only_what_it_does_not_cover(
    findings: tuple[Finding, ...], outside: tuple[str, ...] | None
) -> None:
    verdict = judge(message((HAL_COUNSEL,)), findings)
    fired = [h for h in verdict.hits if h.rule == rules.CONSENT_SCOPE]
    if outside is None:
        assert fired == []
        assert verdict.verdict < Action.HOLD
        return
    assert verdict.verdict is Action.HOLD
    assert {h.action for h in fired} == {Action.HOLD}
    # One hit per finding outside the scope (each is highlighted), one reason.
    assert len(fired) == sum(rules.scope_item(f) in outside for f in findings)
    assert len({h.message for h in fired}) == 1
    text = fired[0].message
    assert "C-1008" in text and "Lee Counsel, attorney" in text
    for finding in findings:
        assert finding.text not in text
    nouns = {"mental_health": "mental health", "identifiers": "identifying details",
             "hiv_sti": "HIV", rules.UNCATEGORISED: "health or legal"}  # fmt: skip
    for item in outside:
        assert nouns[item] in text
    after = text.split("receive only information about ", 1)[1]
    covered, told = after.split(", but this message", 1)
    assert covered.startswith("substance use")
    assert "substance use" not in told


def test_a_release_without_a_scope_is_as_before() -> None:
    verdict = judge(message((SIS,)), (CONDITION, DOB))
    assert not [h for h in verdict.hits if h.rule == rules.CONSENT_SCOPE]
    assert verdict.verdict is Action.WARN


def test_only_a_reviewer_can_send_what_the_release_does_not_cover() -> None:
    tags = SubjectTags(override_reason="client agreed on the phone")
    verdict = judge(message((HAL_COUNSEL,), tags=tags), (CONDITION,))
    (hit,) = [h for h in verdict.hits if h.rule == rules.CONSENT_SCOPE]
    assert hit.action is Action.HOLD and not hit.overridden
    assert verdict.verdict is Action.HOLD


def test_scope_applies_to_texts_to_the_party_too() -> None:
    verdict = judge(message((HAL_COUNSEL_SMS,)), (DOB,))
    assert [h.rule for h in verdict.hits if h.rule == rules.CONSENT_SCOPE]


@pytest.mark.parametrize(
    ("to", "findings", "notice"),
    [
        ((HAL_COUNSEL,), (USE,), True),  # the party, unattributed: it is about their client
        ((HAL_COUNSEL,), (USE_OF_HAL,), True),
        ((LANDLORD,), (USE_OF_HAL,), True),  # an outsider, after a reviewer's release
        ((LANDLORD,), (USE,), False),  # nobody named: no Part 2 client involved
        ((ANN,), (USE_OF_HAL,), False),  # no Part 2 client's records... to another client
        ((HAL_COUNSEL,), (TOPIC,), False),  # a topic is no one's record
        ((HAL_COUNSEL,), (CONDITION,), False),  # not substance use
        ((KIM,), (USE_OF_HAL,), False),  # a colleague: not a disclosure
        ((KIM, HAL_COUNSEL), (USE,), True),  # one copy for all: everyone sees the notice
        ((SIS,), (USE_OF_ANN,), False),  # C-1001 is not a Part 2 client
        ((LANDLORD,), (MENTIONS_BO, USE), False),
    ],
)
def test_when_the_part2_notice_is_needed(
    to: tuple[str, ...], findings: tuple[Finding, ...], notice: bool
) -> None:
    assert judge(message(to), findings).part2_notice is notice


def test_terms_of_the_release_go_with_the_verdict() -> None:
    verdict = judge(message((HAL_COUNSEL, SIS, LANDLORD)), (USE_OF_HAL,))
    by_recipient = {t.recipient: t for t in verdict.terms}
    assert set(by_recipient) == {HAL_COUNSEL, SIS}  # an outsider has no release
    hal = by_recipient[HAL_COUNSEL]
    assert (hal.client_id, hal.recipient_name, hal.scope, hal.purpose, hal.part2) == (
        "C-1008", "Lee Counsel, attorney", ("substance_use",), "legal representation", True
    )
    assert by_recipient[SIS].part2 is False and by_recipient[SIS].purpose == ""


def test_a_text_that_cannot_carry_the_short_notice_is_held() -> None:
    short = replace(message((HAL_COUNSEL_SMS,)), full_text={"body": "Court moved to 3pm."})
    assert not [h for h in judge(short, (USE,)).hits if h.rule == rules.PART2_NOTICE]
    long = replace(short, full_text={"body": "x" * 1590})
    (hit,) = [h for h in judge(long, (USE,)).hits if h.rule == rules.PART2_NOTICE]
    assert hit.action is Action.HOLD and not hit.overridable
    over = 1590 + 1 + len(ENFORCE.part2.short_notice) - ENFORCE.sms.max_body_chars
    assert f"by {over} characters" in hit.message and "C-1008" in hit.message
