"""The sender's signature block, standard disclaimers, and reply headers.

Most outside mail ends with a sign-off, the worker's name, title, the
agency's address and phone number, and often a confidentiality notice. None
of that is news about a client, and reporting it held most external mail.
But the block is still scanned: a client's phone number written under the
sign-off ("Maria's new cell is 773-555-0199") is still a client's.

The reading of mail conventions comes from ``mail-parser-reply`` (the
maintained port of GitHub's email_reply_parser, with English and Spanish
sign-offs, "Sent from my ..." lines, Outlook header blocks and disclaimer
openers). Its regexes work on a whole body and return text, not positions,
and they trust any "Thanks," at the start of a line; so this module runs them
line by line on the body as written and keeps only what it can place:

- a signature starts at the RFC 3676 ``--`` line, an Outlook separator, a
  "Sent from my ..." line, or a sign-off that stands alone on its line
  ("Best regards," / "Saludos,") with no more than a signature's worth of
  lines after it (a "Thanks," that opens a long paragraph is not a sign-off);
- a disclaimer is a paragraph of legal boilerplate: it opens like one (the
  library's openers, "CONFIDENTIALITY NOTICE", "This email ... is
  confidential") and uses its vocabulary ("intended recipient", "privileged",
  "42 CFR Part 2", ...), or it is one of the agency's own disclaimers
  (``agency.disclaimers``), matched whatever the line breaks;
- a reply header is the library's header block (English and Spanish
  "From:/De:" blocks) when it names a sender.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

# Languages of the sign-offs and headers read; agencies here write both.
LANGUAGES = ("en", "es")

# A sign-off line has at most this many words ("Thanks again, Jane").
SIGN_OFF_WORDS = 5
# A signature block (name, title, agency, address, phones, web) is short;
# more non-blank lines after a "Thanks," means it opened a paragraph.
SIGNATURE_LINES = 12

# What legal boilerplate says; a disclaimer paragraph uses two of these.
_LEGAL_CUES = re.compile(
    r"intended\s+(?:solely\s+)?(?:only\s+)?(?:for\s+the\s+)?(?:recipient|addressee|use)"
    r"|not\s+the\s+intended|confidential|privileged|prohibited|strictly|unauthori[sz]ed"
    r"|notify\s+the\s+sender|delete\s+(?:this|the|all)|destroy|42\s*C\.?F\.?R|HIPAA"
    r"|protected\s+health\s+information|disclos(?:e|ure)|dissemination|distribution"
    r"|destinatario|confidencial|prohibid[ao]|informaci[oó]n\s+privilegiada",
    re.IGNORECASE,
)
_LEGAL_CUES_NEEDED = 2
_DISCLAIMER_OPENERS = re.compile(
    r"^\W*(?:confidential(?:ity)?(?:\s+(?:notice|note|statement|warning))?\b"
    r"|(?:privileged|important|legal)\s+(?:and\s+confidential\s+)?(?:notice|note)\b"
    r"|disclaimer\b|notice\s*:|aviso\b|confidencialidad\b|advertencia\b"
    r"|this\s+(?:e-?mail|message|communication|transmission)\b"
    r"|(?:the\s+)?information\s+(?:contained\s+)?in\s+this"
    r"|if\s+you\s+(?:are\s+not|have\s+received)"
    r"|este\s+(?:mensaje|correo))",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
_FOOTERS = ("sent from", "get outlook", "enviado desde")


def _library() -> EmailMessage:
    """The library's compiled readers, built once (they are pure regexes)."""
    message = EmailMessage(text="", languages=list(LANGUAGES), keep_hyphen_lists=True)
    # The properties compile and cache their regexes on first access.
    _ = (message.SIGNATURE_REGEX, message.DISCLAIMERS_REGEX, message.HEADER_REGEX)
    return message


_LIBRARY = _library()
# The library's sign-offs ("Best regards", "Thanks,", "Saludos,"), to see
# what else their line says.
_SIGN_OFF = re.compile(
    r"^(?:> ?)*(?:"
    + "|".join(
        phrase for language in LANGUAGES for phrase in MAIL_LANGUAGES[language]["signatures"]
    )
    + r")",
    re.IGNORECASE,
)
# A sign-off may be followed on its line by a name ("Thanks, Jane"), no more.
SIGN_OFF_NAME_WORDS = 2
# A line of a sentence, not of a signature: long, or ending like a sentence.
SENTENCE_WORDS = 12
SHORT_SENTENCE_WORDS = 4
_EMAIL = re.compile(r"\S+@\S+")
_HEADER_NAMES_SENDER = re.compile(r"^[>\s*]*(?:From|De)\s*:", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class _Text:
    """Lines stripped the way the library expects, one per original line,
    so that a position in the joined text gives back the line index."""

    lines: tuple[str, ...]
    starts: tuple[int, ...]
    joined: str

    @classmethod
    def of(cls, lines: Iterable[str]) -> _Text:
        stripped = tuple(line.strip() for line in lines)
        starts: list[int] = []
        offset = 0
        for line in stripped:
            starts.append(offset)
            offset += len(line) + 1
        return cls(stripped, tuple(starts), "\n".join(stripped))

    def line_at(self, position: int) -> int:
        """Index of the line holding ``position`` in ``joined``."""
        low, high = 0, len(self.starts) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.starts[middle] <= position:
                low = middle
            else:
                high = middle - 1
        return low

    def first_content_line(self, start: int, end: int) -> int:
        """The first line with text in ``joined[start:end]`` (a match may
        begin with the blank lines before it)."""
        offset = start + (len(self.joined[start:end]) - len(self.joined[start:end].lstrip()))
        return self.line_at(offset)


class BoilerplateReader:
    """Finds signatures, disclaimers and reply headers in a body's lines."""

    def __init__(self, disclaimers: Sequence[str] = ()) -> None:
        self._agency_disclaimers = tuple(
            key for key in (_SPACES.sub(" ", d).strip().casefold() for d in disclaimers) if key
        )

    def reply_header(self, lines: Sequence[str]) -> int | None:
        """Index of the first line of a reply header block that names a sender."""
        text = _Text.of(lines)
        for match in _LIBRARY.HEADER_REGEX.finditer(text.joined):
            block = match.group()
            if _HEADER_NAMES_SENDER.search(block) and block.count("\n") >= 1:
                return text.first_content_line(match.start(), match.end())
        return None

    def signature_start(self, lines: Sequence[str]) -> int | None:
        """Index of the line the sender's signature starts on, if any.

        ``lines`` are the sender's own lines (quoted ones given as blank)."""
        text = _Text.of(lines)
        position = 0
        # Each match runs to the end of the text, so look again after a
        # rejected one, from the line after its first.
        while (match := _LIBRARY.SIGNATURE_REGEX.search(text.joined, position)) is not None:
            first = text.first_content_line(match.start(), match.end())
            if self._is_sign_off_block(text.lines, first):
                return first
            if first + 1 >= len(text.lines):
                return None
            position = text.starts[first + 1]
        return None

    def _is_sign_off_block(self, lines: Sequence[str], first: int) -> bool:
        opening = lines[first]
        if opening.strip("-_ ") == "" or opening.casefold().startswith(_FOOTERS):
            return True  # a delimiter line or a mobile footer: no doubt
        if len(opening.split()) > SIGN_OFF_WORDS:
            return False
        sign_off = _SIGN_OFF.match(opening)
        if sign_off is not None:
            after = _WORD.findall(opening[sign_off.end() :])
            if len(after) > SIGN_OFF_NAME_WORDS or not all(w[0].isupper() for w in after):
                return False  # "Thanks, got it." opens a message, not a signature
        rest = [line for line in lines[first + 1 :] if line]
        body = [line for line in rest if not self._starts_disclaimer(line)]
        return len(body) <= SIGNATURE_LINES

    def _starts_disclaimer(self, line: str) -> bool:
        return bool(_DISCLAIMER_OPENERS.match(line))

    def disclaimer_lines(self, lines: Sequence[str]) -> frozenset[int]:
        """Indexes of the lines that belong to a disclaimer paragraph."""
        found: set[int] = set()
        for first, last in _paragraphs(lines):
            paragraph = " ".join(line.strip() for line in lines[first:last])
            if self._is_disclaimer(paragraph):
                found.update(range(first, last))
        for first, last in self._agency_disclaimer_spans(lines):
            found.update(range(first, last))
        return frozenset(found)

    def _is_disclaimer(self, paragraph: str) -> bool:
        opens_like_one = bool(
            _DISCLAIMER_OPENERS.match(paragraph)
            or _LIBRARY.DISCLAIMERS_REGEX.match("\n" + paragraph)
        )
        if not opens_like_one:
            return False
        cues = {m.group().casefold() for m in _LEGAL_CUES.finditer(paragraph)}
        return len(cues) >= _LEGAL_CUES_NEEDED

    def _agency_disclaimer_spans(self, lines: Sequence[str]) -> Iterable[tuple[int, int]]:
        """Lines covered by one of the agency's disclaimers, whatever the wrapping."""
        if not self._agency_disclaimers:
            return
        words: list[str] = []
        word_lines: list[int] = []
        for index, line in enumerate(lines):
            for word in line.split():
                words.append(word.casefold())
                word_lines.append(index)
        joined = " ".join(words)
        # Character offset of each word in ``joined``, to map a hit to lines.
        offsets: list[int] = []
        position = 0
        for word in words:
            offsets.append(position)
            position += len(word) + 1
        for disclaimer in self._agency_disclaimers:
            start = joined.find(disclaimer)
            while start >= 0:
                end = start + len(disclaimer)
                covered = [word_lines[i] for i, o in enumerate(offsets) if start <= o < end]
                if covered:
                    yield covered[0], covered[-1] + 1
                start = joined.find(disclaimer, end)


def _paragraphs(lines: Sequence[str]) -> Iterable[tuple[int, int]]:
    """(first, end) line indexes of each run of non-blank lines."""
    first: int | None = None
    for index, line in enumerate(lines):
        if line.strip():
            if first is None:
                first = index
        elif first is not None:
            yield first, index
            first = None
    if first is not None:
        yield first, len(lines)


def is_sentence(line: str) -> bool:
    """A line of prose ("P.S. Maria's new cell is 773-555-0199."), which is
    the sender's message even under the sign-off, not part of the signature:
    long, or mostly words in lower case (a signature's lines are names,
    titles and places, in capitals, and contact details)."""
    if line.strip().casefold().startswith(_FOOTERS):
        return False  # "Sent from my iPhone"
    words = _WORD.findall(_WEB_ADDRESS.sub(" ", _EMAIL.sub(" ", line)))
    if len(words) >= SENTENCE_WORDS:
        return True
    lower = sum(1 for word in words if word[0].islower())
    return len(words) >= SHORT_SENTENCE_WORDS and 2 * lower >= len(words)


# -- the sender's own contact lines -------------------------------------------------

# Words of a signature's contact line: "Office: ... | Fax: ...", "C 312...".
_CONTACT_LABELS = frozenset(
    """phone ph tel telephone t p o c m f e w d cell cellphone mobile mob office direct
    fax main desk work email e-mail mail web website www ext x and or tty tdd voice
    text sms toll free hotline línea teléfono tel. celular oficina correo móvil address
    addr mailing location dirección""".split()
)
_WORD = re.compile(r"[^\W\d_][\w'’.\-]*")
# A web address on a contact line ("www.example.org", "example.org/help").
_WEB_ADDRESS = re.compile(r"(?:https?://)?(?:[\w\-]+\.)+[a-z]{2,}(?:/\S*)?", re.IGNORECASE)


def is_contact_line(rest: str, names: Sequence[str] = ()) -> bool:
    """True when ``rest`` (a signature line without its phone numbers,
    email and street addresses) is only labels, web addresses, the agency's
    ``names`` and punctuation: the sender's own contact line, not a sentence
    about someone's number."""
    rest = _WEB_ADDRESS.sub(" ", rest).casefold()
    for name in names:
        if name.strip():
            rest = rest.replace(name.strip().casefold(), " ")
    words = [w.rstrip(".:") for w in _WORD.findall(rest)]
    return all(w in _CONTACT_LABELS for w in words)
