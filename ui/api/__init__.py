"""The REST API at /api/v1, with its guards (auth, rate limits, body limits, the studio's lock)."""

from ui.api.install import install_api

__all__ = ["install_api"]
