"""Fixtures: the fake Stripe and Vipps MobilePay APIs, each a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.payments.fakes import FakeStripe, FakeVipps


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def fake_vipps() -> Iterator[FakeVipps]:
    with FakeVipps() as fake:
        yield fake
