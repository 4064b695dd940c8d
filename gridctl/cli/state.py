"""``gridctl state show|list|rm|mv|unlock``, for both state backends.

``show`` lists the managed addresses (never a value). With the GitHub backend it also says
where the state lives (repository, path, branch, the commit read) and whether it is locked —
by which run, operation, host and user, since when. ``--json`` prints the state file itself.

``unlock`` breaks a stale lock of the GitHub backend: without ``--force`` it only says who
holds the lock and refuses (exit 1). The local backend's lock is a file lock the system
releases when its process ends, so there is never anything to unlock.

``list`` prints the managed addresses, one per line (filtered like ``--target``), for scripts.

``rm ADDRESS...`` forgets objects without touching GitHub (gridctl stops managing them; a
repository takes everything inside it along). ``mv OLD NEW`` moves an object to a new address —
for a repository renamed or transferred on GitHub, the repository and everything inside it —
so the next plan finds them under their new name instead of planning them anew. Both take the
state lock, replay what an interrupted run left in the journal first, write the state with the
next serial and keep the previous one: ``.gridctl/state.json.backup`` for the local backend, the
commit before for the GitHub one (both are printed).

``show`` and ``list`` take no lock: they read the last committed state (a consistent snapshot)
and need only the token of the account that reaches the state repository.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from ..state.local import State


def _edit(file: Path, sandbox: bool, api_url: str | None, state_dir: Path | None, operation: str,
          change: Callable[[State], list[str]]) -> None:
    """Lock the state, replay interrupted runs, ``change`` it, write it (next serial, backup)."""
    from ..core.journal import new_run_id, recover
    from ..core.session import workdir_for
    from ..state.local import LocalBackend
    from .common import err

    with open_backend(file, sandbox, api_url, state_dir) as backend, backend.lock(new_run_id(), operation):
        st = backend.read()
        recovered = recover(workdir_for(file, state_dir), st)
        if recovered:
            err(f"gridctl: recovered state updates from interrupted run(s) {', '.join(recovered)}")
        before = st.serial
        lines = change(st)
        previous = None if isinstance(backend, LocalBackend) else backend.location()["commit"]
        backend.write(st)
        for line in lines:
            typer.echo(line)
        if isinstance(backend, LocalBackend):
            kept = f"the previous state is in {backend.backup_path}" if backend.backup_path.exists() else "there was no state before"
        else:
            kept = f"the previous state is commit {(previous or '')[:12] or '(none)'} of {backend.full_name}"
        err(f"gridctl: state {backend.describe()} serial {before} -> {st.serial}; nothing changed on GitHub; {kept}")


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


def _in_progress(holder: str, workdir: Path) -> str:
    """The line ``state show`` adds while a run holds the local lock: the state shown is the one
    last written, and the running apply's journal says how far it got."""
    import re

    from ..core.journal import read_journal

    line = f"lock: held by {holder}: an apply is in progress; shown is the state as last written (the apply writes its changes when it ends)"
    run = re.match(r"run ([0-9A-Za-z-]+) ", holder)  # a run id: never a path
    journal = workdir / "journal" / f"{run.group(1)}.jsonl" if run else None
    if journal is not None and journal.is_file():
        done = sum(1 for e in read_journal(journal).entries if e.get("type") == "done")
        line += f"; {done} change(s) done so far ({journal})"
    return line


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
                    holder = backend.holder()
                    if holder is not None:
                        header.append(_in_progress(holder, backend.workdir))
                        if json_out:
                            from .common import err

                            err(f"gridctl: warning: {header[-1]}")
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

    @state_app.command("list")
    def list_(
        filters: list[str] = typer.Argument(
            None, metavar="ADDRESS", show_default=False,
            help="Only these: an address or its start, a kind, or a repository (as --target picks).",
        ),
        file: Path = FileOpt,
        state_dir: Path = StateDirOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
    ) -> None:
        """Print the managed addresses, one per line (no values, no lock)."""

        def go() -> None:
            with open_backend(file, sandbox, api_url, state_dir) as backend:
                st = backend.read()
            for address in st.select(list(filters or [])):
                typer.echo(address)

        run_command(go)

    @state_app.command("rm")
    def rm(
        addresses: list[str] = typer.Argument(
            ..., metavar="ADDRESS", help="What to forget: addresses (gridctl state list), or a repository OWNER/NAME with everything inside it."
        ),
        file: Path = FileOpt,
        state_dir: Path = StateDirOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
    ) -> None:
        """Forget objects without touching GitHub: gridctl stops managing them (takes the lock)."""

        def change(st: State) -> list[str]:
            return [f"removed {a}" for a in st.remove(list(addresses))]

        run_command(lambda: _edit(file, sandbox, api_url, state_dir, "state rm", change))

    @state_app.command("mv")
    def mv(
        old: str = typer.Argument(..., metavar="OLD", help="An address, or a repository OWNER/NAME (moved with everything inside it)."),
        new: str = typer.Argument(..., metavar="NEW", help="Its new address (for a repository: its new OWNER/NAME)."),
        file: Path = FileOpt,
        state_dir: Path = StateDirOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
    ) -> None:
        """Move an object to a new address without touching GitHub: a renamed repository with everything in it (takes the lock)."""

        def change(st: State) -> list[str]:
            return [f"moved {a} -> {b}" for a, b in st.move(old, new)]

        run_command(lambda: _edit(file, sandbox, api_url, state_dir, "state mv", change))

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
