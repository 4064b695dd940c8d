"""``gridctl serve``: the fleet controller (autoscaled runner pools, the dispatch queue, its API)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command to the main app."""
    from .common import ApiUrlOpt, FileOpt, SandboxOpt, StateDirOpt, run_command

    @app.command("serve")
    def serve(
        file: Path = FileOpt,
        listen: str = typer.Option(None, "--listen", metavar="<host:port>", help="Where the API listens (default: serve.listen, else 127.0.0.1:8080)."),
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
        state_dir: Path = StateDirOpt,
    ) -> None:
        """Run the controller: it keeps the pools' ephemeral runners sized to the queued jobs and
        dispatches the queue's entries when a matching runner is idle, with its HTTP API (/health,
        /metrics, /api/v1, /webhooks). SIGHUP reloads the manifest; SIGTERM/SIGINT stop it."""

        def go() -> int:
            from ..core.session import workdir_for
            from ..errors import GridctlError
            from ..resources import load_manifest
            from ..serve.run import serve as run_serve
            from .common import err

            where: tuple[str, int] | None = None
            if listen:
                host, _, port = listen.rpartition(":")
                if not host or not port.isdigit() or not 0 < int(port) < 65536:
                    raise GridctlError(f"--listen {listen!r}: expected host:port, e.g. 127.0.0.1:8080")
                where = (host, int(port))
            m = load_manifest(file, tokens=False)
            return run_serve(
                m, file, workdir_for(file, state_dir), where, say=err, sandbox=sandbox, api_url=api_url,
                reload=lambda: load_manifest(file, tokens=False),
            )

        raise typer.Exit(run_command(go))
