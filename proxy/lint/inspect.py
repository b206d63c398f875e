"""Inspect: run every enabled detector over a parsed message.

Detectors only describe; a detector that crashes is a bug, and it must not
turn into a silently passed message, so the error propagates (the proxy turns
it into a temporary failure).
"""

from __future__ import annotations

from collections.abc import Sequence

from proxy.core.findings import Finding
from proxy.core.message import ParsedMessage
from proxy.lint.detector import Detector, InspectionContext


def inspect_message(
    message: ParsedMessage, detectors: Sequence[Detector], context: InspectionContext
) -> tuple[Finding, ...]:
    findings: list[Finding] = []
    for detector in detectors:
        findings.extend(detector.inspect(message, context))
    findings.sort(key=lambda f: (f.location, f.start, f.end, f.entity))
    return tuple(findings)
