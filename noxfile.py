"""Developer sessions: ``nox -s tests`` (the README's test command), lint, typecheck, bench, spec, webhook_schemas, screenshots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


#: the benches whose RESULT lines make issue 16's goals table (tests/bench/issue16.py)
ISSUE16 = ("bench_plan", "bench_apply", "bench_manifest")


def _takes(path: Path, flag: str) -> bool:
    """Whether the bench script at ``path`` knows ``flag`` (``--large``, ``--quick=...``): its source names it."""
    return f'"{flag.split("=", 1)[0]}"' in path.read_text(encoding="utf-8")


def _tee(session: nox.Session, args: list[str]) -> tuple[int, str]:
    """Run ``args`` in the session's environment, its output streamed as it comes and returned."""
    env = {**os.environ, **{k: v for k, v in session.env.items() if v is not None}}
    if session.bin_paths:  # None with --no-venv: the interpreter running nox's PATH
        env["PATH"] = os.pathsep.join([*session.bin_paths, env.get("PATH", "")])
    program = shutil.which(args[0], path=env.get("PATH")) or args[0]
    session.log(" ".join(args))
    lines = []
    with subprocess.Popen([program, *args[1:]], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
    return proc.returncode, "".join(lines)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: print figures (requests/s, API calls, rate-limit points, wall time), then issue 16's
    goals table from the ``RESULT`` lines of bench_plan, bench_apply and bench_manifest.
    ``nox -s bench -- bench_plan bench_manifest --large`` runs the benches named, each given the flags
    it knows (``--large``: N=1,000 as well; ``--quick``: a short run); every bench's output is saved
    in the session's tmp folder, and ``python tests/bench/issue16.py FILE`` prints the table again."""
    session.install("-e", ".[test]")
    wanted = [a for a in session.posargs if not a.startswith("-")]
    flags = [a for a in session.posargs if a.startswith("-")]  # e.g. --large, passed to each bench that knows it
    benches = [p for p in sorted(Path("tests/bench").glob("bench_*.py")) if not wanted or any(w in p.name for w in wanted)]
    outputs: list[str] = []
    failed: list[str] = []
    for path in benches:
        known = [f for f in flags if _takes(path, f)]
        if len(known) < len(flags):
            session.log(f"{path.stem} has no {', '.join(f for f in flags if f not in known)}: run without")
        code, text = _tee(session, ["python", str(path), *known])
        outputs.append(f"### {path.name} {' '.join(known)} (exit {code})\n{text}")
        if code != 0:
            failed.append(f"{path.name} (exit {code})")
    saved = Path(session.create_tmp()) / "bench-output.txt"
    saved.write_text("".join(outputs), encoding="utf-8")
    session.log(f"the benches' output: {saved}")
    if any(path.stem in ISSUE16 for path in benches):
        session.run("python", "tests/bench/issue16.py", str(saved))
    if failed:
        session.error("failed: " + ", ".join(failed))


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
