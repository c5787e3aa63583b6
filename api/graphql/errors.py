"""Errors the API shows as they are (bad input); anything else is masked and logged."""

from __future__ import annotations

import logging

from graphql.error import GraphQLError

log = logging.getLogger("api.graphql")


class InputError(Exception):
    """The request itself is wrong (out-of-range argument, bad cursor): say so plainly."""


def should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError | InputError):
        return False
    log.error("unexpected error in %s", error.path, exc_info=original)
    return True
