"""The evaluation set is a measuring instrument: it must parse, use only the
kinds, categories and verdicts the product knows, label only text that is in
the message, and be large and benign enough to mean something. The scores
themselves are `make eval`'s business, not this test's. The same checks run
on the held-out set (eval/holdout/), which must also be new mail: no message
of it repeats one of the tuning set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.eval_set import (
    EXIT_BAD_SET,
    EXIT_BELOW,
    EXIT_OK,
    HOLDOUT_DIR,
    MESSAGES_DIR,
    SCORED_KINDS,
    EvalMessage,
    EvalSetError,
    load_eval_set,
    load_thresholds,
    main,
    score_message,
    to_submission,
)
from proxy.core.findings import Category, Entity, Finding
from proxy.core.verdict import Action

# Each set and the size it must keep: the held-out set is smaller but must
# still be big enough to mean something.
SETS = {"messages": (MESSAGES_DIR, 150), "holdout": (HOLDOUT_DIR, 75)}
MIN_BENIGN_SHARE = 0.40
# What the set was written to cover; a kind or category added later needs
# messages of its own (and its name here).
COVERED_KINDS = (
    Entity.US_SSN,
    Entity.CREDIT_CARD,
    Entity.US_BANK_NUMBER,
    Entity.PHONE_NUMBER,
    Entity.DATE_OF_BIRTH,
    Entity.MEDICAID_ID,
    Entity.MEDICARE_ID,
    Entity.CASE_NUMBER,
    Entity.STREET_ADDRESS,
    Entity.SENSITIVE_CONDITION,
    Entity.CLIENT,
)
COVERED_CATEGORIES = (
    Category.MENTAL_HEALTH,
    Category.SUBSTANCE_USE,
    Category.HIV_STI,
    Category.REPRODUCTIVE_HEALTH,
    Category.ABUSE_NEGLECT,
    Category.IMMIGRATION,
    Category.CRIMINAL_JUSTICE,
)


@pytest.fixture(scope="module", params=sorted(SETS))
def eval_set(request: pytest.FixtureRequest) -> tuple[list[EvalMessage], int]:
    directory, minimum = SETS[request.param]
    return load_eval_set(directory), minimum


@pytest.fixture(scope="module")
def messages(eval_set: tuple[list[EvalMessage], int]) -> list[EvalMessage]:
    return eval_set[0]


def test_enough_messages_and_enough_benign_mail(
    eval_set: tuple[list[EvalMessage], int],
) -> None:
    messages, minimum = eval_set
    assert len(messages) >= minimum
    benign = sum(m.expect.verdict is Action.PASS for m in messages)
    assert benign / len(messages) >= MIN_BENIGN_SHARE


def test_ids_are_unique(messages: list[EvalMessage]) -> None:
    ids = Counter(m.id for m in messages)
    assert [i for i, n in ids.items() if n > 1] == []


def test_labels_use_known_kinds_categories_and_verdicts(messages: list[EvalMessage]) -> None:
    for m in messages:
        assert m.expect.verdict in set(Action), m.id
        for label in m.expect.entities:
            assert label.kind in SCORED_KINDS, m.id
        for category in m.expect.categories:
            assert category in set(Category), m.id


def test_every_labelled_span_is_in_the_message(messages: list[EvalMessage]) -> None:
    for m in messages:
        text = m.subject + "\n" + m.body
        for label in m.expect.entities:
            assert label.text in text, (m.id, label.text)


def test_conditions_and_categories_go_together(messages: list[EvalMessage]) -> None:
    """A labelled condition names its category, and a category needs a condition."""
    for m in messages:
        has_condition = any(lb.kind is Entity.SENSITIVE_CONDITION for lb in m.expect.entities)
        assert has_condition == bool(m.expect.categories), m.id


def test_every_kind_category_channel_and_audience_is_covered(
    messages: list[EvalMessage],
) -> None:
    kinds = {lb.kind for m in messages for lb in m.expect.entities}
    assert set(COVERED_KINDS) <= kinds
    categories = Counter(c for m in messages for c in m.expect.categories)
    assert all(categories[c] >= 2 for c in COVERED_CATEGORIES), categories
    assert {m.channel for m in messages} == {"email", "sms"}
    audiences = {m.audience for m in messages}
    assert {"internal", "client", "client-revoked", "authorized", "court", "school",
            "hospital", "landlord"} <= audiences  # fmt: skip


def test_the_holdout_set_is_new_mail() -> None:
    """Held out means held out: no id, body or subject-and-body pair of the
    tuning set reappears in it."""
    tuning = load_eval_set(MESSAGES_DIR)
    holdout = load_eval_set(HOLDOUT_DIR)
    assert {m.id for m in tuning}.isdisjoint(m.id for m in holdout)
    assert {" ".join(m.body.split()) for m in tuning}.isdisjoint(
        " ".join(m.body.split()) for m in holdout
    )


def test_the_thresholds_file_reads() -> None:
    thresholds = load_thresholds()
    assert 0 <= thresholds.min_verdict_accuracy <= 1


def _write(tmp_path: Path, text: str) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "set.yaml").write_text(text, encoding="utf-8")
    return tmp_path


GOOD = """
- id: one
  audience: internal
  to: [sam@example.org]
  body: "The SSN is 512-44-8821."
  expect:
    verdict: warn
    entities: [{kind: US_SSN, text: 512-44-8821}]
"""


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (GOOD + GOOD, "id one already used"),
        (GOOD.replace("text: 512-44-8821", "text: 512-44-8822"), "is not in the message"),
        (GOOD.replace("US_SSN", "SSN_NUMBER"), "kind"),
        (GOOD.replace("US_SSN", "PERSON"), "not scored"),
        (GOOD.replace("verdict: warn", "verdict: block"), "verdict"),
        (GOOD.replace("audience: internal", "audience: neighbour"), "audience"),
        (GOOD.replace("expect:", "expected:"), "expect"),
        ("- id: one\n  body: [unclosed", "not valid YAML"),
        ("one: two", "expected a list"),
    ],
)
def test_a_bad_entry_is_refused_with_its_file_and_reason(
    tmp_path: Path, text: str, complaint: str
) -> None:
    with pytest.raises(EvalSetError, match=r"set\.yaml") as caught:
        load_eval_set(_write(tmp_path, text))
    assert complaint in str(caught.value)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EvalSetError, match=r"no \*\.yaml"):
        load_eval_set(tmp_path)


def _finding(entity: Entity, text: str, **extra: object) -> Finding:
    return Finding(entity, str(extra.pop("location", "body")), 0, len(text), 0.9, "t",
                   text=text, **extra)  # type: ignore[arg-type]  # fmt: skip


def test_span_matching_rule(tmp_path: Path) -> None:
    """Same kind and one text inside the other (case and spacing aside) is a
    match; public details, header fields and conditions about nobody are not
    counted at all."""
    body = (
        "Rosa's address is 4417 N Kimball, Apt 2. Call (312) 555-0100. "
        "Our substance use group meets Tuesday. She has depression."
    )
    message = load_eval_set(_write(tmp_path, f"""
- id: m
  audience: landlord
  to: [office@rentals.example.net]
  body: "{body}"
  expect:
    verdict: hold
    entities:
      - {{kind: STREET_ADDRESS, text: "4417 N Kimball, Apt 2"}}
      - {{kind: SENSITIVE_CONDITION, text: depression}}
    categories: [mental_health]
"""))[0]  # fmt: skip
    findings = [
        _finding(Entity.STREET_ADDRESS, "4417  n kimball"),  # shorter, other case and spacing
        _finding(Entity.PHONE_NUMBER, "(312) 555-0100", public="agency"),
        _finding(
            Entity.SENSITIVE_CONDITION,
            "substance use",
            about_person=False,
            category=Category.SUBSTANCE_USE,
        ),
        _finding(
            Entity.SENSITIVE_CONDITION,
            "depression",
            about_person=True,
            category=Category.MENTAL_HEALTH,
        ),
        _finding(Entity.CLIENT, "Rosa Diaz", location="header:To"),
    ]
    outcome = score_message(message, Action.HOLD, findings)
    assert outcome.missed_labels == ()
    assert outcome.false_spans == ()
    assert outcome.categories == {Category.MENTAL_HEALTH}
    assert outcome.correct

    wrong_kind = [_finding(Entity.PHONE_NUMBER, "4417 N Kimball, Apt 2")]
    outcome = score_message(message, Action.PASS, wrong_kind)
    assert len(outcome.missed_labels) == 2
    assert outcome.false_spans == ((Entity.PHONE_NUMBER, "4417 N Kimball, Apt 2"),)
    assert outcome.leak and not outcome.over_enforced


def test_texts_go_in_as_the_sms_api_spools_them(messages: list[EvalMessage]) -> None:
    text = next(m for m in messages if m.channel == "sms")
    submission = to_submission(text)
    assert submission.channel == "sms"
    assert submission.recipients == text.to
    assert b"X-Tactful-Channel: sms" in submission.raw
    mail = next(m for m in messages if m.channel == "email")
    assert to_submission(mail).channel is None


def test_messages_live_in_the_eval_folder() -> None:
    assert MESSAGES_DIR.name == "messages"
    assert MESSAGES_DIR.parent.name == "eval"


def test_the_set_is_judged_with_the_agency_details_and_directory() -> None:
    """The signatures in the set carry the agency's own address and numbers;
    without the overlay every outside message would be held for them."""
    from benchmarks.eval_set import eval_settings
    from proxy.lint.public_details import AGENCY, DIRECTORY, PublicDetails

    settings = eval_settings()
    public = PublicDetails.from_settings(settings)
    assert public.owner(_finding(Entity.PHONE_NUMBER, "312.555.0100")) == AGENCY
    assert public.owner(_finding(Entity.STREET_ADDRESS, "200 W Adams St, Ste 1200")) == AGENCY
    assert public.owner(_finding(Entity.PHONE_NUMBER, "(312) 433-6500")) == DIRECTORY
    assert public.owner(_finding(Entity.PHONE_NUMBER, "(773) 555-0188")) is None


WRONG_LABEL = """
- id: wrong
  audience: vendor
  to: [orders@officesupply.example.com]
  subject: Toner
  body: "Please send two boxes of toner to the front desk, thanks."
  expect: {verdict: reject}
"""


def test_the_scorer_reads_another_folder_and_can_only_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--messages DIR`` scores that folder; ``--no-thresholds`` reports the
    same figures and exits 0 where the floors would fail (the held-out set is
    report-only); a folder without messages is a bad set, never a pass."""
    folder = _write(tmp_path / "set", WRONG_LABEL)
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        "min_verdict_accuracy: 1.0\nmax_leaks: 0\nmax_over_enforced: 0\n"
        "min_entity_precision: 0\nmin_entity_recall: 0\n"
        "min_category_precision: 0\nmin_category_recall: 0\n",
        encoding="utf-8",
    )
    args = ["--messages", str(folder), "--json"]
    assert main([*args, "--thresholds", str(strict)]) == EXIT_BELOW
    judged = json.loads(capsys.readouterr().out)
    assert judged["messages"] == 1 and judged["verdict_accuracy"] == 0.0
    assert judged["below_thresholds"] == ["verdict accuracy 0.000 < 1.000", "leaks 1 > 0"]

    assert main([*args, "--no-thresholds"]) == EXIT_OK
    reported = json.loads(capsys.readouterr().out)
    assert reported["below_thresholds"] is None
    assert reported["verdict_accuracy"] == 0.0
    assert reported["set"] == str(folder)

    assert main(["--messages", str(folder), "--no-thresholds"]) == EXIT_OK
    assert "thresholds not checked" in capsys.readouterr().out

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--messages", str(empty), "--no-thresholds"]) == EXIT_BAD_SET
    assert "no *.yaml files" in capsys.readouterr().err
