"""Errors the API shows as they are (the client's mistakes) and faults it masks and logs.

A client mistake (a query that does not validate or passes a limit, not signed in, a bad
argument) is logged at INFO in one line: it is the client's to fix, and a traceback would
only bury the server's own faults, which are logged at ERROR with theirs."""

from __future__ import annotations

import logging

from graphql.error import GraphQLError

log = logging.getLogger("api.graphql")


class InputError(Exception):
    """The request itself is wrong (out-of-range argument, bad cursor): say so plainly."""


def is_client_error(error: GraphQLError) -> bool:
    """The request's fault, not the server's: shown as is, logged without a traceback."""
    original = error.original_error
    return original is None or isinstance(original, GraphQLError | InputError | PermissionError)


def log_errors(errors: list[GraphQLError]) -> None:
    for error in errors:
        if is_client_error(error):
            code = (error.extensions or {}).get("code")
            log.info(
                "client error%s%s: %s",
                f" {code}" if code else "",
                f" at {'.'.join(map(str, error.path))}" if error.path else "",
                error.message,
            )
        else:
            log.error("unexpected error in %s", error.path, exc_info=error.original_error)


def should_mask(error: GraphQLError) -> bool:
    """Faults are masked ("Internal server error"); `log_errors` has logged them."""
    return not is_client_error(error)
