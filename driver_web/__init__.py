"""The driver's web app at /app: a PWA of static files that talks only to /graphql."""

from driver_web.routes import app_router

__all__ = ["app_router"]
