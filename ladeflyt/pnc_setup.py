"""Plug & Charge and TLS wiring from the settings (files of the operator's PKI)."""

from __future__ import annotations

import ssl
from pathlib import Path

from core.config import Settings
from core.identity.pnc import PlugAndCharge
from core.pki import certs
from core.pki.certs import Issuer
from core.pki.ocsp import HttpOcspClient
from core.pki.ports import LocalContractService, LocalStationSigner


def _issuer(cert_file: str, key_file: str, ocsp_url: str = "") -> Issuer | None:
    if not cert_file or not key_file:
        return None
    chain = certs.load_chain(Path(cert_file).read_bytes())
    if not chain:
        raise ValueError(f"{cert_file} holds no certificate")
    key = certs.load_key(Path(key_file).read_bytes())
    return Issuer(tuple(chain), key, ocsp_url or None)


def plug_and_charge(settings: Settings) -> PlugAndCharge | None:
    if not settings.pnc_trust_roots_file:
        return None
    roots = certs.load_chain(Path(settings.pnc_trust_roots_file).read_bytes())
    if not roots:
        raise ValueError(f"{settings.pnc_trust_roots_file} holds no certificate")
    station = _issuer(settings.pnc_station_ca_cert_file, settings.pnc_station_ca_key_file)
    # Contract certificates it issues name the OCSP responder that knows them.
    mo = _issuer(
        settings.pnc_mo_ca_cert_file, settings.pnc_mo_ca_key_file, settings.pnc_ocsp_default_url
    )
    return PlugAndCharge(
        roots=roots,
        ocsp=HttpOcspClient(
            roots,
            default_url=settings.pnc_ocsp_default_url or None,
            timeout_s=settings.pnc_ocsp_timeout_s,
        ),
        contracts=LocalContractService(mo) if mo is not None else None,
        station_signer=LocalStationSigner(station, settings.pnc_station_cert_days)
        if station is not None
        else None,
        ocsp_unavailable=settings.pnc_ocsp_unavailable,
    )


def ocpp_tls(settings: Settings) -> ssl.SSLContext | None:
    """TLS for the OCPP port (security profiles 2 and 3), or None for plain ws://."""
    if not settings.ocpp_tls_cert_file:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.ocpp_tls_cert_file, settings.ocpp_tls_key_file or None)
    if settings.ocpp_tls_client_ca_file:
        context.load_verify_locations(settings.ocpp_tls_client_ca_file)
        # Optional: profile 2 chargers (password over TLS) share the port with profile 3.
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
