"""A Maildir directory as the upstream: for agencies whose mail server picks
up files, and for running Tactful without one.

A 250 from Tactful means the message is durable. The standard library's
:class:`mailbox.Maildir` already writes through ``tmp/`` and links into
``new/`` (so a reader never sees half a message) and fsyncs the file before
the link; what it does not do is fsync the directory, without which a crash
can forget the link itself. We add exactly that.

A Maildir has no envelope, and the envelope recipients include Bcc, which the
headers do not. So the outbox prepends ``Return-Path`` and one
``X-Tactful-Envelope-To`` per recipient, as local delivery agents do with
``Delivered-To``; added above any DKIM signature, they do not break it.
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import os
from collections.abc import Sequence
from pathlib import Path

from proxy.outbound.header_safety import HeaderInjectionError, line_ending, safe_header_value
from proxy.outbound.relay import DeliveryResult, RecipientResult

log = logging.getLogger(__name__)

ENVELOPE_TO_HEADER = "X-Tactful-Envelope-To"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def envelope_headers(sender: str, recipients: Sequence[str], linesep: bytes) -> bytes:
    """The envelope as header lines; raises HeaderInjectionError on a bad address."""
    lines = [b"Return-Path: <" + safe_header_value(sender, name="Return-Path").encode() + b">"]
    for rcpt in recipients:
        value = safe_header_value(rcpt, name=ENVELOPE_TO_HEADER)
        lines.append(f"{ENVELOPE_TO_HEADER}: {value}".encode())
    return b"".join(line + linesep for line in lines)


class MaildirOutbox:
    """Delivers by writing each message into a Maildir (created if missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"MaildirOutbox({str(self.path)!r})"

    def _store(self, data: bytes) -> str:
        """Blocking: add the message, then make its directory entry durable."""
        box = mailbox.Maildir(self.path, factory=None, create=True)
        key = box.add(data)  # writes tmp/, fsyncs the file, links into new/
        _fsync_dir(self.path / "new")
        return key

    async def deliver(self, sender: str, recipients: Sequence[str], data: bytes) -> DeliveryResult:
        if not recipients:
            return DeliveryResult(False, 554, "5.5.1", "No valid recipients")
        try:
            envelope = envelope_headers(sender, recipients, line_ending(data))
        except HeaderInjectionError:
            return DeliveryResult(False, 553, "5.1.3", "Bad address syntax")
        try:
            key = await asyncio.to_thread(self._store, envelope + data)
        except (OSError, mailbox.Error) as exc:
            # The directory is full, missing permissions, ...: an admin can
            # fix it and the client will retry; never claim delivery.
            log.error("cannot write to the maildir outbox: %s", type(exc).__name__)
            text = "Tactful could not store the message; it will be retried"
            per = {r: RecipientResult(451, "4.3.0", text) for r in recipients}
            return DeliveryResult(False, 451, "4.3.0", text, per)
        text = f"Stored as {key}"
        return DeliveryResult(
            True, 250, "2.0.0", text, {r: RecipientResult(250, "2.0.0", text) for r in recipients}
        )
