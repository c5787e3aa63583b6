"""KID numbers: MOD10 check digits we issue, MOD10 and MOD11 KIDs we accept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.billing.kid import (
    KidError,
    is_valid_kid,
    luhn_check_digit,
    make_kid,
    mod11_check_digit,
)


@pytest.mark.parametrize(
    ("payload", "digit"),
    [("7992739871", "3"), ("0", "0"), ("18", "2"), ("000000100000001", "6")],
)
def test_mod10_check_digit_is_the_luhn_digit(payload, digit):
    assert luhn_check_digit(payload) == digit


@pytest.mark.parametrize(("payload", "digit"), [("12345678", "5"), ("1000000", "9"), ("1", "9")])
def test_mod11_check_digit_uses_weights_two_to_seven(payload, digit):
    assert mod11_check_digit(payload) == digit


def test_mod11_remainder_ten_gives_a_dash():
    payload = next(str(n) for n in range(1, 1000) if mod11_check_digit(str(n)) == "-")
    assert is_valid_kid(payload + "-")


def test_invoice_kid_is_customer_invoice_and_check_digit_16_digits():
    kid = make_kid(42, 1001)
    assert kid == "0000042" + "00001001" + luhn_check_digit("000004200001001")
    assert len(kid) == 16 and is_valid_kid(kid)
    with pytest.raises(KidError):
        make_kid(10**7, 1)


@given(st.integers(0, 10**7 - 1), st.integers(0, 10**8 - 1), st.integers(0, 15), st.integers(1, 9))
def test_every_issued_kid_validates_and_any_single_wrong_digit_is_caught(
    customer, invoice, position, delta
):
    kid = make_kid(customer, invoice)
    assert is_valid_kid(kid)
    wrong = kid[:position] + str((int(kid[position]) + delta) % 10) + kid[position + 1 :]
    # A MOD10 KID with one digit changed fails MOD10; it may only pass by MOD11 by chance.
    assert luhn_check_digit(wrong[:-1]) != wrong[-1]


@pytest.mark.parametrize("kid", ["", "1", "12a4", "1" * 26, "-1"])
def test_malformed_kids_are_rejected(kid):
    assert not is_valid_kid(kid)
