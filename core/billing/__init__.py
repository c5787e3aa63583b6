"""Billing: monthly invoices with KID, credit notes, EHF export, cost sharing and reports."""
