"""Is a sensitive condition said about a person, or only mentioned as a topic?

"Her methadone dose" discloses something about someone; "our methadone clinic
opens at 8" does not. The difference decides between a hold and a pass, so
this module looks for a person around each condition, and reads the ConText
modifiers of :mod:`detectors.context` (Harkema et al. 2009; NegEx, Chapman et
al. 2001) that say whether the condition is asserted of that person.

Who counts, in the condition's clause: a name, a registered client (full
name, identifier, or one of their names written as a proper noun), a case
number, a third- or second-person pronoun, a kinship or client word with a
determiner ("her daughter", "the client") or written like a name in a note
("Client denies SI", "Mother has schizophrenia"). First-person words ("I",
"we", "our") are the worker or the agency, never the subject of a
disclosure, and the sender's own name is not a person for this purpose.

What the ConText modifiers do, and why:

- generic ("clients who use ...", "teenagers get addicted to their
  phones", "many families"): about nobody, unless a specific person ("she",
  a name, "the client") is in the same clause; "they" and "you" are then read
  as the population.
- hypothetical ("if you ever feel suicidal", "in case of overdose"): about
  nobody unless a specific third person is in the clause ("if he relapses
  again" still says he relapsed).
- negated ("denies SI", "no history of"): still about the person. A denied
  condition reveals a screening, an assessment or a referral, which is
  itself clinical information; only when the one person in scope is the
  reader ("you don't need an HIV test to join") does it tell nobody anything.
- historical ("history of", "used to"): still about the person; a client's
  past is theirs.
- family / other experiencer ("family history of", "her brother is in
  rehab"): about a person. The relative is a person, and a relative's
  condition is sensitive about the whole household the recipient can link it
  to, so it is never treated as a topic.

Around a registered client's name the scope is wider than the clause: a
condition in the same sentence ("the diagnosis for Ana is ...") or in a
later sentence of the same paragraph ("Met with Ana. The methadone clinic
called.") is about that client (or about whoever else the paragraph goes on
to name), unless the condition's own clause is a generic or hypothetical
statement without a person; a client named in the subject line ("Re: Ana
Torres") reaches every such condition in the body. A clause that starts with a reporting verb and
no subject, as case notes do ("Denies SI/HI", "Was arrested Friday",
"Diagnosis: MDD"), is about the person the note is on. When unsure about a
named client the module attributes: a held message costs a reviewer a
minute, a leaked one costs the client.

Without a dependency parser the clause is approximated from sentence
boundaries, paragraph breaks, ``;``, ``:`` after a full statement (not after a
label such as "Update for Tito:"), and conjunctions that start a new subject
("... and she is on probation").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span, Token

from detectors.context import Modifier
from proxy.core.consent import ClientIdentity
from proxy.lint.nlp import doc_text

# Third- and second-person pronouns: someone, a group or someone, the reader.
SINGULAR_PRONOUNS = frozenset(
    {"he", "him", "his", "himself", "she", "her", "hers", "herself", "themself"}
)
PLURAL_PRONOUNS = frozenset({"they", "them", "their", "theirs", "themselves"})
READER_PRONOUNS = frozenset({"you", "your", "yours", "yourself", "yourselves"})
# Texting spellings, read by spelling alone (the tagger does not know them).
TEXTING_READER = frozenset({"u", "ur", "urself", "ya"})
# "your" is the reader's own only when it governs the condition ("your
# lithium refill"), not "your teachers" or "your new staff".
POSSESSIVE_READER = frozenset({"your", "ur"})
POSSESSIVE_REACH = 3
FIRST_PERSON_SINGULAR = frozenset({"i", "me", "my", "mine", "myself"})
FIRST_PERSON = FIRST_PERSON_SINGULAR | frozenset({"we", "us", "our", "ours", "ourselves"})
PERSON_PRONOUNS = SINGULAR_PRONOUNS | PLURAL_PRONOUNS | READER_PRONOUNS

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
        "household", "pt", "clt",
    }
)  # fmt: skip

# Person words a note writes without a determiner ("Client denies SI",
# "Mother has schizophrenia"); "person" or "family" alone are not someone.
BARE_PERSON = (KIN - {"ex", "partner", "baby", "boy", "girl", "kid", "teen", "teenager"}) | {
    "client",
    "patient",
    "pt",
    "clt",
    "participant",
}

# Words that make a person noun a population or an unknown one ("each
# client", "a parent", "any child"): not someone the recipient can identify.
QUANTIFIERS = frozenset(
    {"a", "an", "any", "each", "every", "no", "some", "another", "which", "what", "all", "most"}
)
# A note's clause that starts with one of these and no subject is about the
# person the note is on ("Denies SI", "Tested positive for meth").
# Verbs a case note starts a clause with when its subject is the client:
# third person or passive, so never the worker's own "(I) went to ...".
# By spelling, not by tag: the tagger reads "Spoke" or "Sounds good" as
# such verbs too.
NOTE_VERBS = frozenset(
    {
        "denies", "denied", "reports", "reported", "endorses", "endorsed",
        "admits", "admitted", "presents", "presented", "tested", "relapsed",
        "overdosed", "screened", "states", "stated", "disclosed", "diagnosed",
        "arrested", "charged", "released", "discharged", "hospitalized",
        "hospitalised", "sentenced", "convicted", "detained", "deported",
        "referred", "placed", "removed", "was", "is", "has", "had", "takes",
        "uses", "used", "drinks", "continues", "remains", "needs", "tests",
        "niega", "reporta", "refiere", "tiene", "está", "fue",
    }
)  # fmt: skip
# After these verbs a pronoun or determiner makes a question ("Is there a
# detox bed?", "Has the clinic called?"), not a note.
QUESTION_NEXT_POS = frozenset({"PRON", "DET"})
# Labels a case note puts before a condition ("Dx: MDD", "Diagnosis is PTSD").
NOTE_LABELS = frozenset(
    {
        "dx", "diagnosis", "diagnoses", "hx", "history", "meds", "medication",
        "medications", "rx", "presenting", "assessment", "impression",
        "diagnóstico", "antecedentes",
    }
)  # fmt: skip
# A name right after a greeting is the reader being addressed ("Hi Rosa,
# our group meets Tuesdays"), not the subject of what follows.
GREETINGS = frozenset(
    {"hi", "hello", "hey", "dear", "morning", "afternoon", "evening", "hola", "buenos", "buenas"}
)
LEADING_SKIP_POS = frozenset({"ADV", "PUNCT", "SPACE", "SYM", "INTJ"})
NAME_PARTICLES = frozenset({"del", "van", "von", "los", "las", "der", "den", "bin"})
MIN_NAME_PART = 3
AGE_UNITS = frozenset({"year", "month", "week", "day"})

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
# The words a subject noun phrase after a conjunction may have before its verb.
SUBJECT_WORD_POS = frozenset({"DET", "ADJ", "NOUN", "PROPN", "NUM", "PART", "PRON", "ADV"})
MAX_SUBJECT_WORDS = 5

Clause = tuple[int, int]  # token range [start, end) in a Doc


class Cue(Enum):
    """How a token points at a person."""

    SPECIFIC = "specific"  # a name, "she", "the client", "her son"
    PLURAL = "plural"  # "they", "their": a family, a couple, or a population
    READER = "reader"  # "you": the recipient
    ANYONE = "anyone"  # "a resident", "any client", "each parent": nobody in particular


# Spanish person words, read by spelling alone: the English tagger does not
# know them, and none of them is an English word ("el" is the article, "él"
# the pronoun).
SPANISH_PERSON_WORDS: Mapping[str, Cue] = {
    **dict.fromkeys(
        (
            "él", "ella", "hijo", "hija", "madre", "padre", "mamá", "papá",
            "hermano", "hermana", "esposo", "esposa", "abuela", "abuelo", "tío",
            "tía", "novio", "novia", "clienta", "paciente", "bebé", "niño", "niña",
        ),
        Cue.SPECIFIC,
    ),
    **dict.fromkeys(("ellos", "ellas", "hijos", "hijas", "niños", "niñas"), Cue.PLURAL),
    **dict.fromkeys(("usted", "ustedes"), Cue.READER),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PersonCues:
    """Person cues of one doc. ``identity`` are the tokens of registered
    clients and case numbers, whose scope reaches past the clause."""

    kinds: Mapping[int, Cue]
    identity: frozenset[int]
    # Token ranges of PERSON entities: one that overlaps a condition is the
    # model mistaking the condition (or Spanish text) for a name.
    person_ents: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class KnownPersonMatcher:
    """Registered clients' full names and identifiers (any case), and each
    part of their names when written as a proper noun ("Ana" for Ana Torres)."""

    full: PhraseMatcher
    parts: PhraseMatcher

    def __call__(self, doc: Doc) -> list[Span]:
        spans = list(self.full(doc, as_spans=True))
        spans.extend(s for s in self.parts(doc, as_spans=True) if s[0].pos_ == "PROPN")
        return spans


def _name_parts(names: Iterable[str]) -> set[str]:
    parts: set[str] = set()
    for name in names:
        for word in name.split():
            word = word.strip(".,")
            if len(word) >= MIN_NAME_PART and word.isalpha() and word.lower() not in NAME_PARTICLES:
                parts.add(word[0].upper() + word[1:])
    return parts


def build_known_person_matcher(
    nlp: Language, clients: Mapping[str, ClientIdentity]
) -> KnownPersonMatcher:
    """Matchers for every registered client.

    Patterns go through the tokenizer only, which is all ``LOWER`` and
    ``ORTH`` matching needs.
    """
    full = PhraseMatcher(nlp.vocab, attr="LOWER")
    parts = PhraseMatcher(nlp.vocab, attr="ORTH")
    texts = sorted({t.strip() for c in clients.values() for t in (*c.names, *c.identifiers)})
    patterns = [nlp.make_doc(t) for t in texts if t]
    if patterns:
        full.add("KNOWN_PERSON", patterns)
    words = sorted(_name_parts(n for c in clients.values() for n in c.names))
    if words:
        parts.add("KNOWN_NAME_PART", [nlp.make_doc(w) for w in words])
    return KnownPersonMatcher(full, parts)


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
        return _starts_subject_and_verb(doc, i + 1, sentence_end)
    return False


def _starts_subject_and_verb(doc: Doc, i: int, sentence_end: int) -> bool:
    """A short noun phrase then its verb: "... and her son is on probation".
    Not a list carrying on the same subject: "has PTSD and BPD and started DBT"."""
    if doc[i].pos_ not in SUBJECT_START_POS:
        return False
    for j in range(i + 1, min(i + 1 + MAX_SUBJECT_WORDS, sentence_end)):
        if doc[j].pos_ in VERB_POS:
            return True
        if doc[j].pos_ not in SUBJECT_WORD_POS:
            return False
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


def _determiner(doc: Doc, i: int) -> Token | None:
    """The word in front of noun ``i``, skipping a few modifiers, if it is a
    determiner, possessive or quantifier."""
    j = i - 1
    skipped = 0
    while j >= 0 and doc[j].pos_ in MODIFIER_POS and skipped < MAX_MODIFIERS:
        j -= 1
        skipped += 1
    if j < 0:
        return None
    before = doc[j]
    if before.lower_ in DETERMINERS or before.lower_ in QUANTIFIERS or before.tag_ == "POS":
        return before
    return None


def _is_person_noun(doc: Doc, token: Token) -> bool:
    """A singular kinship or client word that names someone: determined ("the
    client", "her son"), or bare as in a note ("Client denies SI", "Mother
    has ..."); a determined plural kin word ("her kids") names a family."""
    lemma = token.lemma_.lower()
    if token.i + 1 < len(doc) and doc[token.i + 1].pos_ in {"NOUN", "PROPN"}:
        return False  # a modifier: "the client portal", "our family services"
    if lemma not in KIN and lemma not in ROLE and token.lower_ not in ROLE:
        return False
    plural = token.tag_ in {"NNS", "NNPS"}
    det = _determiner(doc, token.i)
    if det is not None and det.lower_ in QUANTIFIERS:
        return False
    if plural:
        return (
            lemma in KIN
            and det is not None
            and det.lower_ not in {FIRST_PERSON_PLURAL_POSSESSIVE, "these", "those"}
        )
    return det is not None or lemma in BARE_PERSON or token.lower_ in BARE_PERSON


def _is_anyone(doc: Doc, token: Token) -> bool:
    """A person word with a quantifier: "a resident", "any client"."""
    lemma = token.lemma_.lower()
    if lemma not in KIN and lemma not in ROLE:
        return False
    if token.i + 1 < len(doc) and doc[token.i + 1].pos_ in {"NOUN", "PROPN"}:
        return False
    det = _determiner(doc, token.i)
    return det is not None and det.lower_ in QUANTIFIERS


def _age_person_start(doc: Doc, token: Token) -> int | None:
    """Where a person named by age starts ("the 4-month-old", "a 15-year-old",
    tokenised as 4 - month - old), if ``token`` ends one; or a newborn."""
    if token.lower_ in {"newborn", "newborns"}:
        return token.i
    i = token.i
    if token.lower_ != "old" or i < 4:
        return None
    if doc[i - 1].text != "-" or doc[i - 3].text != "-" or not doc[i - 4].like_num:
        return None
    return i - 4 if doc[i - 2].lemma_.lower() in AGE_UNITS else None


def _is_sender(ent: Span, sender_words: frozenset[str]) -> bool:
    words = {t.lower_ for t in ent if t.is_alpha}
    return bool(words) and words <= sender_words


def _addressed(doc: Doc, start: int) -> bool:
    """The name starting at token ``start`` follows a greeting ("Hi Rosa")."""
    j = start - 1
    while j >= 0 and doc[j].is_space:
        j -= 1
    return j >= 0 and doc[j].lower_ in GREETINGS


def person_cues(
    doc: Doc,
    *,
    sender_name: str,
    known: Sequence[Span],
    case_patterns: Sequence[re.Pattern[str]],
    quoted: bool = False,
) -> PersonCues:
    """The tokens that point at a person (anywhere in ``doc``), and how.

    ``known`` are spans of registered clients' names and identifiers. In
    ``quoted`` text (a reply's history, a forward) "I" is whoever wrote it,
    often the client, so it is someone.
    """
    kinds: dict[int, Cue] = {}
    identity: set[int] = set()
    sender_words = frozenset(w.lower() for w in re.findall(r"\w+", sender_name))
    for token in doc:
        if token.lower_ in SPANISH_PERSON_WORDS:
            kinds[token.i] = SPANISH_PERSON_WORDS[token.lower_]
        elif token.lower_ in TEXTING_READER:
            kinds[token.i] = Cue.READER
        elif quoted and token.lower_ in FIRST_PERSON_SINGULAR and token.pos_ == "PRON":
            kinds[token.i] = Cue.SPECIFIC
        elif token.pos_ == "PRON" and token.lower_ in SINGULAR_PRONOUNS:
            kinds[token.i] = Cue.SPECIFIC
        elif token.pos_ == "PRON" and token.lower_ in PLURAL_PRONOUNS:
            kinds[token.i] = Cue.PLURAL
        elif token.pos_ == "PRON" and token.lower_ in READER_PRONOUNS:
            kinds[token.i] = Cue.READER
        elif token.pos_ in {"NOUN", "PROPN"} and _is_person_noun(doc, token):
            kinds[token.i] = Cue.SPECIFIC
        elif token.pos_ in {"NOUN", "PROPN"} and _is_anyone(doc, token):
            kinds[token.i] = Cue.ANYONE
        elif (age := _age_person_start(doc, token)) is not None:
            det = _determiner(doc, age)
            quantified = det is not None and det.lower_ in QUANTIFIERS
            kinds[token.i] = Cue.ANYONE if quantified else Cue.SPECIFIC
    person_ents: list[tuple[int, int]] = []
    for ent in doc.ents:
        if ent.label_ == "PERSON" and not _is_sender(ent, sender_words):
            if _addressed(doc, ent.start):
                continue
            kinds.update(dict.fromkeys(range(ent.start, ent.end), Cue.SPECIFIC))
            person_ents.append((ent.start, ent.end))
    for span in known:
        if not _addressed(doc, span.start):
            identity.update(range(span.start, span.end))
    text = doc_text(doc)
    for pattern in case_patterns:
        for m in pattern.finditer(text):
            found = doc.char_span(m.start(), m.end(), alignment_mode="expand")
            if found is not None:
                identity.update(range(found.start, found.end))
    kinds.update(dict.fromkeys(identity, Cue.SPECIFIC))
    return PersonCues(kinds, frozenset(identity), tuple(person_ents))


def clause_of(span: Span, all_clauses: Sequence[Clause]) -> Clause:
    """The clause holding the start of ``span``, stretched to cover its end."""
    for start, end in all_clauses:
        if start <= span.start < end:
            return (start, max(end, span.end))
    return (span.sent.start, span.sent.end)


def _is_note_clause(doc: Doc, clause: Clause) -> bool:
    """A case-note clause with its subject left out: "Denies SI/HI",
    "Was arrested Friday", "Dx: MDD"."""
    start, end = clause
    i = start
    while i < end and doc[i].pos_ in LEADING_SKIP_POS:
        i += 1
    if i >= end:
        return False
    first = doc[i]
    lower = first.lower_
    if lower in NOTE_LABELS or first.lemma_.lower() in NOTE_LABELS:
        return i + 1 < end and (doc[i + 1].text == ":" or doc[i + 1].lemma_ == "be")
    if lower not in NOTE_VERBS:
        return False
    return not (i + 1 < end and doc[i + 1].pos_ in QUESTION_NEXT_POS and doc[i + 1].lower_ != "a")


def _paragraphs(doc: Doc) -> list[int]:
    """Token indices where a paragraph (blank-line separated) starts."""
    return [0] + [t.i + 1 for t in doc if t.is_space and t.text.count("\n") >= 2]


def _paragraph_start(starts: Sequence[int], i: int) -> int:
    return max(s for s in starts if s <= i)


def _named_before(span: Span, cues: PersonCues, paragraph_start: int) -> bool:
    """A registered client or case number earlier in ``span``'s paragraph.

    Other people named in between do not stop it: the condition may then be
    theirs, and they are people too.
    """
    return any(i in cues.identity for i in range(paragraph_start, span.start))


def attributions(
    doc: Doc,
    spans: Sequence[Span],
    all_clauses: Sequence[Clause],
    cues: PersonCues,
    modifiers: Sequence[frozenset[Modifier]],
    *,
    named_elsewhere: bool = False,
) -> list[bool]:
    """For each condition span: is it about a person? (The rules and their
    reasons are in the module docstring.) ``named_elsewhere``: a registered
    client is named before this text (in the subject line)."""
    starts = _paragraphs(doc)
    found: list[bool] = []
    for span, mods in zip(spans, modifiers, strict=True):
        about = _about_person(doc, span, all_clauses, cues, mods, starts)
        found.append(about if about is not None else named_elsewhere)
    return found


def _about_person(
    doc: Doc,
    span: Span,
    all_clauses: Sequence[Clause],
    cues: PersonCues,
    mods: frozenset[Modifier],
    paragraph_starts: Sequence[int],
) -> bool | None:
    """True or False when the text decides; None when it names nobody."""
    clause = clause_of(span, all_clauses)
    # Not the matched words themselves: "child abuse training" is not about a
    # child; nor the words of a PERSON entity that swallowed them, unless
    # they are written as a name ("Lena Petrov: SUD" read as one name).
    ignored = set(range(span.start, span.end))
    for start, end in cues.person_ents:
        if start < span.end and span.start < end:
            ignored.update(
                i
                for i in range(start, end)
                if i not in cues.identity and not (doc[i].is_title and doc[i].pos_ == "PROPN")
            )
    inside = {
        cues.kinds[i]
        for i in range(*clause)
        if i in cues.kinds and i not in ignored and _counts(doc, i, cues.kinds[i], span)
    }
    if Cue.SPECIFIC in inside:
        return True
    if Modifier.GENERIC in mods or Cue.ANYONE in inside:
        return False
    if Modifier.FAMILY in mods or Cue.PLURAL in inside:
        return True
    if Cue.READER in inside:
        return not mods & {Modifier.HYPOTHETICAL, Modifier.NEGATED}
    if Modifier.HYPOTHETICAL in mods:
        return False
    if _is_note_clause(doc, clause):
        return True
    paragraph = _paragraph_start(paragraph_starts, span.start)
    # The sentencizer does not split at blank lines; the paragraph bounds it.
    following = [s for s in paragraph_starts if s > span.start]
    sentence_end = min([span.sent.end, *following])
    if any(i in cues.identity for i in range(max(span.sent.start, paragraph), sentence_end)):
        return True
    if _named_before(span, cues, paragraph):
        return True
    if _previous_sentence_names_someone(doc, span, cues, paragraph) and not any(
        doc[i].lower_ in FIRST_PERSON for i in range(*clause)
    ):
        return True
    return None


def _counts(doc: Doc, i: int, cue: Cue, span: Span) -> bool:
    """A possessive "your" counts only for the condition it governs."""
    if cue is Cue.READER and doc[i].lower_ in POSSESSIVE_READER:
        return i < span.start <= i + POSSESSIVE_REACH
    return True


def _previous_sentence_names_someone(
    doc: Doc, span: Span, cues: PersonCues, paragraph_start: int
) -> bool:
    """The sentence just before, in the same paragraph, points at someone
    specific: "Do you have a bed for Carla Nunez? Opioid use disorder, 60
    days clean." A clause of the worker's own ("our group", "I will call")
    is exempt, see the caller."""
    if span.sent.start <= paragraph_start:
        return False
    previous = doc[span.sent.start - 1].sent
    return any(
        cues.kinds.get(i) is Cue.SPECIFIC
        for i in range(max(previous.start, paragraph_start), previous.end)
    )
