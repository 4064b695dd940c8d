"""``gridctl sandbox ...``: run the GitHub API sandbox and manage its accounts.

    gridctl sandbox serve --port 8765 --data ./sbx
    gridctl sandbox user add alice --url http://127.0.0.1:8765        # prints alice's token
    gridctl sandbox user add acme --org --admins alice --members bob --url ...
    gridctl sandbox token alice --scopes repo,workflow --url ...
    gridctl sandbox stats --url ...
    gridctl sandbox runner --jit-file runner.jit                      # a stand-in runner process

Account commands talk to a running sandbox over HTTP (``--url`` or ``GRIDCTL_SANDBOX_URL``), or
edit a stopped sandbox's ``--data`` folder directly (refused while a server holds its lock).
Tokens are the only thing written to stdout, so ``TOKEN=$(gridctl sandbox user add alice ...)``
works; messages go to stderr. Every failure is one line on stderr and exit code 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

app = typer.Typer(help="Run and manage the GitHub API sandbox.", no_args_is_help=True)
user_app = typer.Typer(help="Manage sandbox users and organizations.", no_args_is_help=True)
app.add_typer(user_app, name="user")

URL_ENV = "GRIDCTL_SANDBOX_URL"


class CliError(Exception):
    """A failure reported as one ``error: ...`` line on stderr (exit code 1)."""


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _note(message: str) -> None:
    typer.echo(message, err=True)


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


# -- serve ---------------------------------------------------------------------------------------
@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8765, help="Port to listen on (0: any free port)."),
    data: str | None = typer.Option(None, "--data", help="Folder to persist to (memory only without it)."),
    public_url: str | None = typer.Option(
        None, "--public-url", help="Base URL clients use, if not http://HOST:PORT (rendered into bodies and Link)."
    ),
    latency: str | None = typer.Option(None, help="Added latency: 80ms, or lognormal:median=120ms,sigma=0.6."),
    faults: list[str] | None = typer.Option(
        None, "--faults", metavar="<spec>", help="rate=0.05,statuses=502|503|reset or nth=3,op=repos/get,status=502[,after=1]; repeatable."
    ),
    seed: int | None = typer.Option(None, help="Seed for latency, fault and retry-after randomness."),
    rate_limit: int | None = typer.Option(None, "--rate-limit", help="Primary rate limit per user and hour (default 5000)."),
    strict: bool = typer.Option(False, help="Validate every response against GitHub's OpenAPI description."),
) -> None:
    """Serve the sandbox in the foreground until Ctrl-C or SIGTERM."""
    from .config import ConfigError, Faults, Latency, SandboxConfig
    from .store import StoreError

    try:
        config = SandboxConfig(
            public_url=public_url.rstrip("/") if public_url else None,
            latency=Latency.parse(latency),
            faults=Faults.parse(faults),
            strict=strict,
            seed=seed,
        )
    except (ConfigError, ValueError) as exc:
        _fail(f"bad option: {exc}")
    if rate_limit is not None:
        if rate_limit < 1:
            _fail("bad option: --rate-limit must be at least 1")
        config.limits.primary_per_hour = rate_limit
    if not 0 <= port <= 65535:
        _fail(f"bad option: --port {port} is not a TCP port")

    from .server import serve as run_server

    def ready(url: str) -> None:
        where = f" (data: {os.path.abspath(data)})" if data else " (memory only)"
        typer.echo(f"gridctl sandbox listening on {url}{where}")
        sys.stdout.flush()

    try:
        served = run_server(host=host, port=port, data_dir=data, config=config, ready=ready)
    except StoreError as exc:
        _fail(str(exc))
    except OSError as exc:
        if exc.filename is not None:
            _fail(_path_error(exc))
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except KeyboardInterrupt:  # a second Ctrl-C forces the exit
        raise typer.Exit(130) from None
    if strict and served.violations:
        _note(f"strict mode: {len(served.violations)} response(s) broke GitHub's description; first: {served.violations[0]}")
    _note("gridctl sandbox stopped")


def _path_error(exc: OSError) -> str:
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return f"cannot use {exc.filename}: not a folder"
    return f"cannot use {exc.filename}: {exc.strerror or exc}"


# -- talking to a sandbox: over HTTP, or directly to a stopped one's data folder ----------------
class _Http:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        for suffix in ("/api/v3",):
            if self.url.endswith(suffix):
                self.url = self.url[: -len(suffix)]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        import requests

        try:
            resp = requests.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=30)
        except requests.RequestException as exc:
            raise CliError(f"cannot reach the sandbox at {self.url} ({type(exc).__name__})") from None
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code >= 400:
            message = data.get("message") if isinstance(data, dict) else resp.text[:200]
            raise CliError(f"the sandbox at {self.url} refused {method} {path}: {resp.status_code} {message}")
        if data is None:
            raise CliError(f"{self.url} did not answer like a gridctl sandbox (is it one?)")
        return data


class _Direct:
    """The control routes' own functions, run against a stopped sandbox's store."""

    def __init__(self, app: Any):
        self.app = app

    def call(self, method: str, path: str, body: Any = None) -> Any:
        from . import api  # noqa: F401  (registers the control routes)
        from .errors import ApiError
        from .routing import CONTROL_ROUTES

        parts = path.strip("/").split("/")
        for m, pattern, fn in CONTROL_ROUTES:
            want = pattern.removeprefix("/_sandbox").strip("/").split("/")
            if m != method or len(want) != len(parts):
                continue
            params = {}
            for w, p in zip(want, parts, strict=True):
                if w.startswith("{") and w.endswith("}"):
                    params[w[1:-1]] = p
                elif w != p:
                    break
            else:
                try:
                    with self.app.store.lock:
                        result = fn(self.app, body or {}, params, {})
                        self.app.store.commit()
                except ApiError as err:
                    raise CliError(err.message) from None
                return result[1] if isinstance(result, tuple) else result
        raise CliError(f"no control route {method} {path}")


@contextmanager
def _sandbox(url: str | None, data: str | None) -> Iterator[Any]:
    if url and data:
        raise CliError("give either --url (a running sandbox) or --data (a stopped one), not both")
    if data is None:
        url = url or os.environ.get(URL_ENV)
        if not url:
            raise CliError(f"no sandbox: give --url URL (or set {URL_ENV}) or --data DIR")
        yield _Http(url)
        return
    from types import SimpleNamespace

    from .server import open_store
    from .store import StoreError
    from .world import World

    try:
        store, lock = open_store(data)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(_path_error(exc)) from None
    try:
        yield _Direct(SimpleNamespace(store=store, world=World(store)))
    finally:
        try:
            store.close()
        finally:
            if lock is not None:
                lock.release()


def _run(action: Callable[[], None]) -> None:
    from .store import StoreError

    try:
        action()
    except CliError as exc:
        _fail(str(exc))
    except StoreError as exc:
        _fail(str(exc))


_URL_OPT = typer.Option(None, "--url", help=f"A running sandbox (default: ${URL_ENV}).")
_DATA_OPT = typer.Option(None, "--data", help="A stopped sandbox's data folder, edited directly.")


# -- user add ------------------------------------------------------------------------------------
@user_app.command("add")
def user_add(
    login: str = typer.Argument(..., help="Login of the new user or organization."),
    org: bool = typer.Option(False, "--org", help="Create an organization instead of a user."),
    scopes: str | None = typer.Option(None, help="Token scopes, comma-separated (default: repo,workflow,admin:org,...)."),
    admin_of: list[str] | None = typer.Option(None, "--admin-of", metavar="<org>", help="Make the user an owner of ORG (repeatable)."),
    member_of: list[str] | None = typer.Option(None, "--member-of", metavar="<org>", help="Make the user a member of ORG (repeatable)."),
    admins: str | None = typer.Option(None, help="With --org: its owners, comma-separated logins."),
    members: str | None = typer.Option(None, help="With --org: its members, comma-separated logins."),
    url: str | None = _URL_OPT,
    data: str | None = _DATA_OPT,
) -> None:
    """Create a user (printing a new token on stdout) or, with --org, an organization."""

    def action() -> None:
        if org and (scopes or admin_of or member_of):
            raise CliError("--scopes, --admin-of and --member-of are for users; an organization gets --admins/--members")
        if not org and (admins or members):
            raise CliError("--admins and --members need --org")
        with _sandbox(url, data) as sbx:
            if org:
                out = sbx.call(
                    "POST", "/users", {"login": login, "org": True, "admins": _csv(admins), "members": _csv(members)}
                )
                _note(f"organization {out['login']} (id {out['id']}): {len(out.get('members', {}))} member(s)")
                return
            body: dict[str, Any] = {"login": login}
            if scopes is not None:
                body["scopes"] = _csv(scopes)
            out = sbx.call("POST", "/users", body)
            for role, orgs in (("admin", admin_of or []), ("member", member_of or [])):
                for name in orgs:
                    try:
                        sbx.call("PUT", f"/orgs/{name}/members/{login}", {"role": role})
                    except CliError as exc:
                        raise CliError(f"user {out['login']} exists, but could not join {name} as {role}: {exc}") from None
            _note(f"user {out['login']} (id {out['id']}), token scopes: {', '.join(out.get('scopes', []))}")
            typer.echo(out["token"])

    _run(action)


# -- token -----------------------------------------------------------------------------------------
@app.command()
def token(
    login: str = typer.Argument(..., help="An existing sandbox user."),
    scopes: str | None = typer.Option(None, help="Token scopes, comma-separated."),
    url: str | None = _URL_OPT,
    data: str | None = _DATA_OPT,
) -> None:
    """Issue another token for an existing user (printed on stdout)."""

    def action() -> None:
        with _sandbox(url, data) as sbx:
            body: dict[str, Any] = {"login": login}
            if scopes is not None:
                body["scopes"] = _csv(scopes)
            out = sbx.call("POST", "/tokens", body)
            typer.echo(out["token"])

    _run(action)


# -- runner ----------------------------------------------------------------------------------------
@app.command()
def runner(
    jit_file: str | None = typer.Option(None, "--jit-file", help="File holding the runner's JIT configuration."),
    jitconfig: str | None = typer.Option(
        None, "--jitconfig", help="The JIT configuration itself (ps shows it: prefer --jit-file or ACTIONS_RUNNER_INPUT_JITCONFIG)."
    ),
    url: str | None = typer.Option(None, "--url", help=f"The sandbox (default: ${URL_ENV}, else the JIT configuration's server)."),
) -> None:
    """Run a stand-in runner: come online with a JIT configuration, take a job, run it, exit (ephemeral)."""
    from .standin import RunnerError, main

    def say(line: str) -> None:
        typer.echo(line)
        sys.stdout.flush()

    try:
        code = main(jit_file, jitconfig, url, say)
    except RunnerError as exc:
        _fail(str(exc))
    raise typer.Exit(code)


# -- stats -----------------------------------------------------------------------------------------
@app.command()
def stats(url: str | None = _URL_OPT) -> None:
    """Print a running sandbox's request counters."""

    def action() -> None:
        with _sandbox(url, None) as sbx:
            data = sbx.call("GET", "/stats")
        typer.echo(render_stats(data))

    _run(action)


def render_stats(data: dict[str, Any]) -> str:
    """The counters of ``GET /_sandbox/stats`` as an aligned text table."""
    columns = ["requests", "points", "not_modified"]
    groups = [("", {"total": data.get("total", {})}), ("by endpoint", data.get("by_endpoint", {})),
              ("by identity", data.get("by_identity", {}))]
    every = [counts for _, group in groups for counts in group.values()]
    columns += sorted({k for c in every for k in c if k.startswith("status_")}, key=lambda k: int(k[7:]))
    table: list[list[str] | str] = [["", *(c.removeprefix("status_") for c in columns)]]
    for title, group in groups:
        if title and group:
            table.append(title)
        for name, counts in group.items():
            table.append([("  " if title else "") + name, *(str(counts.get(c, 0)) for c in columns)])
    rows = [r for r in table if isinstance(r, list)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in table:
        if isinstance(row, str):
            out.append(row)
        else:
            out.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip())
    return "\n".join(out)
