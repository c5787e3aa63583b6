"""Operator REST endpoints: thin transport over core services and the command bus."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api import schemas
from api.deps import Services, db_session, operator, services
from core import bus
from core.chargers import service as chargers
from core.sessions import service as sessions

router = APIRouter()
Db = Annotated[AsyncSession, Depends(db_session)]
Svc = Annotated[Services, Depends(services)]
_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": schemas.Problem},
    404: {"model": schemas.Problem},
}


@router.get(
    "/healthz",
    response_model=schemas.Health,
    tags=["health"],
    responses={503: {"model": schemas.Health}},
)
async def healthz(svc: Svc) -> JSONResponse:
    database = "ok"
    try:
        async with svc.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        database = "unavailable"
    connected = len(getattr(svc.commands, "connected_ids", list)())
    body = schemas.Health(
        status="ok" if database == "ok" else "degraded",
        database=database,  # type: ignore[arg-type]
        chargers_connected=connected,
    )
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)


def _charger_out(c: chargers.Charger) -> schemas.ChargerOut:
    return schemas.ChargerOut(
        charge_point_id=c.charge_point_id,
        site=c.site.name if c.site else None,
        vendor=c.vendor,
        model=c.model,
        serial_number=c.serial_number,
        firmware_version=c.firmware_version,
        ocpp_version=c.ocpp_version,
        registration_status=c.registration_status,
        status=c.status,
        online=c.online,
        last_seen_at=c.last_seen_at,
        connectors=[
            schemas.ConnectorOut(
                evse_id=k.evse_id,
                connector_id=k.connector_id,
                connector_type=k.connector_type,
                max_power_w=k.max_power_w,
                status=k.status,
                error_code=k.error_code,
                status_at=k.status_at,
            )
            for k in c.connectors
        ],
    )


@router.get(
    "/api/chargers",
    response_model=list[schemas.ChargerOut],
    tags=["operator"],
    dependencies=[Depends(operator)],
    responses=_ERRORS,
)
async def list_chargers(
    db: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 500
) -> list[schemas.ChargerOut]:
    return [_charger_out(c) for c in await chargers.list_chargers(db, limit=limit)]


@router.get(
    "/api/chargers/{charge_point_id}",
    response_model=schemas.ChargerOut,
    tags=["operator"],
    dependencies=[Depends(operator)],
    responses=_ERRORS,
)
async def get_charger(db: Db, charge_point_id: str) -> schemas.ChargerOut:
    charger = await chargers.get_charger(db, charge_point_id)
    if charger is None:
        raise HTTPException(404, f"unknown charger {charge_point_id}")
    return _charger_out(charger)


@router.get(
    "/api/sessions",
    response_model=list[schemas.SessionOut],
    tags=["operator"],
    dependencies=[Depends(operator)],
    responses=_ERRORS,
)
async def list_sessions(
    db: Db,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    active: bool = False,
) -> list[schemas.SessionOut]:
    rows = await sessions.list_sessions(db, limit=limit, active_only=active)
    return [schemas.SessionOut(**vars(r)) for r in rows]


def _to_command(body: schemas.CommandIn) -> bus.Command:
    match body:
        case schemas.RemoteStartIn():
            return bus.RemoteStart(id_token=body.id_token, evse_id=body.evse_id)
        case schemas.RemoteStopIn():
            return bus.RemoteStop(transaction_id=body.transaction_id)
        case schemas.ResetIn():
            return bus.Reset(kind=body.kind)
        case schemas.UnlockIn():
            return bus.UnlockConnector(connector_id=1, evse_id=body.evse_id)
        case schemas.AvailabilityIn():
            return bus.ChangeAvailability(operative=body.operative, evse_id=body.evse_id)
        case schemas.TriggerIn():
            return bus.TriggerMessage(message=body.message, evse_id=body.evse_id)
        case schemas.GetConfigurationIn():
            return bus.GetConfiguration(keys=tuple(body.keys), component=body.component)
        case schemas.SetConfigurationIn():
            return bus.SetConfiguration(key=body.key, value=body.value, component=body.component)
        case schemas.SetChargingProfileIn():
            return bus.SetChargingProfile(evse_id=body.evse_id, profile=body.profile)
        case schemas.ClearChargingProfileIn():
            return bus.ClearChargingProfile(profile_id=body.profile_id, evse_id=body.evse_id)
    raise AssertionError(body)  # pragma: no cover - the union is exhaustive


_COMMAND_ERRORS: dict[type[bus.CommandError], int] = {
    bus.ChargerOffline: 409,
    bus.ChargerBusy: 409,
    bus.CommandNotSupported: 422,
    bus.CommandInvalid: 422,
    bus.CommandTimeout: 504,
    bus.CommandRejectedByCharger: 502,
}


@router.post(
    "/api/chargers/{charge_point_id}/commands",
    response_model=schemas.CommandOut,
    tags=["operator"],
    dependencies=[Depends(operator)],
    responses={
        **_ERRORS,
        409: {"model": schemas.Problem},
        422: {"model": schemas.Problem},
        502: {"model": schemas.Problem},
        504: {"model": schemas.Problem},
    },
)
async def send_command(
    svc: Svc, charge_point_id: str, body: schemas.CommandIn
) -> schemas.CommandOut:
    """Send a command to a connected charger and return its answer."""
    try:
        result = await svc.commands.send(charge_point_id, _to_command(body))
    except bus.CommandError as error:
        raise HTTPException(_COMMAND_ERRORS.get(type(error), 502), str(error)) from None
    return schemas.CommandOut(
        status=result.status, accepted=result.accepted, payload=result.payload
    )
