"""Sending a patient their recall by e-mail through the clinic's mail server (:mod:`xrayreport.mail`): the
reminder as the text, the recall letter as a PDF, in the patient's language; recorded as a contact."""

from __future__ import annotations

import logging

from ..errors import XrayReportError
from ..mail import Attachment, MailError, MailSettings, OutgoingMail, send_mail
from .letters import letter_view
from .models import Contact, Patient
from .recalls import record_contact
from .reports import clinic_file_of
from .studies import get_patient, record_audit
from .workspace import Workspace

log = logging.getLogger(__name__)

NO_ADDRESS = "this patient has no e-mail address; add it on their details page"
MAIL_NOT_SET_UP = (
    "e-mail is not set up on this server: add a mail: section (host, sender) to clinic.yaml in the workspace's "
    "folder (see docs/mail.md)"
)


class NotMailableError(XrayReportError):
    """The patient may not or cannot be e-mailed their recall: no consent to e-mail, or no address."""


def mail_refusal(patient: Patient) -> str | None:
    """Why the patient cannot be sent their recall by e-mail, or ``None``."""
    consent = patient.consent
    if consent is None:
        return "this patient has not agreed to be contacted (or withdrew); record their consent, channel email, first"
    if consent.channel != "email":
        return (
            f"this patient agreed to be contacted by {consent.channel}, not e-mail; record a new consent if they "
            "chose e-mail"
        )
    if not patient.email:
        return NO_ADDRESS
    return None


def mail_settings(workspace: Workspace) -> MailSettings:
    """The clinic file's ``mail:`` settings; :class:`MailError` when it has none or cannot be read."""
    try:
        clinic = clinic_file_of(workspace.config.home)
    except XrayReportError as exc:
        raise MailError(f"e-mail cannot be sent until the clinic file is fixed: {exc}") from None
    if clinic is None or clinic.mail is None:
        raise MailError(MAIL_NOT_SET_UP)
    return clinic.mail


def send_recall_mail(workspace: Workspace, patient_number: int, user: str) -> Contact:
    """E-mail the patient their recall in their language, then record the contact (channel email, outcome sent:
    the recall list leaves them out for the contact interval) and audit it on the patient.

    :class:`NotMailableError` without consent to e-mail or an address; :class:`MailError` when mail is not set up
    or the server does not take the message (nothing is recorded then).
    """
    with workspace.sessions() as db:
        patient = get_patient(db, patient_number)
        refusal, address = mail_refusal(patient), patient.email
    if refusal is not None or address is None:
        raise NotMailableError(refusal or NO_ADDRESS)
    settings = mail_settings(workspace)
    from ..report.letter import render_letter_pdf

    view = letter_view(workspace, patient_number, None)
    pdf = Attachment(f"recall-letter-{view.lang}.pdf", render_letter_pdf(view), "application", "pdf")
    try:
        send_mail(settings, OutgoingMail(address, view.title, view.mail_text, (pdf,), view.clinic_name))
    except MailError as exc:  # its message names the server and what to check, never the patient
        log.warning("a recall e-mail was not sent: %s", exc)
        raise
    with workspace.sessions.begin() as db:
        patient = get_patient(db, patient_number, lock=True)
        contact = record_contact(db, patient, "email", "sent", user, workspace.config.clock().date())
        record_audit(db, patient, user, "send", "recall e-mail", None, {"email": address, "language": view.lang})
    return contact
