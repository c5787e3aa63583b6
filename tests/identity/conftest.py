"""The API client of the identity tests: the one tests/api uses."""

from tests.api.conftest import client

__all__ = ["client"]
