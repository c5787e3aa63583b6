"""Tenancy: organisations own sites; drivers are members in groups; staff and API keys act
within the organisations their roles name. Every query that serves them is scoped here."""
