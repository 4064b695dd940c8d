"""``gridctl validate``: everything that can be checked without GitHub and without a secret.

A module of its own, apart from :mod:`gridctl.core.session`, so that validating a manifest
imports only what loading one needs — not the clients (PyGithub, requests), the state backends or
the engine (a pre-commit hook or an editor runs it on every save).
``tests/core/test_validate_imports.py`` holds that to account.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import Diagnostic, ManifestError
from ..manifest.model import Manifest
from ..resources import load_manifest


def validate_manifest(manifest_file: str | Path, *, check_sources: bool = False, sandbox: bool = False) -> Manifest:
    """Everything that can be checked without GitHub and without a secret: the schema,
    references, includes, file sources (key and secret files, deploy keys, workflow files) and
    dispatch templates against the workflow files the manifest declares.

    Token sources, and key and secret sources that are environment variables or commands, are
    read only with ``check_sources`` (their absence is then an error at their line); ``plan``
    reads them anyway. Raises :class:`ManifestError` with every problem.
    """
    m = load_manifest(Path(manifest_file), tokens=check_sources and not sandbox, secrets=check_sources)
    diags = offline_dispatch_problems(m)
    if any(d.severity == "error" for d in diags):
        raise ManifestError(sorted([*m.warnings, *diags], key=lambda d: (d.file or "", d.line or 0, d.col or 0)))
    m.warnings = [*m.warnings, *diags]
    return m


def offline_dispatch_problems(m: Manifest) -> list[Diagnostic]:
    """Dispatch templates whose workflow file the manifest declares, on a branch known without
    GitHub, checked against that file; the others are checked by ``plan``, which reads GitHub."""
    if not m.dispatch:
        return []
    from ..errors import SourceError
    from ..fleet import dispatch as fd
    from ..manifest.load import file_content

    out: list[Diagnostic] = []
    for t in sorted(m.dispatch.values(), key=lambda x: x.name):
        try:
            path = fd.workflow_path(t.workflow)
        except fd.WorkflowError as exc:
            out.append(fd.locate(m, t, fd.Problem(str(exc), field="workflow")))
            continue
        spec, fspec = fd.declared_file(m, t, path)
        if spec is None or fspec is None or path is None:
            continue
        default = spec.settings.get("default_branch")
        file_branch = fspec.branch or default
        wanted = fd.short_ref(t.ref) if t.ref else default
        # with neither a ref nor a branch, both are the default branch, whatever its name
        if (t.ref or fspec.branch) and (file_branch is None or wanted != file_branch):
            continue
        origin = f"{path} (as declared in repos.{spec.full_name}.files)"
        try:
            doc = fd.parse_workflow(file_content(m, fspec))
        except (fd.WorkflowError, SourceError, OSError) as exc:
            out.append(fd.locate(m, t, fd.Problem(f"{origin} {exc}", field="workflow")))
            continue
        out.extend(fd.locate(m, t, p) for p in fd.input_problems(fd.Resolved(path, doc, origin), t.inputs))
    return out
