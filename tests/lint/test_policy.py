"""The shipped policy, rule by rule and recipient kind by kind.

Messages, findings and the registry are built by hand (no spaCy), recipients
are classified by the real :func:`classify_recipients`, and the real shipped
``proxy/core/defaults/tactful.yaml`` supplies the actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from proxy.core.config import Settings, settings_from_mapping
from proxy.core.consent import Channel, ConsentRecord, ConsentStatus, Registry, Relationship
from proxy.core.findings import Category, Entity, Finding
from proxy.core.message import Envelope, ParsedMessage, SubjectTags
from proxy.core.verdict import Action, RecipientKind, Verdict
from proxy.lint import explain, rules
from proxy.lint.policy import PolicyConfigError, decide, missing_rules, unknown_rules
from proxy.lint.recipients import classify_recipients

CHI = ZoneInfo("America/Chicago")
ENFORCE = settings_from_mapping({})
MONITOR = settings_from_mapping({"mode": "monitor"})
PORTAL = ENFORCE.agency.secure_portal

WORK = datetime(2026, 3, 2, 10, 0, tzinfo=CHI)  # Monday 10:00
EVENING = datetime(2026, 3, 2, 20, 0, tzinfo=CHI)  # Monday 20:00

ANN = "ann@mail.test"  # C-1001, email and sms granted
ANN_SMS = "3125550142@vtext.com"
BO = "bo@mail.test"  # C-1002, revoked
CY = "cy@mail.test"  # C-1003, expired on 1 Feb
DEE = "dee@mail.test"  # C-1004, prefers text messages
DEE_SMS = "7735550111@vtext.com"
EVE = "eve@mail.test"  # C-1005, granted
EVE_SMS = "3125550177@vtext.com"
SIS = "sis@mail.test"  # authorised for C-1001
FAY = "fay@mail.test"  # C-1006, email granted, sms revoked
FAY_SMS = "3125550188@vtext.com"
GUS = "gus@mail.test"  # C-1007, consent ends Tuesday 3 March
KIM = "kim@example.org"  # colleague
LANDLORD = "landlord@rentals.test"
STRANGER_SMS = "7735550199@vtext.com"
HAL_COUNSEL = "counsel@law.test"  # authorised for C-1008 (Part 2): substance use only
HAL_COUNSEL_SMS = "3125550166@vtext.com"

CLIENT_NAMES = ("Ann Example", "Bo Sample", "Dee Person", "Eve Other")


def record(
    client_id: str,
    name: str,
    address: str,
    *,
    channel: Channel = Channel.EMAIL,
    relationship: Relationship = Relationship.SELF,
    status: ConsentStatus = ConsentStatus.GRANTED,
    expires_on: date | None = None,
    preferred: bool = False,
) -> ConsentRecord:
    return ConsentRecord(
        client_id=client_id,
        name=name,
        aliases=(),
        address=address,
        channel=channel,
        relationship=relationship,
        status=status,
        granted_on=date(2025, 1, 1),
        expires_on=expires_on,
        preferred=preferred,
        identifiers=(),
    )


REGISTRY = Registry(
    [
        record("C-1001", "Ann Example", ANN),
        record("C-1001", "Ann Example", "+13125550142", channel=Channel.SMS),
        record("C-1002", "Bo Sample", BO, status=ConsentStatus.REVOKED),
        record("C-1003", "Cy Case", CY, expires_on=date(2026, 2, 1)),
        record("C-1004", "Dee Person", DEE),
        record("C-1004", "Dee Person", "+17735550111", channel=Channel.SMS, preferred=True),
        record("C-1005", "Eve Other", EVE),
        record("C-1005", "Eve Other", "+13125550177", channel=Channel.SMS),
        record("C-1001", "Sis Helper", SIS, relationship=Relationship.AUTHORIZED),
        record("C-1006", "Fay Dual", FAY),
        record(
            "C-1006", "Fay Dual", "+13125550188", channel=Channel.SMS, status=ConsentStatus.REVOKED
        ),
        record("C-1007", "Gus Edge", GUS, expires_on=date(2026, 3, 3)),
        *(
            replace(
                record("C-1008", "Lee Counsel", address, channel=channel,
                       relationship=Relationship.AUTHORIZED),
                recipient_name="Lee Counsel, attorney", scope=("substance_use",),
                purpose="legal representation", part2=True,
            )
            for address, channel in ((HAL_COUNSEL, Channel.EMAIL), ("+13125550166", Channel.SMS))
        ),
    ]
)

SSN_TEXT = "123-45-6789"


def found(
    entity: Entity,
    *,
    text: str = "x",
    location: str = "body",
    quoted: bool = False,
    about_person: bool | None = None,
    category: Category | None = None,
    client_id: str | None = None,
    reason: str | None = None,
) -> Finding:
    return Finding(
        entity=entity,
        location=location,
        start=10,
        end=10 + len(text),
        score=0.9,
        detector="test",
        text=text,
        category=category,
        client_id=client_id,
        about_person=about_person,
        quoted=quoted,
        reason=reason,
    )


SSN = found(Entity.US_SSN, text=SSN_TEXT)
DOB = found(Entity.DATE_OF_BIRTH, text="04/05/1980")
CONDITION = found(
    Entity.SENSITIVE_CONDITION, text="bipolar", about_person=True, category=Category.MENTAL_HEALTH
)
TOPIC = found(
    Entity.SENSITIVE_CONDITION, text="rehab", about_person=False, category=Category.SUBSTANCE_USE
)
MENTIONS_BO = found(Entity.CLIENT, text="Bo Sample", client_id="C-1002")
MENTIONS_ANN = found(Entity.CLIENT, text="Ann Example", client_id="C-1001")
UNREADABLE = found(
    Entity.UNSCANNABLE, location="attachment:Ann_Example.pdf", reason="encrypted PDF"
)


NO_TAGS = SubjectTags()


def message(
    to: tuple[str, ...],
    *,
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    tags: SubjectTags = NO_TAGS,
) -> ParsedMessage:
    return ParsedMessage(
        envelope=Envelope(sender="worker@example.org", recipients=to + cc + bcc),
        subject="Next visit",
        tags=tags,
        from_name="Worker",
        to=to,
        cc=cc,
        segments=(),
    )


def judge(
    msg: ParsedMessage,
    findings: tuple[Finding, ...],
    *,
    now: datetime = WORK,
    settings: Settings = ENFORCE,
) -> Verdict:
    recipients = classify_recipients(msg, settings, REGISTRY)
    return decide(msg, findings, recipients, settings, REGISTRY, now)


@dataclass(frozen=True)
class Case:
    """One row: who gets what, and what ``rule`` must do (``action=None``:
    the rule must not fire at all; ``rule=None``: nothing may fire)."""

    id: str
    to: tuple[str, ...]
    findings: tuple[Finding, ...]
    rule: str | None
    action: Action | None
    verdict: Action
    bcc: tuple[str, ...] = ()
    now: datetime = WORK
    tags: SubjectTags = field(default_factory=SubjectTags)
    monitor: bool = False
    enforced: Action | None = None
    overridden: bool = False


OVERRIDE = SubjectTags(override_reason="court deadline, supervisor agreed")
URGENT = SubjectTags(urgent=True)
R = rules

# fmt: off
CASES = [
    # consent
    Case("revoked-email", (BO,), (), R.CONSENT_REVOKED, Action.REJECT, Action.REJECT),
    Case("revoked-not-overridable", (BO,), (), R.CONSENT_REVOKED, Action.REJECT, Action.REJECT,
         tags=OVERRIDE),
    Case("revoked-sms-only/email-ok", (FAY,), (), R.CONSENT_REVOKED, None, Action.PASS),
    Case("revoked-sms-only/sms", (FAY_SMS,), (), R.CONSENT_REVOKED, Action.REJECT, Action.REJECT),
    Case("expired", (CY,), (), R.CONSENT_EXPIRED, Action.HOLD, Action.HOLD),
    Case("expired-overridden", (CY,), (), R.CONSENT_EXPIRED, Action.PASS, Action.PASS,
         tags=OVERRIDE, overridden=True),
    Case("expires-today-still-valid", (GUS,), (), R.CONSENT_EXPIRED, None, Action.PASS,
         now=datetime(2026, 3, 3, 10, 0, tzinfo=CHI)),
    # 03:00 UTC on the 4th is still 21:00 on the 3rd in Chicago (so after hours).
    Case("expiry-by-agency-calendar", (GUS,), (), R.CONSENT_EXPIRED, None, Action.DEFER,
         now=datetime(2026, 3, 4, 3, 0, tzinfo=UTC)),
    Case("expiry-next-local-day", (GUS,), (), R.CONSENT_EXPIRED, Action.HOLD, Action.HOLD,
         now=datetime(2026, 3, 4, 15, 0, tzinfo=UTC)),
    Case("prefers-sms/emailed", (DEE,), (), R.CHANNEL_PREFERENCE, Action.WARN, Action.WARN),
    Case("prefers-sms/texted", (DEE_SMS,), (), R.CHANNEL_PREFERENCE, None, Action.PASS),
    # financial identifiers
    Case("ssn/external", (LANDLORD,), (SSN,), R.FINANCIAL_IDENTIFIER, Action.REDACT,
         Action.REDACT),
    Case("ssn/internal", (KIM,), (SSN,), R.FINANCIAL_IDENTIFIER, Action.WARN, Action.WARN),
    Case("card/client", (ANN,), (found(Entity.CREDIT_CARD),), R.FINANCIAL_IDENTIFIER,
         Action.REDACT, Action.REDACT),
    Case("bank/authorized", (SIS,), (found(Entity.US_BANK_NUMBER),), R.FINANCIAL_IDENTIFIER,
         Action.REDACT, Action.REDACT),
    Case("ssn/sms", (ANN_SMS,), (SSN,), R.FINANCIAL_IDENTIFIER, Action.REDACT, Action.REDACT),
    Case("ssn-in-quoted-reply/external", (LANDLORD,), (found(Entity.US_SSN, quoted=True),),
         R.FINANCIAL_IDENTIFIER, Action.REDACT, Action.REDACT),
    # personal identifiers
    Case("dob/external", (LANDLORD,), (DOB,), R.PERSONAL_IDENTIFIER, Action.HOLD, Action.HOLD),
    Case("dob/external-overridden", (LANDLORD,), (DOB,), R.PERSONAL_IDENTIFIER, Action.PASS,
         Action.PASS, tags=OVERRIDE, overridden=True),
    Case("dob/internal", (KIM,), (DOB,), R.PERSONAL_IDENTIFIER, None, Action.PASS),
    Case("medicaid/client", (ANN,), (found(Entity.MEDICAID_ID),), R.PERSONAL_IDENTIFIER,
         Action.WARN, Action.WARN),
    Case("medicare/authorized", (SIS,), (found(Entity.MEDICARE_ID),), R.PERSONAL_IDENTIFIER,
         Action.WARN, Action.WARN),
    Case("case-number/external", (LANDLORD,), (found(Entity.CASE_NUMBER),),
         R.PERSONAL_IDENTIFIER, Action.HOLD, Action.HOLD),
    Case("address/sms-client", (ANN_SMS,), (found(Entity.STREET_ADDRESS),),
         R.PERSONAL_IDENTIFIER, Action.HOLD, Action.HOLD),
    Case("dob/sms-not-overridable", (ANN_SMS,), (DOB,), R.PERSONAL_IDENTIFIER, Action.HOLD,
         Action.HOLD, tags=OVERRIDE),
    Case("dob-quoted/external", (LANDLORD,), (found(Entity.DATE_OF_BIRTH, quoted=True),),
         R.PERSONAL_IDENTIFIER, Action.HOLD, Action.HOLD),
    # sensitive conditions and topics
    Case("condition/external", (LANDLORD,), (CONDITION,), R.SENSITIVE_CONDITION, Action.HOLD,
         Action.HOLD),
    Case("condition/client", (ANN,), (CONDITION,), R.SENSITIVE_CONDITION, Action.WARN,
         Action.WARN),
    Case("condition/authorized", (SIS,), (CONDITION,), R.SENSITIVE_CONDITION, Action.WARN,
         Action.WARN),
    Case("condition/sms", (ANN_SMS,), (CONDITION,), R.SENSITIVE_CONDITION, Action.HOLD,
         Action.HOLD),
    Case("condition/internal", (KIM,), (CONDITION,), R.SENSITIVE_CONDITION, None, Action.PASS),
    Case("condition-unattributed-counts-as-personal", (LANDLORD,),
         (found(Entity.SENSITIVE_CONDITION, about_person=None),), R.SENSITIVE_CONDITION,
         Action.HOLD, Action.HOLD),
    Case("topic/external", (LANDLORD,), (TOPIC,), R.SENSITIVE_TOPIC, None, Action.PASS),
    Case("topic/client", (ANN,), (TOPIC,), R.SENSITIVE_TOPIC, None, Action.PASS),
    Case("topic/sms", (ANN_SMS,), (TOPIC,), R.SENSITIVE_TOPIC, Action.HOLD, Action.HOLD),
    Case("topic/sms-stranger", (STRANGER_SMS,), (TOPIC,), R.SENSITIVE_TOPIC, Action.HOLD,
         Action.HOLD),
    # other clients
    Case("other-client/client", (ANN,), (MENTIONS_BO,), R.OTHER_CLIENT, Action.HOLD,
         Action.HOLD),
    Case("own-client/client", (ANN,), (MENTIONS_ANN,), R.OTHER_CLIENT, None, Action.PASS),
    Case("own-client/authorized", (SIS,), (MENTIONS_ANN,), R.OTHER_CLIENT, None, Action.PASS),
    Case("other-client/authorized", (SIS,), (MENTIONS_BO,), R.OTHER_CLIENT, Action.HOLD,
         Action.HOLD),
    Case("other-client/external", (LANDLORD,), (MENTIONS_ANN,), R.OTHER_CLIENT, Action.HOLD,
         Action.HOLD),
    Case("other-client/sms", (ANN_SMS,), (MENTIONS_BO,), R.OTHER_CLIENT, Action.HOLD,
         Action.HOLD),
    Case("other-client/sms-not-overridable", (ANN_SMS,), (MENTIONS_BO,), R.OTHER_CLIENT,
         Action.HOLD, Action.HOLD, tags=OVERRIDE),
    Case("other-client/internal", (KIM,), (MENTIONS_BO,), R.OTHER_CLIENT, None, Action.PASS),
    Case("informational-only", (LANDLORD,),
         (found(Entity.EMAIL_ADDRESS), found(Entity.PERSON)), None, None, Action.PASS),
    # A client's phone identifies them like an address; public numbers do not.
    Case("phone/external", (LANDLORD,), (found(Entity.PHONE_NUMBER),),
         R.PERSONAL_IDENTIFIER, Action.HOLD, Action.HOLD),
    Case("phone/client", (ANN,), (found(Entity.PHONE_NUMBER),), R.PERSONAL_IDENTIFIER,
         Action.WARN, Action.WARN),
    # clients exposed to each other
    Case("exposed/two-clients-in-to", (ANN, EVE), (), R.EXPOSED_CLIENTS, Action.HOLD,
         Action.HOLD),
    # Bcc recipients still read To: Eve learns that Ann is a client.
    Case("exposed/one-in-bcc", (ANN,), (), R.EXPOSED_CLIENTS, Action.HOLD, Action.HOLD,
         bcc=(EVE,)),
    Case("exposed/client-in-bcc-outsider-in-to", (LANDLORD,), (), R.EXPOSED_CLIENTS, None,
         Action.PASS, bcc=(ANN,)),
    Case("exposed/client-and-outsider-in-to", (ANN, LANDLORD), (), R.EXPOSED_CLIENTS,
         Action.HOLD, Action.HOLD),
    Case("exposed/client-in-to-outsider-in-bcc", (ANN,), (), R.EXPOSED_CLIENTS, Action.HOLD,
         Action.HOLD, bcc=(LANDLORD,)),
    Case("exposed/client-and-colleague", (ANN, KIM), (), R.EXPOSED_CLIENTS, None, Action.PASS),
    Case("exposed/all-in-bcc", (), (), R.EXPOSED_CLIENTS, None, Action.PASS, bcc=(ANN, EVE)),
    Case("exposed/client-and-own-helper", (ANN, SIS), (), R.EXPOSED_CLIENTS, None, Action.PASS),
    Case("exposed/helper-of-another-client", (EVE, SIS), (), R.EXPOSED_CLIENTS, Action.HOLD,
         Action.HOLD),
    Case("exposed/overridden", (ANN, EVE), (), R.EXPOSED_CLIENTS, Action.PASS, Action.PASS,
         tags=OVERRIDE, overridden=True),
    Case("exposed/group-text-not-overridable", (ANN_SMS, EVE_SMS), (), R.EXPOSED_CLIENTS,
         Action.HOLD, Action.HOLD, tags=OVERRIDE),
    # after hours
    Case("after-hours/client-18:00", (ANN,), (), R.AFTER_HOURS, Action.DEFER, Action.DEFER,
         now=datetime(2026, 3, 2, 18, 0, tzinfo=CHI)),
    Case("after-hours/client-17:59", (ANN,), (), R.AFTER_HOURS, None, Action.PASS,
         now=datetime(2026, 3, 2, 17, 59, tzinfo=CHI)),
    Case("after-hours/utc-17:59-local", (ANN,), (), R.AFTER_HOURS, None, Action.PASS,
         now=datetime(2026, 3, 2, 23, 59, tzinfo=UTC)),
    Case("after-hours/utc-18:30-local-summer", (ANN,), (), R.AFTER_HOURS, Action.DEFER,
         Action.DEFER, now=datetime(2026, 7, 1, 23, 30, tzinfo=UTC)),
    Case("after-hours/authorized", (SIS,), (), R.AFTER_HOURS, Action.DEFER, Action.DEFER,
         now=EVENING),
    Case("after-hours/sms", (STRANGER_SMS,), (), R.AFTER_HOURS, Action.DEFER, Action.DEFER,
         now=EVENING),
    Case("after-hours/internal", (KIM,), (), R.AFTER_HOURS, None, Action.PASS, now=EVENING),
    Case("after-hours/external", (LANDLORD,), (), R.AFTER_HOURS, None, Action.PASS,
         now=EVENING),
    Case("after-hours/weekend", (ANN,), (), R.AFTER_HOURS, Action.DEFER, Action.DEFER,
         now=datetime(2026, 3, 7, 11, 0, tzinfo=CHI)),
    Case("after-hours/holiday", (ANN,), (), R.AFTER_HOURS, Action.DEFER, Action.DEFER,
         now=datetime(2026, 11, 26, 11, 0, tzinfo=CHI)),
    Case("after-hours/urgent", (ANN,), (), R.AFTER_HOURS, Action.PASS, Action.PASS,
         now=EVENING, tags=URGENT),
    Case("after-hours/override-does-not-skip-deferral", (ANN,), (), R.AFTER_HOURS,
         Action.DEFER, Action.DEFER, now=EVENING, tags=OVERRIDE),
    # unreadable parts
    Case("unscannable/external", (LANDLORD,), (UNREADABLE,), R.UNSCANNABLE, Action.HOLD,
         Action.HOLD),
    # An unreadable part may carry another client's details: a client or an
    # authorised party gets it only after review, like an outsider.
    Case("unscannable/client", (ANN,), (UNREADABLE,), R.UNSCANNABLE, Action.HOLD, Action.HOLD),
    Case("unscannable/authorized", (SIS,), (UNREADABLE,), R.UNSCANNABLE, Action.HOLD,
         Action.HOLD),
    Case("unscannable/sms", (STRANGER_SMS,), (UNREADABLE,), R.UNSCANNABLE, Action.HOLD,
         Action.HOLD),
    Case("unscannable/client-override", (ANN,), (UNREADABLE,), R.UNSCANNABLE, Action.PASS,
         Action.PASS, tags=OVERRIDE, overridden=True),
    Case("unscannable/internal", (KIM,), (UNREADABLE,), R.UNSCANNABLE, None, Action.PASS),
    # monitor mode: computed in full, enforced at most as a warning
    Case("monitor/hold", (LANDLORD,), (DOB,), R.PERSONAL_IDENTIFIER, Action.HOLD, Action.HOLD,
         monitor=True, enforced=Action.WARN),
    Case("monitor/reject", (BO,), (), R.CONSENT_REVOKED, Action.REJECT, Action.REJECT,
         monitor=True, enforced=Action.WARN),
    Case("monitor/defer", (ANN,), (), R.AFTER_HOURS, Action.DEFER, Action.DEFER, now=EVENING,
         monitor=True, enforced=Action.WARN),
    Case("monitor/warn-stays-warn", (ANN,), (CONDITION,), R.SENSITIVE_CONDITION, Action.WARN,
         Action.WARN, monitor=True, enforced=Action.WARN),
    Case("monitor/pass-stays-pass", (KIM,), (DOB,), R.PERSONAL_IDENTIFIER, None, Action.PASS,
         monitor=True, enforced=Action.PASS),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_policy_table(case: Case) -> None:
    settings = MONITOR if case.monitor else ENFORCE
    msg = message(case.to, bcc=case.bcc, tags=case.tags)
    verdict = judge(msg, case.findings, now=case.now, settings=settings)

    if case.rule is None:
        assert verdict.hits == ()
    else:
        fired = [h for h in verdict.hits if h.rule == case.rule]
        if case.action is None:
            assert fired == []
        else:
            assert fired, f"{case.rule} did not fire"
            assert {h.action for h in fired} == {case.action}
            assert all(h.overridden is case.overridden for h in fired)
    assert verdict.verdict is case.verdict
    assert verdict.enforced is (case.enforced or case.verdict)
    assert verdict.mode == ("monitor" if case.monitor else "enforce")
    for hit in verdict.hits:
        assert hit.message.strip(), f"{hit.rule} hit without a message"


def test_every_hit_names_a_fix_and_no_client_data() -> None:
    findings = (
        SSN,
        DOB,
        CONDITION,
        TOPIC,
        MENTIONS_BO,
        MENTIONS_ANN,
        UNREADABLE,
        found(Entity.STREET_ADDRESS, text="12 Elm Street"),
        found(Entity.SENSITIVE_CONDITION, text="methadone", about_person=True,
              category=Category.SUBSTANCE_USE, client_id="C-1008"),
    )
    msg = message(
        (ANN, EVE, ANN_SMS, LANDLORD, DEE, CY, BO, HAL_COUNSEL, HAL_COUNSEL_SMS), bcc=(SIS,)
    )
    # sms-length too, and too long for a text to carry the Part 2 notice
    msg = replace(msg, full_text={"body": "See you soon. " * 120})
    verdict = judge(msg, findings, now=EVENING)
    assert {h.rule for h in verdict.hits} == set(rules.RULE_NAMES)
    secrets = [f.text for f in findings if f.text != "x"] + list(CLIENT_NAMES) + ["Ann_Example"]
    for hit in verdict.hits:
        for secret in secrets:
            assert secret not in hit.message, f"{hit.rule} message leaks client data"
        for secret in secrets[:-1]:
            assert secret not in repr(hit), f"{hit.rule} repr leaks client data"


def test_messages_point_to_the_secure_portal_and_say_quoted() -> None:
    verdict = judge(message((LANDLORD,)), (found(Entity.DATE_OF_BIRTH, quoted=True),))
    (hit,) = verdict.hits
    assert "date of birth" in hit.message
    assert PORTAL in hit.message
    assert "quoted" in hit.message


def test_other_client_message_names_the_client_id_only() -> None:
    verdict = judge(message((ANN,)), (MENTIONS_BO,))
    (hit,) = verdict.hits
    assert "C-1002" in hit.message
    assert "Bo" not in hit.message
    assert hit.finding is MENTIONS_BO


def test_exposed_clients_is_a_message_level_hold_suggesting_bcc() -> None:
    verdict = judge(message((ANN, EVE)), ())
    (hit,) = verdict.hits
    assert hit.recipient is None
    assert "Bcc" in hit.message
    # One copy goes to everyone, so every recipient's verdict carries the hold.
    assert {rv.verdict for rv in verdict.recipients} == {Action.HOLD}
    assert all(rv.hits == () for rv in verdict.recipients)
    assert verdict.verdict is Action.HOLD


def test_exposed_clients_counts_cc_as_visible() -> None:
    msg = ParsedMessage(
        envelope=Envelope(sender="worker@example.org", recipients=(ANN, EVE)),
        subject="Group",
        tags=SubjectTags(),
        from_name="Worker",
        to=(ANN,),
        cc=(EVE,),
        segments=(),
    )
    verdict = judge(msg, ())
    assert [h.rule for h in verdict.hits] == [rules.EXPOSED_CLIENTS]


def test_recipient_and_message_verdicts_take_the_most_severe() -> None:
    # Ann in Bcc: nobody sees that she is a client (see exposed-clients).
    verdict = judge(message((KIM, LANDLORD), bcc=(ANN,)), (SSN, DOB))
    by_address = {rv.recipient.address: rv for rv in verdict.recipients}
    assert by_address[KIM].verdict is Action.WARN  # SSN warn, DOB nothing
    assert by_address[ANN].verdict is Action.REDACT  # SSN redact beats DOB warn
    assert by_address[LANDLORD].verdict is Action.HOLD  # DOB hold beats SSN redact
    assert verdict.verdict is Action.HOLD
    assert by_address[LANDLORD].recipient.kind is RecipientKind.EXTERNAL
    # Verdict.hits holds every recipient's hits.
    assert len(verdict.hits) == sum(len(rv.hits) for rv in verdict.recipients)
    assert all(h.recipient == rv.recipient.address for rv in verdict.recipients for h in rv.hits)


def test_one_hit_per_finding_so_each_can_be_redacted() -> None:
    second = Finding(Entity.US_SSN, "body", 40, 51, 0.9, "test", text="987-65-4321")
    verdict = judge(message((LANDLORD,)), (SSN, second))
    assert [h.finding for h in verdict.hits] == [SSN, second]


def test_after_hours_defers_to_next_working_start() -> None:
    verdict = judge(message((ANN,)), (), now=datetime(2026, 12, 24, 19, 0, tzinfo=CHI))
    assert verdict.defer_until == datetime(2026, 12, 28, 8, 0, tzinfo=CHI)
    (hit,) = verdict.hits
    assert "Monday 28 December at 08:00 CST (America/Chicago)" in hit.message
    assert "[urgent]" in hit.message


def test_no_deferral_means_no_defer_until() -> None:
    assert judge(message((ANN,)), ()).defer_until is None
    assert judge(message((KIM,)), (), now=EVENING).defer_until is None


def test_urgent_skips_deferral_and_is_recorded() -> None:
    verdict = judge(message((ANN, SIS), tags=URGENT), (), now=EVENING)
    assert verdict.verdict is Action.PASS
    assert verdict.urgent is True
    assert verdict.defer_until is None
    assert [h.action for h in verdict.hits] == [Action.PASS, Action.PASS]
    assert all("urgent" in h.message for h in verdict.hits)


def test_urgent_does_not_release_other_holds() -> None:
    verdict = judge(message((LANDLORD,), tags=URGENT), (DOB,), now=EVENING)
    assert verdict.verdict is Action.HOLD


def test_override_records_reason_and_marks_hits() -> None:
    verdict = judge(message((LANDLORD,), tags=OVERRIDE), (DOB, CONDITION))
    assert verdict.override_reason == "court deadline, supervisor agreed"
    assert verdict.verdict is Action.PASS
    assert [(h.action, h.overridden) for h in verdict.hits] == [(Action.PASS, True)] * 2
    assert all("overrode" in h.message for h in verdict.hits)


def test_override_leaves_redaction_and_warnings_alone() -> None:
    verdict = judge(message((LANDLORD, ANN), tags=OVERRIDE), (SSN, CONDITION))
    by_address = {rv.recipient.address: rv.verdict for rv in verdict.recipients}
    assert by_address == {LANDLORD: Action.REDACT, ANN: Action.REDACT}


def test_override_cannot_release_a_hold_on_a_text_message() -> None:
    verdict = judge(message((LANDLORD,), bcc=(ANN_SMS,), tags=OVERRIDE), (DOB,))
    by_address = {rv.recipient.address: rv for rv in verdict.recipients}
    assert by_address[LANDLORD].verdict is Action.PASS
    assert by_address[ANN_SMS].verdict is Action.HOLD
    (sms_hit,) = by_address[ANN_SMS].hits
    assert sms_hit.overridable is False
    assert "cannot be overridden" in sms_hit.message
    assert verdict.verdict is Action.HOLD


def test_non_overridable_rule_from_configuration() -> None:
    settings = settings_from_mapping(
        {"policy": {"rules": {"personal-identifier": {"overridable": False}}}}
    )
    verdict = judge(message((LANDLORD,), tags=OVERRIDE), (DOB,), settings=settings)
    assert verdict.verdict is Action.HOLD
    assert verdict.hits[0].overridden is False
    assert "does not allow overriding this; talk to your supervisor" in verdict.hits[0].message


@pytest.mark.parametrize("reason", ["", "   "])
def test_blank_override_reason_is_no_override(reason: str) -> None:
    verdict = judge(message((LANDLORD,), tags=SubjectTags(override_reason=reason)), (DOB,))
    assert verdict.override_reason is None
    assert verdict.verdict is Action.HOLD


def test_agency_can_retune_an_action() -> None:
    settings = settings_from_mapping(
        {"policy": {"rules": {"sensitive-topic": {"default": "warn"}}}}
    )
    assert judge(message((LANDLORD,)), (TOPIC,), settings=settings).verdict is Action.WARN
    assert judge(message((LANDLORD,)), (TOPIC,)).verdict is Action.PASS


def test_verdict_carries_all_findings_even_informational() -> None:
    phone = found(Entity.PHONE_NUMBER)
    verdict = judge(message((LANDLORD,)), (phone, DOB))
    assert verdict.findings == (phone, DOB)


def test_missing_policy_rule_is_a_clear_error() -> None:
    bare = Settings()
    assert set(missing_rules(bare)) == set(rules.RULE_NAMES)
    with pytest.raises(PolicyConfigError, match=r"policy\.rules has no entry for consent-revoked"):
        decide(message((ANN,)), (), (), bare, REGISTRY, WORK)


def test_shipped_policy_covers_every_rule_and_nothing_else() -> None:
    assert missing_rules(ENFORCE) == ()
    assert unknown_rules(ENFORCE) == ()
    typo = settings_from_mapping({"policy": {"rules": {"consent-revokd": {"default": "reject"}}}})
    assert unknown_rules(typo) == ("consent-revokd",)


def test_every_rule_and_entity_has_its_own_words() -> None:
    generic = explain.explain(rules.RuleMatch("no-such-rule"), None, Action.HOLD, ENFORCE)
    for name in rules.RULE_NAMES:
        text = explain.explain(rules.RuleMatch(name), None, Action.HOLD, ENFORCE)
        assert text != generic and text.strip()
    assert set(explain.ENTITY_NOUNS) == set(Entity)
    assert set(explain.CATEGORY_NOUNS) == set(Category)


def test_a_client_shown_to_an_outsider_is_explained_as_such() -> None:
    verdict = judge(message((ANN,), cc=(LANDLORD,)), ())
    (hit,) = verdict.hits
    assert hit.rule == rules.EXPOSED_CLIENTS and hit.action is Action.HOLD
    assert "Someone outside the agency can see the address of client" in hit.message
    assert LANDLORD not in hit.message and ANN not in hit.message


def test_a_client_shown_to_another_client_in_bcc_is_explained_as_such() -> None:
    (hit,) = judge(message((ANN,), bcc=(EVE,)), ()).hits
    assert hit.rule == rules.EXPOSED_CLIENTS and hit.action is Action.HOLD
    assert "Another client on this message can see the address of client C-1001" in hit.message
    assert "each other" not in hit.message and "C-1005" not in hit.message


def test_clients_shown_to_each_other_and_an_outsider_mentions_both() -> None:
    (hit,) = judge(message((ANN, EVE, LANDLORD)), ()).hits
    assert "Different clients (C-1001, C-1005)" in hit.message
    assert "Someone outside the agency can see them too" in hit.message
    (hit,) = judge(message((ANN, EVE)), ()).hits
    assert "outside the agency" not in hit.message
