"""Outputs that a refactoring must leave byte-identical: ``--help`` of every command and the
text / markdown / JSON plan of every example on a fresh embedded sandbox.

    python -m tests.golden.outputs write   # record (only when an output is meant to change)
    python -m tests.golden.outputs diff    # print the differences; exit 1 when there are any

``tests/core/test_golden_outputs.py`` runs the comparison in the suite. Volatile fields
(``created_at``) are blanked; secret fingerprints are made stable with a fixed fingerprint key.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "recorded"
EXAMPLES = ("quickstart", "datagram", "dgrid", "dispatch", "runners")
ENV = {
    "COLUMNS": "100",
    "NO_COLOR": "1",
    "GITHUB_ACTIONS": None,
    "GRIDCTL_API_URL": None,
    "GRIDCTL_FINGERPRINT_KEY": "golden-outputs-fixed-key",
}


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    sub = getattr(cmd, "commands", None) or {}  # typer vendors its own click: duck-type groups
    for name in sorted(sub):
        yield from _commands(sub[name], path + (name,))


def _invoke(args: list[str], cwd: Path) -> str:
    from gridctl.cli import app

    old = os.getcwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(app, args, env=ENV, catch_exceptions=False)
    finally:
        os.chdir(old)
    return f"exit {r.exit_code}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"


def collect() -> dict[str, str]:
    from gridctl.cli import app

    out: dict[str, str] = {}
    root_cmd = typer.main.get_command(app)
    for path in _commands(root_cmd):
        name = "help-" + ("-".join(path) or "gridctl") + ".txt"
        out[name] = _invoke([*path, "--help"], ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        for example in EXAMPLES:
            dest = Path(tmp) / example
            shutil.copytree(ROOT / "examples" / example, dest, ignore=shutil.ignore_patterns(".gridctl"))
            for fmt in ("text", "markdown", "json"):
                text = _invoke(["plan", "--sandbox", "--format", fmt], dest)
                if fmt == "json":
                    head, _, rest = text.partition("--- stdout\n")
                    body, _, tail = rest.partition("--- stderr\n")
                    data = json.loads(body)
                    data["created_at"] = "(created_at)"
                    text = f"{head}--- stdout\n{json.dumps(data, indent=2, sort_keys=True)}\n--- stderr\n{tail}"
                out[f"plan-{example}.{fmt}.txt"] = text
    return out


def diff(current: dict[str, str]) -> list[str]:
    lines: list[str] = []
    recorded = {p.name: p.read_text() for p in HERE.glob("*.txt")}
    for name in sorted(set(recorded) | set(current)):
        a, b = recorded.get(name), current.get(name)
        if a == b:
            continue
        if a is None or b is None:
            lines.append(f"{name}: {'new' if a is None else 'missing'}")
            continue
        lines.extend(difflib.unified_diff(a.splitlines(), b.splitlines(), f"recorded/{name}", f"now/{name}", lineterm=""))
    return lines


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "diff"
    current = collect()
    if what == "write" and argv[1:]:  # re-record only the outputs named (prefixes allowed)
        picked = {n: t for n, t in current.items() if any(n.startswith(p) for p in argv[1:])}
        for name, text in picked.items():
            (HERE / name).write_text(text)
        print(f"recorded {len(picked)} of {len(current)} outputs: {', '.join(sorted(picked))}")
        return 0
    if what == "write":
        shutil.rmtree(HERE, ignore_errors=True)
        HERE.mkdir(parents=True)
        for name, text in current.items():
            (HERE / name).write_text(text)
        print(f"recorded {len(current)} outputs in {HERE}")
        return 0
    lines = diff(current)
    print("\n".join(lines) if lines else f"no differences ({len(current)} outputs)")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
