"""Request-scoped dependencies: one DB transaction per request, the command bus, services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.bus import CommandBus
from core.config import Settings
from core.orgs.staff_auth import StaffAuth


@dataclass
class Services:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    commands: CommandBus
    # Staff sign-in (cookie sessions); None: the staff endpoints answer 404.
    staff_auth: StaffAuth | None = None


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def db_session(svc: Annotated[Services, Depends(services)]) -> AsyncIterator[AsyncSession]:
    """One request = one transaction: committed if the handler returns, else rolled back."""
    async with svc.sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# The request's transaction, committed when the handler returns and before the answer is
# sent ("function" scope): a client that acts on the answer (a browser following a
# redirect after sign-in, a script reading what it created) always finds it committed.
# FastAPI's default ("request") would commit only after the response had gone out.
Db = Annotated[AsyncSession, Depends(db_session, scope="function")]
