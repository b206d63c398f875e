"""Phone numbers as E.164, the one form the registry and the provider use.

Workers and programs write numbers every way ("(312) 555-0142",
"312.555.0142", "+1 312 555 0142"); matching them against the consent
registry only works on one canonical form. ``phonenumbers`` (Google's
libphonenumber) knows which numbers are valid where, so a typo is a clear
error instead of a text to a stranger.
"""

from __future__ import annotations

from proxy.lint.recipients import to_e164

SMS_PREFIX = "sms:"


def e164(text: str, region: str) -> str | None:
    """``text`` as E.164, or ``None`` when it is not a valid phone number.

    ``region`` (``agency.default_region``) applies to numbers written
    without a country code.
    """
    cleaned = text.strip()
    if not cleaned or len(cleaned) > 40:
        return None
    return to_e164(cleaned, region)


def envelope_address(number: str) -> str:
    """How a spooled text names its recipient (``sms:+13125550142``), so
    the review queue and the scheduler can tell texts from email."""
    return f"{SMS_PREFIX}{number}"


def number_of(address: str) -> str | None:
    """The E.164 number of a ``sms:`` envelope address, else ``None``."""
    if not address.startswith(SMS_PREFIX):
        return None
    return address[len(SMS_PREFIX) :] or None
