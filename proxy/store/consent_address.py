"""What counts as a client's email address or phone number.

The consent registry matches recipients by address, so an address is
checked and brought to one spelling (lower-case email, E.164 phone number)
wherever it enters: the CSV import, ``tactful consent`` and the review
app's consent form. Errors say what is wrong without repeating the address,
because they end up in terminals and logs.
"""

from __future__ import annotations

import re

import phonenumbers

from proxy.core.consent import Channel

# The practical address subset mail servers accept: a dot-atom local part and
# a host name with a top-level domain. Quoted local parts and IP literals are
# legal but never appear in a client registry, and accepting them would only
# hide typos.
_LOCAL_PART = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class AddressError(ValueError):
    """An address is not a usable email address or phone number.

    The text says what is wrong without repeating the address.
    """


def normalize_email(value: str) -> str:
    """Lower-case and check an email address; raise :class:`AddressError`."""
    address = value.strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise AddressError("is not an email address (expected name@domain.example)")
    if len(address) > 254 or len(local) > 64:
        raise AddressError("is too long to be an email address")
    if not _LOCAL_PART.fullmatch(local):
        raise AddressError(
            "is not a valid email address: the part before '@' has spaces or characters "
            "mail servers do not accept"
        )
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise AddressError("is not a valid email address: the domain is not valid") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise AddressError(
            "is not a valid email address: the domain after '@' must look like example.org"
        )
    if labels[-1].isdigit():
        raise AddressError("is not a valid email address: the domain must end in a name")
    return f"{local}@{domain}"


def normalize_phone(value: str, default_region: str = "US") -> str:
    """Parse a phone number (national numbers use ``default_region``) to E.164."""
    try:
        number = phonenumbers.parse(value.strip(), default_region.upper())
    except phonenumbers.NumberParseException:
        raise AddressError(
            "is not a phone number (write it like +1 312 555 0142 or (312) 555-0142)"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise AddressError(
            f"is not a valid phone number for region {default_region.upper()}; "
            "include the country code, e.g. +1 312 555 0142"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def address_channel(value: str) -> Channel:
    """The channel an address belongs to, judged by its shape."""
    return Channel.EMAIL if "@" in value else Channel.SMS


def normalize_address(value: str, channel: Channel, default_region: str = "US") -> str:
    if channel is Channel.EMAIL:
        return normalize_email(value)
    return normalize_phone(value, default_region)
