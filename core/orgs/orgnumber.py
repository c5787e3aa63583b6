"""Norwegian organisation numbers (organisasjonsnummer): 9 digits, the last a MOD11 check."""

from __future__ import annotations

from core.orgs.errors import Invalid

_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def mod11_check_digit(first8: str) -> int | None:
    """The check digit for 8 digits, or None where no valid number exists (remainder 1)."""
    total = sum(int(d) * w for d, w in zip(first8, _WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def normalize_org_number(value: str | None) -> str | None:
    """'923 609 016' → '923609016'; empty → None; a wrong check digit is refused."""
    if value is None:
        return None
    digits = "".join(ch for ch in value if not ch.isspace())
    if not digits:
        return None
    if len(digits) != 9 or not digits.isdigit():
        raise Invalid(f"an organisation number is 9 digits: {value!r}")
    if mod11_check_digit(digits[:8]) != int(digits[8]):
        raise Invalid(f"{value} is not a valid organisation number (MOD11 check digit)")
    return digits
