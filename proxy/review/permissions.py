"""Who may do what in the review app, in one table.

Kept apart from the handlers so the permission tests can walk the whole
matrix, and so a new page cannot forget to ask.
"""

from __future__ import annotations

from enum import StrEnum

from proxy.accounts.users import Role


class Permission(StrEnum):
    VIEW_QUEUE = "view the queue"
    READ_CONTENT = "read held messages"
    DECIDE = "release or return messages"
    DELETE = "delete messages"
    VIEW_AUDIT = "view the audit trail"
    VIEW_CONSENT = "view the consent registry"
    EDIT_CONSENT = "change the consent registry"
    VIEW_DISCLOSURES = "print a client's accounting of disclosures"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.REVIEWER: frozenset(
        {
            Permission.VIEW_QUEUE,
            Permission.READ_CONTENT,
            Permission.DECIDE,
            Permission.VIEW_CONSENT,
            Permission.EDIT_CONSENT,
        }
    ),
    Role.ADMIN: frozenset(Permission),
    # Auditors check what was done; they see the queue and the trail but
    # not message text, and they change nothing.
    Role.AUDITOR: frozenset(
        {
            Permission.VIEW_QUEUE,
            Permission.VIEW_AUDIT,
            Permission.VIEW_CONSENT,
            Permission.VIEW_DISCLOSURES,
        }
    ),
    Role.WORKER: frozenset(),
}

REVIEW_ROLES = frozenset({Role.REVIEWER, Role.ADMIN, Role.AUDITOR})


def allowed(role: Role, permission: Permission) -> bool:
    return permission in GRANTS.get(role, frozenset())
