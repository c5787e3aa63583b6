"""Local fakes of the Stripe and Vipps MobilePay HTTP APIs: real servers on 127.0.0.1 that keep
state in memory, honour Idempotency-Key and record every request (see `Recorded`)."""

from tests.payments.fake_server import FakeServer, Recorded
from tests.payments.fake_stripe import FakeStripe
from tests.payments.fake_vipps import FakeVipps

__all__ = ["FakeServer", "FakeStripe", "FakeVipps", "Recorded"]
