"""Norwegian organisation numbers (Enhetsregisteret): nine digits, MOD11 check digit."""

from __future__ import annotations

_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def valid_org_number(value: str | None) -> bool:
    if not value or len(value) != 9 or not value.isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(value, _WEIGHTS, strict=False))
    check = (11 - total % 11) % 11
    return check != 10 and value[8] == str(check)
