"""The group administrator's web portal: server-rendered pages beside the REST API.

:func:`router` gives every page of the portal under one router, with its static files (the
stylesheet and the script: no inline script or style anywhere) and its refusals as HTML pages.
The pages call the same store, accounts and service functions as the REST routes, so every rule
holds the same way in both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from litestar import Router
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from . import admin, codes, records, signin
from .web import HEADERS, exception_handlers, visitor

__all__ = ["router"]

_STATIC = Path(__file__).parent / "static"


def router(prepare: Callable[[Iterable[Any]], list[Any]]) -> Router:
    """Every page of the portal, its static files, its dependencies and its refusals.

    *prepare* readies the handlers as the application readies its own (once per application).
    """
    pages = (*signin.ROUTES, *admin.ROUTES, *codes.ROUTES, *records.ROUTES)
    return Router(
        "/",
        route_handlers=[
            *prepare(pages),
            create_static_files_router(
                "/static", [_STATIC], name="portal-static", include_in_schema=False
            ),
        ],
        dependencies={"viewer": Provide(visitor, sync_to_thread=True)},
        exception_handlers=exception_handlers(),
        response_headers=dict(HEADERS),
        include_in_schema=False,
    )
