"""The driver app's GraphQL API (strawberry): schema, context, resolvers."""
