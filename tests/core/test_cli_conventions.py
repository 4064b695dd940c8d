"""CLI conventions Terraform users bring along: usage errors exit 1 (2 means "changes present"),
exit codes in ``--help``, help text and readable metavars on every option, shell completion,
``--no-color`` beside ``NO_COLOR`` — through the real entry point in subprocesses (a pseudo
terminal where colours are the point) and typer's runner on the real app."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import typer
from typer.testing import CliRunner

from gridctl.cli import app

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def gridctl_exe() -> str:
    """The console script (the name shells complete and users type)."""
    found = Path(sys.executable).with_name("gridctl")
    return str(found) if found.exists() else (shutil.which("gridctl") or "gridctl")


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GRID_TOKEN", "NO_COLOR", "GITHUB_"))}
    return subprocess.run(
        [gridctl_exe(), *args], cwd=cwd, env={**base, **(env or {})}, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout,
    )


# -- usage errors exit 1 -------------------------------------------------------------------------------------


def test_usage_errors_exit_1_not_the_changes_present_code(tmp_path):
    for args, says in (
        (["plan", "--bogus", "--detailed-exitcode"], "No such option: --bogus"),
        (["plan", "--detailed-exitcode", "--format"], "requires an argument"),
        (["state", "mv", "only-one"], "Missing argument"),
        (["nosuchcommand"], "No such command"),
        (["apply", "a.json", "b.json"], "unexpected extra argument"),
    ):
        r = run(args, tmp_path)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert says in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    # the same through typer's runner on the app object itself
    res = CliRunner().invoke(app, ["plan", "--bogus", "--detailed-exitcode"])
    assert res.exit_code == 1 and "No such option: --bogus" in res.stderr
    # 2 still means "changes present"... and a real error is still 1
    r = run(["plan", "--detailed-exitcode", "-f", "missing.yaml"], tmp_path)
    assert r.returncode == 1 and "missing.yaml" in r.stderr


def test_exit_codes_are_listed_in_help(tmp_path):
    r = run(["--help"], tmp_path)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "Exit codes:" in text
    assert "0 success" in text and "1 an error, usage errors included" in text
    assert "2 changes present (plan --detailed-exitcode)" in text and "130 interrupted" in text


# -- help text and metavars ----------------------------------------------------------------------------------

#: a metavar that is a Python type expression, not something a person types
TYPE_EXPRESSION = re.compile(r"<\w+\[")


def _commands(cmd, path=()):
    yield path, cmd
    for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
        yield from _commands(sub, (*path, name))


def test_every_option_of_every_command_has_help_and_a_readable_metavar():
    root = typer.main.get_command(app)
    seen = 0
    problems = []
    for path, cmd in _commands(root):
        ctx = typer.Context(cmd, info_name=" ".join(("gridctl", *path)))
        for param in cmd.params:
            record = param.get_help_record(ctx)
            if record is None or param.name == "help":
                continue  # hidden
            seen += 1
            where = f"gridctl {' '.join(path)} {record[0]}"
            if not (getattr(param, "help", None) or "").strip():
                problems.append(f"{where}: no help text")
            if param.param_type_name == "option" and TYPE_EXPRESSION.search(record[0]):
                problems.append(f"{where}: metavar is a type expression")
    assert seen > 100  # really walked the whole tree
    assert not problems, "\n".join(problems)


# -- shell completion --------------------------------------------------------------------------------------


def test_shell_completion_is_on(tmp_path):
    r = run(["--help"], tmp_path)
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout
    # what the installed bash completion asks the program (click's protocol, via typer)
    proto = {"_GRIDCTL_COMPLETE": "complete_bash", "COMP_WORDS": "gridctl sta", "COMP_CWORD": "1"}
    r = run([], tmp_path, proto)
    assert r.returncode == 0 and r.stdout.split() == ["state"], r.stdout + r.stderr
    r = run([], tmp_path, {**proto, "COMP_WORDS": "gridctl state ", "COMP_CWORD": "2"})
    assert {"show", "list", "rm", "mv", "unlock"} <= set(r.stdout.split())
    r = run([], tmp_path, {**proto, "COMP_WORDS": "gridctl plan --no-c", "COMP_CWORD": "2"})
    assert r.stdout.split() == ["--no-color"]
    r = run(["--show-completion", "bash"], tmp_path)
    assert r.returncode == 0 and "_GRIDCTL_COMPLETE=complete_bash" in r.stdout


# -- --no-color beside NO_COLOR ------------------------------------------------------------------------------


def on_a_terminal(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run gridctl with its stdout on a pseudo terminal; (exit code, what the terminal showed)."""
    master, slave = pty.openpty()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NO_COLOR", "CI", "GITHUB_"))}
    proc = subprocess.Popen(
        [gridctl_exe(), *args], cwd=cwd, env={**base, "TERM": "xterm", **env},
        stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed: the process is done with it
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_no_color_flag_and_no_color_variable_turn_colours_off(tmp_path):
    work = tmp_path / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", work, ignore=shutil.ignore_patterns(".gridctl"))
    code, shown = on_a_terminal(["plan", "--sandbox"], work, {})
    assert code == 0, shown
    assert ANSI.search(shown), "a plan on a terminal is coloured"
    assert "+ repo alice/hello-grid" in ANSI.sub("", shown)
    for args, env in ((["plan", "--sandbox", "--no-color"], {}), (["plan", "--sandbox"], {"NO_COLOR": "1"})):
        code, shown = on_a_terminal(args, work, env)
        assert code == 0, shown
        assert "+ repo alice/hello-grid" in shown
        assert not ANSI.search(shown), (args, env)
    # https://no-color.org: an empty NO_COLOR does not count
    code, shown = on_a_terminal(["plan", "--sandbox"], work, {"NO_COLOR": ""})
    assert code == 0 and ANSI.search(shown)
