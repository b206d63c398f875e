"""Worker-supplied subject tags: ``[urgent]`` and ``[override: reason]``.

Workers steer the policy from their ordinary mail client, whose only free-form
field besides the body is the subject. The tags are instructions to Tactful,
not part of the message, so they are parsed out before scanning and stripped
again before relaying (the SMTP proxy calls :func:`strip_subject_tags`).
"""

from __future__ import annotations

import re

from proxy.core.message import SubjectTags

# Our own tag syntax, not a standard format, so a pattern is the right tool.
_URGENT = r"\[\s*urgent\s*\]"
_OVERRIDE = r"\[\s*override\s*(?::(?P<reason>[^\]]*))?\]"
_TAG = re.compile(rf"{_URGENT}|{_OVERRIDE}", re.IGNORECASE)
# A run of tags with the whitespace around it collapses to one space, so
# "Re: [urgent] Visit" reads "Re: Visit" and not "Re:  Visit".
_TAG_RUN = re.compile(rf"(?:\s*(?:{_URGENT}|{_OVERRIDE})\s*)+", re.IGNORECASE)


def parse_subject_tags(subject: str) -> tuple[str, SubjectTags]:
    """The subject without its tags, and what the tags asked for.

    ``override_reason`` is ``""`` (not ``None``) for an override without a
    reason, so the policy can tell the worker to add one.
    """
    urgent = False
    reasons: list[str] = []
    overridden = False
    for match in _TAG.finditer(subject):
        if match.group(0)[1:].lstrip().lower().startswith("urgent"):
            urgent = True
            continue
        overridden = True
        reason = " ".join((match.group("reason") or "").split())
        if reason:
            reasons.append(reason)
    tags = SubjectTags(urgent=urgent, override_reason="; ".join(reasons) if overridden else None)
    return strip_subject_tags(subject), tags


def strip_subject_tags(subject: str) -> str:
    """The subject as the recipient should see it: every tag removed."""
    return _TAG_RUN.sub(" ", subject).strip()
