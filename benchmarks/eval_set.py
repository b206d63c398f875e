"""Tactful's own evaluation set: labelled messages scored through the real lint engine.

The messages live in ``eval/messages/*.yaml`` (one YAML list per class of
message, each entry a message a social worker might write, with the verdict
the documented policy *should* reach and the identifiers and conditions a
reader would mark). Every message goes through ``LintEngine.lint`` -- the
entry ``tactful lint`` and the proxy's analysis pool use -- with the shipped
defaults plus ``eval/agency.yaml`` (the agency's own contact details and the
public directory ``eval/public-places.csv``), the example consent registry
``config/consent.example.csv``, at a fixed moment inside working hours.

    .venv/bin/python benchmarks/eval_set.py [--json] [--only ID]... [--thresholds FILE]
        [--messages DIR] [--no-thresholds]

``--messages eval/holdout --no-thresholds`` (``make eval-holdout``) scores the
held-out set instead: messages written after the detectors were tuned, by
someone who did not read their term lists, and never tuned on. It has no
floor on purpose -- a floor invites tuning to it -- so it only reports.

Scoring rules (the README's "Evaluation" section says the same):

* **Entities.** Only the kinds in ``SCORED_KINDS`` are labelled and scored
  (names of people and email addresses are everywhere and decide nothing).
  A finding counts when it is in the subject, the body or an attachment
  (not a header field), is not marked as the agency's or a public place's
  detail, and -- for a condition -- is not known to be about nobody (the
  rule's own reading: ``about_person`` is not ``False``). A finding matches a
  label when the kinds are equal and one text contains the other, compared
  case-insensitively with runs of white space as one space. Recall is
  labels matched / labels; precision is distinct findings matched / distinct
  findings.
* **Categories.** Per message, the set of categories of the counted
  conditions against the labelled set; precision and recall over messages.
* **Verdicts.** Accuracy is exact agreement of the message's verdict. A
  *leak* is a message labelled ``redact``, ``hold`` or ``reject`` that the
  engine would pass or warn (the details go out as written). *Over-
  enforcement* is a message labelled ``pass`` or ``warn`` that the engine
  redacts, defers, holds or rejects.

Exit status: 0 at or above every threshold in ``eval/thresholds.yaml`` (or
always, with ``--no-thresholds``), 1 below any, 2 when the evaluation set or
a file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from proxy.core.findings import Category, Entity, Finding  # noqa: E402
from proxy.core.verdict import Action  # noqa: E402

EVAL_DIR = REPO / "eval"
MESSAGES_DIR = EVAL_DIR / "messages"
HOLDOUT_DIR = EVAL_DIR / "holdout"
THRESHOLDS_FILE = EVAL_DIR / "thresholds.yaml"
AGENCY_FILE = EVAL_DIR / "agency.yaml"
CONSENT_FILE = REPO / "config" / "consent.example.csv"

# Tuesday 24 November 2026, 10:00 in Chicago (the shipped agency.timezone):
# inside working hours, not a holiday, so the result never depends on the day.
JUDGED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("America/Chicago"))

SCORED_KINDS = frozenset(Entity) - {Entity.PERSON, Entity.EMAIL_ADDRESS, Entity.UNSCANNABLE}
SCORED_KIND_NAMES = tuple(sorted(k.value for k in SCORED_KINDS))
BODY_LOCATIONS = ("subject", "body", "html")
LEAK_LABELS = frozenset({Action.REDACT, Action.HOLD, Action.REJECT})
SENT_AS_WRITTEN = frozenset({Action.PASS, Action.WARN})
OVER_ENFORCED = frozenset({Action.REDACT, Action.DEFER, Action.HOLD, Action.REJECT})

# Who a message goes to, in the words of the people who wrote the set; the
# scorer does not use it (the registry decides the recipient kind), the
# structure test checks it is one of these so the coverage can be counted.
Audience = Literal[
    "internal",
    "client",
    "client-revoked",
    "client-expired",
    "authorized",
    "court",
    "school",
    "hospital",
    "landlord",
    "agency",
    "vendor",
]

EXIT_OK, EXIT_BELOW, EXIT_BAD_SET = 0, 1, 2


class EvalSetError(ValueError):
    """The evaluation set cannot be read: the message names the file and entry."""


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Entity
    text: str = Field(min_length=1)

    @model_validator(mode="after")
    def _scored(self) -> Label:
        if self.kind not in SCORED_KINDS:
            raise ValueError(
                f"kind {self.kind.value} is not scored; use one of {SCORED_KIND_NAMES}"
            )
        return self


class Expected(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Action
    entities: tuple[Label, ...] = ()
    categories: tuple[Category, ...] = ()


class EvalMessage(BaseModel):
    """One labelled message. ``to`` are phone numbers for texts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    channel: Literal["email", "sms"] = "email"
    audience: Audience
    sender: str = "jworker@example.org"
    to: tuple[str, ...] = Field(min_length=1)
    cc: tuple[str, ...] = ()
    subject: str = ""
    body: str = Field(min_length=1)
    expect: Expected
    note: str = ""

    @model_validator(mode="after")
    def _labels_are_in_the_text(self) -> EvalMessage:
        text = self.subject + "\n" + self.body
        for label in self.expect.entities:
            if label.text not in text:
                raise ValueError(
                    f"labelled {label.kind.value} {label.text!r} is not in the message"
                )
        return self

    @property
    def source(self) -> str:
        return f"{self.id}"


def load_eval_set(directory: Path = MESSAGES_DIR) -> list[EvalMessage]:
    """Every message of every YAML file, in file then list order; ids unique."""
    messages: list[EvalMessage] = []
    seen: dict[str, str] = {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise EvalSetError(f"no *.yaml files in {directory}")
    for path in files:
        try:
            entries = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise EvalSetError(f"{path.name}: not valid YAML: {exc}") from exc
        if not isinstance(entries, list):
            raise EvalSetError(f"{path.name}: expected a list of messages")
        for index, entry in enumerate(entries):
            try:
                message = EvalMessage.model_validate(entry)
            except ValidationError as exc:
                name = entry.get("id", f"#{index + 1}") if isinstance(entry, dict) else index
                raise EvalSetError(f"{path.name}: message {name}: {exc}") from exc
            if message.id in seen:
                raise EvalSetError(
                    f"{path.name}: id {message.id} already used in {seen[message.id]}"
                )
            seen[message.id] = path.name
            messages.append(message)
    return messages


@dataclass(frozen=True)
class Submission:
    raw: bytes
    sender: str
    recipients: tuple[str, ...]
    channel: str | None


SIGNATURE_NAMES = {"jworker@example.org": "Jane Worker", "mreyes@example.org": "Marcus Reyes"}


def to_submission(message: EvalMessage) -> Submission:
    """The message as the proxy receives it: an email, or a text as the SMS
    API spools it (``proxy.sms.textmail``: a small message to the number)."""
    mail = EmailMessage()
    name = SIGNATURE_NAMES.get(message.sender)
    mail["From"] = f"{name} <{message.sender}>" if name else message.sender
    mail["To"] = ", ".join(message.to)
    if message.cc:
        mail["Cc"] = ", ".join(message.cc)
    mail["Subject"] = message.subject or ("Text message" if message.channel == "sms" else "")
    mail["Date"] = format_datetime(JUDGED_AT)
    mail["Message-ID"] = f"<{message.id}@eval.example.org>"
    if message.channel == "sms":
        mail["X-Tactful-Channel"] = "sms"
    mail.set_content(message.body, charset="utf-8", cte="quoted-printable")
    channel = "sms" if message.channel == "sms" else None
    return Submission(mail.as_bytes(), message.sender, message.to + message.cc, channel)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def counted(finding: Finding) -> bool:
    """Whether a finding is scored (see the module docstring)."""
    if finding.entity not in SCORED_KINDS or finding.public is not None:
        return False
    if not (finding.location in BODY_LOCATIONS or finding.location.startswith("attachment")):
        return False
    return not (finding.entity is Entity.SENSITIVE_CONDITION and finding.about_person is False)


@dataclass(frozen=True)
class Outcome:
    """What the engine made of one message, reduced to what is scored."""

    message: EvalMessage
    verdict: Action
    found: tuple[tuple[Entity, str], ...]
    categories: frozenset[Category]
    matched_labels: tuple[Label, ...]
    missed_labels: tuple[Label, ...]
    false_spans: tuple[tuple[Entity, str], ...]

    @property
    def expected(self) -> Action:
        return self.message.expect.verdict

    @property
    def leak(self) -> bool:
        return self.expected in LEAK_LABELS and self.verdict in SENT_AS_WRITTEN

    @property
    def over_enforced(self) -> bool:
        return self.expected in SENT_AS_WRITTEN and self.verdict in OVER_ENFORCED

    @property
    def correct(self) -> bool:
        return (
            self.verdict == self.expected
            and not self.missed_labels
            and not self.false_spans
            and self.categories == frozenset(self.message.expect.categories)
        )


def _matches(kind: Entity, text: str, label: Label) -> bool:
    if kind != label.kind:
        return False
    a, b = _norm(text), _norm(label.text)
    return bool(a) and (a in b or b in a)


def score_message(message: EvalMessage, verdict: Action, findings: Iterable[Finding]) -> Outcome:
    found = tuple(dict.fromkeys((f.entity, f.text) for f in findings if counted(f)))
    categories = frozenset(
        f.category
        for f in findings
        if counted(f) and f.entity is Entity.SENSITIVE_CONDITION and f.category is not None
    )
    labels = message.expect.entities
    matched = tuple(lb for lb in labels if any(_matches(k, t, lb) for k, t in found))
    missed = tuple(lb for lb in labels if lb not in matched)
    false = tuple((k, t) for k, t in found if not any(_matches(k, t, lb) for lb in labels))
    return Outcome(message, verdict, found, categories, matched, missed, false)


@dataclass
class Tally:
    labels: int = 0
    labels_found: int = 0
    spans: int = 0
    spans_right: int = 0

    @property
    def precision(self) -> float | None:
        return self.spans_right / self.spans if self.spans else None

    @property
    def recall(self) -> float | None:
        return self.labels_found / self.labels if self.labels else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)

    def as_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "found": self.labels_found,
            "spans": self.spans,
            "spans_right": self.spans_right,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


@dataclass
class Report:
    outcomes: list[Outcome]
    by_kind: dict[str, Tally] = field(default_factory=dict)
    by_category: dict[str, Tally] = field(default_factory=dict)
    entities: Tally = field(default_factory=Tally)
    categories: Tally = field(default_factory=Tally)

    @property
    def messages(self) -> int:
        return len(self.outcomes)

    @property
    def verdict_accuracy(self) -> float:
        right = sum(o.verdict == o.expected for o in self.outcomes)
        return right / self.messages if self.messages else 0.0

    @property
    def leaks(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.leak]

    @property
    def over_enforced(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.over_enforced]

    def figures(self) -> dict[str, float | int | None]:
        return {
            "messages": self.messages,
            "verdict_accuracy": self.verdict_accuracy,
            "leaks": len(self.leaks),
            "over_enforced": len(self.over_enforced),
            "entity_precision": self.entities.precision,
            "entity_recall": self.entities.recall,
            "category_precision": self.categories.precision,
            "category_recall": self.categories.recall,
        }


def build_report(outcomes: Sequence[Outcome]) -> Report:
    report = Report(list(outcomes))
    for kind in sorted(SCORED_KINDS):
        report.by_kind[kind.value] = Tally()
    for category in Category:
        report.by_category[category.value] = Tally()
    for o in outcomes:
        for label in o.message.expect.entities:
            tally = report.by_kind[label.kind.value]
            tally.labels += 1
            tally.labels_found += label in o.matched_labels
        for kind, _text in o.found:
            tally = report.by_kind[kind.value]
            tally.spans += 1
            tally.spans_right += (kind, _text) not in o.false_spans
        gold = set(o.message.expect.categories)
        for category in Category:
            tally = report.by_category[category.value]
            tally.labels += category in gold
            tally.labels_found += category in gold and category in o.categories
            tally.spans += category in o.categories
            tally.spans_right += category in o.categories and category in gold
    for source, total in (
        (report.by_kind, report.entities),
        (report.by_category, report.categories),
    ):
        for tally in source.values():
            total.labels += tally.labels
            total.labels_found += tally.labels_found
            total.spans += tally.spans
            total.spans_right += tally.spans_right
    return report


class Thresholds(BaseModel):
    """The floor ``make eval`` holds the engine to: today's level minus a small margin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_verdict_accuracy: float = Field(ge=0, le=1)
    max_leaks: int = Field(ge=0)
    max_over_enforced: int = Field(ge=0)
    min_entity_precision: float = Field(ge=0, le=1)
    min_entity_recall: float = Field(ge=0, le=1)
    min_category_precision: float = Field(ge=0, le=1)
    min_category_recall: float = Field(ge=0, le=1)


def load_thresholds(path: Path = THRESHOLDS_FILE) -> Thresholds:
    try:
        return Thresholds.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise EvalSetError(f"{path}: {exc}") from exc


def below_thresholds(report: Report, thresholds: Thresholds) -> list[str]:
    """Each threshold missed, in words; empty when all are met."""
    fails: list[str] = []

    def low(name: str, value: float | None, floor: float) -> None:
        if (value or 0.0) < floor:
            fails.append(f"{name} {value or 0.0:.3f} < {floor:.3f}")

    low("verdict accuracy", report.verdict_accuracy, thresholds.min_verdict_accuracy)
    low("entity precision", report.entities.precision, thresholds.min_entity_precision)
    low("entity recall", report.entities.recall, thresholds.min_entity_recall)
    low("category precision", report.categories.precision, thresholds.min_category_precision)
    low("category recall", report.categories.recall, thresholds.min_category_recall)
    if len(report.leaks) > thresholds.max_leaks:
        fails.append(f"leaks {len(report.leaks)} > {thresholds.max_leaks}")
    if len(report.over_enforced) > thresholds.max_over_enforced:
        fails.append(f"over-enforced {len(report.over_enforced)} > {thresholds.max_over_enforced}")
    return fails


def eval_settings() -> Any:
    """Shipped defaults with ``eval/agency.yaml`` merged over them; the
    directory path in it is relative to ``eval/``."""
    from proxy.core.config import settings_from_mapping

    overrides = yaml.safe_load(AGENCY_FILE.read_text(encoding="utf-8"))
    directory = overrides.get("agency", {}).get("public_directory")
    if directory:
        overrides["agency"]["public_directory"] = str(EVAL_DIR / directory)
    return settings_from_mapping(overrides)


def run_eval(messages: Sequence[EvalMessage]) -> Report:
    from proxy.core.clock import ManualClock
    from proxy.core.consent import Registry
    from proxy.lint.engine import LintEngine
    from proxy.store.consent_csv import read_consent_csv

    settings = eval_settings()
    registry = Registry(
        read_consent_csv(CONSENT_FILE, default_region=settings.agency.default_region)
    )
    engine = LintEngine(settings, registry)
    clock = ManualClock(JUDGED_AT)
    outcomes = []
    for message in messages:
        sub = to_submission(message)
        result = engine.lint(
            sub.raw,
            sender=sub.sender,
            recipients=list(sub.recipients),
            at=clock.now,
            channel=sub.channel,
        )
        outcomes.append(score_message(message, result.verdict.verdict, result.findings))
    return build_report(outcomes)


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:5.2f}"


def human_lines(
    report: Report, fails: Sequence[str] | None, source: Path = MESSAGES_DIR
) -> list[str]:
    """``fails`` is None when no thresholds were checked."""
    lines = [
        f"{report.messages} messages from {_shown(source)}, judged at {JUDGED_AT.isoformat()}",
        "",
    ]
    lines.append(f"{'entity kind':<22}{'labels':>7}{'spans':>7}{'prec':>7}{'recall':>7}{'F1':>7}")
    for name, t in report.by_kind.items():
        if t.labels or t.spans:
            lines.append(
                f"{name:<22}{t.labels:>7}{t.spans:>7}  {_fmt(t.precision)}  "
                f"{_fmt(t.recall)}  {_fmt(t.f1)}"
            )
    e = report.entities
    lines.append(
        f"{'all entities':<22}{e.labels:>7}{e.spans:>7}  {_fmt(e.precision)}  "
        f"{_fmt(e.recall)}  {_fmt(e.f1)}"
    )
    lines += ["", f"{'category':<22}{'msgs':>7}{'found':>7}{'prec':>7}{'recall':>7}{'F1':>7}"]
    for name, t in report.by_category.items():
        lines.append(
            f"{name:<22}{t.labels:>7}{t.spans:>7}  {_fmt(t.precision)}  "
            f"{_fmt(t.recall)}  {_fmt(t.f1)}"
        )
    c = report.categories
    lines.append(
        f"{'all categories':<22}{c.labels:>7}{c.spans:>7}  {_fmt(c.precision)}  "
        f"{_fmt(c.recall)}  {_fmt(c.f1)}"
    )
    expected = Counter(o.expected.value for o in report.outcomes)
    lines += [
        "",
        "labelled verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(expected.items())),
        f"verdict accuracy {report.verdict_accuracy:.3f}, {len(report.leaks)} leaks, "
        f"{len(report.over_enforced)} over-enforced of {report.messages}",
        "",
    ]
    failing = [o for o in report.outcomes if not o.correct]
    lines.append(f"failing messages ({len(failing)}):")
    for o in failing:
        tag = " LEAK" if o.leak else " OVER-ENFORCED" if o.over_enforced else ""
        parts = [f"  {o.message.id}: expected {o.expected.value}, got {o.verdict.value}{tag}"]
        if o.missed_labels:
            parts.append(
                "    missed: " + "; ".join(f"{lb.kind.value} {lb.text!r}" for lb in o.missed_labels)
            )
        if o.false_spans:
            parts.append("    false: " + "; ".join(f"{k.value} {t!r}" for k, t in o.false_spans))
        gold = frozenset(o.message.expect.categories)
        if o.categories != gold:
            parts.append(
                f"    categories: expected {sorted(c.value for c in gold)}, "
                f"got {sorted(c.value for c in o.categories)}"
            )
        lines += parts
    lines.append("")
    if fails is None:
        lines.append("thresholds not checked (report only)")
    else:
        lines.append("below thresholds: " + "; ".join(fails) if fails else "all thresholds met")
    return lines


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def to_json(
    report: Report, fails: Sequence[str] | None, source: Path = MESSAGES_DIR
) -> dict[str, Any]:
    """``below_thresholds`` is null when no thresholds were checked."""
    return {
        "set": _shown(source),
        "judged_at": JUDGED_AT.isoformat(),
        **report.figures(),
        "by_kind": {k: t.as_dict() for k, t in report.by_kind.items()},
        "by_category": {k: t.as_dict() for k, t in report.by_category.items()},
        "messages_detail": [
            {
                "id": o.message.id,
                "expected": o.expected.value,
                "verdict": o.verdict.value,
                "leak": o.leak,
                "over_enforced": o.over_enforced,
                "correct": o.correct,
                "missed": [{"kind": lb.kind.value, "text": lb.text} for lb in o.missed_labels],
                "false": [{"kind": k.value, "text": t} for k, t in o.false_spans],
                "categories_expected": sorted(c.value for c in o.message.expect.categories),
                "categories_found": sorted(c.value for c in o.categories),
            }
            for o in report.outcomes
        ],
        "below_thresholds": None if fails is None else list(fails),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Score Tactful's lint engine on its labelled evaluation set (eval/).",
        epilog="Exit status: 0 all thresholds met (or --no-thresholds), 1 below a threshold, "
        "2 unreadable set.",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--only", action="append", metavar="ID", help="score only these ids")
    parser.add_argument(
        "--thresholds", type=Path, default=THRESHOLDS_FILE, metavar="FILE", help="thresholds YAML"
    )
    parser.add_argument(
        "--messages",
        type=Path,
        default=MESSAGES_DIR,
        metavar="DIR",
        help="folder of labelled *.yaml messages (default eval/messages; eval/holdout is the "
        "held-out set)",
    )
    parser.add_argument(
        "--no-thresholds",
        action="store_true",
        help="report the figures only; never exit 1 (for the held-out set)",
    )
    args = parser.parse_args(argv)
    try:
        messages = load_eval_set(args.messages)
        thresholds = None if args.no_thresholds else load_thresholds(args.thresholds)
    except EvalSetError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return EXIT_BAD_SET
    if args.only:
        wanted = set(args.only)
        messages = [m for m in messages if m.id in wanted]
        if unknown := wanted - {m.id for m in messages}:
            print(f"eval: unknown ids: {', '.join(sorted(unknown))}", file=sys.stderr)
            return EXIT_BAD_SET
    from proxy.core.config import ConfigError

    try:
        report = run_eval(messages)
    except (ConfigError, OSError) as exc:
        print(f"eval: cannot set up the engine: {exc}", file=sys.stderr)
        return EXIT_BAD_SET
    fails: list[str] | None = None  # None: not checked
    if thresholds is not None:
        fails = [] if args.only else below_thresholds(report, thresholds)
    if args.json:
        print(json.dumps(to_json(report, fails, args.messages), ensure_ascii=False))
    else:
        print("\n".join(human_lines(report, fails, args.messages)))
    return EXIT_BELOW if fails else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
