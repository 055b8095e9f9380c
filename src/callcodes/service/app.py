"""The ASGI application: routes, authentication, problem documents and the OpenAPI document.

``create_app(config)`` opens a :class:`~callcodes.service.node.Node` when the application starts
(uvicorn's lifespan) and closes it when it stops, after the last request has been answered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from importlib.metadata import version
from typing import Any

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.utils.sync import AsyncCallable

from . import codes, decisions, groups, portal, records, session, users
from .auth import account, managed_group, staff
from .config import ServiceConfig
from .node import Node
from .ocip import listeners
from .problems import exception_handlers, problem_responses

__all__ = ["create_app"]

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _document_failures(handlers: Iterable[Any]) -> list[Any]:
    """*handlers*, each documenting the problem documents the application answers with.

    A 500 on every route, and a 413 on every route that takes a body (the application's
    ``request_max_body_size``), whatever the route itself documents.

    Each also gets its OpenAPI operation id from its function's name (``list_groups``:
    ``listGroups``).
    """
    found = list(handlers)
    for handler in found:
        if isinstance(handler, HTTPRouteHandler):
            # Litestar 2 wraps a thread-run handler's function in place when an application
            # registers it: a second application in one process (tests) must not wrap it twice.
            fn: Any = handler._fn
            while isinstance(fn, AsyncCallable):
                fn = fn.func
            handler._fn = fn
            failures = (500, 413) if handler.http_methods & _WITH_BODY else (500,)
            handler.responses = {**problem_responses(*failures), **(handler.responses or {})}
            if handler.operation_id is None:
                # Named now, from the function: the framework names a route it runs on a
                # thread after its wrapper, which gives several routes one name.
                first, *rest = handler.fn.__name__.split("_")
                handler.operation_id = first + "".join(word.title() for word in rest)
    return found


def create_app(config: ServiceConfig, *, clock: Callable[[], datetime] | None = None) -> Litestar:
    """The service's ASGI application on *config*'s store and event log."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        node = Node.open(config, clock)
        app.state["node"] = node
        try:
            yield
        finally:
            node.close()

    route_lists = (
        session.ROUTES,
        groups.ROUTES,
        codes.ROUTES,
        users.ROUTES,
        records.ROUTES,
        decisions.ROUTES,
    )
    return Litestar(
        # One router for every route: registered one by one on the application, the handlers
        # of a path would each be registered again with every later one (and wrapped again).
        route_handlers=[
            Router("/", route_handlers=_document_failures(h for rs in route_lists for h in rs)),
            portal.router(_document_failures),  # web pages outside /api, not in the OpenAPI
        ],
        dependencies={
            "who": Provide(account, sync_to_thread=False),
            "staff": Provide(staff, sync_to_thread=False),
            "managed": Provide(managed_group, sync_to_thread=False),
        },
        exception_handlers=exception_handlers(),
        lifespan=[lifespan, listeners(config)],  # OCI-P starts after the node, stops before
        request_max_body_size=config.max_body,
        openapi_config=OpenAPIConfig(
            title="callcodes",
            version=version("callcodes"),
            description="Account and authorization codes for hosted PBXs: the REST API.",
            path="/api/v1",
            render_plugins=[JsonRenderPlugin()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer"),
                },
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )
