"""SENSITIVE_CONDITION detector: what it finds, and whether it is about a person.

Uses the real spaCy model (session fixture) and the shipped term lists; the
message is built by hand because parsing is another module's job.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from detectors.sensitive import SensitiveConditionDetector
from detectors.sensitive_terms import TermListError, default_terms_dir
from proxy.core.config import Settings, load_settings, settings_from_mapping
from proxy.core.consent import Channel, ConsentRecord, ConsentStatus, Registry, Relationship
from proxy.core.findings import Category, Entity, Finding
from proxy.core.message import Envelope, ParsedMessage, Segment, SubjectTags
from proxy.lint.detector import Detector, InspectionContext, available_factories
from proxy.lint.nlp import NlpService

MH = Category.MENTAL_HEALTH
SU = Category.SUBSTANCE_USE
HIV = Category.HIV_STI
RH = Category.REPRODUCTIVE_HEALTH
AN = Category.ABUSE_NEGLECT
IM = Category.IMMIGRATION
CJ = Category.CRIMINAL_JUSTICE


def copy_shipped_lists(target: Path) -> Path:
    """The shipped lists copied out, as an agency starts its own ``terms_dir``.

    Read through the same importlib.resources handle the detector uses, so it
    works wherever the package is installed, not only from a checkout.
    """
    target.mkdir()
    for entry in default_terms_dir().iterdir():
        if entry.is_file():
            (target / entry.name).write_bytes(entry.read_bytes())
    return target


def message(*segments: Segment, from_name: str = "Jane Worker") -> ParsedMessage:
    return ParsedMessage(
        envelope=Envelope("w@example.org", ("x@example.com",)),
        subject="",
        tags=SubjectTags(),
        from_name=from_name,
        to=(),
        cc=(),
        segments=segments,
    )


def context(
    nlp: NlpService,
    msg: ParsedMessage,
    *,
    settings: Settings | None = None,
    registry: Registry | None = None,
) -> InspectionContext:
    return InspectionContext(
        settings=settings or load_settings(),
        registry=registry or Registry(),
        nlp=nlp,
        now=datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
        docs=nlp.docs([s.text for s in msg.segments]),
    )


def run(
    nlp: NlpService,
    text: str,
    *,
    detector: SensitiveConditionDetector | None = None,
    settings: Settings | None = None,
    registry: Registry | None = None,
    from_name: str = "Jane Worker",
) -> list[Finding]:
    settings = settings or load_settings()
    detector = detector or SensitiveConditionDetector({}, settings)
    msg = message(Segment("body", text), from_name=from_name)
    return list(detector.inspect(msg, context(nlp, msg, settings=settings, registry=registry)))


def summary(findings: list[Finding]) -> list[tuple[Category | None, bool | None, str]]:
    return [(f.category, f.about_person, f.text) for f in findings]


@pytest.fixture(scope="module")
def detector() -> SensitiveConditionDetector:
    return SensitiveConditionDetector({}, load_settings())


CASES = [
    # attributed to a person
    ("She was diagnosed with bipolar disorder last year.", [(MH, True, "bipolar disorder")]),
    ("Your son's methadone dose was raised.", [(SU, True, "methadone")]),
    ("We sent the CPS report for her kids on Monday.", [(AN, True, "CPS report")]),
    ("Her mom is undocumented.", [(IM, True, "undocumented")]),
    ("She has been really depressed lately.", [(MH, True, "depressed")]),
    ("Dealing with depression is hard for him.", [(MH, True, "depression")]),
    ("He overdosed on Saturday night.", [(SU, True, "overdosed")]),
    ("His probation officer called this morning.", [(CJ, True, "probation officer")]),
    (
        "My client relapsed and is back in detox.",
        [(SU, True, "relapsed"), (SU, True, "detox")],
    ),
    ("The client missed her PrEP refill.", [(HIV, True, "PrEP")]),
    ("Mom relapsed again.", [(SU, True, "relapsed")]),
    ("Her daughter had a miscarriage in March.", [(RH, True, "miscarriage")]),
    ("He is HIV positive and on PrEP.", [(HIV, True, "HIV positive"), (HIV, True, "PrEP")]),
    ("The kids are being neglected.", [(AN, True, "neglected")]),
    ("Maria Lopez was diagnosed with depression.", [(MH, True, "depression")]),
    ("The client's son is on parole.", [(CJ, True, "parole")]),
    ("Her husband was arrested last night.", [(CJ, True, "arrested")]),
    ("She took a pregnancy test this morning.", [(RH, True, "pregnancy test")]),
    ("Her viral load is undetectable now.", [(HIV, True, "viral load")]),
    ("He tested positive for chlamydia.", [(HIV, True, "chlamydia")]),
    ("Their asylum hearing was moved.", [(IM, True, "asylum")]),
    ("She filed for a protective order against him.", [(AN, True, "protective order")]),
    ("Your lithium refill is ready.", [(MH, True, "lithium")]),
    ("He was started on buprenorphine.", [(SU, True, "buprenorphine")]),
    ("The family's immigration status came up.", [(IM, True, "immigration status")]),
    ("He is still attending NA meetings.", [(SU, True, "NA meetings")]),
    ("Can you confirm whether Ms. Alvarez's TPS renewal went through?", [(IM, True, "TPS")]),
    # a colon after a label keeps the label's person in scope
    ("Update for Tito: relapsed over the weekend.", [(SU, True, "relapsed")]),
    # not about a person: a program, a topic, an event, a profession
    ("Our substance use support group meets Tuesdays.", [(SU, False, "substance use")]),
    ("The HIV testing clinic is open late on Thursdays.", [(HIV, False, "HIV testing")]),
    ("I am a substance abuse counselor.", [(SU, False, "substance abuse")]),
    ("Reminder: training on child abuse reporting is Friday.", [(AN, False, "child abuse")]),
    (
        "We talked about asylum and deportation at the workshop.",
        [(IM, False, "asylum"), (IM, False, "deportation")],
    ),
    ("Our clients often struggle with addiction.", [(SU, False, "addiction")]),
    ("Log in to the client portal to read about depression.", [(MH, False, "depression")]),
    ("Naloxone kits are free at the front desk.", [(SU, False, "Naloxone")]),
    # first person is the worker, not a client
    ("I was so depressed after the game.", [(MH, False, "depressed")]),
    # the sender's own name is not a person
    ("Jane Worker has years of experience with PTSD.", [(MH, False, "PTSD")]),
    # clause scope: a name in another clause does not attach
    (
        "I spoke with Maria yesterday and the methadone clinic will call tomorrow.",
        [(SU, False, "methadone clinic")],
    ),
    (
        "She took a pregnancy test; our office is closed Monday for Ice Day.",
        [(RH, True, "pregnancy test")],
    ),
    ("Hi Maria,\n\nOur depression support group meets Tuesdays.", [(MH, False, "depression")]),
    # a person's clause after a conjunction
    (
        "Our parenting class was full and her son is on probation.",
        [(CJ, True, "probation")],
    ),
]

NEGATIVES = [
    "Great Depression-era recipes for the potluck.",
    "Please bring hearing aids and meal prep containers.",
    "I neglected to attach the form, sorry.",
    "He went into cardiac arrest at the hospital.",
    "The report's due date is Friday; send it to the clinic.",
    "The art class meets in room 4. We need lithium batteries.",
    "Her appointment is at 3 pm; she will bring her ID.",
    "I'm running late because of an accident; traffic is depressing.",
    "Hey! Don't forget your prep for the home visit.",
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_finds_condition_and_attribution(
    nlp_service: NlpService,
    detector: SensitiveConditionDetector,
    text: str,
    expected: list[tuple[Category, bool, str]],
) -> None:
    findings = run(nlp_service, text, detector=detector)
    assert summary(findings) == expected
    for f in findings:
        assert f.entity is Entity.SENSITIVE_CONDITION
        assert f.location == "body"
        assert text[f.start : f.end] == f.text
        assert f.detector == "sensitive"
        assert not f.quoted


@pytest.mark.parametrize("text", NEGATIVES)
def test_no_false_positive(
    nlp_service: NlpService, detector: SensitiveConditionDetector, text: str
) -> None:
    assert run(nlp_service, text, detector=detector) == []


def test_offsets_point_into_the_whole_source_and_keep_quoted(
    nlp_service: NlpService, detector: SensitiveConditionDetector
) -> None:
    reply = "Thanks, see you then."
    quoted = "> She relapsed last week."
    full = reply + "\n" + quoted
    msg = message(
        Segment("subject", "Re: her CPS case"),
        Segment("body", reply),
        Segment("body", quoted, offset=len(reply) + 1, quoted=True),
    )
    findings = detector.inspect(msg, context(nlp_service, msg))
    assert [(f.location, f.text, f.quoted, f.about_person) for f in findings] == [
        ("subject", "CPS case", False, True),
        ("body", "relapsed", True, True),
    ]
    body = findings[1]
    assert full[body.start : body.end] == "relapsed"
    assert body.start == full.index("relapsed")


def test_signature_is_never_about_a_person(
    nlp_service: NlpService, detector: SensitiveConditionDetector
) -> None:
    text = "Jane Worker\nHer HIV Prevention Program, Substance Abuse Services"
    msg = message(Segment("body", "See you Tuesday."), Segment("body", text, signature=True))
    findings = detector.inspect(msg, context(nlp_service, msg))
    assert summary(list(findings)) == [(HIV, False, "HIV"), (SU, False, "Substance Abuse")]


def test_registered_client_alias_counts_as_a_person(
    nlp_service: NlpService, detector: SensitiveConditionDetector
) -> None:
    text = "Re tito - the methadone dose went up."
    record = ConsentRecord(
        client_id="C-1",
        name="Tomas Reyes",
        aliases=("Tito",),
        address="tomas@example.com",
        channel=Channel.EMAIL,
        relationship=Relationship.SELF,
        status=ConsentStatus.GRANTED,
        granted_on=date(2025, 1, 1),
        expires_on=None,
        preferred=True,
        identifiers=(),
    )
    assert summary(run(nlp_service, text, detector=detector)) == [(SU, False, "methadone")]
    with_client = run(nlp_service, text, detector=detector, registry=Registry([record]))
    assert summary(with_client) == [(SU, True, "methadone")]


def test_case_number_counts_as_a_person(nlp_service: NlpService) -> None:
    text = "Re AB-24-123456 - relapsed over the weekend."
    none = settings_from_mapping({"agency": {"case_number_patterns": []}})
    assert summary(run(nlp_service, text, settings=none)) == [(SU, False, "relapsed")]
    assert summary(run(nlp_service, text, settings=load_settings())) == [(SU, True, "relapsed")]


def test_sender_name_is_not_a_person_but_others_are(nlp_service: NlpService) -> None:
    text = "Maria Lopez talked about PTSD at the conference."
    assert summary(run(nlp_service, text, from_name="Maria Lopez")) == [(MH, False, "PTSD")]
    assert summary(run(nlp_service, text, from_name="Jane Worker")) == [(MH, True, "PTSD")]


def test_agency_edited_term_lists_change_what_is_found(
    nlp_service: NlpService, tmp_path: Path
) -> None:
    terms_dir = copy_shipped_lists(tmp_path / "sensitive")
    text = "She gambled away her rent money again and her detox smoothie recipe is here."
    shipped = summary(run(nlp_service, text))
    assert shipped == [(SU, True, "detox")]

    path = terms_dir / "substance_use.yaml"
    edited = path.read_text(encoding="utf-8")
    edited = edited.replace("terms:\n", "terms:\n  - gamble\n", 1)
    edited = edited.replace("exclude:\n", "exclude:\n  - detox smoothie\n", 1)
    path.write_text(edited, encoding="utf-8")
    agency = SensitiveConditionDetector({"terms_dir": str(terms_dir)}, load_settings())
    assert summary(run(nlp_service, text, detector=agency)) == [(SU, True, "gambled")]


def test_categories_option_limits_what_is_found(nlp_service: NlpService) -> None:
    text = "She is on probation and was diagnosed with depression."
    only = SensitiveConditionDetector({"categories": ["criminal_justice"]}, load_settings())
    assert summary(run(nlp_service, text, detector=only)) == [(CJ, True, "probation")]
    assert [f.category for f in run(nlp_service, text)] == [CJ, MH]


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"term_dir": "x"}, "unknown option(s): term_dir"),
        ({"categories": ["mental-health"]}, "unknown category 'mental-health'"),
        ({"categories": "mental_health"}, "must be a list"),
        ({"terms_dir": 5}, "'terms_dir' must be a directory path"),
        ({"terms_dir": "/nonexistent/tactful/sensitive"}, "does not exist"),
    ],
)
def test_bad_options_give_a_clear_error(options: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError) as info:
        SensitiveConditionDetector(options, load_settings())
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("terms: [overdose\n", ["is not valid YAML"]),
        ("- overdose\n", ["must be a mapping"]),
        ("term: [overdose]\n", ["term: unknown key"]),
        ("terms: [overdose, 5150]\n", ["terms.1", "valid string", "quotes"]),
        ("terms: [overdose, '  ']\n", ["terms", "entry 1 is empty"]),
        ("terms: overdose\n", ["terms", "valid tuple"]),
    ],
)
def test_bad_term_list_names_file_and_key(tmp_path: Path, content: str, needles: list[str]) -> None:
    terms_dir = copy_shipped_lists(tmp_path / "sensitive")
    (terms_dir / "substance_use.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(TermListError) as info:
        SensitiveConditionDetector({"terms_dir": str(terms_dir)}, load_settings())
    message_text = str(info.value)
    assert str(terms_dir / "substance_use.yaml") in message_text
    for needle in needles:
        assert needle in message_text


def test_misnamed_or_missing_term_list_is_an_error(tmp_path: Path) -> None:
    terms_dir = copy_shipped_lists(tmp_path / "sensitive")
    (terms_dir / "mental_health.yaml").rename(terms_dir / "mental-health.yaml")
    with pytest.raises(TermListError, match=r"mental-health\.yaml is not named after a category"):
        SensitiveConditionDetector({"terms_dir": str(terms_dir)}, load_settings())
    (terms_dir / "mental-health.yaml").unlink()
    with pytest.raises(TermListError, match="no term list for category 'mental_health'"):
        SensitiveConditionDetector({"terms_dir": str(terms_dir)}, load_settings())
    # Leaving the category out is how an agency switches it off.
    enabled = [c.value for c in Category if c is not MH]
    SensitiveConditionDetector(
        {"terms_dir": str(terms_dir), "categories": enabled}, load_settings()
    )


def test_misaligned_docs_are_a_clear_error_without_client_text(
    nlp_service: NlpService, detector: SensitiveConditionDetector
) -> None:
    msg = message(Segment("attachment:Maria_Lopez_intake.txt", "She relapsed."))
    ctx = context(nlp_service, msg)
    with pytest.raises(ValueError, match="one spaCy doc per message segment"):
        detector.inspect(msg, replace(ctx, docs=()))
    other = nlp_service.docs(["He is on parole."])
    with pytest.raises(ValueError, match="does not belong to message segment 1 of 1") as info:
        detector.inspect(msg, replace(ctx, docs=other))
    for client_data in ("parole", "relapsed", "Maria"):
        assert client_data not in str(info.value)


def test_registered_as_a_plugin() -> None:
    factory = available_factories()["sensitive"]
    assert factory is SensitiveConditionDetector
    built = factory({}, load_settings())
    assert isinstance(built, Detector)
    assert built.codes == frozenset({"SENSITIVE_CONDITION"})
