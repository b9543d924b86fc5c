"""What counts as an e-mail address the clinic can store and write to."""

from __future__ import annotations

import pytest

from xrayreport.mail import address_problem

ONE_AT = "use the form name@example.com, with one @"
NO_SPACES = "an e-mail address has no spaces or line breaks; check what was typed"


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("jane@example.com", None),
        ("jane.doe+recall@mail.example.co.uk", None),
        ("李娜@例子.中国", None),  # international addresses: the mail server has the last word
        ("j" * 242 + "@example.com", None),  # 254 characters
        ("j" * 243 + "@example.com", "use at most 254 characters"),  # 255
        ("jane.example.com", ONE_AT),
        ("jane@", ONE_AT),
        ("@example.com", ONE_AT),
        ("jane@doe@example.com", ONE_AT),
        ("jane doe@example.com", NO_SPACES),
        ("jane@example.com\r\nBcc: all@example.com", NO_SPACES),  # no header injection
        ("jane@exa\x00mple.com", NO_SPACES),
    ],
)
def test_an_address_has_one_at_no_spaces_and_at_most_254_characters(address: str, problem: str | None) -> None:
    assert address_problem(address) == problem
