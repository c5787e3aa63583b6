"""One GraphQL request = one transaction, committed before the answer is sent.

The answer says what happened only if the change is durable when the client reads it: a
query sent right after a mutation's answer must see the change, and a commit that fails
must not be reported as success. So the request's transaction ends here, inside the
operation, not in a dependency that FastAPI closes after the response has gone out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from api.graphql.context import Context
from api.graphql.errors import is_client_error

log = logging.getLogger("api.graphql")


def not_saved() -> GraphQLError:
    return GraphQLError(
        "The change could not be saved, and nothing was changed. Try again.",
        extensions={"code": "NOT_SAVED"},
    )


class CommitBeforeAnswer(SchemaExtension):
    """Commit the request's session when its fields are resolved; roll it back after a
    server fault. A mutation whose changes were not committed answers `data: null` with
    a NOT_SAVED error, never its success types."""

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        ec = self.execution_context
        context = ec.context
        if ec.operation_type == OperationType.SUBSCRIPTION or not isinstance(context, Context):
            return
        result = ec.result
        if not isinstance(result, GraphQLExecutionResult):
            return
        faulted = any(not is_client_error(e) for e in result.errors or ())
        if not faulted:
            try:
                await context.session.commit()
                return
            except Exception:
                log.exception("commit of a %s failed", ec.operation_type.value)
        await context.session.rollback()
        if ec.operation_type == OperationType.MUTATION:
            result.data = None
            result.errors = [*(result.errors or ()), not_saved()]
