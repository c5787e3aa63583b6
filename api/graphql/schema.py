"""The driver GraphQL schema and its FastAPI router."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import strawberry
from cross_web import HTTPException
from fastapi import Depends
from graphql.error import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionContext
from strawberry.types.unset import UNSET

from api.docs import graphiql_html
from api.graphql.context import Context, DriverServices, client_ip
from api.graphql.errors import log, log_errors, should_mask
from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.subscriptions import Subscription
from api.graphql.transaction import CommitBeforeAnswer
from api.observability import GraphQLMetrics
from core.config import Settings
from core.db import serial_sessions


class DriverSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs every error with a traceback; ours tells mistakes from faults.
        log_errors(errors)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    limits = settings
    rules = [
        *QueryDepthLimiter(max_depth=limits.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.graphql_max_aliases).validation_rules,
    ]
    extensions: list[Any] = [
        # The app sends the same few documents over and over: parse and validate each once.
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        # The limiters' rule classes are built once: a rule class made per request would
        # be a new key for ValidationCache, which then never hit (measured: validation was
        # ~10 % of chargersNear's time).
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=limits.graphql_max_tokens),
        CommitBeforeAnswer,
        GraphQLMetrics,
    ]
    if settings.otel_endpoint:
        from strawberry.extensions.tracing import OpenTelemetryExtension

        # A span per operation; the OCPP call a mutation makes is its child.
        extensions.append(OpenTelemetryExtension)
    extensions.append(
        lambda: MaskErrors(should_mask_error=should_mask, error_message="Internal server error")
    )
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return DriverSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )


class LocalGraphQLRouter(GraphQLRouter[Context, None]):
    """GraphiQL from /static (strawberry's page loads it from a CDN); requests strawberry
    refuses itself (not JSON, no query, GET for a mutation) logged as client mistakes."""

    @property
    def graphql_ide_html(self) -> str:
        return graphiql_html()

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            return await super().run(request, context, root_value)
        except HTTPException as error:
            url = getattr(request, "url", None)
            log.info("client error %s on %s: %s", error.status_code, url, error.reason)
            raise


def graphql_router(services: DriverServices) -> GraphQLRouter[Context, None]:
    request_sessions = serial_sessions(services.sessions)

    async def db_session() -> AsyncIterator[AsyncSession]:
        # The operation commits before answering (CommitBeforeAnswer); closing the session
        # rolls back whatever it did not commit.
        async with request_sessions() as session:
            yield session

    async def context_getter(
        session: Annotated[AsyncSession, Depends(db_session)], connection: HTTPConnection
    ) -> Context:
        return Context(services, session, client_ip(connection))

    return LocalGraphQLRouter(
        build_schema(services.settings),
        context_getter=context_getter,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        graphql_ide="graphiql" if services.settings.graphql_introspection else None,
    )
