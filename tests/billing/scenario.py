"""One month at a borettslag: members, an employee's firm, a guest and a service car."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.service import set_billing_profile
from core.models import User
from tests.tariffs.builders import Place, charged, driver, member_prices, oslo, place

# A real-looking organisation number (valid MOD11 check digit).
ORG_NUMBER = "974760673"


@dataclass
class Month:
    where: Place
    kari: User  # member, invoiced monthly
    ola: User  # employee, his firm is invoiced (EHF)
    guest: User  # public, pays per session by card
    van: User  # service car, free, invoiced monthly


async def march(s: AsyncSession) -> Month:
    where = await place(s)
    await member_prices(s, where)
    kari = await driver(s, "91000001", "member", name="Kari Nordmann", invoice=True)
    ola = await driver(s, "91000002", "employee", name="Ola Hansen", invoice=True)
    guest = await driver(s, "91000003", "public", name="Gjest")
    van = await driver(s, "91000004", "service", name="Vaktmester", invoice=True)
    await set_billing_profile(
        s,
        ola.id,
        company_name="Hansen Transport AS",
        org_number=ORG_NUMBER,
        street="Storgata 1",
        postal_code="3475",
        city="Sætre",
        buyer_reference="Ola H.",
    )
    # Kari: 10 kWh + 8 kWh at 2.50 kr.
    await charged(s, where, kari, oslo(2026, 3, 3, 19, 0), 60, 10)
    await charged(s, where, kari, oslo(2026, 3, 20, 18, 0), 60, 8)
    # Ola: 11 kWh on a weekday at 1.00 kr, 5 kWh in the evening at 2.00 kr.
    await charged(s, where, ola, oslo(2026, 3, 4, 10, 0), 60, 11, evse=2)
    await charged(s, where, ola, oslo(2026, 3, 4, 20, 0), 60, 5, evse=2)
    # Across the DST night and into the last evening of March: still March.
    await charged(s, where, kari, oslo(2026, 3, 31, 22, 0), 90, 4)
    # Stops after midnight on 1 April: April's.
    await charged(s, where, ola, oslo(2026, 3, 31, 23, 30), 60, 6, evse=2)
    await charged(s, where, guest, oslo(2026, 3, 10, 12, 0), 30, 7)
    await charged(s, where, van, oslo(2026, 3, 11, 12, 0), 30, 7)
    return Month(where, kari, ola, guest, van)
