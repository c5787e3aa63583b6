"""Staff sign-in over HTTP: one-time code, TOTP for operator roles, HttpOnly cookie
sessions with CSRF protection, rate limits, expiry and revocation."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from core.db import transaction
from core.models import AuditEntry, Role, StaffMember, StaffRole, StaffSession
from core.orgs import staff, totp
from core.orgs.scope import Actor
from core.timeutil import utcnow
from core.users.auth import load_secret
from delivery.email import ConsoleMailSender
from tests.orgs.world import World

OPERATOR = Actor.cli("test")


def _code(text: str) -> str:
    match = re.search(r"\b(\d{6})\b", text)
    assert match is not None, text
    return match.group(1)


async def _sign_in(client: httpx.AsyncClient, runtime, identity: str) -> dict:
    assert (await client.post("/api/v1/auth/code", json={"identity": identity})).status_code == 202
    if "@" in identity:
        email = runtime.staff_auth.email
        assert isinstance(email, ConsoleMailSender)
        assert email.sent[-1].to == identity
        code = _code(email.sent[-1].text)
    else:
        code = _code(runtime.sms.sent[-1].body)
    response = await client.post("/api/v1/auth/verify", json={"identity": identity, "code": code})
    assert response.status_code == 200, response.text
    return response.json()


async def _totp_now(runtime, email: str) -> str:
    async with transaction(runtime.gateway_ctx.sessions) as s:
        person = (
            await s.execute(select(StaffMember).where(StaffMember.email == email))
        ).scalar_one()
        return totp.current_code(load_secret(runtime.settings), person)


async def test_operator_signs_in_with_code_and_totp_then_works_with_csrf(
    app_runtime, client: httpx.AsyncClient, world: World
):
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        await staff.add_staff(s, OPERATOR, "Drift@Ladeflyt.no", Role.OPERATOR_ADMIN)
    wrong = await client.post(
        "/api/v1/auth/verify", json={"identity": "drift@ladeflyt.no", "code": "000000"}
    )
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"

    step = await _sign_in(client, app_runtime, "drift@ladeflyt.no")
    assert step["stage"] == "totp" and step["totp_uri"] is None
    cookie = client.cookies.get("ladeflyt_staff")
    assert cookie
    # Half signed in is not signed in.
    assert (await client.get("/api/v1/sites")).status_code == 401
    assert (await client.post("/api/v1/auth/totp", json={"code": "123456"})).status_code == 401
    code = await _totp_now(app_runtime, "drift@ladeflyt.no")
    done = await client.post("/api/v1/auth/totp", json={"code": code})
    assert done.status_code == 200, done.text
    assert "httponly" in done.headers["set-cookie"].lower()
    assert "samesite=lax" in done.headers["set-cookie"].lower()
    csrf = done.json()["csrf_token"]
    assert client.cookies.get("ladeflyt_staff") != cookie

    sites = (await client.get("/api/v1/sites")).json()["items"]
    assert {s["name"] for s in sites} == {"Klokkarstua", "Tofte", "Røykenbadet"}
    site = f"/api/v1/sites/{world.b.ids['site_id']}"
    forged = await client.patch(site, json={"city": "Hurum"})
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    bad = await client.patch(site, json={"city": "Hurum"}, headers={"X-CSRF-Token": "x" * 64})
    assert bad.status_code == 403
    ok = await client.patch(site, json={"city": "Hurum"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["city"] == "Hurum"
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        entry = (
            await s.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
        ).scalar_one()
    assert entry.before is not None and entry.after is not None
    assert (entry.action, entry.actor_kind, entry.before["city"], entry.after["city"]) == (
        "site.update",
        "staff",
        "",
        "Hurum",
    )
    assert "drift@ladeflyt.no" in entry.actor_label

    # The same authenticator code cannot sign in a second browser.
    other = httpx.AsyncClient(transport=client._transport, base_url="http://test")
    async with other:
        await _sign_in(other, app_runtime, "drift@ladeflyt.no")
        replay = await other.post("/api/v1/auth/totp", json={"code": code})
        assert replay.status_code == 401

    me = (await client.get("/api/v1/auth/session")).json()
    assert me["grants"] == [{"role": "operator_admin", "organisation_id": None}]
    out = await client.post("/api/v1/auth/sign-out", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert (await client.get("/api/v1/sites")).status_code == 401


async def test_org_admin_signs_in_by_sms_and_sees_only_their_organisation(
    app_runtime, client: httpx.AsyncClient, world: World
):
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        await staff.add_staff(s, OPERATOR, "944 44 444", Role.ORG_ADMIN, world.a.ids["org_id"])
    step = await _sign_in(client, app_runtime, "+4794444444")
    assert step["stage"] == "active"
    sites = (await client.get("/api/v1/sites")).json()["items"]
    assert [s["name"] for s in sites] == ["Klokkarstua"]
    theirs = await client.get(f"/api/v1/chargers/{world.b.ids['charger_id']}")
    assert theirs.status_code == 404
    # Someone else's session cannot be ended from here; one's own can.
    other_session = world.b.ids["staff_session_id"]
    assert (
        await client.delete(
            f"/api/v1/auth/sessions/{other_session}", headers={"X-CSRF-Token": step["csrf_token"]}
        )
    ).status_code == 404
    second = httpx.AsyncClient(transport=client._transport, base_url="http://test")
    async with second:
        await _sign_in(second, app_runtime, "94444444")
        mine = (await second.get("/api/v1/auth/sessions")).json()
        assert len(mine) == 2 and sum(s["current"] for s in mine) == 1
        first_id = next(s["id"] for s in mine if not s["current"])
        csrf = second.cookies.get("ladeflyt_csrf") or ""
        revoked = await second.delete(
            f"/api/v1/auth/sessions/{first_id}", headers={"X-CSRF-Token": csrf}
        )
        assert revoked.status_code == 204
    assert (await client.get("/api/v1/sites")).status_code == 401


async def test_sign_in_is_rate_limited_and_tells_nothing_about_unknown_addresses(
    app_runtime, client: httpx.AsyncClient
):
    email = app_runtime.staff_auth.email
    for _ in range(3):
        sent = await client.post("/api/v1/auth/code", json={"identity": "nobody@example.no"})
        assert sent.status_code == 202
    assert email.sent == []
    limited = await client.post("/api/v1/auth/code", json={"identity": "nobody@example.no"})
    assert limited.status_code == 429
    assert limited.json()["title"] == "Too many requests"
    refused = await client.post(
        "/api/v1/auth/verify", json={"identity": "nobody@example.no", "code": "123456"}
    )
    assert refused.status_code == 401


async def test_sessions_expire_when_idle_and_wrong_codes_run_out(
    app_runtime, client: httpx.AsyncClient, world: World
):
    await _sign_in(client, app_runtime, world.a.staff_email)
    assert (await client.get("/api/v1/me")).status_code == 200
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        idle = timedelta(seconds=app_runtime.settings.staff_session_idle_s + 1)
        await s.execute(update(StaffSession).values(last_seen_at=utcnow() - idle))
    assert (await client.get("/api/v1/me")).status_code == 401

    await client.post("/api/v1/auth/code", json={"identity": world.a.staff_email})
    for _ in range(app_runtime.settings.login_code_max_attempts):
        wrong = await client.post(
            "/api/v1/auth/verify", json={"identity": world.a.staff_email, "code": "999999"}
        )
        assert wrong.status_code == 401
    right = _code(app_runtime.staff_auth.email.sent[-1].text)
    spent = await client.post(
        "/api/v1/auth/verify", json={"identity": world.a.staff_email, "code": right}
    )
    assert spent.status_code == 429


async def test_an_operator_without_an_authenticator_enrols_at_first_sign_in(
    app_runtime, client: httpx.AsyncClient
):
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        person = StaffMember(email="ny@ladeflyt.no")
        s.add(person)
        await s.flush()
        s.add(StaffRole(staff_id=person.id, role=Role.OPERATOR_SUPPORT.value))
    step = await _sign_in(client, app_runtime, "ny@ladeflyt.no")
    assert step["stage"] == "totp_setup"
    assert step["totp_uri"].startswith("otpauth://totp/Ladeflyt:ny%40ladeflyt.no?secret=")
    code = await _totp_now(app_runtime, "ny@ladeflyt.no")
    assert (await client.post("/api/v1/auth/totp", json={"code": code})).status_code == 200
    roles = (await client.get("/api/v1/me")).json()["grants"]
    assert roles == [{"role": "operator_support", "organisation_id": None}]
