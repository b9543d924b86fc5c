"""The recall letter: every open step in everyday words, in en/zh/ru, an A4 page without WeasyPrint warnings."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess

import pytest

from xrayreport.report import Clinic, Messages
from xrayreport.report.letter import OpenStep, build_card, build_letter, render_card_pdf, render_letter_pdf

STEPS = (
    OpenStep("A filling", ("36",), dt.date(2026, 3, 30)),
    OpenStep("A filling", ("16", "26"), None, booked_for=dt.date(2026, 4, 8)),
    OpenStep("Check-up and professional cleaning", (), dt.date(2026, 9, 2)),
)
CLINIC = Clinic(name="Smile Dental", phone="+86 21 5555 0100", dentist="Dr. Li Wei")


def test_the_english_letter_names_every_open_step_with_its_teeth_and_date() -> None:
    view = build_letter("Anna Petrova", dt.date(2026, 3, 2), STEPS, Messages("en"), CLINIC, dt.date(2026, 5, 1))
    assert view.greeting == "Dear Anna Petrova,"
    assert view.intro.startswith("When you came on 2 March 2026, we made a plan")
    assert view.steps == (
        "A filling — tooth 36 (planned by 30 March 2026)",
        "A filling — teeth 16, 26 (booked for 8 April 2026)",
        "Check-up and professional cleaning (planned by 2 September 2026)",
    )
    assert "+86 21 5555 0100" in view.call and view.signature == "Dr. Li Wei"
    assert view.message == (
        "Smile Dental: a reminder about your dental plan: A filling — tooth 36 (planned by 30 March 2026). "
        "Please call +86 21 5555 0100 to book a visit."
    )


def test_without_open_steps_or_a_phone_the_letter_asks_for_the_check_up() -> None:
    view = build_letter(None, None, (), Messages("en"), today=dt.date(2026, 5, 1))
    assert (view.greeting, view.steps) == ("Dear patient,", ())
    assert view.intro.startswith("Your check-up is due") and "contact us" in view.call
    assert view.message.startswith("Your dental clinic: a reminder about your dental plan: check-up.")


@pytest.mark.parametrize(("lang", "words"), [("en", "still open"), ("zh", "尚未完成"), ("ru", "ещё не выполнены")])
def test_the_letter_prints_on_one_page_in_every_language(
    lang: str, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    messages = Messages(lang)
    view = build_letter("Anna Petrova", dt.date(2026, 3, 2), STEPS, messages, CLINIC, dt.date(2026, 5, 1))
    assert messages.missing == set()  # every text translated
    with caplog.at_level(logging.WARNING):
        pdf = render_letter_pdf(view)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "Pages:           1" in info
    text = " ".join(
        subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode().split()
    )
    assert words in text and "Anna Petrova" in text and "36" in text


def test_the_next_visit_card_says_how_to_book_or_to_move_the_visit(caplog: pytest.LogCaptureFixture) -> None:
    booked = build_card("Anna Petrova", STEPS[1], Messages("en"), CLINIC)
    assert booked.step == "A filling — teeth 16, 26 (booked for 8 April 2026)"
    assert booked.call == "To move it, call us: +86 21 5555 0100."
    due = build_card(None, STEPS[0], Messages("ru"))
    assert due.title == "Ваш следующий визит" and due.call == "Пожалуйста, свяжитесь с нами, чтобы записаться на приём."
    assert build_card(None, None, Messages("zh")).step == "定期检查"
    with caplog.at_level(logging.WARNING):
        pdf = render_card_pdf(booked)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "Pages:           1" in info and "419.528 x 297.638 pts" in info  # A6 landscape
