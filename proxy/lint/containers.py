"""Files inside files: zip archives, winmail.dat, uuencoded blocks, calendar
attachments.

A recipient's mail program opens all of these: it lists a zip's files,
unpacks Outlook's winmail.dat into the message and its attachments, shows
a uuencoded block in a plain-text body as an attachment, and a calendar
program shows a file attached inside an invitation. So Tactful opens them
too, and hands each file inside back to :mod:`proxy.lint.parse` to be read
like any attachment.

Opening is bounded: the caller says how many files and bytes may still be
unpacked, and a file in a zip that unpacks far larger than it is packed
stops being read as soon as it does (a zip bomb never gets the chance to
fill memory). Whatever is over a limit, encrypted or damaged is a plain
reason in :attr:`Opened.problems`, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO

from compressed_rtf import decompress as decompress_rtf
from tnefparse.tnef import TNEF
from tnefparse.tnef import logger as tnef_log

# Plain reasons, shared with tests and the README.
ZIP_DAMAGED = "damaged zip file"
ZIP_PASSWORD = "password-protected zip file"
ZIP_TOO_MANY = "zip file with too many files to scan"
ZIP_TOO_LARGE = "zip file too large to unpack and scan"
ZIP_BOMB = "zip file packed suspiciously tightly (it may be a zip bomb)"
TNEF_DAMAGED = "damaged winmail.dat (Outlook attachment bundle)"
TNEF_TOO_MANY = "winmail.dat with too many files to scan"
TNEF_TOO_LARGE = "winmail.dat too large to unpack and scan"
UUENCODE_DAMAGED = "damaged uuencoded file in the message text"
CALENDAR_DAMAGED = "damaged file attached inside a calendar or contact file"

# A TNEF stream: signature and key, then attributes framed as level (1),
# id (2), type (2), length (4), the data, checksum (2).
_TNEF_HEADER = 6
_TNEF_FRAME = 11
# A file this small is never a bomb, however tightly packed (a page of
# spaces packs 1000:1).
RATIO_FLOOR = 1024 * 1024
_CHUNK = 64 * 1024
MAX_MEMBER_NAME = 200

_UU_BEGIN = re.compile(r"^begin(-base64)? +[0-7]{3,4} +(\S.*?)\s*$")
_UU_END = re.compile(r"^end\s*$")
_B64_END = re.compile(r"^====\s*$")
_CAL_START = re.compile(r"\A\s*BEGIN:(VCALENDAR|VCARD)\b", re.IGNORECASE)
_CAL_LINE = re.compile(r"^(?P<name>[A-Za-z0-9-]+)(?P<params>(?:;[^:]*)?):(?P<value>.*)$")
_CAL_BASE64 = re.compile(r";ENCODING=(?:B|BASE64)(?:;|$)", re.IGNORECASE)
_RTF_START = re.compile(r"\A\s*\{\\rtf", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Member:
    """One file found inside a container; ``name`` is safe to show."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Opened:
    """The files a container held (as far as the limits allowed), and the
    plain reasons for whatever could not be unpacked."""

    members: tuple[Member, ...] = ()
    problems: tuple[str, ...] = ()


class _OverLimit(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def member_name(raw: object, fallback: str = "unnamed") -> str:
    """A path inside a container, reduced to printable text of bounded length."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    text = str(raw or "").replace("\\", "/").strip("/\x00 ")
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(printable.split())[:MAX_MEMBER_NAME] or fallback


# -- zip -----------------------------------------------------------------------


def open_zip(payload: bytes, *, max_members: int, max_bytes: int, max_ratio: int) -> Opened:
    """Every file in a zip archive, within the limits.

    ``max_members`` and ``max_bytes`` are what this message may still
    unpack; ``max_ratio`` is the most a file may unpack to per packed byte
    once it is larger than :data:`RATIO_FLOOR`.
    """
    members: list[Member] = []
    problems: list[str] = []
    try:
        archive = zipfile.ZipFile(BytesIO(payload))
    # zipfile fails in many ways on damaged or hostile files; any of them
    # means the same thing to the worker.
    except Exception:
        return Opened(problems=(ZIP_DAMAGED,))
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if len(infos) > max_members:
            problems.append(ZIP_TOO_MANY)
            infos = infos[:max_members]
        spent = 0
        for info in infos:
            if info.flag_bits & 0x1:
                problems.append(ZIP_PASSWORD)
                continue
            try:
                data = _read_member(archive, info, max_bytes - spent, max_ratio)
            except _OverLimit as over:
                problems.append(over.reason)
                if over.reason == ZIP_TOO_LARGE:
                    break
                continue
            except Exception:
                problems.append(ZIP_DAMAGED)
                continue
            spent += len(data)
            members.append(Member(member_name(info.filename), data))
    return Opened(tuple(members), tuple(dict.fromkeys(problems)))


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, ratio: int) -> bytes:
    """Unpack one file, stopping as soon as it is over a limit: the sizes in
    the archive's directory are the sender's claim, not a promise."""
    ceiling = max(info.compress_size, 1) * ratio
    out = bytearray()
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            out += chunk
            if len(out) > limit:
                raise _OverLimit(ZIP_TOO_LARGE)
            if len(out) > RATIO_FLOOR and len(out) > ceiling:
                raise _OverLimit(ZIP_BOMB)
    return bytes(out)


# -- winmail.dat ---------------------------------------------------------------


def open_tnef(payload: bytes, *, max_members: int, max_bytes: int) -> Opened:
    """The message text (plain, HTML and RTF) and the attachments Outlook
    packed into a winmail.dat. An attached Outlook message is itself a
    winmail.dat stream and comes back as a member to be opened in turn."""
    if not _tnef_framing_complete(payload):
        return Opened(problems=(TNEF_DAMAGED,))
    complaints = _Complaints()
    tnef_log.addHandler(complaints)
    try:
        tnef = TNEF(payload, do_checksum=False)
        found = list(_tnef_files(tnef))
    # tnefparse raises assorted errors (and asserts) on damaged streams.
    except Exception:
        return Opened(problems=(TNEF_DAMAGED,))
    finally:
        tnef_log.removeHandler(complaints)
    if complaints.heard:
        # tnefparse logs, rather than raises, when a block of properties is
        # damaged, and carries on without what was in it.
        return Opened(problems=(TNEF_DAMAGED,))
    problems: list[str] = []
    if len(found) > max_members:
        problems.append(TNEF_TOO_MANY)
        found = found[:max_members]
    members: list[Member] = []
    spent = 0
    for member in found:
        if spent + len(member.data) > max_bytes:
            problems.append(TNEF_TOO_LARGE)
            break
        spent += len(member.data)
        members.append(member)
    return Opened(tuple(members), tuple(problems))


class _Complaints(logging.Handler):
    """Notes whether tnefparse warned while reading one stream."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.heard = False

    def emit(self, record: logging.LogRecord) -> None:
        self.heard = True


def _tnef_framing_complete(payload: bytes) -> bool:
    """Every attribute's declared length fits, and they fill the stream.

    tnefparse quietly stops at, or cuts short, an attribute that runs past
    the end; a reader that does not would see more than it did.
    """
    offset = _TNEF_HEADER
    while offset < len(payload):
        if offset + _TNEF_FRAME > len(payload):
            return False
        (length,) = struct.unpack_from("<I", payload, offset + 5)
        offset += _TNEF_FRAME + length
    return offset == len(payload) and len(payload) > _TNEF_HEADER


def _tnef_files(tnef: TNEF) -> Iterator[Member]:
    for prop in tnef.msgprops:
        if prop.name == TNEF.ATTSUBJECT and isinstance(prop.data, str) and prop.data.strip():
            yield Member("subject.txt", prop.data.encode("utf-8"))
    if tnef.body:
        yield Member("message text.txt", _as_bytes(tnef.body))
    if tnef.htmlbody:
        yield Member("message text.html", _as_bytes(tnef.htmlbody))
    compressed = getattr(tnef, "_rtfbody", None)
    if compressed:
        yield Member("message text.rtf", decompress_rtf(bytes(compressed) + b"\x00"))
    for attachment in tnef.attachments:
        try:
            name = attachment.long_filename()
        except Exception:
            name = ""
        yield Member(member_name(name), _as_bytes(attachment.data))


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return b""


# -- uuencoded blocks in a plain-text body -------------------------------------


def uuencoded_files(text: str) -> tuple[list[Member], list[str]]:
    """Files uuencoded into ``text`` (``begin 644 name`` ... ``end``), which
    mail programs show as attachments; also ``begin-base64`` blocks."""
    members: list[Member] = []
    problems: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = _UU_BEGIN.match(lines[i])
        if start is None:
            i += 1
            continue
        is_base64, name = start.group(1) is not None, start.group(2)
        end = _B64_END if is_base64 else _UU_END
        body: list[str] = []
        i += 1
        while i < len(lines) and not end.match(lines[i]):
            body.append(lines[i])
            i += 1
        closed = i < len(lines)
        data = _decode_block(body, is_base64)
        if data is None or not closed:
            problems.append(UUENCODE_DAMAGED)
        if data is not None:
            members.append(Member(member_name(name), data))
        i += 1
    return members, list(dict.fromkeys(problems))


def _decode_block(lines: list[str], is_base64: bool) -> bytes | None:
    try:
        if is_base64:
            return base64.b64decode("".join(line.strip() for line in lines), validate=True)
        out = bytearray()
        for line in lines:
            if not line.strip() or line.strip() == "`":
                continue
            out += binascii.a2b_uu(line)
        return bytes(out)
    except (binascii.Error, ValueError):
        return None


# -- calendar and contact files -------------------------------------------------


def is_calendar(text: str) -> bool:
    return _CAL_START.match(text) is not None


def calendar_text(text: str) -> str:
    """An iCalendar or vCard file as a calendar program shows it: folded
    lines joined, ``\\n`` and ``\\,`` escapes undone, quoted-printable
    values (vCard 2.1) decoded. A value split across a fold ("123-45-67" /
    " 89") is one value to the reader, so it must be one to the scan."""
    unfolded = re.sub(r"\r?\n[ \t]", "", text.replace("\r\n", "\n"))
    out: list[str] = []
    lines = unfolded.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _CAL_LINE.match(line)
        if match is not None and "QUOTED-PRINTABLE" in match.group("params").upper():
            value = match.group("value")
            while value.endswith("=") and i + 1 < len(lines):  # soft line break
                i += 1
                value = value[:-1] + lines[i]
            line = f"{match.group('name')}{match.group('params')}:{_quoted_printable(value)}"
        out.append(_unescape(line))
        i += 1
    return "\n".join(out)


def calendar_files(text: str) -> tuple[list[Member], list[str]]:
    """Files attached inline in an iCalendar or vCard file (``ATTACH`` or
    ``PHOTO`` with ``ENCODING=BASE64`` or ``ENCODING=b``)."""
    members: list[Member] = []
    problems: list[str] = []
    unfolded = re.sub(r"\r?\n[ \t]", "", text.replace("\r\n", "\n"))
    for line in unfolded.split("\n"):
        match = _CAL_LINE.match(line)
        if match is None:
            continue
        if _CAL_BASE64.search(match.group("params")) is None:
            continue
        try:
            data = base64.b64decode("".join(match.group("value").split()), validate=True)
        except (binascii.Error, ValueError):
            problems.append(CALENDAR_DAMAGED)
            continue
        name = re.search(r'(?:FILENAME|X-FILENAME)="?([^";:]+)', match.group("params"), re.I)
        members.append(Member(member_name(name.group(1) if name else "", "attached file"), data))
    return members, list(dict.fromkeys(problems))


def _quoted_printable(value: str) -> str:
    raw = re.sub(r"=([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value).encode(
        "latin-1", "replace"
    )
    return raw.decode("utf-8", "replace") if _is_utf8(raw) else raw.decode("cp1252", "replace")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _unescape(line: str) -> str:
    return re.sub(r"\\([nN,;:\\])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), line)


# -- RTF -----------------------------------------------------------------------


def is_rtf(text: str) -> bool:
    return _RTF_START.match(text) is not None


_RTF_SKIP_GROUP = re.compile(r"\{\\\*[^{}]*\}")
_RTF_HEX = re.compile(r"\\'([0-9a-fA-F]{2})")
_RTF_UNICODE = re.compile(r"\\u(-?\d+)\??")
_RTF_BREAK = re.compile(r"\\(?:par|line|tab|cell|row)\b ?")
_RTF_WORD = re.compile(r"\\[A-Za-z]+-?\d* ?")
_RTF_SYMBOL = {"\\\\": "\ue000", "\\{": "\ue001", "\\}": "\ue002"}


def rtf_text(text: str) -> str:
    """The words of an RTF document (Outlook's "rich text" body): control
    words dropped, escaped characters decoded. Simple, but a number split
    by formatting (``12{\\b 3}``) comes out whole, as the reader sees it."""
    for symbol, stand_in in _RTF_SYMBOL.items():
        text = text.replace(symbol, stand_in)
    previous = None
    while previous != text:  # ignorable destinations may nest
        previous = text
        text = _RTF_SKIP_GROUP.sub("", text)
    text = _RTF_HEX.sub(lambda m: bytes([int(m.group(1), 16)]).decode("cp1252", "replace"), text)
    text = _RTF_UNICODE.sub(lambda m: chr(int(m.group(1)) % 0x10000), text)
    text = _RTF_BREAK.sub("\n", text)
    text = _RTF_WORD.sub("", text)
    text = text.replace("{", "").replace("}", "")
    for symbol, stand_in in _RTF_SYMBOL.items():
        text = text.replace(stand_in, symbol[1])
    return text
