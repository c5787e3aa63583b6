"""Tariffs: what a driver pays at a charger, and what a charging session costs."""
