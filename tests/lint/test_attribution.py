"""Whether a condition is about a person: ConText modifiers and the scope of a
registered client's name.

Real spaCy model, shipped term lists, and a registry with one client, Ana
Torres ("Ana" alone is her name when written as a proper noun).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage

import pytest

from detectors.context import ConText, Modifier
from detectors.sensitive import SensitiveConditionDetector, find_terms
from detectors.sensitive_terms import default_terms_dir, load_term_lists
from proxy.core.config import load_settings, settings_from_mapping
from proxy.core.consent import Channel, ConsentRecord, ConsentStatus, Registry, Relationship
from proxy.core.findings import Category
from proxy.core.message import Segment
from proxy.core.verdict import Action
from proxy.lint.engine import LintEngine
from proxy.lint.nlp import NlpService
from tests.lint.test_sensitive import context, message, run, summary
from tests.support.proxy_fixtures import ALL_DAY

MH = Category.MENTAL_HEALTH
SU = Category.SUBSTANCE_USE
HIV = Category.HIV_STI
RH = Category.REPRODUCTIVE_HEALTH
AN = Category.ABUSE_NEGLECT
IM = Category.IMMIGRATION
CJ = Category.CRIMINAL_JUSTICE

ANA = ConsentRecord(
    client_id="C-7",
    name="Ana Torres",
    aliases=(),
    address="ana.torres@example.com",
    channel=Channel.EMAIL,
    relationship=Relationship.SELF,
    status=ConsentStatus.GRANTED,
    granted_on=date(2025, 1, 1),
    expires_on=None,
    preferred=True,
    identifiers=(),
)
REGISTRY = Registry([ANA])


@pytest.fixture(scope="module")
def detector() -> SensitiveConditionDetector:
    return SensitiveConditionDetector({}, load_settings())


ATTRIBUTED = [
    # a registered client's name, with no pronoun: clause, sentence, paragraph
    ("The diagnosis for Ana is bipolar disorder.", [(MH, "bipolar disorder")]),
    ("Ana: MDD, on Seroquel.", [(MH, "MDD"), (MH, "Seroquel")]),
    ("Met with Ana today. Diagnosis is still PTSD.", [(MH, "PTSD")]),
    (
        "Checked in with Ana Torres. The methadone clinic moved the dose.",
        [(SU, "methadone clinic")],
    ),
    ("Ana and the caseworker talked; the plan covers her detox.", [(SU, "detox")]),
    # case notes without a subject
    ("Denies SI/HI. Sleeping better.", [(MH, "SI/HI")]),
    ("Tested positive for fentanyl on Tuesday.", [(SU, "positive for fentanyl")]),
    ("Was arrested Friday for DUI.", [(CJ, "arrested"), (CJ, "DUI")]),
    ("Dx: GAD and PTSD.", [(MH, "GAD"), (MH, "PTSD")]),
    ("Client denies SI.", [(MH, "SI")]),
    ("Has a history of psychosis.", [(MH, "psychosis")]),
    ("Diagnosed with MDD in 2019.", [(MH, "MDD")]),
    ("Pt reports relapse over the weekend.", [(SU, "relapse")]),
    # negated and historical: still the person's (a screening is clinical information)
    ("She denies any suicidal ideation.", [(MH, "suicidal ideation")]),
    ("Ana has no history of substance use.", [(SU, "substance use")]),
    ("He has a history of psychosis.", [(MH, "psychosis")]),
    ("She used to be in foster care.", [(AN, "foster care")]),
    # family / other experiencer: the relative is a person, the household is exposed
    ("Mother has a history of schizophrenia.", [(MH, "schizophrenia")]),
    ("Family history of bipolar disorder.", [(MH, "bipolar disorder")]),
    ("Her brother is in rehab.", [(SU, "rehab")]),
    ("Su madre tiene esquizofrenia.", [(MH, "esquizofrenia")]),
    # hypothetical about a specific third person still says something
    ("If he relapses again he loses the apartment.", [(SU, "relapses")]),
    ("If Ana misses her PrEP refill, call me.", [(HIV, "PrEP")]),
    # a registered client beats a generic statement in the same clause
    ("Ana, like many teens, struggles with depression.", [(MH, "depression")]),
    # "they" for one client
    ("They were admitted to the psych ward last night.", [(MH, "psych ward")]),
    # Spanish
    ("Ella tiene depresión y ansiedad.", [(MH, "depresión"), (MH, "ansiedad")]),
    ("Niega ideación suicida.", [(MH, "ideación suicida")]),
    ("Su hijo está en libertad condicional.", [(CJ, "libertad condicional")]),
    # reader: the client reading about themself, also as texts spell it
    ("Your lithium refill is ready.", [(MH, "lithium")]),
    ("Don't forget ur Seroquel refill today!", [(MH, "Seroquel")]),
    # an unregistered name in the sentence just before a verbless note
    (
        "Do you have a bed for Carla Nunez? Opioid use disorder, 60 days clean.",
        [(SU, "Opioid use disorder")],
    ),
    # a name the entity recogniser ran together with the condition
    (
        "Referral for Lena Petrov: SUD, on MAT for 6 months.",
        [(SU, "SUD"), (SU, "MAT")],
    ),
    # a list after "and" keeps its subject
    (
        "Ms. Garrett has PTSD and BPD and started DBT in October.",
        [(MH, "PTSD"), (MH, "BPD"), (MH, "DBT")],
    ),
    # a person named by age
    (
        "Following up on the 4-month-old seen Sunday with the spiral fracture your team flagged.",
        [(AN, "spiral fracture")],
    ),
]

NOT_ATTRIBUTED = [
    # generic: a population, not a person
    ("Teenagers get addicted to drugs more easily than adults.", [(SU, "addicted")]),
    ("Clients who use drugs can get naloxone at the front desk.", [(SU, "naloxone")]),
    ("Many families struggle with depression after a move.", [(MH, "depression")]),
    ("People with PTSD often avoid crowds.", [(MH, "PTSD")]),
    ("Anyone who has been to rehab knows that.", [(SU, "rehab")]),
    ("Muchas familias viven con miedo a la deportación.", [(IM, "deportación")]),
    # hypothetical with no specific person
    ("If you ever feel suicidal, call 988.", [(MH, "suicidal")]),
    ("In case of overdose, call 911 and use Narcan.", [(SU, "overdose"), (SU, "Narcan")]),
    ("Learn about the warning signs of depression on Thursday.", [(MH, "depression")]),
    ("Si alguna vez tiene pensamientos suicidas, llame al 988.", [(MH, "pensamientos suicidas")]),
    # negated, and the only person is the reader
    ("You don't need an HIV test to join the group.", [(HIV, "HIV test")]),
    # a name in another paragraph (the sentencizer does not split at blank lines)
    ("Met with Ana today.\n\nOur depression group meets Tuesdays.", [(MH, "depression")]),
    ("Hi Ana\n\nOur substance use group meets Tuesdays.", [(SU, "substance use")]),
    # a greeted name is the reader, not the subject
    ("Hi Ana, our depression group meets Tuesdays.", [(MH, "depression")]),
    # a name that is not a client stays in its clause (as before)
    (
        "I spoke with Maria yesterday and the methadone clinic will call tomorrow.",
        [(SU, "methadone clinic")],
    ),
    # a document label, not a note about someone
    ("Attached is the depression screening form.", [(MH, "depression")]),
    # the worker's own elided "I", small talk, a question: not case notes
    ("Spoke with the methadone clinic about the new hours.", [(SU, "methadone clinic")]),
    ("Went to the HIV testing event yesterday, it was great.", [(HIV, "HIV testing")]),
    ("Sounds good, the substance use group is full though.", [(SU, "substance use")]),
    ("Is the detox center open on Monday?", [(SU, "detox")]),
    ("Each client gets a PrEP information sheet.", [(HIV, "PrEP")]),
    # "they" for nobody in particular; "your" that is not the reader's own
    (
        "General question: if a resident ever had a relapse, would they lose their bed?",
        [(SU, "relapse")],
    ),
    (
        "We can offer your teachers a training on recognising child abuse and neglect.",
        [(AN, "child abuse"), (AN, "neglect")],
    ),
    (
        "Quick summary for your new staff: we offer a domestic violence support group.",
        [(AN, "domestic violence")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), ATTRIBUTED)
def test_about_a_person(
    nlp_service: NlpService,
    detector: SensitiveConditionDetector,
    text: str,
    expected: list[tuple[Category, str]],
) -> None:
    found = summary(run(nlp_service, text, detector=detector, registry=REGISTRY))
    assert found == [(c, True, t) for c, t in expected]


@pytest.mark.parametrize(("text", "expected"), NOT_ATTRIBUTED)
def test_about_nobody(
    nlp_service: NlpService,
    detector: SensitiveConditionDetector,
    text: str,
    expected: list[tuple[Category, str]],
) -> None:
    found = summary(run(nlp_service, text, detector=detector, registry=REGISTRY))
    assert found == [(c, False, t) for c, t in expected]


def test_a_first_name_counts_only_for_a_registered_client(
    nlp_service: NlpService, detector: SensitiveConditionDetector
) -> None:
    text = "The diagnosis for Ana is bipolar disorder."
    assert summary(run(nlp_service, text, detector=detector, registry=Registry())) == [
        (MH, False, "bipolar disorder")
    ]
    assert summary(run(nlp_service, text, detector=detector, registry=REGISTRY)) == [
        (MH, True, "bipolar disorder")
    ]


def test_a_client_named_earlier_in_the_paragraph_carries_over(
    nlp_service: NlpService, detector: SensitiveConditionDetector
) -> None:
    text = "Met with Ana today. She was upset. The methadone clinic called after."
    assert summary(run(nlp_service, text, detector=detector, registry=REGISTRY)) == [
        (SU, True, "methadone clinic")
    ]
    alone = "Met with Ana today.\n\nThe methadone clinic called after."
    assert summary(run(nlp_service, alone, detector=detector, registry=REGISTRY)) == [
        (SU, False, "methadone clinic")
    ]


@pytest.mark.parametrize(("quoted", "expected"), [(True, True), (False, False)])
def test_first_person_in_quoted_text_is_its_writer(
    nlp_service: NlpService, detector: SensitiveConditionDetector, quoted: bool, expected: bool
) -> None:
    text = "I was in the hospital for my depression last week."
    msg = message(Segment("body", text, quoted=quoted))
    found = detector.inspect(msg, context(nlp_service, msg, registry=REGISTRY))
    assert [(f.text, f.about_person, f.quoted) for f in found] == [("depression", expected, quoted)]


def test_an_entry_two_lists_share_counts_for_both(
    nlp_service: NlpService, detector: SensitiveConditionDetector
) -> None:
    text = "His domestic battery case is set for trial in January."
    assert summary(run(nlp_service, text, detector=detector)) == [
        (AN, True, "domestic battery"),
        (CJ, True, "domestic battery"),
    ]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [("Re: Ana Torres", True), ("Re: CASE-2026-00412", True), ("Groups this month", False)],
)
def test_a_client_named_in_the_subject_reaches_the_body(
    nlp_service: NlpService, detector: SensitiveConditionDetector, subject: str, expected: bool
) -> None:
    msg = message(Segment("subject", subject), Segment("body", "Started Suboxone last week."))
    found = detector.inspect(msg, context(nlp_service, msg, registry=REGISTRY))
    assert [(f.location, f.text, f.about_person) for f in found] == [("body", "Suboxone", expected)]


@pytest.mark.parametrize(
    ("text", "term", "modifiers"),
    [
        ("Client denies SI.", "SI", {Modifier.NEGATED}),
        ("No history of substance use.", "substance use", {Modifier.NEGATED, Modifier.HISTORICAL}),
        ("Depression was ruled out.", "Depression", {Modifier.NEGATED}),
        ("Niega ideación suicida.", "ideación suicida", {Modifier.NEGATED}),
        ("If you ever feel suicidal, call us.", "suicidal", {Modifier.HYPOTHETICAL}),
        ("In case of overdose, call 911.", "overdose", {Modifier.HYPOTHETICAL}),
        ("She has a history of psychosis.", "psychosis", {Modifier.HISTORICAL}),
        ("She was in rehab years ago.", "rehab", {Modifier.HISTORICAL}),
        ("Teenagers get addicted to drugs.", "addicted", {Modifier.GENERIC}),
        ("Clients who use heroin can come Monday.", "heroin", {Modifier.GENERIC}),
        ("Depression is common after a move.", "Depression", {Modifier.GENERIC}),
        (
            "Family history of schizophrenia.",
            "schizophrenia",
            {Modifier.FAMILY, Modifier.HISTORICAL},
        ),
        ("Su madre tiene depresión.", "depresión", {Modifier.FAMILY}),
        ("She was diagnosed with depression.", "depression", set()),
        # termination: "but" ends a trigger's scope
        ("No ride today, but she relapsed.", "relapsed", set()),
        # pseudo-trigger: "no longer" is not a negation
        ("She is no longer on probation.", "probation", set()),
    ],
)
def test_context_modifiers(
    nlp_service: NlpService, text: str, term: str, modifiers: set[Modifier]
) -> None:
    nlp = nlp_service.nlp
    from detectors.attribution import clause_of, clauses
    from detectors.sensitive import build_term_matchers

    lists = load_term_lists(default_terms_dir(), tuple(Category))
    matchers = build_term_matchers(nlp, lists)
    doc = nlp_service.docs([text])[0]
    spans = [s for s in find_terms(matchers, doc, tuple(Category)) if s.text == term]
    assert len(spans) == 1
    found = ConText(nlp).modifiers(doc, spans, [clause_of(spans[0], clauses(doc))])
    assert found == [frozenset(modifiers)]


def _engine(nlp_service: NlpService) -> LintEngine:
    settings = settings_from_mapping({"agency": {"working_hours": ALL_DAY, "holidays": []}})
    return LintEngine(settings, REGISTRY, nlp=nlp_service)


def _mail(body: str, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jane Worker <jane@example.org>"
    msg["To"] = to
    msg["Subject"] = "Following up"
    msg.set_content(body)
    return msg.as_bytes()


@pytest.mark.parametrize(
    ("body", "action"),
    [
        ("Hello,\n\nThe diagnosis for Ana is bipolar disorder.\n\nJane", Action.HOLD),
        ("Hello,\n\nMet with Ana. Denies SI/HI, started MAT.\n\nJane", Action.HOLD),
        ("Hello,\n\nTeenagers get addicted to their phones, it's true.\n\nJane", Action.PASS),
        ("Hello,\n\nClients who use drugs can pick up Narcan here.\n\nJane", Action.PASS),
    ],
)
def test_verdict_for_an_outside_recipient(
    nlp_service: NlpService, body: str, action: Action
) -> None:
    to = "clerk@court.example.gov"
    result = _engine(nlp_service).lint(
        _mail(body, to),
        sender="jane@example.org",
        recipients=(to,),
        at=datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
    )
    assert result.verdict.verdict is action, result.verdict
