"""Who may do what: each user holds one or more roles, each role a fixed set of permissions.

- admin: the workspace's accounts (add users, set roles, end sessions), its detection models (install, compare,
  activate) and the clinic's figures;
- dentist: everything an assistant does, plus reviewing findings, issuing reports and the clinic's figures;
- assistant: patients, uploads, the plan steps' states (booked, done...), printing reviewed reports;
- researcher: de-identified exports only (no patient's name, ID, dates or notes).

A clinic owner who also treats patients holds two roles (``admin,dentist``). Pages and the API check the
same permissions (:func:`xrayreport.web.workspace.api_permission`, :func:`~.workspace.page_permission`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from ..errors import UnknownNameError, XrayReportError


class Role(StrEnum):
    ADMIN = "admin"
    DENTIST = "dentist"
    ASSISTANT = "assistant"
    RESEARCHER = "researcher"


class Permission(StrEnum):
    """What a route needs; the value reads in a sentence: 'your roles do not allow you to <value>'."""

    MANAGE_USERS = "manage user accounts"
    SEE_PATIENTS = "see patients, scans and findings"
    EDIT_PATIENTS = "add or correct patients"
    UPLOAD = "upload scans"
    REVIEW = "review findings"
    ISSUE_REPORTS = "issue reports"
    PRINT_REPORTS = "print reviewed reports"
    TRACK_PLANS = "change the state of plan steps"
    EXPORT = "export de-identified data"
    SEE_FIGURES = "see the clinic's figures"
    MANAGE_MODELS = "install and activate detection models"


_ASSISTANT = frozenset(
    {
        Permission.SEE_PATIENTS,
        Permission.EDIT_PATIENTS,
        Permission.UPLOAD,
        Permission.PRINT_REPORTS,
        Permission.TRACK_PLANS,
    }
)
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset({Permission.MANAGE_USERS, Permission.MANAGE_MODELS, Permission.SEE_FIGURES}),
    Role.DENTIST: _ASSISTANT | {Permission.REVIEW, Permission.ISSUE_REPORTS, Permission.SEE_FIGURES},
    Role.ASSISTANT: _ASSISTANT,
    Role.RESEARCHER: frozenset({Permission.EXPORT}),
}


def parse_roles(names: Iterable[str]) -> tuple[Role, ...]:
    """Roles by name, in the order of :class:`Role`, each once; an unknown name fails with the valid ones."""
    chosen = set()
    for name in names:
        try:
            chosen.add(Role(name.strip().lower()))
        except ValueError:
            raise UnknownNameError("role", name, [r.value for r in Role]) from None
    if not chosen:
        raise XrayReportError(f"give a user at least one role: {', '.join(r.value for r in Role)}")
    return tuple(r for r in Role if r in chosen)


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    return frozenset().union(*(ROLE_PERMISSIONS[r] for r in roles))
