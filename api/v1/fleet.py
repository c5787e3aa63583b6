"""/api/v1: chargers with live status, connectors, remote commands, sessions, energy."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api import schemas
from api.problems import problem, problem_responses
from api.v1.deps import Caller, ChargerId, Cursor, Db, Limit, OptionalId, SessionId, Svc
from core import bus
from core.models import Charger, ConnectorStatus
from core.orgs import fleet
from core.orgs import repository as repo
from core.orgs.errors import Invalid
from core.orgs.schemas import (
    ChargerIn,
    ChargerOut,
    ChargerPatch,
    CommandOut,
    ConnectorOut,
    EnergyReport,
    Page,
    SessionOut,
    When,
)
from core.power.v2x import V2xError, V2xPeriod, bidirectional_profile

router = APIRouter()


@router.get("/chargers", response_model=Page[ChargerOut], tags=["chargers"])
async def list_chargers(
    db: Db,
    caller: Caller,
    site_id: OptionalId = None,
    online: bool | None = None,
    status: ConnectorStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[ChargerOut]:
    """Chargers with each connector's live status."""
    query = repo.chargers_query(caller)
    if site_id is not None:
        await repo.get_site(db, caller, site_id)
        query = query.where(Charger.site_id == site_id)
    if online is not None:
        query = query.where(Charger.online.is_(online))
    if status is not None:
        query = query.where(Charger.status == status.value)
    rows, after = await repo.page(db, query, Charger.id, cursor, limit)
    return Page(items=await fleet.charger_out(db, rows), next_cursor=after)


@router.post("/chargers", response_model=ChargerOut, status_code=201, tags=["chargers"])
async def create_charger(db: Db, caller: Caller, body: ChargerIn) -> ChargerOut:
    """Register a charger at one of your sites (it connects with this charge point id)."""
    charger = await fleet.create_charger(db, caller, body)
    return (await fleet.charger_out(db, [charger]))[0]


@router.get("/chargers/{charger_id}", response_model=ChargerOut, tags=["chargers"])
async def get_charger(db: Db, caller: Caller, charger_id: ChargerId) -> ChargerOut:
    charger = await repo.get_charger(db, caller, charger_id)
    return (await fleet.charger_out(db, [charger]))[0]


@router.patch("/chargers/{charger_id}", response_model=ChargerOut, tags=["chargers"])
async def update_charger(
    db: Db, caller: Caller, charger_id: ChargerId, body: ChargerPatch
) -> ChargerOut:
    """Move a charger to another of your sites, change its printed code or limits."""
    charger = await fleet.update_charger(db, caller, charger_id, body)
    return (await fleet.charger_out(db, [charger]))[0]


@router.get(
    "/chargers/{charger_id}/connectors", response_model=list[ConnectorOut], tags=["chargers"]
)
async def list_connectors(db: Db, caller: Caller, charger_id: ChargerId) -> list[ConnectorOut]:
    charger = await repo.get_charger(db, caller, charger_id)
    return [ConnectorOut.model_validate(k) for k in charger.connectors]


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
        case schemas.SetV2xLimitsIn():
            period = V2xPeriod(0, body.charge_limit_w, body.discharge_limit_w, body.setpoint_w)
            try:
                profile = bidirectional_profile(
                    body.profile_id,
                    [period],
                    transaction_id=body.transaction_id,
                    duration_s=body.duration_s,
                )
            except V2xError as error:
                raise Invalid(str(error)) from None
            return bus.SetChargingProfile(evse_id=body.evse_id, profile=profile)
        case schemas.ClearChargingProfileIn():
            return bus.ClearChargingProfile(profile_id=body.profile_id, evse_id=body.evse_id)
        case schemas.InstallCertificateIn():
            return bus.InstallCertificate(
                certificate_type=body.certificate_type, certificate=body.certificate
            )
        case schemas.GetInstalledCertificateIdsIn():
            return bus.GetInstalledCertificateIds(certificate_types=tuple(body.certificate_types))
        case schemas.DeleteCertificateIn():
            c = body.certificate
            return bus.DeleteCertificate(
                hash_data={
                    "hashAlgorithm": c.hash_algorithm,
                    "issuerNameHash": c.issuer_name_hash,
                    "issuerKeyHash": c.issuer_key_hash,
                    "serialNumber": c.serial_number,
                }
            )
    raise AssertionError(body)  # pragma: no cover - the union is exhaustive


_COMMAND_ERRORS: dict[type[bus.CommandError], int] = {
    bus.ChargerOffline: 409,
    bus.ChargerBusy: 409,
    bus.CommandNotSupported: 422,
    bus.CommandInvalid: 422,
    bus.CommandTimeout: 504,
    bus.CommandRejectedByCharger: 502,
    bus.BusUnavailable: 503,
}


@router.post(
    "/chargers/{charger_id}/commands",
    response_model=CommandOut,
    tags=["chargers"],
    responses=problem_responses(409, 502, 503, 504),
)
async def send_command(
    db: Db, svc: Svc, caller: Caller, charger_id: ChargerId, body: schemas.CommandIn
) -> CommandOut | JSONResponse:
    """Send a command to a connected charger and return its answer (audited, with its
    outcome). Offline or busy: 409; the charger did not answer in time: 504; the processes
    cannot reach each other (the Redis bus is down), so nothing was sent: 503."""
    outcome = await fleet.send_command(db, caller, svc.commands, charger_id, _to_command(body))
    if outcome.error is not None:
        error = outcome.error
        return problem(
            _COMMAND_ERRORS.get(type(error), 502),
            str(error),
            kind=getattr(error, "code", "command_failed"),
            instance=f"/api/v1/chargers/{charger_id}/commands",
        )
    assert outcome.result is not None
    return CommandOut(
        status=outcome.result.status,
        accepted=outcome.result.accepted,
        payload=outcome.result.payload,
    )


@router.get("/sessions", response_model=Page[SessionOut], tags=["sessions"])
async def list_sessions(
    db: Db,
    caller: Caller,
    site_id: OptionalId = None,
    charger_id: OptionalId = None,
    driver_id: OptionalId = None,
    group: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    status: Literal["active", "completed"] | None = None,
    start: Annotated[When | None, Query(alias="from")] = None,
    end: Annotated[When | None, Query(alias="to")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[SessionOut]:
    """Charging sessions at your sites, newest first; `from`/`to` bound the start time."""
    if site_id is not None:
        await repo.get_site(db, caller, site_id)
    if charger_id is not None:
        await repo.get_charger(db, caller, charger_id)
    if driver_id is not None:
        await repo.get_driver(db, caller, driver_id)
    f = fleet.SessionFilter(site_id, charger_id, driver_id, group, status, start, end)
    items, after = await fleet.list_sessions(db, caller, f, cursor, limit)
    return Page(items=items, next_cursor=after)


@router.get("/sessions/{session_id}", response_model=SessionOut, tags=["sessions"])
async def get_session(db: Db, caller: Caller, session_id: SessionId) -> SessionOut:
    row = await repo.get_session(db, caller, session_id)
    return (await fleet.sessions_out(db, [row]))[0]


@router.get("/reports/energy", response_model=EnergyReport, tags=["reports"])
async def energy_report(
    db: Db,
    caller: Caller,
    start: Annotated[When, Query(alias="from")],
    end: Annotated[When, Query(alias="to")],
    by: Literal["site", "group", "driver", "day"] = "site",
    site_id: OptionalId = None,
    organisation_id: OptionalId = None,
) -> EnergyReport:
    """Completed sessions that started in [from, to), summed per site, group, driver or
    day (Europe/Oslo)."""
    return await fleet.energy_report(
        db, caller, start=start, end=end, by=by, site_id=site_id, organisation_id=organisation_id
    )
