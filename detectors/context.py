"""ConText for condition mentions: negated, hypothetical, historical, generic, family.

A condition word alone does not say whether someone has the condition. The
clinical-NLP answer is ConText (Harkema, Dowling, Thornblade, Chapman 2009,
"ConText: An algorithm for determining negation, experiencer, and temporal
status from clinical reports", J Biomed Inform 42(5)), which generalises NegEx
(Chapman, Bridewell, Hanbury, Cooper, Buchanan 2001, "A simple algorithm for
identifying negated findings and diseases in discharge summaries", J Biomed
Inform 34(5)): trigger phrases before ("denies", "if", "family history of")
or after ("... was ruled out") a mention modify it, up to the end of the
sentence or a termination word ("but", "however").

negspacy implements NegEx with a termset of four trigger lists; this module
gives each ConText category its own negspacy termset and uses negspacy's own
trigger matching and termination scopes (:class:`negspacy.negation.Negex`).
It does not use the ``negex`` pipe itself, because the condition mentions are
term-list spans rather than ``doc.ents``, and because writing extension values
into the engine's shared docs would be a side effect on every other detector.

What each category means for confidentiality is decided in
:mod:`detectors.attribution`, not here: this module only says which triggers
govern a mention. The trigger lists below adapt ConText's published lexicon
(negation, hypothetical, historical, other-experiencer) and add a
"generic" list for population statements ("clients who use ...",
"teenagers ...") that social-work mail is full of, with Spanish triggers for
each category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from negspacy.negation import Negex
from negspacy.termsets import termset
from spacy.language import Language
from spacy.tokens import Doc, Span


class Modifier(StrEnum):
    NEGATED = "negated"
    HYPOTHETICAL = "hypothetical"
    HISTORICAL = "historical"
    GENERIC = "generic"
    FAMILY = "family"


@dataclass(frozen=True, slots=True)
class Triggers:
    """One negspacy termset: the four lists negspacy's Negex expects."""

    preceding: tuple[str, ...]
    following: tuple[str, ...] = ()
    pseudo: tuple[str, ...] = ()
    termination: tuple[str, ...] = ()

    def as_termset(self) -> dict[str, list[str]]:
        return {
            "pseudo_negations": list(self.pseudo),
            "preceding_negations": list(self.preceding),
            "following_negations": list(self.following),
            "termination": list(self.termination),
        }


def _negex_clinical() -> Triggers:
    """negspacy's ``en_clinical`` NegEx lexicon plus Spanish negation cues
    (NegEx-MES, Santiso et al. 2018, adapted)."""
    shipped = termset("en_clinical").get_patterns()
    return Triggers(
        preceding=(
            *shipped["preceding_negations"],
            "negative for", "denies any", "no evidence of", "no history of",
            "no hx of", "no current", "never had", "never been",
            "niega", "negó", "no presenta", "sin", "sin evidencia de",
            "no tiene", "nunca ha",
        ),
        following=(*shipped["following_negations"], "ruled out", "negative", "was negative"),
        pseudo=(
            *shipped["pseudo_negations"], "not only", "no longer", "no more than",
            "don't forget", "do not forget", "dont forget", "not forget", "don't miss",
            "do not miss", "don't hesitate", "do not hesitate", "no olvide", "no olvides",
            "no se olvide",
        ),
        termination=tuple(shipped["termination"]),
    )  # fmt: skip


# ConText's termination words, shared by the non-negation categories.
_TERMINATION = (
    "but", "however", "although", "though", "yet", "except", "apart from",
    "aside from", "which", "pero", "sin embargo", "aunque",
)  # fmt: skip

TRIGGERS: dict[Modifier, Triggers] = {
    Modifier.NEGATED: _negex_clinical(),
    # ConText "hypothetical": a condition that may come, not one that is.
    Modifier.HYPOTHETICAL: Triggers(
        preceding=(
            "if", "if you ever", "in case", "in case of", "should you",
            "should anyone", "in the event", "in the event of", "unless",
            "whether", "what to do if", "what happens if", "when someone",
            "if someone", "if anyone", "signs of", "warning signs of",
            "symptoms of", "to prevent", "prevent", "prevention of",
            "information about", "information on", "learn about", "learn more about",
            "resources for", "resources on", "ways to", "how to", "tips for",
            "training on", "trainings on", "training about", "workshop on",
            "workshops on", "class on", "session on", "presentation on",
            "recognising", "recognizing", "how to recognize", "identifying",
            "responding to", "education on", "education about",
            "si", "si alguna vez", "en caso de", "por si", "cuando alguien",
            "señales de", "prevenir",
        ),
        following=("prevention", "awareness", "hotline", "helpline", "resources"),
        pseudo=("as if", "if so", "even if", "if possible", "if needed", "if not"),
        termination=_TERMINATION,
    ),
    # ConText "historical": true in the past.
    Modifier.HISTORICAL: Triggers(
        preceding=(
            "history of", "hx of", "h/o", "past history of", "previous",
            "previously", "prior", "former", "formerly", "in the past",
            "used to", "years ago", "as a child", "as a teen", "as a teenager",
            "historia de", "antecedentes de", "en el pasado", "antes",
        ),
        following=("in the past", "years ago", "as a child", "as a teenager", "in remission"),
        pseudo=("history of present illness", "prior to", "prior authorization"),
        termination=_TERMINATION,
    ),
    # Not in ConText: statements about a population, not a person.
    Modifier.GENERIC: Triggers(
        preceding=(
            "people who", "people with", "people living with", "anyone who",
            "anyone with", "anybody who", "someone who", "someone with",
            "somebody who", "those who", "those with", "everyone who",
            "clients who", "clients with", "patients who", "patients with",
            "families who", "families with", "parents who", "parents with",
            "kids who", "kids with", "children who", "children with",
            "teens who", "teens with", "teenagers", "teens", "adolescents",
            "young people", "youth who", "youth with", "students who",
            "students with", "individuals who", "individuals with", "adults who",
            "adults with", "women who", "men who", "survivors of", "veterans",
            "many people", "many families", "many clients", "many parents",
            "many kids", "many of our", "most people", "most clients",
            "most of our", "some of our", "some clients", "a lot of people",
            "lots of people", "lots of kids", "lots of families", "all clients",
            "anyone", "everyone", "everybody", "nobody", "no one", "none of",
            "in general", "generally", "in our community", "kids these days",
            "statistics on", "research on", "studies show", "rates of",
            "awareness of", "stigma of", "stigma around",
            "personas que", "personas con", "cualquier persona", "muchas familias",
            "los jóvenes", "los adolescentes", "quienes",
        ),
        following=(
            "is common", "are common", "is more common", "among teens",
            "among youth", "among young people", "in our community",
            "in the community", "in general", "awareness month", "awareness week",
            "rates", "statistics", "epidemic", "crisis in",
        ),
        pseudo=("no one else", "nobody else"),
        termination=_TERMINATION,
    ),
    # ConText "other experiencer": a relative's condition. Still sensitive
    # (see detectors.attribution): the relative is a person and the detail is
    # about the client's household.
    Modifier.FAMILY: Triggers(
        preceding=(
            # English kin words on their own are read by the attribution
            # module, which can tell "her brother" from "our partner agency".
            "family history of", "family hx of", "fhx", "fh of",
            "runs in the family", "on her mother's side", "on his mother's side",
            "on her father's side", "on his father's side",
            "madre", "padre", "mamá", "papá", "hermano", "hermana", "hijo",
            "hija", "abuela", "abuelo", "tía", "tío", "esposo", "esposa",
            "pareja", "novio", "novia", "antecedentes familiares de",
        ),
        following=("in the family", "runs in the family", "runs in her family",
                   "runs in his family"),
        termination=_TERMINATION,
    ),
}  # fmt: skip


class ConText:
    """ConText categories for term spans of one spaCy pipeline."""

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp
        self._negex = {
            modifier: Negex(
                nlp,
                f"tactful_context_{modifier.value}",
                neg_termset=triggers.as_termset(),
                extension_name=f"tactful_context_{modifier.value}",
            )
            for modifier, triggers in TRIGGERS.items()
        }

    def modifiers(
        self, doc: Doc, spans: Sequence[Span], scopes: Sequence[tuple[int, int]]
    ) -> list[frozenset[Modifier]]:
        """The modifiers governing each span, limited to ``scopes[i]`` (its clause).

        NegEx's rule, as negspacy applies it: a preceding trigger that starts
        before the span, or a following trigger that ends after it, inside the
        same termination-bounded part of the sentence; triggers inside a
        pseudo-trigger ("no further", "if needed") do not count; nor do
        triggers that are part of the matched condition itself.
        """
        found: list[set[Modifier]] = [set() for _ in spans]
        for modifier, negex in self._negex.items():
            preceding, following, terminating = negex.process_negations(doc)
            if not preceding and not following:
                continue
            boundaries = negex.termination_boundaries(doc, terminating)
            for n, span in enumerate(spans):
                lo, hi = next(((a, b) for a, b in boundaries if a <= span.start < b), (0, len(doc)))
                lo, hi = max(lo, scopes[n][0]), min(hi, scopes[n][1])
                before = any(lo <= s and e <= span.start for _, s, e in preceding)
                after = any(span.end <= s and e <= hi for _, s, e in following)
                if before or after:
                    found[n].add(modifier)
        return [frozenset(f) for f in found]
