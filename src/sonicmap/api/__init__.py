"""REST API (FastAPI): ``create_app(cfg)`` builds the app; ``sonicmap serve`` runs it."""

from sonicmap.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
