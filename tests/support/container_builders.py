"""Build the containers a mail program opens: zip files, Outlook's
winmail.dat (TNEF), uuencoded blocks and calendar files, byte for byte.

TNEF is written here from its published layout (MS-OXTNEF): a signature,
then attributes, each ``level, id, type, length, data, checksum``; the
message body and attachments use the plain TNEF attributes Outlook writes,
and the RTF body is a MAPI property holding compressed RTF.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import zipfile
from collections.abc import Sequence

from compressed_rtf import compress

TNEF_SIGNATURE = 0x223E9F78
_LEVEL_MESSAGE = 1
_LEVEL_ATTACHMENT = 2
# attribute id (low 16 bits) and type (high 16 bits) of each TNEF attribute
_ATT_TNEF_VERSION = (0x9006, 0x0008)
_ATT_OEM_CODEPAGE = (0x9007, 0x0006)
_ATT_SUBJECT = (0x8004, 0x0001)
_ATT_BODY = (0x800C, 0x0002)
_ATT_MAPI_PROPS = (0x9003, 0x0006)
_ATT_ATTACH_REND_DATA = (0x9002, 0x0006)
_ATT_ATTACH_TITLE = (0x8010, 0x0001)
_ATT_ATTACH_DATA = (0x800F, 0x0006)
_PT_BINARY = 0x0102
_PR_RTF_COMPRESSED = 0x1009


def zip_bytes(
    files: Sequence[tuple[str, bytes]],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    password_protected: Sequence[str] = (),
) -> bytes:
    """A zip file; names in ``password_protected`` get the "encrypted" flag
    (their bytes are left as they are: Tactful must not try to read them)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in files:
            archive.writestr(name, data)
    raw = bytearray(out.getvalue())
    for name in password_protected:
        _set_encrypted_flag(raw, name.encode())
    return bytes(raw)


def _set_encrypted_flag(raw: bytearray, name: bytes) -> None:
    """Set bit 0 of the flags in the local header and the central directory."""
    for signature, flag_at, name_len_at, name_at in (
        (b"PK\x03\x04", 6, 26, 30),
        (b"PK\x01\x02", 8, 28, 46),
    ):
        start = 0
        while (at := raw.find(signature, start)) != -1:
            start = at + 4
            length = struct.unpack_from("<H", raw, at + name_len_at)[0]
            if bytes(raw[at + name_at : at + name_at + length]) == name:
                flags = struct.unpack_from("<H", raw, at + flag_at)[0]
                struct.pack_into("<H", raw, at + flag_at, flags | 0x1)


def _attribute(level: int, attribute: tuple[int, int], data: bytes) -> bytes:
    name, kind = attribute
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def _mapi_binary(prop: int, value: bytes) -> bytes:
    padding = b"\x00" * (-len(value) % 4)
    return struct.pack("<IHHII", 1, _PT_BINARY, prop, 1, len(value)) + value + padding


def tnef_bytes(
    *,
    subject: str | None = None,
    body: str | None = None,
    rtf: str | None = None,
    attachments: Sequence[tuple[str, bytes]] = (),
) -> bytes:
    """A winmail.dat as Outlook writes it, with a plain and/or RTF body."""
    out = struct.pack("<IH", TNEF_SIGNATURE, 0x0001)
    out += _attribute(_LEVEL_MESSAGE, _ATT_TNEF_VERSION, struct.pack("<I", 0x00010000))
    out += _attribute(_LEVEL_MESSAGE, _ATT_OEM_CODEPAGE, struct.pack("<II", 1252, 0))
    if subject is not None:
        out += _attribute(_LEVEL_MESSAGE, _ATT_SUBJECT, subject.encode("cp1252") + b"\x00")
    if body is not None:
        out += _attribute(_LEVEL_MESSAGE, _ATT_BODY, body.encode("cp1252"))
    if rtf is not None:
        props = _mapi_binary(_PR_RTF_COMPRESSED, compress(rtf.encode("cp1252")))
        out += _attribute(_LEVEL_MESSAGE, _ATT_MAPI_PROPS, props)
    for name, data in attachments:
        out += _attribute(_LEVEL_ATTACHMENT, _ATT_ATTACH_REND_DATA, bytes(14))
        out += _attribute(_LEVEL_ATTACHMENT, _ATT_ATTACH_TITLE, name.encode() + b"\x00")
        out += _attribute(_LEVEL_ATTACHMENT, _ATT_ATTACH_DATA, data)
    return out


def uuencode(name: str, data: bytes, mode: str = "644") -> str:
    """A uuencoded block, as ``uuencode`` and old mail programs write it."""
    lines = [f"begin {mode} {name}"]
    for at in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[at : at + 45]).decode("ascii").rstrip("\n"))
    lines += ["`", "end"]
    return "\n".join(lines) + "\n"


def calendar(description: str, *, attachment: bytes | None = None, fold: int = 20) -> str:
    """An iCalendar invitation whose DESCRIPTION is folded every ``fold``
    characters (RFC 5545 folds at 75 octets; any width is legal) and escaped."""
    escaped = description.replace("\\", "\\\\").replace(",", "\\,").replace("\n", "\\n")
    value = f"DESCRIPTION:{escaped}"
    folded = "\r\n ".join(value[i : i + fold] for i in range(0, len(value), fold))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Example//Calendar//EN",
        "BEGIN:VEVENT",
        "UID:visit-1@example.org",
        "DTSTART:20261124T150000Z",
        "SUMMARY:Home visit",
        folded,
    ]
    if attachment is not None:
        encoded = base64.b64encode(attachment).decode()
        params = "FMTTYPE=text/plain;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=notes.txt"
        line = f"ATTACH;{params}:{encoded}"
        lines.append("\r\n ".join(line[i : i + 70] for i in range(0, len(line), 70)))
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def mapi_block(tnef: bytes) -> tuple[int, int] | None:
    """Where the data of the first MAPI-properties attribute is, in a TNEF
    stream from :func:`tnef_bytes` (start, end), so a test can damage it."""
    offset = 6
    while offset + 11 <= len(tnef):
        name, _kind, length = struct.unpack_from("<HHI", tnef, offset + 1)
        if name == _ATT_MAPI_PROPS[0]:
            return offset + 9, offset + 9 + length
        offset += 11 + length
    return None
