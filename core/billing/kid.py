"""KID payment references (2-25 digits, last one a MOD10 or MOD11 check digit).

We issue MOD10 (Luhn) KIDs of fixed length: customer number (7 digits), invoice number
(8 digits) and the check digit, 16 digits in all; the bank's OCR agreement names the length.
Validation accepts both MOD10 and MOD11 (where "-" is the check digit for remainder 10), so
incoming payments with either kind can be matched.
"""

from __future__ import annotations

CUSTOMER_DIGITS = 7
INVOICE_DIGITS = 8


class KidError(ValueError):
    """A KID cannot be made from these numbers."""


def luhn_check_digit(payload: str) -> str:
    """The MOD10 check digit for `payload` (digits only)."""
    if not payload.isdigit():
        raise KidError("a KID payload is digits only")
    total = 0
    # The check digit goes to the right, so the rightmost payload digit is doubled.
    for i, ch in enumerate(reversed(payload)):
        digit = int(ch)
        if i % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def mod11_check_digit(payload: str) -> str:
    """The MOD11 check digit for `payload`: weights 2..7 from the right; "-" for 10."""
    if not payload.isdigit():
        raise KidError("a KID payload is digits only")
    total = sum(int(ch) * (2 + i % 6) for i, ch in enumerate(reversed(payload)))
    check = 11 - total % 11
    return {10: "-", 11: "0"}.get(check, str(check))


def make_kid(customer_number: int, invoice_number: int) -> str:
    """customer (7 digits) + invoice (8 digits) + MOD10 check digit."""
    if not 0 <= customer_number < 10**CUSTOMER_DIGITS:
        raise KidError(f"customer number {customer_number} does not fit in a KID")
    if not 0 <= invoice_number < 10**INVOICE_DIGITS:
        raise KidError(f"invoice number {invoice_number} does not fit in a KID")
    payload = f"{customer_number:0{CUSTOMER_DIGITS}d}{invoice_number:0{INVOICE_DIGITS}d}"
    return payload + luhn_check_digit(payload)


def is_valid_kid(kid: str) -> bool:
    """A well-formed KID with a correct MOD10 or MOD11 check digit."""
    kid = kid.strip()
    if not 2 <= len(kid) <= 25:
        return False
    payload, check = kid[:-1], kid[-1]
    if not payload.isdigit() or not (check.isdigit() or check == "-"):
        return False
    return check in (luhn_check_digit(payload), mod11_check_digit(payload))
