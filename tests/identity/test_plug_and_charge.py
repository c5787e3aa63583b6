"""Plug & Charge over real websockets (OCPP 2.0.1) with a test PKI and a real OCSP
responder on 127.0.0.1: contract certificates authorize a session through the one start
flow; revoked, expired, cancelled and foreign contracts get the spec's statuses; an OCSP
responder that is down follows the configured policy; the certificate messages and the
operator's certificate commands; security profile 3 with real TLS."""

from __future__ import annotations

import asyncio
import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from sqlalchemy import select
from websockets.typing import Subprotocol

from core import bus
from core.identity import pnc
from core.models import ChargingContract, ChargingSession, StationCertificate, User
from core.pki import certs
from core.pki.certs import Issuer
from core.pki.ports import demo_exi_chain, demo_exi_request
from core.pki.testpki import TestPki
from core.timeutil import utcnow
from tests.helpers import Charger201, arrange, connect
from tests.ocpp_gateway.test_v201 import boot, energy, event, ts
from tests.pages.flows import CODE, until
from tests.payments.test_every_start_settled import card_payer, rows, settled

EMAID = "NO-LFT-C12345678-9"
STORED = "NOLFTC123456789"


@pytest.fixture(scope="module")
def pki() -> Any:
    built = TestPki.serving()
    yield built
    built.stop()


@pytest.fixture(scope="module")
def pki_files(pki, tmp_path_factory) -> dict[str, Path]:
    return pki.write(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def settings(settings, pki, pki_files):
    settings.pnc_trust_roots_file = str(pki_files["v2g_root.pem"])
    settings.pnc_station_ca_cert_file = str(pki_files["cpo_sub_ca.pem"])
    settings.pnc_station_ca_key_file = str(pki_files["cpo_sub_ca.key"])
    settings.pnc_mo_ca_cert_file = str(pki_files["mo_sub_ca.pem"])
    settings.pnc_mo_ca_key_file = str(pki_files["mo_sub_ca.key"])
    settings.pnc_ocsp_default_url = pki.responder.url
    return settings


class Station(Charger201):
    """A 2.0.1 station that takes the CSMS's certificate commands."""

    @on("CertificateSigned")
    async def on_certificate_signed(self, **kw: Any) -> Any:
        self.received.append(("CertificateSigned", kw))
        return result201.CertificateSigned(status="Accepted")

    @on("InstallCertificate")
    async def on_install(self, **kw: Any) -> Any:
        self.received.append(("InstallCertificate", kw))
        return result201.InstallCertificate(status="Accepted")

    @on("GetInstalledCertificateIds")
    async def on_installed(self, **kw: Any) -> Any:
        self.received.append(("GetInstalledCertificateIds", kw))
        return result201.GetInstalledCertificateIds(
            status="Accepted",
            certificate_hash_data_chain=[
                {
                    "certificate_type": "V2GRootCertificate",
                    "certificate_hash_data": {
                        "hash_algorithm": "SHA256",
                        "issuer_name_hash": "aa",
                        "issuer_key_hash": "bb",
                        "serial_number": "1",
                    },
                }
            ],
        )

    @on("DeleteCertificate")
    async def on_delete(self, **kw: Any) -> Any:
        self.received.append(("DeleteCertificate", kw))
        return result201.DeleteCertificate(status="Accepted")

    @on("TriggerMessage")
    async def on_trigger(self, **kw: Any) -> Any:
        self.received.append(("TriggerMessage", kw))
        return result201.TriggerMessage(status="Accepted")


async def _kari_with_contract(runtime, pki: TestPki, **contract: Any) -> Any:
    await card_payer(runtime)
    cert, _ = pki.contract(EMAID.replace("-", ""), **contract)

    async def work(s):
        user = (await s.execute(select(User))).scalar_one()
        await pnc.add_contract(s, user, EMAID, certs.to_pem(cert))

    await arrange(runtime, work)
    return cert


def _authorize(pki: TestPki, cert: Any, *, whole: bool = True) -> call201.Authorize:
    token = {"id_token": EMAID, "type": "eMAID"}
    if whole:
        return call201.Authorize(id_token=token, certificate=pki.contract_chain_pem(cert))
    data = certs.hash_data(cert, pki.mo_sub.cert)
    return call201.Authorize(
        id_token=token,
        iso15118_certificate_hash_data=[
            {
                "hash_algorithm": data.hash_algorithm,
                "issuer_name_hash": data.issuer_name_hash,
                "issuer_key_hash": data.issuer_key_hash,
                "serial_number": data.serial_number,
                "responder_url": data.responder_url,
            }
        ],
    )


@pytest.mark.parametrize("whole", [True, False], ids=["certificate", "hash-data"])
async def test_a_contract_certificate_starts_a_session_paid_like_any_start(
    runtime, ocpp_url, pki, whole
):
    cert = await _kari_with_contract(runtime, pki)
    async with connect(ocpp_url, CODE, protocol="2.0.1") as cp:
        await cp.call(boot())
        answer = await cp.call(_authorize(pki, cert, whole=whole))
        assert (answer.id_token_info["status"], answer.certificate_status) == (
            "Accepted",
            "Accepted",
        )
        token = {"id_token": EMAID, "type": "eMAID"}
        began = await cp.call(
            event(
                "Started",
                0,
                ts(-600),
                tx="pnc-1",
                id_token=token,
                evse={"id": 1, "connector_id": 1},
                meter_value=energy(10_000, ts(-600)),
            )
        )
        assert began.id_token_info["status"] == "Accepted"
        await cp.call(event("Ended", 1, ts(-1), tx="pnc-1", meter_value=energy(12_000, ts(-1))))
    (cs,) = await rows(runtime, ChargingSession)
    cs = await until(lambda: settled(runtime, cs.id), "settlement")
    assert (cs.channel, cs.id_token, cs.energy_wh, cs.payment_state, cs.cost_ore) == (
        "pnc",
        STORED,
        2_000,
        "paid",
        1_000,
    )


@pytest.mark.parametrize(
    ("case", "certificate_status", "token_status"),
    [
        ("revoked", "CertificateRevoked", "Invalid"),  # C07.FR.16
        ("expired", "CertificateExpired", "Expired"),
        ("cancelled", "ContractCancelled", "Blocked"),
        ("forged", "SignatureError", "Invalid"),
        ("no_sub_ca", "CertChainError", "Invalid"),
        ("ocsp_down", "NoCertificateAvailable", "Invalid"),
    ],
)
async def test_refused_contracts_get_the_spec_status(
    runtime, ocpp_url, pki, case, certificate_status, token_status
):
    if case == "expired":
        cert = await _kari_with_contract(runtime, pki, days=1, at=utcnow() - timedelta(days=3))
    else:
        cert = await _kari_with_contract(runtime, pki)
    chain = pki.contract_chain_pem(cert)
    if case == "revoked":
        pki.responder.revoke(cert.serial_number)
    elif case == "cancelled":
        await arrange(runtime, lambda s: pnc.cancel_contract(s, EMAID))
    elif case == "no_sub_ca":
        chain = certs.to_pem(cert)  # the MO sub-CA missing: nothing leads to a root
    elif case == "forged":
        # Same names as our PKI, other keys: the signatures do not hold.
        other = TestPki.build()
        foreign, _ = other.contract(STORED)
        chain = other.contract_chain_pem(foreign)
    elif case == "ocsp_down":
        # The MO sub-CA's responder, as named in this certificate, does not answer.
        dead = Issuer(pki.mo_sub.chain, pki.mo_sub.key, "http://127.0.0.1:9/ocsp")
        leaf = certs.issue(
            dead, certs.name(STORED), certs.new_key().public_key(), utcnow(), 30, ca=False
        )
        chain = certs.to_pem(leaf, pki.mo_sub.cert)
    async with connect(ocpp_url, CODE, protocol="2.0.1") as cp:
        await cp.call(boot())
        answer = await cp.call(
            call201.Authorize(id_token={"id_token": EMAID, "type": "eMAID"}, certificate=chain)
        )
    assert (answer.certificate_status, answer.id_token_info["status"]) == (
        certificate_status,
        token_status,
    )


async def test_with_the_accept_policy_an_ocsp_outage_does_not_strand_the_driver(
    runtime, ocpp_url, pki
):
    runtime.gateway_ctx.pnc.ocsp_unavailable = "accept"
    await _kari_with_contract(runtime, pki)
    dead = Issuer(pki.mo_sub.chain, pki.mo_sub.key, "http://127.0.0.1:9/ocsp")
    leaf = certs.issue(
        dead, certs.name(STORED), certs.new_key().public_key(), utcnow(), 30, ca=False
    )
    async with connect(ocpp_url, CODE, protocol="2.0.1") as cp:
        await cp.call(boot())
        answer = await cp.call(
            call201.Authorize(
                id_token={"id_token": EMAID, "type": "eMAID"},
                certificate=certs.to_pem(leaf, pki.mo_sub.cert),
            )
        )
    assert (answer.certificate_status, answer.id_token_info["status"]) == ("Accepted", "Accepted")


async def test_certificate_messages_and_operator_commands(runtime, ocpp_url, pki):
    await _kari_with_contract(runtime, pki)
    commands = runtime.gateway_ctx.commands
    async with connect(ocpp_url, CODE, protocol="2.0.1", charger_class=Station) as cp:
        await cp.call(boot())
        # The car asks for a new contract certificate (installation through the service).
        key = certs.new_key()
        request = demo_exi_request(STORED, certs.csr_pem(certs.csr_for(STORED, key)))
        got = await cp.call(
            call201.Get15118EVCertificate(
                iso15118_schema_version="urn:iso:15118:2:2013:MsgDef",
                action="Install",
                exi_request=request,
            )
        )
        assert got.status == "Accepted"
        new_leaf = certs.load_chain(demo_exi_chain(got.exi_response))[0]
        assert certs.common_name(new_leaf) == STORED

        (contract,) = await rows(runtime, ChargingContract)
        assert contract.serial_number == format(new_leaf.serial_number, "x")

        # The station asks for the OCSP status of a certificate it holds.
        data = certs.hash_data(new_leaf, pki.mo_sub.cert)
        status = await cp.call(
            call201.GetCertificateStatus(
                ocsp_request_data={
                    "hash_algorithm": data.hash_algorithm,
                    "issuer_name_hash": data.issuer_name_hash,
                    "issuer_key_hash": data.issuer_key_hash,
                    "serial_number": data.serial_number,
                    "responder_url": data.responder_url,
                }
            )
        )
        assert status.status == "Accepted" and status.ocsp_result

        # The operator asks the station to renew its certificate; it sends a CSR, the
        # operator's sub-CA signs it, and CertificateSigned follows the answer.
        triggered = await commands.send(
            CODE, bus.TriggerMessage(message="SignChargingStationCertificate")
        )
        assert triggered.status == "Accepted"
        station_key = certs.new_key()
        signed = await cp.call(
            call201.SignCertificate(
                csr=certs.csr_pem(certs.csr_for(CODE, station_key)),
                certificate_type="ChargingStationCertificate",
            )
        )
        assert signed.status == "Accepted"

        async def delivered(s):
            row = (await s.execute(select(StationCertificate))).scalar_one_or_none()
            return row if row is not None and row.delivery_status else None

        row = await until(lambda: arrange(runtime, delivered), "CertificateSigned")
        assert row.delivery_status == "Accepted"
        (chain,) = [kw for action, kw in cp.received if action == "CertificateSigned"]
        leaf = certs.load_chain(chain["certificate_chain"])[0]
        assert certs.common_name(leaf) == CODE
        verified = certs.verify_chain(
            certs.load_chain(chain["certificate_chain"]), pki.roots, utcnow()
        )
        assert verified == "Accepted"

        # A CSR that names another station is refused.
        wrong = await cp.call(
            call201.SignCertificate(csr=certs.csr_pem(certs.csr_for("OTHER", station_key)))
        )
        assert wrong.status == "Rejected"

        root_pem = certs.to_pem(pki.root.cert)
        installed = await commands.send(
            CODE,
            bus.InstallCertificate(certificate_type="V2GRootCertificate", certificate=root_pem),
        )
        listed = await commands.send(
            CODE, bus.GetInstalledCertificateIds(certificate_types=("V2GRootCertificate",))
        )
        deleted = await commands.send(
            CODE,
            bus.DeleteCertificate(
                hash_data={
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "aa",
                    "issuerKeyHash": "bb",
                    "serialNumber": "1",
                }
            ),
        )
        assert (installed.status, listed.status, deleted.status) == ("Accepted",) * 3
        assert listed.payload["certificate_hash_data_chain"][0]["certificate_type"] == (
            "V2GRootCertificate"
        )
        actions = [action for action, _ in cp.received]
        assert actions == [
            "TriggerMessage",
            "CertificateSigned",
            "InstallCertificate",
            "GetInstalledCertificateIds",
            "DeleteCertificate",
        ]
        assert cp.received[0][1]["requested_message"] == "SignChargingStationCertificate"


@pytest.fixture
def tls_settings(settings, pki_files):
    settings.ocpp_tls_cert_file = str(pki_files["csms_server.pem"])
    settings.ocpp_tls_key_file = str(pki_files["csms_server.key"])
    settings.ocpp_tls_client_ca_file = str(pki_files["v2g_root.pem"])
    return settings


def _client_tls(pki: TestPki, tmp: Path, cp_id: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=None)
    context.load_verify_locations(cadata=certs.to_pem(pki.root.cert))
    if cp_id is not None:
        cert, key = pki.station(cp_id)
        (tmp / "c.pem").write_text(certs.to_pem(cert, *pki.cpo_sub2.chain[:-1]))
        (tmp / "c.key").write_text(certs.key_pem(key))
        context.load_cert_chain(tmp / "c.pem", tmp / "c.key")
    return context


async def test_security_profile_3_client_certificates_over_real_tls(
    tls_settings, runtime, pki, tmp_path
):
    from core.chargers.service import add_charger

    await arrange(
        runtime,
        lambda s: add_charger(s, "TLS-1", site_name="Klokkarstua", password="a-long-password-123"),
    )
    url = f"wss://127.0.0.1:{runtime.gateway.port}/ocpp/TLS-1"
    protocols = [Subprotocol("ocpp2.0.1")]
    # Profile 3: the station's certificate (CN = its id) replaces the password.
    async with websockets.connect(
        url, subprotocols=protocols, ssl=_client_tls(pki, tmp_path, "TLS-1")
    ) as ws:
        cp = Charger201("TLS-1", ws)
        task = asyncio.create_task(cp.start())
        try:
            assert (await cp.call(boot())).status == "Accepted"
        finally:
            task.cancel()
    # Another station's certificate is not this charger's.
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            url, subprotocols=protocols, ssl=_client_tls(pki, tmp_path, "TLS-2")
        ):
            pass
    assert refused.value.response.status_code == 401
    # Profile 2 on the same port: TLS without a client certificate needs the password.
    with pytest.raises(websockets.InvalidStatus) as no_password:
        async with websockets.connect(
            url, subprotocols=protocols, ssl=_client_tls(pki, tmp_path, None)
        ):
            pass
    assert no_password.value.response.status_code == 401


async def test_a_good_ocsp_answer_cached_before_an_outage_still_counts(runtime, ocpp_url, pki):
    """C07.FR.05: "via real-time or cached OCSP data". The same certificate asked again
    while its responder is unreachable is accepted on the cached good answer; another
    certificate, never checked, is refused."""
    cert = await _kari_with_contract(runtime, pki)
    first = _authorize(pki, cert, whole=False)
    down = dict(first.iso15118_certificate_hash_data[0], responder_url="http://127.0.0.1:9/ocsp")
    never, _ = pki.contract(STORED)
    unseen = dict(
        _authorize(pki, never, whole=False).iso15118_certificate_hash_data[0],
        responder_url="http://127.0.0.1:9/ocsp",
    )
    token = {"id_token": EMAID, "type": "eMAID"}
    async with connect(ocpp_url, CODE, protocol="2.0.1") as cp:
        await cp.call(boot())
        answers = [
            await cp.call(first),
            await cp.call(call201.Authorize(id_token=token, iso15118_certificate_hash_data=[down])),
            await cp.call(
                call201.Authorize(id_token=token, iso15118_certificate_hash_data=[unseen])
            ),
        ]
    assert [(a.certificate_status, a.id_token_info["status"]) for a in answers] == [
        ("Accepted", "Accepted"),
        ("Accepted", "Accepted"),
        ("NoCertificateAvailable", "Invalid"),
    ]
