"""Every refusal as an RFC 9457 problem document, and request bodies read strictly.

One mapping from the library's errors to HTTP: bad input 422 (with every bad row of a batch),
a conflict 409, an unknown group or account 404, a refused account 403 (401 without
credentials), and the framework's own refusals (unknown route, wrong method, body too large,
wrong content type, malformed JSON) with their status. An unexpected error is a 500 that says
nothing of the server's internals; the details go to the log.

Request bodies are read here too, byte for byte (:func:`json_body`, :func:`csv_body`), so that
each way a body can be malformed (wrong media type, not UTF-8, not JSON, not an object) is
refused with its own problem document before anything is written. The OpenAPI side of both is
here as well: :func:`problem_responses` documents a route's problem documents, and
:func:`request_body` documents a body that the route reads itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType

from .._errors import (
    AccessDeniedError,
    BatchError,
    CallcodesError,
    ConflictError,
    InvalidValueError,
    SinkError,
    UnavailableError,
    UnknownGroupError,
    show,
)
from .._files import read_text

__all__ = [
    "JSON",
    "PROBLEM_JSON",
    "TEXT_CSV",
    "Problem",
    "ProblemDocument",
    "RowProblem",
    "csv_body",
    "exception_handlers",
    "json_body",
    "json_object",
    "problem_response",
    "problem_responses",
    "request_body",
]

#: The media type of a problem document.
PROBLEM_JSON: Final = "application/problem+json"
#: The media types of request bodies.
JSON: Final = "application/json"
TEXT_CSV: Final = "text/csv"

_log = logging.getLogger("callcodes.service")


class RowProblem(msgspec.Struct):
    """One bad row of a refused batch: its number (from 1; a CSV body's line), what, why."""

    row: int
    code: str
    reason: str


class ProblemDocument(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem document, as every refusal of the service is answered.

    ``errors`` lists every bad row of a refused batch; ``field`` names the value refused.
    """

    type: str
    title: str
    status: int
    detail: str
    errors: list[RowProblem] | None = None
    field: str | None = None


class Problem(HTTPException):
    """A refusal the service states itself: a status, a title and a detail in the user's terms."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=detail, status_code=status, headers=dict(headers or {}))
        self.fields = dict(extra or {})


def problem_response(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    """A problem document: ``type``, ``title`` (the status phrase), ``status``, ``detail``."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    body.update(extra or {})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def _status(exc: CallcodesError) -> int:
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, KeyError):  # an unknown group or account
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, UnavailableError | SinkError):  # the database or log is away: retry
        return 503
    return 422


def _message(exc: CallcodesError) -> str:
    if isinstance(exc, UnknownGroupError):
        return f"no group {show(exc.group)}"
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def _callcodes_error(_request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, CallcodesError)
    extra: dict[str, Any] = {}
    detail = _message(exc)
    if isinstance(exc, BatchError):
        detail = f"{exc.what}: {len(exc.rows)} bad row(s), nothing was changed"
        extra["errors"] = [
            {"row": row.row, "code": row.code, "reason": row.reason} for row in exc.rows
        ]
    elif isinstance(exc, InvalidValueError):
        extra["field"] = exc.field
    return problem_response(_status(exc), detail, extra=extra)


def _validation_detail(exc: ValidationException) -> tuple[str, dict[str, Any]]:
    """The framework's refusal of a query or path parameter, said in one line."""
    found = exc.extra if isinstance(exc.extra, list) else [exc.extra] if exc.extra else []
    parts = []
    for item in found:
        if isinstance(item, Mapping):
            key, message = item.get("key"), item.get("message", "")
            parts.append(f"{key}: {message}" if key else str(message))
    if not parts:
        return str(exc.detail), {}
    first = found[0]
    key = first.get("key") if isinstance(first, Mapping) else None
    return "; ".join(parts), ({"field": str(key)} if key else {})


def _http_error(_request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    extra: dict[str, Any] = {}
    detail = str(exc.detail)
    if isinstance(exc, Problem):
        extra = exc.fields
    elif isinstance(exc, ValidationException):
        detail, extra = _validation_detail(exc)
    elif exc.status_code == 413:
        detail = "the request body is larger than this service accepts"
    return problem_response(exc.status_code, detail, headers=exc.headers, extra=extra)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "the service failed to answer; the error is in its log")


def exception_handlers() -> dict[type[Exception] | int, Any]:
    """The handlers ``create_app`` installs: every error answered with a problem document."""
    return {
        CallcodesError: _callcodes_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }


# -- request bodies -------------------------------------------------------------------------------


def _media_type(request: Request[Any, Any, Any], allowed: tuple[str, ...]) -> str:
    """The body's media type when it is one of *allowed* (charset UTF-8 if any); else 415."""
    media, options = request.content_type
    media = media.strip().lower()
    charset = options.get("charset", "utf-8").strip().lower()
    if media not in allowed or charset not in ("utf-8", "utf8"):
        given = request.headers.get("content-type", "")
        raise Problem(
            415,
            f"send the body as {' or '.join(allowed)} (UTF-8), not {show(given or 'no type')}",
        )
    return media


def _text(data: bytes) -> str:
    try:
        return read_text(data, "request body")
    except InvalidValueError as exc:
        raise Problem(400, f"the request body {exc.problem}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_body(request: Request[Any, Any, Any], data: bytes) -> Any:
    """The JSON value of a request body *data*, refused with a problem document when it is not.

    415 for another media type, 400 for a body that is not UTF-8 or not JSON (``NaN`` and
    ``Infinity`` included), with the line and column of the first fault.
    """
    _media_type(request, (JSON,))
    text = _text(data)
    if not text.strip():
        raise Problem(400, "the request body is empty: send a JSON object")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise Problem(
            400,
            f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})",
        ) from None
    except RecursionError:
        raise Problem(400, "the request body is nested too deeply") from None
    except ValueError as exc:  # NaN, Infinity, a number longer than Python reads
        raise Problem(400, f"the request body is not valid JSON ({show(str(exc))})") from None


def json_object(request: Request[Any, Any, Any], data: bytes) -> dict[str, Any]:
    """The request body as a JSON object (see :func:`json_body`); 422 for another JSON value."""
    value = json_body(request, data)
    if not isinstance(value, dict):
        raise Problem(
            422,
            f"the request body must be a JSON object ({{...}}), not {type(value).__name__}",
        )
    return value


def csv_body(request: Request[Any, Any, Any], data: bytes) -> bytes:
    """*data* when the request says it is ``text/csv`` (UTF-8); 415 otherwise.

    The bytes are returned as they came: the CSV readers report bad bytes by line.
    """
    _media_type(request, (TEXT_CSV,))
    return data


# -- the OpenAPI document -------------------------------------------------------------------------


def _inline(value: Any, defs: Mapping[str, Any]) -> Any:
    """*value* with every ``$ref`` into *defs* replaced by the schema it names.

    The framework writes its own components, so a body's schema must stand on its own.
    """
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            return _inline(defs[ref.rsplit("/", 1)[-1]], defs)
        return {key: _inline(item, defs) for key, item in value.items()}
    if isinstance(value, list):
        return [_inline(item, defs) for item in value]
    return value


def _schema(model: type) -> Any:
    (schema,), defs = msgspec.json.schema_components([model])
    return _inline(schema, defs)


def request_body(
    model: type | None = None, *, csv: bool = False, description: str | None = None
) -> type[Operation]:
    """An ``operation_class`` documenting the body a route reads itself (not the framework).

    *model* (a msgspec ``Struct``) is the shape of its JSON body; *csv*: it also takes (or,
    without a *model*, only takes) a ``text/csv`` code list or directory.
    """
    content: dict[str, OpenAPIMediaType] = {}
    if model is not None:
        content[JSON] = OpenAPIMediaType(schema=_schema(model))
    if csv:
        content[TEXT_CSV] = OpenAPIMediaType(
            schema=Schema(
                type=OpenAPIType.STRING,
                description="CSV with a header line, UTF-8 (a byte order mark and CRLF are read)",
            )
        )
    body = RequestBody(content=content, required=True, description=description)

    @dataclass
    class _Documented(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    return _Documented


_DESCRIPTIONS: Final = {
    400: "malformed request: a body that is not UTF-8 or not JSON, a bad query parameter",
    401: "no bearer token, or a token that is not (or no longer) valid",
    403: "this account may not do this (a softswitch account may only ask for decisions)",
    404: "no such group, or not one this account may manage: the same answer for both",
    409: "the change needs a confirmation, or conflicts with what the group holds",
    413: "the request body is larger than the service accepts",
    415: "the body is not of the media type the route reads",
    422: "a value or a batch row is refused; errors lists every bad row",
    500: "the service failed; the error is in its log",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The ``responses`` of a route: a problem document for each of *statuses*."""
    wanted = sorted(set(statuses))
    return {
        status: ResponseSpec(
            data_container=ProblemDocument,
            media_type=PROBLEM_JSON,
            description=_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            generate_examples=False,
        )
        for status in wanted
    }
