"""MIME that one mail program may read one way and another program another.

The parser reads the first ``Content-Type`` of a part; some mail programs
read the last. A part labelled ``image/png`` and then ``text/plain`` is a
picture to Tactful and a page of text (with a client's Social Security
number in it) to the recipient. The same goes for two transfer encodings
(base64 to one reader, plain text to the other), two boundaries (different
parts) and two charsets (different characters).

Tactful does not guess which reading the recipient's program will pick: a
part read two ways is reported, and the policy holds it like any other part
it could not read. Only disagreements count: the same header or parameter
repeated with the same value has one reading.
"""

from __future__ import annotations

from email.message import Message

# Plain words for the worker; the headers' names mean nothing to them.
AMBIGUOUS = (
    "part of the message is labelled in two conflicting ways, so mail programs could "
    "show it differently"
)

# Headers that decide how a part is read: its type (and boundary, charset
# and name), its transfer encoding, and whether it is shown or attached.
_DECIDING_HEADERS = ("content-type", "content-transfer-encoding", "content-disposition")
# Of those, the ones whose parameters also decide the reading.
_HEADERS_WITH_PARAMETERS = ("content-type", "content-disposition")


def read_two_ways(part: Message) -> bool:
    """True if a header or parameter deciding how ``part`` is read appears
    more than once with different values."""
    values: dict[str, set[str]] = {}
    for name, value in part.raw_items():
        key = name.strip().lower()
        if key in _DECIDING_HEADERS:
            values.setdefault(key, set()).add(_squash(str(value)))
    if any(len(seen) > 1 for seen in values.values()):
        return True
    return any(
        _duplicated_parameter(next(iter(values[key])))
        for key in _HEADERS_WITH_PARAMETERS
        if key in values
    )


def _squash(value: str) -> str:
    """Folding is not a difference; case may be (boundaries are case-sensitive)."""
    return " ".join(value.split())


def _duplicated_parameter(value: str) -> bool:
    """Two different values for one parameter in one header value.

    RFC 2231 forms are told apart (``name``, ``name*`` and each ``name*N``
    section are different forms), because mail programs legitimately send
    a plain ``filename`` beside an encoded ``filename*``; the same form twice
    is never legitimate.
    """
    seen: dict[str, str] = {}
    for item in _split_parameters(value)[1:]:
        name, equals, raw = item.partition("=")
        if not equals:
            continue
        form = "".join(name.split()).lower()
        text = _unquote(raw.strip())
        if form in seen and seen[form] != text:
            return True
        seen[form] = text
    return False


def _split_parameters(value: str) -> list[str]:
    """``type; a=1; b="x;y"`` -> ``["type", "a=1", 'b="x;y"']``: semicolons
    inside quotes (with backslash escapes) do not split."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    items.append("".join(current).strip())
    return items


def _unquote(value: str) -> str:
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        inner = value[1:-1]
        out: list[str] = []
        escaped = False
        for char in inner:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return value
