"""Paying for charging and invoices: holds, exact captures, guests, invoice links."""
