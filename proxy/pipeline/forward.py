"""Forwarding a judged message to its channel's upstream.

Every channel ends the same way: the bytes the policy allowed go to an
upstream (the agency's mail server, the SMS provider) now, from the
pipeline, or later, from the scheduler. A :class:`Forwarder` is that last
step for one channel; the composition root hands the pipeline and the
scheduler one per channel, so neither sniffs addresses to choose.

A :class:`Forwarded` carries the upstream's answer twice: as a
:class:`~proxy.outbound.relay.DeliveryResult` (accepted, temporary or
permanent, with a code), which is how the spool records and retries
every channel alike, and as the upstream's own ``reply``, which the front
door of that channel relays faithfully (an SMTP reply, a provider's JSON).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from proxy.lint.subject_tags import strip_subject_tags
from proxy.outbound.dkim_sign import DkimError, DkimSigner
from proxy.outbound.header_safety import (
    HeaderInjectionError,
    safe_header_value,
    strip_subject_tags_in_raw,
)
from proxy.outbound.relay import DeliveryResult, Upstream

FINDINGS_HEADER = "X-Tactful-Findings"
# Up to this size a message is rewritten and signed on the event loop
# (about 1 ms at 64 KiB), which costs less than handing it to a thread; a
# larger one would stall every other session, so it goes to a thread.
INLINE_PREPARE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What the upstream said about one message."""

    status: DeliveryResult  # the spool's vocabulary: accepted / 4xx / 5xx
    reply: object = None  # the channel's own answer, for its front door

    @property
    def accepted(self) -> bool:
        return self.status.accepted


class Forwarder(Protocol):
    """One channel's way of handing a message to its upstream now."""

    async def forward(
        self, sender: str, recipients: Sequence[str], raw: bytes, codes: Sequence[str]
    ) -> Forwarded: ...


class OutgoingError(Exception):
    """The message cannot be made ready to send (e.g. no single From to
    sign); the text is safe to show and to log."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """The last steps before the upstream, shared by the proxy's direct
    path and the scheduler's deferred and released mail."""

    upstream: Upstream
    signer: DkimSigner | None
    findings_header: bool

    def prepare(self, raw: bytes, codes: Sequence[str]) -> bytes:
        """Strip Tactful's subject tags, add the codes header, sign last.

        Raises :class:`OutgoingError` for every reason the bytes cannot be
        made safe to send, so both callers handle one error."""
        try:
            data = _crlf(strip_subject_tags_in_raw(raw, strip_subject_tags))
            if self.findings_header and codes:
                value = safe_header_value(", ".join(sorted(set(codes))), name=FINDINGS_HEADER)
                data = f"{FINDINGS_HEADER}: {value}\r\n".encode() + data
            if self.signer is not None:
                data = self.signer.sign(data)
        except (DkimError, HeaderInjectionError) as exc:
            raise OutgoingError(str(exc)) from None
        return data

    async def send(
        self, sender: str, recipients: Sequence[str], raw: bytes, codes: Sequence[str]
    ) -> DeliveryResult:
        if len(raw) <= INLINE_PREPARE_BYTES:
            data = self.prepare(raw, codes)
        else:
            data = await asyncio.to_thread(self.prepare, raw, codes)
        return await self.upstream.deliver(sender, recipients, data)


def _crlf(raw: bytes) -> bytes:
    """CRLF line ends throughout, as SMTP sends them and DKIM signs them."""
    if raw.count(b"\n") == raw.count(b"\r\n"):  # no copy: a 10 MB copy stalls the loop
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class EmailForwarder:
    """Email: tag-stripped, coded, DKIM-signed, then to the mail server."""

    def __init__(self, outbound: Outbound) -> None:
        self._outbound = outbound

    async def forward(
        self, sender: str, recipients: Sequence[str], raw: bytes, codes: Sequence[str]
    ) -> Forwarded:
        try:
            delivery = await self._outbound.send(sender, recipients, raw, codes)
        except OutgoingError as exc:
            delivery = DeliveryResult(False, 554, "5.6.0", f"Message not sent: {exc}")
        return Forwarded(delivery, delivery)
