"""The GitHub state backend: a state file in a private repository, compare-and-swap commits through
the Git Data API, a lock taken by creating a ref — end to end with the real CLI (in-process and as
concurrent processes) against the strict sandbox."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridctl.core.session import Options, Session

from ..helpers import grid_yaml

STATE_REPO = "alice/gridctl-state"
STATE_PATH = "gridctl/state.json"
LOCK_PREFIX = "refs/gridctl/lock/"
LOCK_MSG = "gridctl state unlock --force to break a stale lock"
FP_KEY = "test-fingerprint-key-0123456789"


def manifest(
    variables: dict[str, str] | None = None, *, state: str = f"{{backend: github, repo: {STATE_REPO}}}", extra: str = ""
) -> str:
    variables = {"REGION": "eu"} if variables is None else variables
    body = ", ".join(f"{k}: {v}" for k, v in variables.items())
    return grid_yaml(f"""\
state: {state}
repos:
  alice/demo:
    visibility: private
    variables: {{{body}}}
{extra}""")


def setup(grid, *, auto_init: bool = True) -> None:
    grid.user("alice")
    grid.env["GRIDCTL_FINGERPRINT_KEY"] = FP_KEY
    r = grid.api("alice", "POST", "/user/repos", {"name": "gridctl-state", "private": True, "auto_init": auto_init})
    assert r.status_code == 201, r.text


def head(grid, branch: str = "main") -> str:
    r = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/ref/heads/{branch}")
    assert r.status_code == 200, r.text
    return r.json()["object"]["sha"]


def remote_state(grid, path: str = STATE_PATH, ref: str | None = None) -> dict:
    r = grid.api("alice", "GET", f"/repos/{STATE_REPO}/contents/{path}" + (f"?ref={ref}" if ref else ""))
    assert r.status_code == 200, r.text
    return json.loads(base64.b64decode(r.json()["content"]))


def lock_refs(grid) -> list[str]:
    r = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/matching-refs/gridctl/lock")
    assert r.status_code == 200, r.text
    return [x["ref"] for x in r.json()]


def put_state(grid, doc: dict, message: str = "edited elsewhere", path: str = STATE_PATH) -> str:
    """Another writer commits (the contents API: an atomic commit on the branch head)."""
    sha = grid.api("alice", "GET", f"/repos/{STATE_REPO}/contents/{path}").json().get("sha")
    body = {"message": message, "content": base64.b64encode((json.dumps(doc, indent=1) + "\n").encode()).decode()}
    if sha:
        body["sha"] = sha
    r = grid.api("alice", "PUT", f"/repos/{STATE_REPO}/contents/{path}", body)
    assert r.status_code in (200, 201), r.text
    return r.json()["commit"]["sha"]


def variables(grid) -> dict[str, str]:
    return {v.name: v.value for v in grid.gh("alice").get_repo("alice/demo").get_variables()}


def expected_addresses(names) -> set[str]:
    return {"repo:alice/demo", *(f"variable:alice/demo:{n}" for n in names)}


def cli_env(grid, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "GRIDCTL_API_URL": grid.sb.url,
        "NO_COLOR": "1",
        "GRIDCTL_SECONDARY_FLOOR": "0.01",
        "GRIDCTL_BACKOFF_BASE": "0.01",
        "GRIDCTL_WRITE_INTERVAL": "0",
        **grid.env,
        **(extra or {}),
    }


def spawn(grid, cwd: Path, *args: str) -> subprocess.Popen:
    """The real CLI in its own process (a CI machine of its own: its own working folder)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gridctl", *args],
        cwd=cwd,
        env=cli_env(grid),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


#: the real CLI's entry point (gridctl.cli.main, what the console script runs), started at a signal:
#: the slow part of a start (imports) happens before it, so two runs really start together
GATED = """
import os, sys, time
import github, gridctl.cli, gridctl.core.session, gridctl.core.engine, gridctl.state.github, gridctl.resources
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
sys.argv = ["gridctl", *sys.argv[3:]]
gridctl.cli.main()
"""


def start_together(grid, folders: list[Path], *args: str) -> list[subprocess.Popen]:
    gate = grid.dir / "gate"
    gate.mkdir(exist_ok=True)
    go = gate / "go"
    go.unlink(missing_ok=True)
    ready = [gate / f"ready-{i}" for i in range(len(folders))]
    for r in ready:
        r.unlink(missing_ok=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", GATED, str(r), str(go), *args],
            cwd=f,
            env=cli_env(grid),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f, r in zip(folders, ready, strict=True)
    ]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.005)
    go.touch()
    return procs


def open_session(grid, operation: str = "apply"):
    """The library's own session (what the CLI runs), for stepping between read and write."""
    old = {k: os.environ.get(k) for k in grid.env}
    os.environ.update(grid.env)
    try:
        return Session.open(
            grid.dir / "grid.yaml", Options(api_url=grid.sb.url, write_interval=0.0), operation=operation
        )
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- the basics ----------------------------------------------------------------------------------------


def test_apply_keeps_state_in_the_repo_and_a_no_change_run_commits_nothing(grid):
    setup(grid)
    grid.write("grid.yaml", manifest({"REGION": "eu", "TIER": "gold"}))
    start = head(grid)
    grid.check(2, "plan", "--detailed-exitcode")
    assert head(grid) == start and lock_refs(grid) == []  # a plan neither commits nor locks
    grid.check(0, "apply", "--auto-approve")
    doc = remote_state(grid)
    assert set(doc["resources"]) == expected_addresses(["REGION", "TIER"])
    assert doc["serial"] == 1 and doc["format_version"] == 1
    assert lock_refs(grid) == []  # released
    assert not (grid.dir / ".gridctl" / "state.json").exists()  # nothing local
    after = head(grid)
    commit = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/commits/{after}").json()
    assert commit["parents"][0]["sha"] == start and "state serial 1" in commit["message"]
    # the first no-change apply may still record what the engine refreshes (variables'
    # updated_at); after that, an unchanged run commits nothing and keeps the serial
    assert grid.run("apply", "--auto-approve").code == 0
    settled, serial = head(grid), remote_state(grid)["serial"]
    assert serial in (1, 2)
    assert grid.run("plan", "--detailed-exitcode").code == 0
    grid.check(0, "apply", "--auto-approve")
    assert head(grid) == settled and remote_state(grid)["serial"] == serial
    # a change commits the next serial on top, same lineage
    grid.write("grid.yaml", manifest({"REGION": "us", "TIER": "gold"}))
    assert grid.run("apply", "--auto-approve").code == 0
    doc2 = remote_state(grid)
    assert doc2["serial"] == serial + 1 and doc2["lineage"] == doc["lineage"]
    assert (
        grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/commits/{head(grid)}").json()["parents"][0]["sha"] == settled
    )
    assert variables(grid) == {"REGION": "us", "TIER": "gold"}


def test_no_change_plan_reads_the_state_in_four_calls_and_writes_nothing(grid):
    setup(grid)
    grid.write("grid.yaml", manifest())
    assert grid.run("apply", "--auto-approve").code == 0
    assert grid.run("apply", "--auto-approve").code == 0  # settles what the engine refreshes
    grid.ctl("POST", "/stats/reset")
    grid.check(0, "plan", "--detailed-exitcode")
    ops = grid.ctl("GET", "/stats")["by_endpoint"]
    state_ops = {op: v["requests"] for op, v in ops.items() if op.startswith("git/") or op == "repos/get-content"}
    # the branch head, the state file at that head, the lock ref (warn if held) — and the
    # repository itself (default branch, private), shared in the count below with the repo kind
    assert state_ops == {"git/get-ref": 2, "repos/get-content": 1}, state_ops
    writes = sum(
        v["requests"]
        for op, v in ops.items()
        if not op.startswith(("git/get", "repos/get", "repos/list", "actions/list", "actions/get", "users/get"))
    )
    assert writes == 0, ops


def test_empty_state_repository_is_initialized_on_first_apply(grid):
    setup(grid, auto_init=False)
    grid.write("grid.yaml", manifest())
    r = grid.run("plan", "--detailed-exitcode")  # a plan of an empty repository writes nothing
    assert r.code == 2, r.all
    assert grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/ref/heads/main").status_code == 409
    r = grid.check(0, "apply", "--auto-approve")
    doc = remote_state(grid)
    assert set(doc["resources"]) == expected_addresses(["REGION"]) and doc["serial"] == 1
    assert lock_refs(grid) == []
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_lost_answers_to_the_lock_and_the_branch_move_are_verified_not_repeated(grid):
    setup(grid)
    grid.write("grid.yaml", manifest())
    # GitHub does the write but the answer is lost (502 after): the lock create must not then
    # read its own lock as someone else's, and the branch move must not be counted as a conflict
    grid.ctl(
        "PUT",
        "/faults",
        {"specs": ["nth=1,op=git/create-ref,status=502,after=1", "nth=1,op=git/update-ref,status=502,after=1"]},
    )
    grid.check(0, "apply", "--auto-approve")
    grid.ctl("PUT", "/faults", {"specs": []})
    assert set(remote_state(grid)["resources"]) == expected_addresses(["REGION"])
    assert lock_refs(grid) == []
    ops = grid.ctl("GET", "/stats")["by_endpoint"]
    assert ops["git/create-ref"].get("status_502") == 1 and ops["git/update-ref"].get("status_502") == 1


def test_missing_state_repository_is_a_clear_error(grid):
    grid.user("alice")
    grid.write("grid.yaml", manifest())
    r = grid.run("plan")
    assert r.code == 1
    assert "the state repository alice/gridctl-state was not found" in r.err and "Traceback" not in r.all


# -- must show: two applies started together ------------------------------------------------------


@pytest.mark.slow
def test_two_applies_started_together_one_proceeds_the_other_stops_on_the_lock(grid):
    setup(grid)
    machines = [grid.dir / "ci-a", grid.dir / "ci-b"]
    grid.ctl("PUT", "/latency", {"latency": "40ms"})  # so the two runs overlap
    names: list[str] = []
    serial, lineage = 0, None
    for round_no in range(5):
        names.append(f"V{round_no}")
        values = {n: f"r{round_no}" for n in names}  # a new variable and updates of the others
        for m in machines:
            grid.write(f"{m.name}/grid.yaml", manifest(values))
        procs = start_together(grid, machines, "apply", "--auto-approve")
        results = [(p, *p.communicate(timeout=180)) for p in procs]
        codes = sorted(p.returncode for p, _, _ in results)
        assert codes == [0, 1], [(p.returncode, err) for p, _, err in results]
        (_, w_out, w_err), (_, _, l_err) = sorted(results, key=lambda x: x[0].returncode)
        winner_run = w_err.split(" in run ")[1].split()[0]
        assert f"state locked by run {winner_run} (apply) on host " in l_err and LOCK_MSG in l_err, l_err
        assert "Traceback" not in l_err and "internal error" not in l_err
        # the state is whole: exactly what was applied, the next serial, the same lineage, no lock left
        doc = remote_state(grid)
        assert set(doc["resources"]) == expected_addresses(names), round_no
        assert doc["serial"] > serial and doc["format_version"] == 1
        lineage = lineage or doc["lineage"]
        assert doc["lineage"] == lineage
        serial = doc["serial"]
        assert lock_refs(grid) == []
        assert variables(grid) == values
    # every state commit descends from the one before (compare-and-swap, never a force push)
    messages, sha = [], head(grid)
    while sha:
        c = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/commits/{sha}").json()
        messages.append(c["message"].split(" (run")[0])
        sha = c["parents"][0]["sha"] if c["parents"] else None
    # one commit per serial, plus the repository's first commit
    assert messages[:-1] == [f"gridctl: state serial {n}" for n in range(serial, 0, -1)], messages


@pytest.mark.slow
def test_two_stacks_sharing_a_state_branch_commit_concurrently_without_losing_updates(grid):
    """Two state files (two locks) in one branch: their commits race on the branch ref and the
    loser of each compare-and-swap re-commits on the new head."""
    setup(grid)
    grid.ctl("PUT", "/latency", {"latency": "lognormal:median=15ms,sigma=0.8"})
    stacks = {"one": "stacks/one.json", "two": "stacks/two.json"}
    moved = 0
    for round_no in range(3):
        for name, path in stacks.items():
            text = grid_yaml(f"""\
state: {{backend: github, repo: {STATE_REPO}, path: {path}}}
repos:
  alice/{name}:
    visibility: private
    variables: {{{", ".join(f"V{i}: r{round_no}" for i in range(round_no + 1))}}}
""")
            grid.write(f"{name}/grid.yaml", text)
        for p in start_together(grid, [grid.dir / name for name in stacks], "apply", "--auto-approve"):
            _, err = p.communicate(timeout=180)
            assert p.returncode == 0, err
            moved += err.count("committing again on it")
        for name, path in stacks.items():
            doc = remote_state(grid, path)
            assert set(doc["resources"]) == {
                f"repo:alice/{name}",
                *(f"variable:alice/{name}:V{i}" for i in range(round_no + 1)),
            }
    assert lock_refs(grid) == []
    # each run committed once, and a lost compare-and-swap cost one more commit, never an update
    commits, sha = 0, head(grid)
    while sha:
        c = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/commits/{sha}").json()
        commits += 1
        sha = c["parents"][0]["sha"] if c["parents"] else None
    assert commits == 1 + 2 * 3, (commits, moved)
    # and every lost compare-and-swap (a 422 on the branch ref) was followed by a re-commit
    ops = grid.ctl("GET", "/stats")["by_endpoint"]
    lost = sum(ops.get(op, {}).get("status_422", 0) for op in ("git/update-ref", "git/create-ref"))
    assert lost == moved, (lost, moved)


# -- a concurrent commit between read and write --------------------------------------------------------


def _env(grid, monkeypatch):
    for k, v in grid.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GRIDCTL_BACKOFF_BASE", "0.01")


def test_concurrent_commit_to_other_addresses_is_merged(grid, monkeypatch):
    setup(grid)
    _env(grid, monkeypatch)
    grid.write("grid.yaml", manifest({"REGION": "eu"}))
    assert grid.run("apply", "--auto-approve").code == 0
    base = remote_state(grid)
    grid.write("grid.yaml", manifest({"REGION": "eu", "TIER": "gold"}))
    foreign = {"kind": "variable", "scope": "alice/other", "account": "main"}
    with Session.open(grid.dir / "grid.yaml", Options(api_url=grid.sb.url, write_interval=0.0), operation="apply") as s:
        plan = s.plan()
        # another writer commits the state between this run's read and its write
        theirs = {
            **base,
            "serial": base["serial"] + 1,
            "resources": {**base["resources"], "variable:alice/other:X": foreign},
        }
        theirs_head = put_state(grid, theirs)
        s.apply(plan)
        assert s.backend.merges == 1
    doc = remote_state(grid)
    assert set(doc["resources"]) == expected_addresses(["REGION", "TIER"]) | {"variable:alice/other:X"}
    assert doc["resources"]["variable:alice/other:X"] == foreign
    assert doc["serial"] == theirs["serial"] + 1 and doc["lineage"] == base["lineage"]
    ours = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/commits/{head(grid)}").json()
    assert [p["sha"] for p in ours["parents"]] == [theirs_head]  # on top of theirs: nothing lost
    assert lock_refs(grid) == []


def test_concurrent_commit_to_another_file_of_the_branch_is_rebased(grid, monkeypatch):
    setup(grid)
    _env(grid, monkeypatch)
    grid.write("grid.yaml", manifest({"REGION": "eu"}))
    with Session.open(grid.dir / "grid.yaml", Options(api_url=grid.sb.url, write_interval=0.0), operation="apply") as s:
        plan = s.plan()
        other = put_state(grid, {"note": "another file"}, path="notes.json")
        s.apply(plan)
        assert s.backend.merges == 0
    assert set(remote_state(grid)["resources"]) == expected_addresses(["REGION"])
    assert remote_state(grid, "notes.json") == {"note": "another file"}
    assert (
        grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/commits/{head(grid)}").json()["parents"][0]["sha"] == other
    )


@pytest.mark.parametrize("edit", ["same address", "other lineage", "deleted"])
def test_concurrent_conflicting_commit_is_refused_and_the_next_run_replays_the_journal(grid, monkeypatch, edit):
    from gridctl.errors import GridctlError

    setup(grid)
    _env(grid, monkeypatch)
    grid.write("grid.yaml", manifest({"REGION": "eu"}))
    assert grid.run("apply", "--auto-approve").code == 0
    base = remote_state(grid)
    grid.write("grid.yaml", manifest({"REGION": "eu", "TIER": "gold"}))
    with Session.open(grid.dir / "grid.yaml", Options(api_url=grid.sb.url, write_interval=0.0), operation="apply") as s:
        plan = s.plan()
        if edit == "same address":  # the other writer recorded TIER differently
            theirs = {
                **base,
                "serial": base["serial"] + 1,
                "resources": {
                    **base["resources"],
                    "variable:alice/demo:TIER": {"kind": "variable", "scope": "alice/demo", "account": "elsewhere"},
                },
            }
            expected = "at address(es) this run also changed: variable:alice/demo:TIER"
        elif edit == "other lineage":
            theirs = {**base, "serial": 7, "lineage": "another-lineage"}
            expected = "with a different lineage (another-lineage"
        if edit == "deleted":
            sha = grid.api("alice", "GET", f"/repos/{STATE_REPO}/contents/{STATE_PATH}").json()["sha"]
            r = grid.api("alice", "DELETE", f"/repos/{STATE_REPO}/contents/{STATE_PATH}", {"message": "rm", "sha": sha})
            assert r.status_code == 200, r.text
            theirs, expected = None, "was deleted by another writer"
        else:
            put_state(grid, theirs)
        theirs_head = head(grid)
        with pytest.raises(GridctlError, match="nothing was overwritten") as info:
            s.apply(plan)
        assert expected in str(info.value)
    assert head(grid) == theirs_head  # not overwritten, no force push
    if theirs is not None:
        assert remote_state(grid) == theirs
    assert lock_refs(grid) == []  # released on the error too
    assert "TIER" in variables(grid)  # GitHub was changed: the journal keeps the state update
    if edit == "same address":
        # the next run from this working folder replays the journal onto the new state
        r = grid.check(0, "apply", "--auto-approve")
        assert "recovered" in r.err
        doc = remote_state(grid)
        assert doc["resources"]["variable:alice/demo:TIER"]["account"] == "main"
        assert doc["serial"] > theirs["serial"]


# -- a stale lock, unlock, show ------------------------------------------------------------------------


@pytest.mark.slow
def test_unlock_force_removes_the_lock_of_a_killed_run(grid):
    setup(grid)
    grid.write("grid.yaml", manifest({f"V{i:02d}": "x" for i in range(30)}))
    grid.ctl("PUT", "/latency", {"latency": "40ms"})
    proc = spawn(grid, grid.dir, "apply", "--auto-approve")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not lock_refs(grid):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    grid.ctl("PUT", "/latency", {"latency": "off"})
    refs = lock_refs(grid)
    assert refs == [f"{LOCK_PREFIX}main-gridctl-state-json"], refs
    killed_run = next((grid.dir / ".gridctl" / "journal").glob("*.jsonl"), None)
    killed_id = killed_run.stem if killed_run else None
    # an apply stops on the lock, saying whose it is
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1
    assert "state locked by run " in r.err and "(apply) on host " in r.err and LOCK_MSG in r.err
    if killed_id:
        assert f"state locked by run {killed_id} (apply)" in r.err
    # a plan does not lock: it warns and plans from the last committed state
    r = grid.check(0, "plan")
    assert "warning: the state is locked by run " in r.err
    # show says who holds it; unlock without --force refuses
    r = grid.check(0, "state", "show")
    assert "lock: held by run " in r.out and "(apply) on host " in r.out and "(user alice)" in r.out
    r = grid.run("state", "unlock")
    assert r.code == 1 and "state locked by run " in r.err and "gridctl state unlock --force removes the lock" in r.err
    assert lock_refs(grid) == refs
    r = grid.check(0, "state", "unlock", "--force")
    assert "removed the lock of run " in r.out
    assert lock_refs(grid) == []
    assert "lock: not locked" in grid.run("state", "show").out
    r = grid.run("state", "unlock")
    assert r.code == 0 and "is not locked" in r.out
    # the next apply proceeds and converges
    r = grid.check(0, "apply", "--auto-approve")
    assert set(remote_state(grid)["resources"]) == expected_addresses([f"V{i:02d}" for i in range(30)])
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_state_show_for_both_backends(grid):
    setup(grid)
    grid.write("local/grid.yaml", manifest(state="{backend: local}").replace("alice/demo", "alice/solo"))
    grid.write("shared/grid.yaml", manifest({"REGION": "eu", "TIER": "gold"}))
    for folder in ("local", "shared"):
        assert grid.run("apply", "-f", f"{folder}/grid.yaml", "--auto-approve").code == 0
    r = grid.check(0, "state", "show", "-f", "local/grid.yaml")
    lines = r.out.splitlines()
    assert lines[0] == f"state: local {grid.dir / 'local' / '.gridctl' / 'state.json'}"
    assert lines[1].startswith("state serial 1, 2 managed object(s)") and lines[2:] == [
        "  repo:alice/solo",
        "  variable:alice/solo:REGION",
    ]
    local_json = json.loads(grid.run("state", "show", "-f", "local/grid.yaml", "--json").out)
    assert local_json == json.loads((grid.dir / "local" / ".gridctl" / "state.json").read_text())
    r = grid.check(0, "state", "show", "-f", "shared/grid.yaml")
    lines = r.out.splitlines()
    assert lines[0] == f"state: github {STATE_REPO}:{STATE_PATH} (branch main, commit {head(grid)[:12]}, account main)"
    assert lines[1] == "lock: not locked"
    assert lines[2].startswith("state serial 1, 3 managed object(s)")
    assert lines[3:] == ["  repo:alice/demo", "  variable:alice/demo:REGION", "  variable:alice/demo:TIER"]
    shared_json = json.loads(grid.run("state", "show", "-f", "shared/grid.yaml", "--json").out)
    assert shared_json == remote_state(grid)
    # without a manifest, show falls back to the local state of this folder
    assert grid.run("state", "show", "-f", "nowhere.yaml").out.startswith("state: local ")
    assert "nothing to unlock" in grid.run("state", "unlock", "-f", "local/grid.yaml").out


# -- canary ---------------------------------------------------------------------------------------------


def _all_repo_text(grid) -> str:
    """Every commit message and every blob of every commit of the state repository."""
    seen: set[str] = set()
    out = []
    refs = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/matching-refs/").json()
    todo = [r["object"]["sha"] for r in refs]
    while todo:
        sha = todo.pop()
        if sha in seen:
            continue
        seen.add(sha)
        c = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/commits/{sha}").json()
        out.append(c["message"])
        todo += [p["sha"] for p in c["parents"]]
        tree = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/trees/{c['tree']['sha']}?recursive=1").json()
        for e in tree["tree"]:
            if e["type"] == "blob":
                blob = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/blobs/{e['sha']}").json()
                out.append(base64.b64decode(blob["content"]).decode("utf-8", "replace"))
    return "\n".join(out)


def test_canary_no_secret_token_or_fingerprint_key_in_the_state_repository(grid, monkeypatch):
    setup(grid)
    canary = "CANARY-s3cr3t-" + os.urandom(8).hex()
    grid.env["CANARY_SECRET"] = canary
    extra = "    secrets:\n      actions: {API_KEY: {env: CANARY_SECRET}}\n"
    grid.write("grid.yaml", manifest() + extra)
    outputs = []
    for args in (("plan",), ("apply", "--auto-approve"), ("plan",), ("state", "show"), ("state", "show", "--json")):
        r = grid.run(*args)
        assert r.code == 0, (args, r.all)
        outputs.append(r.all)
    grid.env["CANARY_SECRET"] = canary + "-v2"
    r = grid.check(0, "apply", "--auto-approve")
    outputs.append(r.all)
    doc = remote_state(grid)
    assert doc["resources"]["secret:alice/demo:actions:API_KEY"]["fingerprint"]  # an HMAC, not the value
    # and the lock commit a run makes while it holds the lock
    _env(grid, monkeypatch)
    with Session.open(grid.dir / "grid.yaml", Options(api_url=grid.sb.url, write_interval=0.0), operation="apply"):
        assert len(lock_refs(grid)) == 1
        text = _all_repo_text(grid)
    assert "gridctl state lock: run " in text and '"operation": "apply"' in text
    token = grid.tokens["alice"]
    for needle in (canary, FP_KEY, token):
        assert needle not in text
        for o in outputs:
            assert needle not in o
        for name, data in grid.files_written().items():
            assert needle.encode() not in data or name.endswith("fingerprint.key"), name


def test_state_in_an_organization_repository_uses_the_organization_account(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    grid.env["GRIDCTL_FINGERPRINT_KEY"] = FP_KEY
    assert (
        grid.api(
            "alice", "POST", "/orgs/acme/repos", {"name": "ops-state", "private": True, "auto_init": True}
        ).status_code
        == 201
    )
    text = manifest(state="{backend: github, repo: acme/ops-state, path: envs/prod/state.json, branch: state}").replace(
        "  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\n",
        "  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\n  acme: {org: acme, token: {env: GRID_TOKEN_ALICE}}\n",
    )
    grid.write("grid.yaml", text)
    # the branch does not exist yet: the first write creates it (an orphan branch holding the state)
    r = grid.check(0, "apply", "--auto-approve")
    ref = grid.api("alice", "GET", "/repos/acme/ops-state/git/ref/heads/state").json()
    commit = grid.api("alice", "GET", f"/repos/acme/ops-state/git/commits/{ref['object']['sha']}").json()
    assert commit["parents"] == []
    got = grid.api("alice", "GET", "/repos/acme/ops-state/contents/envs/prod/state.json?ref=state").json()
    assert set(json.loads(base64.b64decode(got["content"]))["resources"]) == expected_addresses(["REGION"])
    r = grid.run("state", "show")
    assert r.out.startswith("state: github acme/ops-state:envs/prod/state.json (branch state, commit ")
    assert ", account acme)" in r.out.splitlines()[0]
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_a_run_whose_lock_was_broken_leaves_the_next_holders_lock_alone(grid, monkeypatch):
    import contextlib

    setup(grid)
    _env(grid, monkeypatch)
    grid.write("grid.yaml", manifest())
    said: list[str] = []
    options = Options(
        api_url=grid.sb.url, write_interval=0.0, progress=lambda event, detail: said.append(f"{event}: {detail}")
    )
    with contextlib.ExitStack() as first:
        s1 = first.enter_context(Session.open(grid.dir / "grid.yaml", options, operation="apply"))
        [ref] = lock_refs(grid)
        r = grid.run("state", "unlock", "--force")  # someone decides the first run is stale...
        assert r.code == 0 and f"removed the lock of run {s1.run_id} (apply)" in r.out, r.all
        with Session.open(grid.dir / "grid.yaml", options, operation="apply") as s2:  # ...and a second run locks
            taken = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/ref/{ref[5:]}").json()["object"]["sha"]
            first.close()  # the first run ends: it must not delete the second run's lock
            assert lock_refs(grid) == [ref]
            assert grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/ref/{ref[5:]}").json()["object"]["sha"] == taken
            assert any(
                f"is now held by run {s2.run_id} (apply)" in line and "left in place" in line for line in said
            ), said
    assert lock_refs(grid) == []
