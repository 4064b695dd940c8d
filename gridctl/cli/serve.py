"""``gridctl serve`` (preview): the controller's store and API, from the manifest's ``serve:``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command to the main app."""
    from .common import FileOpt, StateDirOpt, err, run_command

    @app.command("serve")
    def serve(
        file: Path = FileOpt,
        listen: str = typer.Option(None, "--listen", metavar="<host:port>", help="Where the API listens (default: serve.listen, else 127.0.0.1:8080)."),
        state_dir: Path = StateDirOpt,
    ) -> None:
        """Run the controller (preview): its database, leadership and HTTP API (/health, /metrics,
        the dispatch queue under /api/v1). Scaling pools and dispatching join it next."""

        def go() -> int:
            from ..core.session import workdir_for
            from ..errors import GridctlError
            from ..resources import load_manifest
            from ..serve.run import serve as run_serve

            where: tuple[str, int] | None = None
            if listen:
                host, _, port = listen.rpartition(":")
                if not host or not port.isdigit() or not 0 < int(port) < 65536:
                    raise GridctlError(f"--listen {listen!r}: expected host:port, e.g. 127.0.0.1:8080")
                where = (host, int(port))
            m = load_manifest(file, tokens=False)
            return run_serve(m, workdir_for(file, state_dir), where, say=err)

        raise typer.Exit(run_command(go))
