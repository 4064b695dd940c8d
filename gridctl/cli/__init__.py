"""gridctl's command line: parse, call the library, render diagnostics once, exit 0/1/2.

Exit codes (also in ``gridctl --help``): 0 success (and, with ``--detailed-exitcode``, no
changes), 1 error — usage errors too (:class:`~.common.RootGroup`) —, 2 changes present
(``plan --detailed-exitcode``), 3 a dispatch condition not met, 130 interrupted. Errors print as ``file:line:col: error: ...`` on
stderr without a traceback (``GRIDCTL_DEBUG=1`` shows one for unexpected errors).

One module per command group, each exposing ``register(app)``; they import the shared helpers
from :mod:`.common` and the library below them, never this package.
"""

from __future__ import annotations

from typing import Any

import typer

from .. import __version__
from ..sandbox.cli import app as sandbox_app
from . import comment, dispatch, imports, plan, queue, runners, serve, state
from .common import EXIT_CODES, RootGroup

app = typer.Typer(
    name="gridctl",
    help="Declarative plan/apply for fleets of GitHub accounts, repositories and Actions runners.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, powershell)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=RootGroup,  # usage errors exit 1, not 2 (see RootGroup)
    epilog=EXIT_CODES,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"gridctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print gridctl's version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs on stderr, one line per HTTP request (default: $GRIDCTL_LOG, else warnings only)."),
    log_format: str = typer.Option("text", "--log-format", metavar="<text|json>", help="text | json (one JSON object per log line)."),
) -> None:
    # options of ``gridctl`` itself; the help text is the Typer's own (above)
    from ..util.log import FORMATS, setup

    if log_format not in FORMATS:
        raise typer.BadParameter(f"{log_format!r} is not text or json", param_hint="--log-format")
    setup("debug" if verbose else None, log_format)


app.add_typer(sandbox_app, name="sandbox")
app.add_typer(state.state_app, name="state")
#: the order of ``gridctl --help``
for _module in (plan, runners, dispatch, queue, comment, imports, state, serve):
    _module.register(app)


def main() -> None:
    import signal

    def terminate(signum: int, frame: Any) -> None:
        # a cancelled CI job sends SIGTERM: unwind like Ctrl-C so locks are released and the
        # journal and state are written
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    app()


if __name__ == "__main__":
    main()
