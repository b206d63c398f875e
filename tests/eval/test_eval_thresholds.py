"""The lint engine's decisions on the evaluation set stay at or above the
floors in ``eval/thresholds.yaml``: a detector or rule change that leaks
client details, or holds mail that should pass, fails the suite and not only
``make eval``. (The held-out set has no floor on purpose; see the README.)"""

from __future__ import annotations

from benchmarks.eval_set import below_thresholds, load_eval_set, load_thresholds, run_eval


def test_the_engine_meets_the_evaluation_floors() -> None:
    report = run_eval(load_eval_set())
    fails = below_thresholds(report, load_thresholds())
    failing = [o.message.id for o in (*report.leaks, *report.over_enforced)]
    assert fails == [], f"{fails}; leaked or over-enforced: {failing}"
