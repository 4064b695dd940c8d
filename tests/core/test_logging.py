"""Logging: ``gridctl -v`` / ``GRIDCTL_LOG=debug`` print one line per HTTP request (method, path,
status, rate limit left) on stderr, as text or JSON (``--log-format json``); a canary token — and
a query value that could be sensitive — appears in none of them; every ``GRIDCTL_*`` variable is
documented in the README's "Environment variables" section."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from gridctl.util.log import safe_path

from ..helpers import grid_yaml

ROOT = Path(__file__).resolve().parents[2]
CANARY = "gridsbx_" + "c4a7" * 10  # the sandbox accepts a token we choose: this one

MANIFEST = grid_yaml("""\
repos:
  alice/demo:
    description: Demo
    variables: {REGION: eu}
    files:
      notes.txt: {content: hello, branch: canary-ref-9e1f}
""")

REQUEST_LINE = re.compile(r"^gridctl: debug: (GET|POST|PUT|PATCH|DELETE) (/\S*) (\d{3}|-)( \(rate limit: \d+ left\))?$")


def setup_grid(grid):
    grid.sb.add_user("alice", token=CANARY)
    grid.tokens["alice"] = CANARY
    grid.env["GRID_TOKEN_ALICE"] = CANARY
    grid.write("grid.yaml", MANIFEST)
    # the repository exists, so its file is read at its branch (a query value)
    resp = grid.api("alice", "POST", "/user/repos", {"name": "demo", "description": "Demo"})
    assert resp.status_code == 201, resp.text


def debug_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("gridctl: debug: ")]


def test_verbose_prints_request_lines_without_the_token(grid):
    setup_grid(grid)
    r = grid.run("-v", "plan")
    lines = debug_lines(r.err)
    requests = [line for line in lines if REQUEST_LINE.match(line)]
    assert any(re.fullmatch(r"gridctl: debug: GET /user 200 \(rate limit: \d+ left\)", line) for line in requests), r.err
    assert any(line.startswith("gridctl: debug: GET /repos/alice/demo 200") for line in requests), r.err
    assert any(line.startswith("gridctl: debug: GET /repos/alice/demo/actions/variables?per_page=30 ") for line in requests), r.err
    # a query value other than paging is shown as a name only (a ref, here, could be anything)
    assert any("/repos/alice/demo/contents?ref=…" in line for line in requests), r.err
    assert all("canary-ref-9e1f" not in line for line in lines)
    assert len(requests) >= 3
    assert CANARY not in r.all
    assert "authorization" not in r.err.lower() and "x-oauth-scopes" not in r.err.lower()  # no header
    # without -v: no debug line at all
    r = grid.run("plan")
    assert debug_lines(r.err) == []
    assert CANARY not in r.all
    # GRIDCTL_LOG=debug does what -v does
    r = grid.run("plan", env={"GRIDCTL_LOG": "debug"})
    assert any(REQUEST_LINE.match(line) for line in debug_lines(r.err))


def test_json_log_lines_carry_the_request_fields_and_no_token(grid):
    setup_grid(grid)
    r = grid.run("-v", "--log-format", "json", "plan")
    records = [json.loads(line) for line in r.err.splitlines() if line.startswith("{")]
    http = [rec for rec in records if rec["logger"] == "gridctl.http"]
    assert http, r.err
    for rec in http:
        assert set(rec) == {"time", "level", "logger", "message", "method", "path", "status", "rate_limit_remaining"}
        assert rec["level"] == "debug" and rec["method"] in ("GET", "POST", "PUT", "PATCH", "DELETE")
    user = next(rec for rec in http if rec["path"] == "/user")
    assert (user["method"], user["status"], user["message"]) == ("GET", 200, f"GET /user 200 (rate limit: {user['rate_limit_remaining']} left)")
    assert isinstance(user["rate_limit_remaining"], int)
    assert CANARY not in r.err and "canary-ref-9e1f" not in "".join(json.dumps(rec) for rec in records)
    r = grid.run("--log-format", "yaml", "plan")
    assert r.code == 1 and "--log-format" in r.err


def test_logs_go_to_stderr_of_the_real_cli_and_stdout_keeps_the_plan(grid, tmp_path):
    setup_grid(grid)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRID", "GH_", "GITHUB_"))}
    env.update({"GRIDCTL_API_URL": grid.sb.url, "GRID_TOKEN_ALICE": CANARY, "NO_COLOR": "1", "GRIDCTL_WORKDIR": str(tmp_path / "work")})
    proc = subprocess.run([sys.executable, "-m", "gridctl", "-v", "plan"], cwd=grid.dir, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "REGION" in proc.stdout, proc.stdout
    assert "gridctl: debug:" not in proc.stdout
    assert any(REQUEST_LINE.match(line) for line in proc.stderr.splitlines()), proc.stderr
    assert CANARY not in proc.stdout + proc.stderr


def test_safe_path_keeps_paging_and_hides_other_query_values():
    assert safe_path("/repos/a/b") == "/repos/a/b"
    assert safe_path("/repos/a/b/secrets?per_page=100&page=2") == "/repos/a/b/secrets?per_page=100&page=2"
    assert safe_path("/x?ref=topsecret&page=abc") == "/x?ref=…&page=…"
    assert safe_path("https://api.example.com/api/v3/user?access_token=abc") == "/api/v3/user?access_token=…"


def test_every_gridctl_variable_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Environment variables", 1)[1].split("\n## ", 1)[0]
    used: set[str] = set()
    for path in [*(ROOT / "gridctl").rglob("*.py"), ROOT / "noxfile.py"]:
        used |= set(re.findall(r"\bGRIDCTL_[A-Z][A-Z_]*[A-Z]\b", path.read_text()))
    used.discard("GRIDCTL_EOF")  # a shell here-document delimiter in a generated workflow, not a variable
    assert "GRIDCTL_LOG" in used and "GRIDCTL_API_URL" in used
    missing = sorted(v for v in used if f"`{v}`" not in section)
    assert not missing, f"not in the README's Environment variables section: {missing}"
