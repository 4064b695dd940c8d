"""Developer sessions: ``nox -s tests`` (the README's test command), lint, typecheck, bench, spec, webhook_schemas, screenshots."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
PYTHON = os.environ.get("GRIDCTL_NOX_PYTHON") or None  # None: the interpreter running nox


def _chromium(session: nox.Session) -> None:
    """The dashboard's browser tests drive Debian's Chromium through Playwright (Playwright's own
    browser download cannot be reached from our machines): install it where it is missing."""
    if shutil.which("chromium") or not shutil.which("apt-get"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    session.run(*sudo, "apt-get", "update", "-qq", external=True)
    session.run(*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "chromium", "chromium-driver",
                external=True, silent=True)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Install gridctl with its test dependencies (Debian's Chromium included) and run the whole suite."""
    _chromium(session)
    session.install("-e", ".[test]")
    args = session.posargs or ["-n", "2", "--dist", "loadfile"]
    session.run("pytest", *args)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff with the rules selected in pyproject.toml ([tool.ruff.lint], mccabe C901 included)."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", "gridctl", "tests", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy with pyproject.toml's [tool.mypy]: strict, bare generics allowed."""
    session.install("-e", ".", "mypy>=1.10")
    session.run("mypy", "gridctl")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: print figures (requests/s, API calls, rate-limit points, wall time).
    ``nox -s bench -- bench_plan --large`` runs one bench with a flag (N=1,000 for bench_plan)."""
    session.install("-e", ".[test]")
    benches = sorted(Path("tests/bench").glob("bench_*.py"))
    wanted = [a for a in session.posargs if not a.startswith("-")]
    flags = [a for a in session.posargs if a.startswith("-")]  # e.g. --large, passed to each bench run
    for path in benches:
        if wanted and not any(w in path.name for w in wanted):
            continue
        session.run("python", str(path), *flags)


@nox.session(python=False)
def schema(session: nox.Session) -> None:
    """Rewrite schemas/grid.schema.json with every resource kind's manifest section merged in."""
    session.run(
        "python", "-c",
        "import json; from gridctl.resources import manifest_schema; from gridctl.manifest.schema import schema_path; "
        "schema_path('grid.schema.json').write_text(json.dumps(manifest_schema(), indent=2, ensure_ascii=False) + '\\n')",
    )


@nox.session(python=False)
def spec(session: nox.Session) -> None:
    """Regenerate gridctl/sandbox/openapi/github-openapi.json from the npm package @octokit/openapi."""
    with tempfile.TemporaryDirectory() as tmp:
        session.run("npm", "pack", "--silent", "@octokit/openapi@23.0.2", "--pack-destination", tmp, external=True)
        tarball = next(Path(tmp).glob("*.tgz"))
        session.run("tar", "xzf", str(tarball), "-C", tmp, external=True)
        session.run(
            "python", "-m", "gridctl.sandbox.openapi.build",
            str(Path(tmp) / "package" / "generated" / "api.github.com.deref.json"),
        )


@nox.session(python=False)
def webhook_schemas(session: nox.Session) -> None:
    """Regenerate gridctl/sandbox/webhooks/schemas.json from the npm package @octokit/webhooks-schemas."""
    with tempfile.TemporaryDirectory() as tmp:
        session.run("npm", "pack", "--silent", "@octokit/webhooks-schemas@7.6.1", "--pack-destination", tmp, external=True)
        tarball = next(Path(tmp).glob("*.tgz"))
        session.run("tar", "xzf", str(tarball), "-C", tmp, external=True)
        session.run("python", "-m", "gridctl.sandbox.webhooks.build", str(Path(tmp) / "package" / "schema.json"))


@nox.session(python=PYTHON)
def screenshots(session: nox.Session) -> None:
    """Re-take the dashboard screenshots in examples/serve/screenshots/ (Debian's chromium)."""
    _chromium(session)
    session.install("-e", ".[test]")
    session.run("python", "tests/screenshots.py")
