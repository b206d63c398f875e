"""Every entry of the shipped term lists is found, and each list's look-alikes are not.

The parameters are generated from the YAML files themselves, so an entry an
agency or a later change adds is tested without touching this file. Each
entry goes into a sentence about a person; an ``in_context`` entry is tested
with and without its context words.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from detectors.sensitive import SensitiveConditionDetector
from detectors.sensitive_terms import CategoryTerms, default_terms_dir, load_term_lists
from proxy.core.config import load_settings
from proxy.core.findings import Category, Finding
from proxy.lint.nlp import NlpService
from tests.lint.test_sensitive import run

LISTS: tuple[CategoryTerms, ...] = load_term_lists(default_terms_dir(), tuple(Category))
TEMPLATE = "At today's visit she talked about {} again."
CONTEXT_TEMPLATE = "She had {} at the visit; {} came up."
WITHOUT_CONTEXT = "She had {} at the visit."


def _listed_in() -> dict[str, set[Category]]:
    """Categories listing each entry (an entry may belong to two)."""
    owners: dict[str, set[Category]] = {}
    for entry in LISTS:
        for term in (*entry.terms.terms, *(t.lower() for t in entry.terms.acronyms)):
            owners.setdefault(term.lower(), set()).add(entry.category)
    return owners


OWNERS = _listed_in()


def _entries() -> Iterator[object]:
    for entry in LISTS:
        for term in entry.terms.terms:
            yield pytest.param(entry.category, term, id=f"{entry.category.value}:{term}")
        for acronym in entry.terms.acronyms:
            yield pytest.param(entry.category, acronym, id=f"{entry.category.value}:{acronym}")


def _context_entries() -> Iterator[object]:
    for entry in LISTS:
        for n, group in enumerate(entry.terms.in_context):
            pairs = {(t, group.context[0]) for t in group.terms}
            pairs |= {(group.terms[0], c) for c in group.context}
            for term, word in sorted(pairs):
                yield pytest.param(
                    entry.category,
                    term,
                    word,
                    id=f"{entry.category.value}:{n}:{term}+{word}",
                )


def _context_terms() -> Iterator[object]:
    for entry in LISTS:
        for n, group in enumerate(entry.terms.in_context):
            for term in group.terms:
                yield pytest.param(entry.category, term, id=f"{entry.category.value}:{n}:{term}")


def _at(findings: list[Finding], start: int, end: int) -> list[Finding]:
    return [f for f in findings if f.start == start and f.end == end]


@pytest.fixture(scope="module")
def detector() -> SensitiveConditionDetector:
    return SensitiveConditionDetector({}, load_settings())


@pytest.mark.parametrize(("category", "term"), _entries())
def test_every_entry_is_found_about_the_person(
    nlp_service: NlpService, detector: SensitiveConditionDetector, category: Category, term: str
) -> None:
    text = TEMPLATE.format(term)
    start = text.index(term)
    found = _at(run(nlp_service, text, detector=detector), start, start + len(term))
    # One finding per list that holds the entry.
    assert sorted(f.category for f in found) == sorted(OWNERS[term.lower()])
    assert category in OWNERS[term.lower()]
    assert all(f.about_person is True for f in found)


@pytest.mark.parametrize(("category", "term", "word"), _context_entries())
def test_in_context_entry_is_found_beside_its_context(
    nlp_service: NlpService,
    detector: SensitiveConditionDetector,
    category: Category,
    term: str,
    word: str,
) -> None:
    text = CONTEXT_TEMPLATE.format(term, word)
    start = text.index(term)
    found = _at(run(nlp_service, text, detector=detector), start, start + len(term))
    assert [(f.category, f.about_person) for f in found] == [(category, True)]


@pytest.mark.parametrize(("category", "term"), _context_terms())
def test_in_context_entry_alone_is_not_found(
    nlp_service: NlpService, detector: SensitiveConditionDetector, category: Category, term: str
) -> None:
    text = WITHOUT_CONTEXT.format(term)
    start = text.index(term)
    findings = run(nlp_service, text, detector=detector)
    assert not [f for f in findings if f.start < start + len(term) and start < f.end]


def test_context_in_the_next_sentence_counts_but_not_across_a_paragraph(
    nlp_service: NlpService, detector: SensitiveConditionDetector
) -> None:
    near = "She had bruises on both arms. She said her stepdad grabbed her."
    assert ("bruises", Category.ABUSE_NEGLECT) in [
        (f.text, f.category) for f in run(nlp_service, near, detector=detector)
    ]
    apart = "She had bruises on both arms.\n\nThe police called about the parking lot."
    assert run(nlp_service, apart, detector=detector) == []


NEGATIVES = {
    Category.MENTAL_HEALTH: [
        "We're hiring a PHP developer for the website.",
        "The PHP code on the donation page needs an update.",
        "Give the measurements in SI units.",
        "I'm a little OCD about my desk.",
        "Chicago has bipolar weather this week.",
        "Order lithium batteries for the smoke alarms.",
        "She goes to physical therapy for her knee on Mondays.",
        "The speech therapist visits the school on Tuesdays.",
    ],
    Category.SUBSTANCE_USE: [
        "My kid is addicted to his phone.",
        "Hello there. She is so addicted to her phone, it drives me nuts.",
        "Teenagers get addicted to their phones.",
        "Honestly I'm addicted to coffee.",
        "Please wipe your feet on the floor MAT.",
        "Bring your yoga MAT to the wellness group.",
        "I'm doing a digital detox this weekend.",
        "A non-alcoholic punch will be served.",
    ],
    Category.HIV_STI: [
        "The ART class meets Thursday in room 4.",
        "Our ART show opens Friday at the library.",
        "Please bring hearing aids and meal prep containers.",
        "Hey, don't forget your prep for the home visit.",
    ],
    Category.REPRODUCTIVE_HEALTH: [
        "The report's due date is Friday.",
        "She is expecting a call from the school.",
        "Our planning meeting is at 3 pm.",
    ],
    Category.ABUSE_NEGLECT: [
        "I neglected to attach the form, sorry.",
        "That was an abuse of discretion by the board.",
        "She had bruises from soccer practice.",
        "The toast burns easily in that toaster.",
        "He kicked the ball over the fence.",
        "Rapeseed oil is on the shopping list.",
    ],
    Category.IMMIGRATION: [
        "Please call your ICE contact in an emergency.",
        "ICE CREAM SOCIAL on Friday!",
        "Our office is closed Monday for Ice Day.",
    ],
    Category.CRIMINAL_JUSTICE: [
        "He went into cardiac arrest at the hospital.",
        "Theft of the office laptop is covered by insurance.",
        "We watched a documentary about fraud at lunch.",
        "Send the form to PO Box 1200, Springfield.",
    ],
}


@pytest.mark.parametrize(
    ("category", "text"),
    [pytest.param(c, t, id=f"{c.value}:{t[:30]}") for c, ts in NEGATIVES.items() for t in ts],
)
def test_look_alikes_are_not_found(
    nlp_service: NlpService, detector: SensitiveConditionDetector, category: Category, text: str
) -> None:
    assert [f.text for f in run(nlp_service, text, detector=detector)] == []


@pytest.mark.parametrize(
    "text",
    [
        "ugh I'm addicted to this taco truck on Halsted.",
        "My son is addicted to that cooking show, lol.",
        "We are all addicted to the puzzle book.",
        "She's addicted to her tablet after dinner.",
        "Honestly addicted to their iced coffee now.",
        "He's addicted to working out these days.",
        "The kids got addicted to YouTube over break.",
    ],
)
def test_colloquial_addicted_to_a_thing_is_not_substance_use(
    nlp_service: NlpService, detector: SensitiveConditionDetector, text: str
) -> None:
    assert [f.text for f in run(nlp_service, text, detector=detector)] == []


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("She is addicted to pills again.", "addicted"),
        ("He got addicted to the painkillers after surgery.", "addicted"),
        ("Her brother is addicted to meth.", "addicted"),
    ],
)
def test_addicted_to_a_substance_is_still_found(
    nlp_service: NlpService, detector: SensitiveConditionDetector, text: str, term: str
) -> None:
    assert term in [f.text for f in run(nlp_service, text, detector=detector)]


def test_every_list_documents_its_sources() -> None:
    for entry in LISTS:
        header = entry.path.read_text(encoding="utf-8").split("\ndescription:")[0]
        assert "Sources:" in header, entry.path
        assert "español" in header or "Spanish" in header, entry.path
