"""``gridctl state list``, ``state rm`` and ``state mv``: editing what gridctl manages without
touching GitHub — under the state lock, with the next serial and the previous state kept —
for a repository renamed on GitHub (moved with everything inside it, so the next plan shows no
changes), on the local and on the GitHub state backend, against the strict sandbox."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from gridctl.core.session import Options, Session
from gridctl.state.local import LocalBackend

from ..helpers import grid_yaml

FP_KEY = "state-edit-test-fingerprint-key"

MANIFEST = grid_yaml("""\
keys:
  api: {{source: {{file: keys/api.key}}}}
{state}
repos:
  alice/{name}:
    description: renamed on GitHub
    visibility: private
    topics: [grid]
    collaborators: {{bob: push}}
    variables: {{REGION: eu}}
    secrets:
      actions: {{API_KEY: {{key: api}}}}
    labels: {{triage: ededed}}
    environments:
      prod:
        variables: {{STAGE: prod}}
        secrets: {{PROD_KEY: {{key: api}}}}
    files:
      docs/hello.md: {{source: files/hello.md}}
  alice/other:
    variables: {{REGION: us}}
""", "main: {{login: alice, token: {{env: GRID_TOKEN_ALICE}}}}")


def setup(grid, name: str = "old-name", state: str = "") -> None:
    grid.user("alice")
    grid.user("bob")
    grid.env["GRIDCTL_FINGERPRINT_KEY"] = FP_KEY
    grid.write("keys/api.key", "k-123\n")
    grid.write("files/hello.md", "hello\n")
    grid.write("grid.yaml", MANIFEST.format(name=name, state=state))


def local_state(grid) -> dict:
    return json.loads((grid.dir / ".gridctl" / "state.json").read_text())


def rename_on_github(grid, old: str, new: str) -> None:
    r = grid.api("alice", "PATCH", f"/repos/alice/{old}", {"name": new})
    assert r.status_code == 200, r.text
    grid.write("grid.yaml", (grid.dir / "grid.yaml").read_text().replace(f"alice/{old}:", f"alice/{new}:"))


def test_state_mv_of_a_renamed_repository_moves_everything_inside_it(grid):
    setup(grid)
    r = grid.check(0, "apply", "--auto-approve")
    before = local_state(grid)
    old_addresses = [a for a in before["resources"] if "alice/old-name" in a]
    assert len(old_addresses) >= 9  # repo, topics, collaborator, variable, secret, label, env, env var, env secret, file
    # `state list` prints addresses, one per line, filtered like --target
    r = grid.run("state", "list")
    assert r.code == 0 and r.out.splitlines() == sorted(before["resources"])
    assert grid.run("state", "list", "alice/old-name").out.splitlines() == sorted(old_addresses)
    assert grid.run("state", "list", "variable").out.splitlines() == ["variable:alice/old-name:REGION", "variable:alice/other:REGION"]

    rename_on_github(grid, "old-name", "new-name")
    grid.ctl("POST", "/stats/reset")
    assert grid.run("plan", "--detailed-exitcode").code != 0  # without the move: not "no changes"

    grid.ctl("POST", "/stats/reset")
    r = grid.check(0, "state", "mv", "alice/old-name", "alice/new-name")
    assert grid.ctl("GET", "/stats")["total"].get("requests", 0) == 0  # nothing on GitHub
    assert "moved repo:alice/old-name -> repo:alice/new-name" in r.out
    assert len(r.out.splitlines()) == len(old_addresses)
    after = local_state(grid)
    assert after["serial"] == before["serial"] + 1 and after["lineage"] == before["lineage"]
    assert not [a for a in after["resources"] if "old-name" in a or "old-name" in json.dumps(after["resources"][a])]
    assert after["resources"]["repo:alice/new-name"]["id"] == before["resources"]["repo:alice/old-name"]["id"]
    env_var = after["resources"]["env-variable:alice/new-name env prod:STAGE"]
    assert env_var["scope"] == "alice/new-name env prod"
    assert after["resources"]["variable:alice/other:REGION"] == before["resources"]["variable:alice/other:REGION"]
    # the previous state is kept next to it
    backup = json.loads((grid.dir / ".gridctl" / "state.json.backup").read_text())
    assert backup == before
    assert f"serial {before['serial']} -> {after['serial']}" in r.err and "state.json.backup" in r.err
    # the renamed repository, secrets included, plans no changes
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes." in r.out

    # moving onto an address that is taken, or something not in the state: refused, nothing written
    for args, says in (
        (("alice/new-name", "alice/other"), "already in the state: repo:alice/other"),
        (("alice/nowhere", "alice/x"), "not in the state: alice/nowhere"),
        (("variable:alice/other:REGION", "secret:alice/other:REGION"), "same kind and shape"),
    ):
        r = grid.run("state", "mv", *args)
        assert r.code == 1 and says in r.err, (args, r.all)
    assert local_state(grid) == after


def test_state_rm_forgets_without_touching_github(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    before = local_state(grid)
    grid.ctl("POST", "/stats/reset")
    r = grid.check(0, "state", "rm", "variable:alice/old-name:REGION", "label:alice/old-name:triage")
    assert r.out.splitlines() == ["removed label:alice/old-name:triage", "removed variable:alice/old-name:REGION"]
    assert grid.ctl("GET", "/stats")["total"].get("requests", 0) == 0
    after = local_state(grid)
    assert after["serial"] == before["serial"] + 1
    assert set(before["resources"]) - set(after["resources"]) == {"variable:alice/old-name:REGION", "label:alice/old-name:triage"}
    # still on GitHub; a plan finds them matching the manifest and takes them back, writing nothing
    assert grid.api("alice", "GET", "/repos/alice/old-name/actions/variables/REGION").status_code == 200
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # an unknown address: nothing removed at all
    r = grid.run("state", "rm", "repo:alice/other", "variable:alice/nope:X")
    assert r.code == 1 and "not in the state: variable:alice/nope:X" in r.err
    assert "repo:alice/other" in local_state(grid)["resources"]
    # a repository goes with everything inside it; then the manifest can drop it and GitHub keeps it
    r = grid.check(0, "state", "rm", "alice/old-name")
    assert not [a for a in local_state(grid)["resources"] if "alice/old-name" in a]
    text = (grid.dir / "grid.yaml").read_text()
    grid.write("grid.yaml", text[: text.index("  alice/old-name:")] + text[text.index("  alice/other:") :])
    r = grid.run("apply", "--auto-approve")
    assert r.code == 0 and "No changes." in r.out, r.all
    repo = grid.api("alice", "GET", "/repos/alice/old-name").json()
    assert repo["description"] == "renamed on GitHub" and not repo["archived"]


def test_state_rm_and_mv_wait_for_no_one_and_take_the_lock(grid, monkeypatch):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    before = local_state(grid)
    with LocalBackend(grid.dir / ".gridctl").lock("run-elsewhere", "apply"):
        for args in (("rm", "variable:alice/other:REGION"), ("mv", "alice/other", "alice/else")):
            r = grid.run("state", *args)
            assert r.code == 1 and "is locked by run run-elsewhere (apply)" in r.err, r.all
    assert local_state(grid) == before
    assert grid.run("state", "list").code == 0  # list reads without the lock


# -- the GitHub backend --------------------------------------------------------------------------------------

STATE_REPO = "alice/gridctl-state"


def remote_state(grid) -> dict:
    r = grid.api("alice", "GET", f"/repos/{STATE_REPO}/contents/gridctl/state.json")
    assert r.status_code == 200, r.text
    return json.loads(base64.b64decode(r.json()["content"]))


def head(grid) -> str:
    return grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/ref/heads/main").json()["object"]["sha"]


def test_state_mv_and_rm_with_the_github_backend(grid, monkeypatch):
    setup(grid, state=f"state: {{{{backend: github, repo: {STATE_REPO}}}}}".replace("{{", "{").replace("}}", "}"))
    r = grid.api("alice", "POST", "/user/repos", {"name": "gridctl-state", "private": True, "auto_init": True})
    assert r.status_code == 201, r.text
    assert grid.run("apply", "--auto-approve").code == 0
    before, commit = remote_state(grid), head(grid)
    rename_on_github(grid, "old-name", "new-name")
    r = grid.check(0, "state", "mv", "repo:alice/old-name", "repo:alice/new-name")
    after = remote_state(grid)
    assert after["serial"] == before["serial"] + 1
    assert not [a for a in after["resources"] if "old-name" in a] and "repo:alice/new-name" in after["resources"]
    assert f"the previous state is commit {commit[:12]} of {STATE_REPO}" in r.err
    lock_refs = grid.api("alice", "GET", f"/repos/{STATE_REPO}/git/matching-refs/gridctl/lock").json()
    assert lock_refs == []  # taken and released
    assert grid.run("plan", "--detailed-exitcode").code == 0
    assert grid.run("state", "list", "alice/new-name").out.splitlines() == sorted(
        a for a in after["resources"] if "alice/new-name" in a
    )
    # while another run holds the shared lock, rm is refused and the state stays as it is
    for k, v in grid.env.items():
        monkeypatch.setenv(k, v)
    options = Options(api_url=grid.sb.url, workdir=grid.dir / ".gridctl-other", write_interval=0)
    with Session.open(Path(grid.dir / "grid.yaml"), options, operation="apply"):
        r = grid.run("state", "rm", "variable:alice/other:REGION")
        assert r.code == 1 and "state locked by run " in r.err, r.all
    assert remote_state(grid) == after
    r = grid.check(0, "state", "rm", "variable:alice/other:REGION")
    assert "variable:alice/other:REGION" not in remote_state(grid)["resources"]
