"""``gridctl state show`` and ``gridctl state unlock [--force]``, for both state backends.

``show`` lists the managed addresses (never a value). With the GitHub backend it also says
where the state lives (repository, path, branch, the commit read) and whether it is locked —
by which run, operation, host and user, since when. ``--json`` prints the state file itself.

``unlock`` breaks a stale lock of the GitHub backend: without ``--force`` it only says who
holds the lock and refuses (exit 1). The local backend's lock is a file lock the system
releases when its process ends, so there is never anything to unlock.

Neither command locks the state; ``show`` reads the last committed state (a consistent
snapshot) and needs only the token of the account that reaches the state repository.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer


@contextlib.contextmanager
def open_backend(file: Path, sandbox: bool, api_url: str | None, state_dir: Path | None) -> Iterator[Any]:
    """The manifest's state backend, connected when it is on GitHub (no lock is taken)."""
    from ..core.session import Session, workdir_for
    from ..resources import load_manifest
    from ..state.local import LocalBackend
    from .common import session_options

    workdir = workdir_for(file, state_dir)
    spec = load_manifest(file, resolve=False).state if file.exists() else None
    if spec is None or spec.backend != "github":
        yield LocalBackend(workdir)
        return
    from ..state.github import GitHubBackend

    manifest = load_manifest(file, tokens=not sandbox)
    options = session_options(sandbox, api_url, state_dir)
    options.check_tokens = False  # one account is used, and a refused token says so itself
    session = Session(manifest, options, workdir)
    try:
        session._connect()
        yield GitHubBackend(session, manifest.state)
    finally:
        session.close()


state_app = typer.Typer(help="Inspect and manage gridctl's state.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """State subcommands live on :data:`state_app` (added to the app by the package)."""
    from .common import ApiUrlOpt, FileOpt, SandboxOpt, StateDirOpt, run_command

    @state_app.command("show")
    def show(
        file: Path = FileOpt,
        state_dir: Path = StateDirOpt,
        json_out: bool = typer.Option(False, "--json", help="Print the state file (JSON) instead of the list."),
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
    ) -> None:
        """List what gridctl manages (addresses; never values), where the state lives and its lock."""

        def go() -> None:
            from ..state.local import LocalBackend

            with open_backend(file, sandbox, api_url, state_dir) as backend:
                st = backend.read()
                if isinstance(backend, LocalBackend):
                    header = [f"state: local {backend.describe()}"]
                else:
                    where = backend.location()
                    holder = backend.holder()
                    commit = (where["commit"] or "")[:12] or "no commit yet"
                    header = [
                        f"state: github {where['repo']}:{where['path']} (branch {where['branch']}, commit {commit}, account {where['account']})",
                        f"lock: held by {holder.describe()} (user {holder.user})" if holder else "lock: not locked",
                    ]
            if json_out:
                typer.echo(json.dumps(st.to_json(), indent=2))
                return
            for line in header:
                typer.echo(line)
            typer.echo(f"state serial {st.serial}, {len(st.resources)} managed object(s)")
            for address in st.addresses():
                typer.echo(f"  {address}")

        run_command(go)

    @state_app.command("unlock")
    def unlock(
        file: Path = FileOpt,
        force: bool = typer.Option(False, "--force", help="Delete the lock (only when the run holding it is gone)."),
        state_dir: Path = StateDirOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
    ) -> None:
        """Break a stale lock of the shared (github) state; without --force, show who holds it."""

        def go() -> None:
            from ..state.local import LocalBackend

            with open_backend(file, sandbox, api_url, state_dir) as backend:
                if isinstance(backend, LocalBackend):
                    typer.echo(
                        f"the local state {backend.describe()} is locked only while a gridctl process runs (the system releases it); nothing to unlock"
                    )
                    return
                info = backend.unlock(force)
                where = backend.describe()
            if info is None:
                typer.echo(f"the state {where} is not locked")
            else:
                typer.echo(f"removed the lock of {info.describe()} (user {info.user}) from {where}")

        run_command(go)
