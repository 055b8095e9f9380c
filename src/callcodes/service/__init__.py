"""``callcodes.service``: the network service behind ``callcodes serve`` (extra ``[serve]``).

An ASGI application (Litestar, run by uvicorn) on a policy store and an event log: the REST API
under ``/api/v1`` for group administrators and softswitches, with accounts and tenancy, problem
documents for every refusal, an OpenAPI document, ``/healthz`` and ``/metrics``.
"""

from .app import create_app
from .config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]
