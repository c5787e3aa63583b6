"""A complete ISO 15118 test PKI built on the spot: V2G root, CPO sub-CA 1 and 2, MO
sub-CA, contract certificates (CN = eMAID), charging-station certificates, the CSMS's
TLS server certificate, and an OCSP responder for all of them. For tests and the demo:
the operator's real roots and services are configuration (see README)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from core.pki import certs
from core.pki.certs import Issuer
from core.pki.responder import OcspResponder
from core.timeutil import utcnow


@dataclass
class TestPki:
    __test__ = False  # not a pytest test class
    root: Issuer
    cpo_sub1: Issuer
    cpo_sub2: Issuer  # signs charging-station (SECC and CSMS client) certificates
    mo_sub: Issuer  # signs contract certificates
    responder: OcspResponder
    issued: dict[str, tuple[x509.Certificate, certs.SigningKey]] = field(default_factory=dict)

    @classmethod
    def build(cls, ocsp_url: str | None = None, at: datetime | None = None) -> TestPki:
        """All CAs; `ocsp_url` (if known) goes into every certificate they issue."""
        at = at or utcnow()
        root_key = certs.new_key()
        root_cert = certs.issue(
            None,
            certs.name("V2G Root CA (test)", "Ladeflyt test PKI"),
            root_key.public_key(),
            at,
            3650,
            ca=True,
            path_length=2,
            key=root_key,
        )
        root = Issuer((root_cert,), root_key)

        def sub(parent: Issuer, common: str, path_length: int) -> Issuer:
            key = certs.new_key()
            cert = certs.issue(
                parent,
                certs.name(common, "Ladeflyt test PKI"),
                key.public_key(),
                at,
                1825,
                ca=True,
                path_length=path_length,
            )
            return Issuer((cert, *parent.chain), key, ocsp_url)

        root = Issuer((root_cert,), root_key, ocsp_url)
        cpo1 = sub(root, "CPO Sub-CA 1 (test)", 1)
        cpo2 = sub(cpo1, "CPO Sub-CA 2 (test)", 0)
        mo = sub(root, "MO Sub-CA (test)", 0)
        responder = OcspResponder([root, cpo1, cpo2, mo])
        return cls(root, cpo1, cpo2, mo, responder)

    @classmethod
    def serving(cls) -> TestPki:
        """A PKI whose OCSP responder is already listening on 127.0.0.1."""
        responder = OcspResponder([])
        url = responder.start()
        pki = cls.build(ocsp_url=url)
        responder.issuers = pki.responder.issuers
        pki.responder = responder
        return pki

    def stop(self) -> None:
        self.responder.stop()

    @property
    def roots(self) -> list[x509.Certificate]:
        return [self.root.cert]

    def contract(
        self, emaid: str, *, days: int = 730, at: datetime | None = None
    ) -> tuple[x509.Certificate, certs.SigningKey]:
        """A contract certificate for `emaid` (the car holds the key)."""
        key = certs.new_key()
        cert = certs.issue(
            self.mo_sub,
            certs.name(emaid, "Ladeflyt MO (test)"),
            key.public_key(),
            at or utcnow(),
            days,
            ca=False,
            client_auth=True,
        )
        self.issued[emaid] = (cert, key)
        return cert, key

    def contract_chain_pem(self, cert: x509.Certificate) -> str:
        """Leaf and MO sub-CA, as a car sends it (the root is the trust anchor)."""
        return certs.to_pem(cert, self.mo_sub.cert)

    def station(
        self, charge_point_id: str, *, at: datetime | None = None
    ) -> tuple[x509.Certificate, certs.SigningKey]:
        """A charging station's client certificate (security profile 3)."""
        key = certs.new_key()
        cert = certs.issue(
            self.cpo_sub2,
            certs.name(charge_point_id, "Ladeflyt CPO (test)"),
            key.public_key(),
            at or utcnow(),
            365,
            ca=False,
            client_auth=True,
        )
        return cert, key

    def server(self, host: str = "127.0.0.1") -> tuple[x509.Certificate, certs.SigningKey]:
        """The CSMS's TLS server certificate."""
        key = certs.new_key()
        ips = [host] if host.replace(".", "").isdigit() else []
        cert = certs.issue(
            self.cpo_sub2,
            certs.name("csms.test", "Ladeflyt CPO (test)"),
            key.public_key(),
            utcnow(),
            365,
            ca=False,
            server_auth=True,
            client_auth=False,
            dns_names=["localhost"],
            ip_addresses=ips,
        )
        return cert, key

    def write(self, directory: Path) -> dict[str, Path]:
        """The files the settings point at (LADEFLYT_PNC_*, LADEFLYT_OCPP_TLS_*)."""
        directory.mkdir(parents=True, exist_ok=True)
        server_cert, server_key = self.server()
        files = {
            "v2g_root.pem": certs.to_pem(self.root.cert),
            "cpo_sub_ca.pem": certs.to_pem(*self.cpo_sub2.chain),
            "cpo_sub_ca.key": certs.key_pem(self.cpo_sub2.key),
            "mo_sub_ca.pem": certs.to_pem(*self.mo_sub.chain),
            "mo_sub_ca.key": certs.key_pem(self.mo_sub.key),
            "csms_server.pem": certs.to_pem(server_cert, *self.cpo_sub2.chain),
            "csms_server.key": certs.key_pem(server_key),
        }
        paths = {}
        for filename, text in files.items():
            path = directory / filename
            path.write_text(text)
            if filename.endswith(".key"):
                path.chmod(0o600)
            paths[filename] = path
        return paths
