"""The driver GraphQL schema and its FastAPI router."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import strawberry
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from strawberry.extensions import (
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

from api.docs import graphiql_html
from api.graphql.context import Context, DriverServices, client_ip
from api.graphql.errors import should_mask
from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.subscriptions import Subscription
from core.config import Settings


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    limits = settings
    extensions: list[Any] = [
        # The app sends the same few documents over and over: parse and validate each once.
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: QueryDepthLimiter(max_depth=limits.graphql_max_depth),
        lambda: MaxTokensLimiter(max_token_count=limits.graphql_max_tokens),
        lambda: MaxAliasesLimiter(max_alias_count=limits.graphql_max_aliases),
    ]
    extensions.append(
        lambda: MaskErrors(should_mask_error=should_mask, error_message="Internal server error")
    )
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )


class LocalGraphQLRouter(GraphQLRouter[Context, None]):
    """GraphiQL from /static (strawberry's page loads it from a CDN)."""

    @property
    def graphql_ide_html(self) -> str:
        return graphiql_html()


def graphql_router(services: DriverServices) -> GraphQLRouter[Context, None]:
    async def db_session() -> AsyncIterator[AsyncSession]:
        async with services.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

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
