"""Errors are diagnostics with a location, rendered once at the edge (cli.py).

Library code raises :class:`GridctlError` subclasses and never prints or exits. A
:class:`Diagnostic` carries ``file:line:col`` when it comes from the manifest, and never a
secret value or token: messages name sources (``env GRID_TOKEN``), never what they hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from .util.text import safe


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    summary: str
    detail: str = ""
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    address: str | None = None

    def location(self) -> str:
        if self.file is None:
            return ""
        out = self.file
        if self.line is not None:
            out += f":{self.line}"
            if self.col is not None:
                out += f":{self.col}"
        return out

    def render(self) -> str:
        """The diagnostic for a terminal or a CI log. Messages quote manifest text (keys, names,
        paths from a pull request), so every piece is made printable and no line of it can
        start a GitHub Actions workflow command; line breaks the message itself holds stay,
        continuation lines indented."""
        where = safe(self.location())
        summary = safe(self.summary, newlines=True).replace("\n", "\n  ")
        head = f"{where}: {self.severity}: {summary}" if where else f"{self.severity}: {summary}"
        detail = safe(self.detail, newlines=True).replace("\n", "\n    ")
        return head + (f"\n    {detail}" if self.detail else "")


class GridctlError(Exception):
    """Base of every error gridctl reports (exit code 1, no traceback)."""

    exit_code = 1

    def diagnostics(self) -> list[Diagnostic]:
        return [Diagnostic("error", str(self))]


class ManifestError(GridctlError):
    """The manifest is invalid; carries every problem found, each with its location."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self._diags = diagnostics
        errors = [d for d in diagnostics if d.severity == "error"]
        super().__init__(f"{len(errors)} error(s) in the manifest")

    def diagnostics(self) -> list[Diagnostic]:
        return list(self._diags)


class SourceError(GridctlError):
    """A token or key source cannot be read (names the source, never a value)."""


class AuthError(GridctlError):
    """A token does not belong to the account or lacks a scope the plan needs."""


class PermissionsError(AuthError):
    """A GitHub App installation lacks permissions the manifest needs: one diagnostic per
    permission, at the manifest entry that needs it."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self._diags = diagnostics
        super().__init__("\n".join(d.summary for d in diagnostics))

    def diagnostics(self) -> list[Diagnostic]:
        return list(self._diags)


class UnsafePlanError(GridctlError):
    """The plan trips a safety check; ``--force`` acknowledges it."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("the plan is unsafe without --force:\n  - " + "\n  - ".join(reasons))


class StalePlanError(GridctlError):
    """A saved plan no longer matches GitHub: something changed since it was made."""


class ApplyError(GridctlError):
    """Apply stopped at a change that failed; the journal records what was done."""

    def __init__(self, message: str, *, run_id: str | None = None, address: str | None = None):
        self.run_id = run_id
        self.address = address
        super().__init__(message)


class StateLockedError(GridctlError):
    """Another run holds the state lock."""


class GitHubError(GridctlError):
    """GitHub answered with an error (status, GitHub's message, request id).

    The text names the request (method and path) and GitHub's message; never a header, a
    token or a request body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        github_message: str = "",
        errors: list | None = None,
    ):
        self.status = status
        self.request_id = request_id
        self.github_message = github_message
        self.errors = errors or []
        super().__init__(message)
