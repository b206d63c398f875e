"""The detector plugin protocol and its discovery through entry points.

Built-in detectors register in ``pyproject.toml`` under the entry-point group
``tactful.detectors`` exactly as a third-party package would, so there is one
way in for everyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from proxy.core.consent import Registry
from proxy.core.findings import Finding
from proxy.core.message import ParsedMessage, Segment
from proxy.lint.nlp import doc_text

if TYPE_CHECKING:
    from spacy.tokens import Doc

    from proxy.core.config import Settings
    from proxy.lint.nlp import NlpService

ENTRY_POINT_GROUP = "tactful.detectors"


@dataclass(frozen=True)
class InspectionContext:
    """Everything a detector may consult besides the message itself."""

    settings: Settings
    registry: Registry
    nlp: NlpService
    now: datetime
    # spaCy docs for ``message.segments``, same order; computed once per
    # message by the engine so no detector runs spaCy again.
    docs: Sequence[Doc] = ()
    # The same for ``message.extra_segments`` (header fields, file names...).
    extra_docs: Sequence[Doc] = ()


def extra_segment_docs(
    message: ParsedMessage, context: InspectionContext
) -> list[tuple[Segment, Doc]]:
    """The extra segments with their docs: the engine's when they line up
    with the segments' detection text, else fresh ones (a caller that built
    the context by hand for the body alone still gets the headers read)."""
    segments = message.extra_segments
    texts = [segment.detection_text for segment in segments]
    docs = list(context.extra_docs)
    if len(docs) != len(texts) or any(
        doc_text(doc) != text for doc, text in zip(docs, texts, strict=True)
    ):
        docs = context.nlp.docs(texts) if texts else []
    return list(zip(segments, docs, strict=True))


@runtime_checkable
class Detector(Protocol):
    name: str
    version: str
    codes: frozenset[str]

    def inspect(self, message: ParsedMessage, context: InspectionContext) -> Sequence[Finding]:
        """Return findings; must not modify ``message``."""
        ...


class DetectorFactory(Protocol):
    """What an entry point names: usually the detector class itself."""

    def __call__(self, options: Mapping[str, Any], settings: Settings) -> Detector: ...


class DetectorLoadError(Exception):
    """A configured detector is missing or its plugin failed to load."""


def available_factories() -> dict[str, DetectorFactory]:
    """All installed detector plugins by entry-point name."""
    found: dict[str, DetectorFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.load()
    return found


def load_detectors(settings: Settings) -> list[Detector]:
    """Instantiate every enabled detector with its configured options."""
    factories = available_factories()
    detectors: list[Detector] = []
    for name in sorted(factories):
        conf = settings.detectors.get(name)
        if conf is not None and not conf.enabled:
            continue
        options = conf.options if conf is not None else {}
        detectors.append(factories[name](options, settings))
    unknown = sorted(set(settings.detectors) - set(factories))
    if unknown:
        raise DetectorLoadError(
            f"config key 'detectors' names detector(s) that are not installed: "
            f"{', '.join(unknown)}. Installed: {', '.join(sorted(factories))}."
        )
    return detectors
