"""The HTTP API (FastAPI): ``create_app(ApiConfig(...))``; see ``agentbatch serve``."""

from agentbatch.api.app import ApiConfig, create_app

__all__ = ["ApiConfig", "create_app"]
