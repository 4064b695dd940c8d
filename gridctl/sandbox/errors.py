"""The sandbox's error vocabulary: :class:`ApiError` and the helpers that build GitHub's error
bodies, plus the repository role ladder.

This module imports nothing of the sandbox, so every other module (the domain model in
:mod:`.world`, the route contract in :mod:`.http`, the API areas) can import it downward.
"""

from __future__ import annotations

from typing import Any

DOCS = "https://docs.github.com/rest"

#: repository roles, weakest first
ROLE_ORDER = ("read", "triage", "write", "maintain", "admin")


class ApiError(Exception):
    """An error response with GitHub's body: ``{message, documentation_url, status[, errors]}``.

    ``errors`` holds objects (``{resource, field, code[, message]}``, GitHub's "validation
    error") or, for the few operations documented with "Validation Error Simple", plain strings.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | list[str] | None = None,
        doc_url: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.doc_url = doc_url
        self.headers = dict(headers or {})

    def body(self, default_doc_url: str = DOCS) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            out["errors"] = self.errors
        out["documentation_url"] = self.doc_url or default_doc_url
        out["status"] = str(self.status)
        return out


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation_failed(resource: str, field_name: str, code: str = "invalid", message: str | None = None) -> ApiError:
    err: dict[str, Any] = {"resource": resource, "code": code, "field": field_name}
    if message:
        err["message"] = message
    return ApiError(422, "Validation Failed", errors=[err])


def role_at_least(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_ORDER.index(role) >= ROLE_ORDER.index(needed)
