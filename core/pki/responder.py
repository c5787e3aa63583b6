"""A small OCSP responder over HTTP for the test PKI (tests and the demo): it answers for
the certificates its CAs issued, good unless revoked here."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ReasonFlags, ocsp

from core.pki.certs import Issuer
from core.timeutil import utcnow


class OcspResponder:
    def __init__(self, issuers: list[Issuer]) -> None:
        self.issuers = issuers
        self.revoked: dict[int, datetime] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def revoke(self, serial: int, at: datetime | None = None) -> None:
        self.revoked[serial] = at or utcnow()

    def answer(self, der: bytes) -> bytes:
        try:
            request = ocsp.load_der_ocsp_request(der)
        except ValueError:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        algorithm = request.hash_algorithm
        for issuer in self.issuers:
            wanted = (_name_hash(issuer, algorithm), _key_hash(issuer, algorithm))
            if (request.issuer_name_hash, request.issuer_key_hash) != wanted:
                continue
            now = utcnow()
            revoked_at = self.revoked.get(request.serial_number)
            builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number,
                algorithm=algorithm,
                cert_status=ocsp.OCSPCertStatus.REVOKED if revoked_at else ocsp.OCSPCertStatus.GOOD,
                this_update=now,
                next_update=now + timedelta(hours=1),
                revocation_time=revoked_at,
                revocation_reason=ReasonFlags.key_compromise if revoked_at else None,
            )
            response = (
                builder.responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.cert)
                .certificates(list(issuer.chain[:1]))
                .sign(issuer.key, hashes.SHA256())
            )
            return response.public_bytes(serialization.Encoding.DER)
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)

    # ------------------------------------------------------------------ HTTP

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/ocsp"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 65536)
                body = responder.answer(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _name_hash(issuer: Issuer, algorithm: hashes.HashAlgorithm) -> bytes:
    digest = hashes.Hash(type(algorithm)())
    digest.update(issuer.cert.subject.public_bytes())
    return digest.finalize()


def _key_hash(issuer: Issuer, algorithm: hashes.HashAlgorithm) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = issuer.cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    raw = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    digest = hashes.Hash(type(algorithm)())
    digest.update(raw)
    return digest.finalize()


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )
