"""Adapters for the delivery ports (core.ports): SMTP and console e-mail, file drops for the
eFaktura distributor, the EHF access point and the print shop, and a Peppol access point
over HTTP."""
