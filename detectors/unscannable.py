"""UNSCANNABLE: parts Tactful could not read are findings of their own.

The parser records why a part could not be read (encrypted, unknown binary
type, decoding defect, a size limit); this detector turns each record into a
finding so the policy can decide, instead of the part slipping through unread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from proxy.core.config import Settings
from proxy.core.findings import Entity, Finding
from proxy.core.message import ParsedMessage
from proxy.lint.detector import InspectionContext


class UnscannableDetector:
    name = "unscannable"
    version = "1.0"
    codes = frozenset({Entity.UNSCANNABLE.value})

    def __init__(self, options: Mapping[str, Any], settings: Settings) -> None:
        if options:
            raise ValueError(f"detector 'unscannable' takes no options, got: {', '.join(options)}")

    def inspect(self, message: ParsedMessage, context: InspectionContext) -> Sequence[Finding]:
        return [
            Finding(
                entity=Entity.UNSCANNABLE,
                location=part.source,
                start=0,
                end=0,
                score=1.0,
                detector=self.name,
                reason=part.reason,
            )
            for part in message.unscannable
        ]
