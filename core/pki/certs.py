"""X.509 the way ISO 15118 and OCPP use it: PEM chains, the certificate hash data that
names a certificate (OCSPRequestDataType / CertificateHashDataType), chain verification
with the spec's outcome words, and issuing a certificate from a CSR."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}
SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class ChainStatus(StrEnum):
    """AuthorizeCertificateStatusEnumType (OCPP 2.0.1 and 2.1)."""

    ACCEPTED = "Accepted"
    SIGNATURE_ERROR = "SignatureError"
    CERTIFICATE_EXPIRED = "CertificateExpired"
    CERTIFICATE_REVOKED = "CertificateRevoked"
    NO_CERTIFICATE_AVAILABLE = "NoCertificateAvailable"
    CERT_CHAIN_ERROR = "CertChainError"
    CONTRACT_CANCELLED = "ContractCancelled"


@dataclass(frozen=True)
class HashData:
    """How OCPP names a certificate: its issuer's name and key hashes and its serial."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    responder_url: str | None = None

    @classmethod
    def of(cls, data: dict[str, str]) -> HashData:
        """From an OCPP payload (camelCase)."""
        return cls(
            hash_algorithm=data["hashAlgorithm"],
            issuer_name_hash=data["issuerNameHash"].lower(),
            issuer_key_hash=data["issuerKeyHash"].lower(),
            serial_number=data["serialNumber"].lower().lstrip("0") or "0",
            responder_url=data.get("responderURL"),
        )

    def ocpp(self, *, with_url: bool = False) -> dict[str, str]:
        out = {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }
        if with_url and self.responder_url:
            out["responderURL"] = self.responder_url
        return out

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.issuer_name_hash, self.issuer_key_hash, self.serial_number)


def load_chain(pem: str | bytes) -> list[x509.Certificate]:
    """A PEM bundle, leaf first (as OCPP sends it); [] when it holds none."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def to_pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def ocsp_url(cert: x509.Certificate) -> str | None:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for desc in aia:
        if desc.access_method == x509.AuthorityInformationAccessOID.OCSP:
            return str(desc.access_location.value)
    return None


def hash_data(
    cert: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256"
) -> HashData:
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, HASHES[algorithm]()).build()
    return HashData(
        hash_algorithm=algorithm,
        issuer_name_hash=request.issuer_name_hash.hex(),
        issuer_key_hash=request.issuer_key_hash.hex(),
        serial_number=format(cert.serial_number, "x"),
        responder_url=ocsp_url(cert),
    )


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    """True if `issuer` signed `cert`; False for a bad signature; None if not its issuer."""
    if cert.issuer != issuer.subject:
        return None
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return False
    except (ValueError, TypeError):
        return None
    return True


def verify_chain(
    chain: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime,
) -> ChainStatus:
    """Leaf first, sub-CAs after it; the chain must end in one of `roots` (which the
    charger need not send). Dates are checked on every certificate."""
    if not chain:
        return ChainStatus.NO_CERTIFICATE_AVAILABLE
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            return ChainStatus.CERTIFICATE_EXPIRED
    for cert, issuer in itertools.pairwise(chain):
        ok = _issued_by(cert, issuer)
        if ok is None:
            return ChainStatus.CERT_CHAIN_ERROR
        if not ok:
            return ChainStatus.SIGNATURE_ERROR
    top = chain[-1]
    if any(top == root for root in roots):
        return ChainStatus.ACCEPTED
    for root in roots:
        ok = _issued_by(top, root)
        if ok:
            if not root.not_valid_before_utc <= at <= root.not_valid_after_utc:
                return ChainStatus.CERTIFICATE_EXPIRED
            return ChainStatus.ACCEPTED
        if ok is False:
            return ChainStatus.SIGNATURE_ERROR
    return ChainStatus.CERT_CHAIN_ERROR


@dataclass(frozen=True)
class Issuer:
    """A CA that signs: its certificate chain (itself first, up to the root) and key."""

    chain: tuple[x509.Certificate, ...]
    key: SigningKey
    ocsp_url: str | None = None

    @property
    def cert(self) -> x509.Certificate:
        return self.chain[0]

    def sign_csr(
        self,
        csr: x509.CertificateSigningRequest,
        at: datetime,
        days: int,
        *,
        common_name_must_be: str | None = None,
        client_auth: bool = True,
        server_auth: bool = False,
    ) -> x509.Certificate:
        if not csr.is_signature_valid:
            raise ValueError("the CSR's signature is not valid")
        if common_name_must_be is not None:
            names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if not names or names[0].value != common_name_must_be:
                raise ValueError(f"the CSR's common name must be {common_name_must_be}")
        return issue(
            self,
            csr.subject,
            csr.public_key(),  # type: ignore[arg-type]
            at,
            days,
            ca=False,
            client_auth=client_auth,
            server_auth=server_auth,
        )


def issue(
    issuer: Issuer | None,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    at: datetime,
    days: int,
    *,
    ca: bool,
    path_length: int | None = None,
    key: SigningKey | None = None,
    client_auth: bool = False,
    server_auth: bool = False,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
) -> x509.Certificate:
    """One certificate: self-signed with `key` when `issuer` is None (a root)."""
    import ipaddress

    signer = issuer.key if issuer is not None else key
    assert signer is not None
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(minutes=5))
        .not_valid_after(at + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if ca:
        usage = x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
    else:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=True,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
    builder = builder.add_extension(usage, critical=True)
    purposes = []
    if client_auth:
        purposes.append(x509.ExtendedKeyUsageOID.CLIENT_AUTH)
    if server_auth:
        purposes.append(x509.ExtendedKeyUsageOID.SERVER_AUTH)
    if purposes:
        builder = builder.add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        if issuer.ocsp_url:
            builder = builder.add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            x509.AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(issuer.ocsp_url),
                        )
                    ]
                ),
                critical=False,
            )
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(signer, hashes.SHA256())


def name(common: str, organisation: str = "", country: str = "NO") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if organisation:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    return x509.Name(attrs)


def new_key() -> ec.EllipticCurvePrivateKey:
    # ISO 15118-2 uses secp256r1 throughout.
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: SigningKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def load_key(pem: str | bytes) -> SigningKey:
    data = pem.encode() if isinstance(pem, str) else pem
    loaded = serialization.load_pem_private_key(data, password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return loaded


def csr_for(common: str, key: SigningKey, organisation: str = "") -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name(common, organisation))
        .sign(key, hashes.SHA256())
    )


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
