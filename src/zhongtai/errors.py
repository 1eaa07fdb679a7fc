"""The domain error tree.

Services raise these; one handler in ``app.py`` renders them as ``application/problem+json``
(RFC 9457) for the API and as a page for the console. Every error has a stable ``code``; an
error about input lists *every* bad field at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass
class DomainError(Exception):
    detail: str = ""
    errors: list[FieldProblem] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Request failed"

    def __post_init__(self) -> None:
        Exception.__init__(self, self.detail or self.title)

    def problem(self, instance: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:zhongtai:problem:{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail or self.title,
        }
        if instance:
            body["instance"] = instance
        if request_id:
            body["request_id"] = request_id
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        body.update(self.extra)
        return body


class ValidationFailed(DomainError):
    code = "validation_failed"
    status = 422
    title = "Some fields are invalid"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict with the current state"


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401
    title = "Authentication required"


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    title = "Not allowed"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 409
    title = "Idempotency-Key was used with a different request"


class IdempotencyKeyInProgress(DomainError):
    code = "idempotency_key_in_progress"
    status = 409
    title = "A request with this Idempotency-Key is still being processed"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "Not allowed in the current state"


def not_found(entity: str, key: object) -> NotFound:
    return NotFound(f"{entity} {key} not found", extra={"entity": entity, "key": str(key)})


def invalid(*problems: tuple[str, str, str]) -> ValidationFailed:
    """``invalid(("body.sku", "unknown_sku", "no SKU X"), ...)``."""
    return ValidationFailed(f"{len(problems)} invalid field(s)", errors=[FieldProblem(f, c, m) for f, c, m in problems])


_HTTP_ERRORS: dict[tuple[int, str], type[DomainError]] = {}


def http_error(status: int, code: str, title: str, detail: str = "") -> DomainError:
    """An error for a plain HTTP condition (405, 500) that has no domain class of its own."""
    cls = _HTTP_ERRORS.get((status, code))
    if cls is None:
        cls = type(f"HttpError{status}", (DomainError,), {"status": status, "code": code, "title": title})
        _HTTP_ERRORS[(status, code)] = cls
    return cls(detail)


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


def from_pydantic(exc: Any, detail: str = "", prefix: tuple[str, ...] = ("body",)) -> ValidationFailed:
    """Every problem of a pydantic ``ValidationError`` (or FastAPI's RequestValidationError, whose
    locations already start with body/query/path: pass ``prefix=()``) as one 422."""
    problems = [
        FieldProblem(_loc(prefix + tuple(err.get("loc", ()))), str(err.get("type", "invalid")), str(err.get("msg", "")))
        for err in exc.errors()
    ]
    return ValidationFailed(detail or f"{len(problems)} invalid field(s)", errors=problems)
