"""The recall letter and its short message: a patient's open plan steps, in their language, printable (A4 PDF
through the report's WeasyPrint path) or as a text for SMS or e-mail.

A recall is justified only by a reason that matters to the patient (``shared/CLINICAL.md``): the letter
names every open step with its teeth and date, in everyday words from the same catalogues as the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from ..plan import Text
from .clinic import Clinic
from .i18n import Messages
from .render import TEMPLATES_DIR, html_to_pdf, template_environment

LETTER_TEMPLATE = "letter.html.j2"
CARD_TEMPLATE = "card.html.j2"


@dataclass(frozen=True)
class OpenStep:
    """A step still to do: the plan's wording, its teeth (FDI), the date it was due by or is booked for."""

    what: Text
    teeth: tuple[str, ...]
    due_by: dt.date | None
    booked_for: dt.date | None = None


@dataclass(frozen=True)
class LetterView:
    """Every text of a letter, translated and formatted; the template only lays it out."""

    lang: str
    clinic_name: str
    clinic_lines: tuple[str, ...]
    date: str
    title: str
    greeting: str
    intro: str
    steps: tuple[str, ...]
    call: str
    closing: str
    signature: str
    message: str  # the same reminder in one line, for SMS or e-mail

    @property
    def mail_text(self) -> str:
        """The text of a recall e-mail (the letter goes along as a PDF): greeting, the reminder, the closing."""
        return f"{self.greeting}\n\n{self.message}\n\n{self.closing}\n{self.signature}\n"


def build_letter(
    patient_name: str | None,
    last_visit: dt.date | None,
    steps: Sequence[OpenStep],
    messages: Messages,
    clinic: Clinic | None = None,
    today: dt.date | None = None,
) -> LetterView:
    clinic = clinic or Clinic()
    _ = messages.gettext
    today = today or dt.date.today()
    lines = tuple(_step_line(step, messages) for step in steps)
    if lines and last_visit is not None:
        intro = _(
            "When you came on %(date)s, we made a plan for your teeth together. These steps are still open:",
            date=messages.date(last_visit),
        )
    elif lines:
        intro = _("We made a plan for your teeth together. These steps are still open:")
    else:
        intro = _("Your check-up is due. Regular check-ups keep small problems small.")
    name = clinic.name or _("Your dental clinic")
    if clinic.phone:
        call = _("Please call us to book your visit: %(phone)s.", phone=clinic.phone)
        message = _(
            "%(clinic)s: a reminder about your dental plan: %(step)s. Please call %(phone)s to book a visit.",
            clinic=name,
            step=lines[0] if lines else _("check-up"),
            phone=clinic.phone,
        )
    else:
        call = _("Please contact us to book your visit.")
        message = _(
            "%(clinic)s: a reminder about your dental plan: %(step)s. Please contact us to book a visit.",
            clinic=name,
            step=lines[0] if lines else _("check-up"),
        )
    return LetterView(
        lang=messages.language.code,
        clinic_name=name,
        clinic_lines=tuple(line for line in (clinic.address, clinic.phone) if line),
        date=messages.date(today),
        title=_("A reminder from your dentist"),
        greeting=_("Dear %(name)s,", name=patient_name) if patient_name else _("Dear patient,"),
        intro=intro,
        steps=lines,
        call=call + " " + _("Small problems are easier, quicker and cheaper to treat."),
        closing=_("With kind regards,"),
        signature=clinic.dentist or name,
        message=message,
    )


def build_family_letter(
    family_name: str,
    members: Sequence[tuple[str, OpenStep | None]],
    messages: Messages,
    clinic: Clinic | None = None,
    today: dt.date | None = None,
) -> LetterView:
    """One letter for a household: each member's next open step (or their check-up), by name."""
    single = build_letter(None, None, (), messages, clinic, today)
    _ = messages.gettext
    lines = tuple(
        _("%(name)s: %(step)s", name=name, step=_step_line(step, messages) if step else _("check-up"))
        for name, step in members
    )
    return LetterView(
        lang=single.lang,
        clinic_name=single.clinic_name,
        clinic_lines=single.clinic_lines,
        date=single.date,
        title=single.title,
        greeting=_("Dear %(name)s family,", name=family_name),
        intro=_("Here is the next step in each of your plans:"),
        steps=lines,
        call=single.call,
        closing=single.closing,
        signature=single.signature,
        message=single.message,
    )


def _step_line(step: OpenStep, messages: Messages) -> str:
    what = messages.text(step.what)
    if step.teeth:
        what = messages.ngettext(
            "%(what)s — tooth %(teeth)s",
            "%(what)s — teeth %(teeth)s",
            len(step.teeth),
            what=what,
            teeth=", ".join(step.teeth),
        )
    if step.booked_for is not None:
        return messages.gettext("%(step)s (booked for %(date)s)", step=what, date=messages.date(step.booked_for))
    if step.due_by is not None:
        return messages.gettext("%(step)s (planned by %(date)s)", step=what, date=messages.date(step.due_by))
    return what


@dataclass(frozen=True)
class CardView:
    """A next-visit card: the patient's name, the next open step (booked date or due date) and how to book."""

    lang: str
    title: str
    patient: str
    step: str
    call: str
    clinic_name: str


def build_card(
    patient_name: str | None, next_step: OpenStep | None, messages: Messages, clinic: Clinic | None = None
) -> CardView:
    """The card of ``next_step`` (the check-up when there is none): booked, it says how to move it; not yet
    booked, how to book it."""
    clinic = clinic or Clinic()
    _ = messages.gettext
    booked = next_step is not None and next_step.booked_for is not None
    if clinic.phone:
        call = (
            _("To move it, call us: %(phone)s.", phone=clinic.phone)
            if booked
            else _("Please call us to book your visit: %(phone)s.", phone=clinic.phone)
        )
    else:
        call = _("To move it, contact us.") if booked else _("Please contact us to book your visit.")
    return CardView(
        lang=messages.language.code,
        title=_("Your next visit"),
        patient=patient_name or "",
        step=_step_line(next_step, messages) if next_step else _("check-up"),
        call=call,
        clinic_name=clinic.name or _("Your dental clinic"),
    )


def render_card_pdf(view: CardView) -> bytes:
    """The card as a one-page A6 PDF, landscape."""
    html = template_environment().get_template(CARD_TEMPLATE).render(v=view)
    return html_to_pdf(html)


def render_letter_pdf(view: LetterView) -> bytes:
    """The letter as an A4 PDF (one page), with the report's fonts and styles."""
    css = (TEMPLATES_DIR / "report.css").read_text(encoding="utf-8")
    html = template_environment().get_template(LETTER_TEMPLATE).render(v=view, css=Markup(css))
    return html_to_pdf(html)
