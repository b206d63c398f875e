"""Is a sensitive condition said about a person, or only mentioned as a topic?

"Her methadone dose" discloses something about someone; "our methadone clinic
opens at 8" does not. The difference decides between a hold and a pass, so
this module looks for a person in the same clause as the condition: a name, a
registered client, a case number, a third- or second-person pronoun, or a
kinship / client word with a determiner ("her daughter", "the client").

It prefers precision: first-person words ("I", "we", "our") are the worker or
the agency, never the subject of a disclosure, and the sender's own name is
not a person for this purpose. Without a dependency parser the clause is
approximated from sentence boundaries, paragraph breaks, ``;``, ``:`` after a
full statement (not after a label such as "Update for Tito:"), and
conjunctions that start a new subject ("... and she is on probation").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span, Token

from proxy.core.consent import ClientIdentity

# Third- and second-person pronouns: the recipient ("you") or someone else.
PERSON_PRONOUNS = frozenset(
    {
        "he", "him", "his", "himself",
        "she", "her", "hers", "herself",
        "they", "them", "their", "theirs", "themselves", "themself",
        "you", "your", "yours", "yourself", "yourselves",
    }
)  # fmt: skip

# Family words used like names: "Mom relapsed" needs no determiner.
NAME_LIKE_KIN = frozenset(
    {
        "mom", "mommy", "mum", "mama", "dad", "daddy", "papa",
        "grandma", "grandpa", "granny", "nana", "abuela", "abuelo",
    }
)  # fmt: skip

# Family words: a person when determined ("her son", "the kids").
KIN = NAME_LIKE_KIN | frozenset(
    {
        "mother", "father", "parent", "stepmother", "stepfather", "stepparent",
        "son", "daughter", "stepson", "stepdaughter", "child", "kid", "baby",
        "infant", "toddler", "teen", "teenager", "boy", "girl",
        "brother", "sister", "sibling", "grandmother", "grandfather",
        "grandparent", "grandchild", "grandson", "granddaughter",
        "aunt", "uncle", "cousin", "niece", "nephew",
        "husband", "wife", "spouse", "partner", "boyfriend", "girlfriend",
        "fiance", "fiancee", "ex",
    }
)  # fmt: skip

# Caseload words: a person only when singular and determined ("the client"),
# because "our clients" or "patients" is the agency's population, not someone.
ROLE = frozenset(
    {
        "client", "patient", "participant", "youth", "minor", "resident",
        "tenant", "victim", "survivor", "defendant", "applicant", "caller",
        "man", "woman", "guy", "lady", "person", "individual", "family",
        "household",
    }
)  # fmt: skip

DETERMINERS = frozenset(
    {"the", "this", "that", "these", "those", "my", "our", "your", "his", "her", "their"}
)
FIRST_PERSON_PLURAL_POSSESSIVE = "our"
CONJUNCTIONS = frozenset({"and", "but", "or", "so", "yet", "nor"})
SUBJECT_START_POS = frozenset({"PRON", "PROPN", "DET", "NOUN"})
VERB_POS = frozenset({"VERB", "AUX"})
# Words allowed between a determiner and its noun ("her younger son").
MODIFIER_POS = frozenset({"ADJ", "NUM", "ADV"})
MAX_MODIFIERS = 2

Clause = tuple[int, int]  # token range [start, end) in a Doc


def build_known_person_matcher(
    nlp: Language, clients: Mapping[str, ClientIdentity]
) -> PhraseMatcher:
    """A case-insensitive matcher for every registered client's names and identifiers.

    Patterns go through the tokenizer only, which is all ``LOWER`` matching needs.
    """
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    texts = sorted({t.strip() for c in clients.values() for t in (*c.names, *c.identifiers)})
    patterns = [nlp.make_doc(t) for t in texts if t]
    if patterns:
        matcher.add("KNOWN_PERSON", patterns)
    return matcher


def _is_clause_break(doc: Doc, i: int, clause_start: int, sentence_end: int) -> bool:
    token = doc[i]
    if token.is_space and token.text.count("\n") >= 2:
        return True
    if token.text == ";":
        return True
    if token.text == ":":
        # "Update for Tito: relapsed" is a label, not a statement; a leading
        # word tagged as a verb ("Update", "Note") does not make it one.
        return _has_verb(doc[clause_start + 1 : i])
    if token.lower_ in CONJUNCTIONS and token.pos_ in {"CCONJ", "SCONJ"} and i + 1 < sentence_end:
        nxt = doc[i + 1]
        return nxt.pos_ in SUBJECT_START_POS and _has_verb(doc[i + 2 : sentence_end])
    return False


def _has_verb(tokens: Iterable[Token]) -> bool:
    return any(t.pos_ in VERB_POS for t in tokens)


def clauses(doc: Doc) -> tuple[Clause, ...]:
    """Approximate clauses: sentences cut at the breaks described in the module doc."""
    found: list[Clause] = []
    for sent in doc.sents:
        start = sent.start
        for i in range(sent.start, sent.end):
            if _is_clause_break(doc, i, start, sent.end):
                if i > start:
                    found.append((start, i))
                start = i + 1
        if sent.end > start:
            found.append((start, sent.end))
    return tuple(found)


def _determined(doc: Doc, i: int) -> Token | None:
    """The determiner or possessive in front of noun ``i``, skipping a few modifiers."""
    j = i - 1
    skipped = 0
    while j >= 0 and doc[j].pos_ in MODIFIER_POS and skipped < MAX_MODIFIERS:
        j -= 1
        skipped += 1
    if j < 0:
        return None
    before = doc[j]
    if before.lower_ in DETERMINERS or before.tag_ == "POS":
        return before
    return None


def _is_person_noun(doc: Doc, token: Token) -> bool:
    lemma = token.lemma_.lower()
    if token.i + 1 < len(doc) and doc[token.i + 1].pos_ in {"NOUN", "PROPN"}:
        return False  # a modifier: "the client portal", "our family services"
    plural = token.tag_ in {"NNS", "NNPS"}
    if lemma in NAME_LIKE_KIN and not plural:
        return True
    if lemma not in KIN and lemma not in ROLE:
        return False
    det = _determined(doc, token.i)
    if det is None:
        return False
    if lemma in ROLE:
        return not plural
    return not (plural and det.lower_ == FIRST_PERSON_PLURAL_POSSESSIVE)


def _is_sender(ent: Span, sender_words: frozenset[str]) -> bool:
    words = {t.lower_ for t in ent if t.is_alpha}
    return bool(words) and words <= sender_words


def person_cue_tokens(
    doc: Doc,
    *,
    sender_name: str,
    known: Sequence[Span],
    case_patterns: Sequence[re.Pattern[str]],
) -> frozenset[int]:
    """Indices of tokens that point at a person (anywhere in ``doc``).

    ``known`` are spans of registered clients' names and identifiers.
    """
    cues: set[int] = set()
    sender_words = frozenset(w.lower() for w in re.findall(r"\w+", sender_name))
    for ent in doc.ents:
        if ent.label_ == "PERSON" and not _is_sender(ent, sender_words):
            cues.update(range(ent.start, ent.end))
    for span in known:
        cues.update(range(span.start, span.end))
    for pattern in case_patterns:
        for m in pattern.finditer(doc.text):
            found = doc.char_span(m.start(), m.end(), alignment_mode="expand")
            if found is not None:
                cues.update(range(found.start, found.end))
    for token in doc:
        if token.pos_ == "PRON" and token.lower_ in PERSON_PRONOUNS:
            cues.add(token.i)
        elif token.pos_ in {"NOUN", "PROPN"} and _is_person_noun(doc, token):
            cues.add(token.i)
    return frozenset(cues)


def clause_of(span: Span, all_clauses: Sequence[Clause]) -> Clause:
    """The clause holding the start of ``span``, stretched to cover its end."""
    for start, end in all_clauses:
        if start <= span.start < end:
            return (start, max(end, span.end))
    return (span.sent.start, span.sent.end)


def is_about_person(span: Span, all_clauses: Sequence[Clause], cues: frozenset[int]) -> bool:
    """A person cue in the span's clause, other than the matched words themselves
    (so "child abuse training" is not about a child)."""
    start, end = clause_of(span, all_clauses)
    return any(i in cues for i in range(start, end) if not span.start <= i < span.end)
