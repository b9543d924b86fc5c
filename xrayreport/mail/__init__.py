"""E-mail for the clinic: what counts as an address, how its SMTP server is reached (the ``mail:`` section of
the clinic file), and sending one message through it.

Standard library only; it knows nothing of patients or the workspace, which hand it what to send.
"""

from .address import ADDRESS_LENGTH, address_problem
from .settings import SECURITY, MailSettings, MailSettingsError, Security, mail_settings_from_dict
from .smtp import Attachment, MailError, OutgoingMail, send_mail

__all__ = [
    "ADDRESS_LENGTH",
    "SECURITY",
    "Attachment",
    "MailError",
    "MailSettings",
    "MailSettingsError",
    "OutgoingMail",
    "Security",
    "address_problem",
    "mail_settings_from_dict",
    "send_mail",
]
