"""Certificates for Plug & Charge and for chargers: chains, OCSP, signing (ISO 15118 PKI)."""
