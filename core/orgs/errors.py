"""Errors of the organisation domain; each carries the HTTP status a transport answers with."""

from __future__ import annotations


class OrgError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(OrgError):
    """Unknown, or another organisation's (never 403: that would confirm it exists)."""

    status = 404
    title = "Not found"


class Forbidden(OrgError):
    """Visible to the caller, but the caller's role does not allow this."""

    status = 403
    title = "Forbidden"


class Conflict(OrgError):
    status = 409
    title = "Conflict"


class Invalid(OrgError):
    status = 422
    title = "Invalid input"


class Unauthenticated(OrgError):
    status = 401
    title = "Unauthorized"


class RateLimited(OrgError):
    status = 429
    title = "Too many requests"
