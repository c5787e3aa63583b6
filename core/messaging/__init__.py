"""Outbound SMS: an outbox with dedup keys, quiet hours and opt-outs, and its dispatcher."""
