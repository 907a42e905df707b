"""What a domain error means to an HTTP client: the status code, and the JSON error naming the field.

Core errors carry no status; this table is the one place that maps them. Every admin API error is JSON
`{"error": ..., "field": ...}`; a 4xx never leaves a partial write (each route is one unit of work).
A database that cannot be reached (refused, dropped, every pooled connection busy) is 503 with
`Retry-After`: nothing was written, try again.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from core.errors import Conflict, DomainError, Invalid, NotFound, Unavailable

STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),  # nothing changed: try again later
    (Invalid, 422),
)


def status_for(error: DomainError) -> int:
    if error.field == "body":  # not even a JSON object: a bad request, not a bad value
        return 400
    return next((status for kind, status in STATUS_OF if isinstance(error, kind)), 422)


def error_response(status: int, message: str, field: str | None = None, **extra: Any):
    return jsonify(error=message, field=field, **extra), status


def _domain(error: DomainError):
    return error_response(status_for(error), f"{error.field}: {error.message}", error.field)


def _validation(error: ValidationError):
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    details = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in error.errors(include_url=False)
    ]
    return error_response(422, f"{field}: {first['msg']}", field, details=details)


def _http(error: HTTPException):
    if not request.path.startswith("/api/"):
        return error
    return error_response(error.code or 500, error.description or error.name)


DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)
RETRY_AFTER_SECONDS = 5


def _database_down(error: Exception):
    current_app.logger.error("database unavailable on %s %s: %s", request.method, request.path, error)
    message = "the database is unavailable; nothing was changed, try again shortly"
    if request.path.startswith("/api/"):
        response, status = error_response(503, message)
    else:
        response, status = Response(message, mimetype="text/plain"), 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, status


def register(app: Flask) -> None:
    for kind in DATABASE_DOWN:
        app.register_error_handler(kind, _database_down)
    app.register_error_handler(ValidationError, _validation)
    app.register_error_handler(DomainError, _domain)
    app.register_error_handler(HTTPException, _http)
