"""The read side of a plan, end to end over HTTP: a warm no-change plan costs no rate-limit point
(token checks are conditional, cached by token fingerprint, never by token), a new token or new
scopes are seen at once, the kinds of a repository share one read of what they all need, and
the ETag cache is not rewritten when nothing changed."""

from __future__ import annotations

import json
from collections import Counter

from gridctl.sandbox.world import token_hash

from ..helpers import ALICE, NODE_BOB, grid_yaml

MANIFEST = grid_yaml("""\
repos:
  alice/r1:
    description: first
    collaborators: {node-1: push}
    variables: {A: "1"}
    files:
      .github/workflows/ci.yml: {content: "name: ci\\non: push\\n"}
      docs/a.md: {content: "a\\n"}
  alice/r2:
    description: second
    topics: [x]
""", ALICE, NODE_BOB)


def stats(grid) -> dict:
    data: dict = grid.ctl("GET", "/stats")
    return data


def applied(grid) -> None:
    grid.user("alice")
    grid.user("bob")
    grid.write("grid.yaml", MANIFEST)
    grid.check(0, "apply", "--auto-approve")
    grid.check(0, "plan", "--detailed-exitcode")  # the ETag cache now matches GitHub


def test_a_warm_no_change_plan_costs_no_rate_limit_point(grid):
    applied(grid)
    grid.ctl("POST", "/stats/reset")
    grid.check(0, "plan", "--detailed-exitcode")
    st = stats(grid)
    assert st["total"].get("points", 0) == 0, st["total"]
    assert st["total"].get("not_modified") == st["total"]["requests"]  # every read answered 304
    assert st["by_endpoint"]["users/get-authenticated"]["requests"] == 2  # one per account
    for name, data in grid.files_written().items():  # the tokens are nowhere on disk
        for tok in grid.tokens.values():
            assert tok.encode() not in data, name


def test_a_new_token_or_new_scopes_are_seen_at_once(grid):
    applied(grid)
    # the same token with fewer scopes: the 304's X-OAuth-Scopes header is what counts
    record = grid.sb.app.store.get("tokens", token_hash(grid.tokens["bob"]))
    record["scopes"] = ["read:user"]
    r = grid.check(1, "plan", "--detailed-exitcode")
    assert "account node-1: token lacks scope repo" in r.err, r.all
    record["scopes"] = ["repo"]
    grid.check(0, "plan", "--detailed-exitcode")
    # a new token: not in the cache, read whole (one point), and refused when it is someone else's
    grid.ctl("POST", "/stats/reset")
    grid.user("alice")
    grid.env["GRID_TOKEN_ALICE"] = grid.tokens["alice"]
    grid.check(0, "plan", "--detailed-exitcode")
    grid.env["GRID_TOKEN_ALICE"] = grid.tokens["bob"]
    r = grid.check(1, "plan", "--detailed-exitcode")
    assert "the token belongs to bob, not alice" in r.err, r.all


def test_kinds_of_a_repository_share_its_reads(grid):
    applied(grid)
    before = Counter({k: v["requests"] for k, v in stats(grid)["by_endpoint"].items()})
    grid.check(0, "plan", "--detailed-exitcode")
    delta = Counter({k: v["requests"] for k, v in stats(grid)["by_endpoint"].items()}) - before
    assert delta["repos/get"] == 2  # read by many kinds at once, sent once per repository
    assert delta["repos/list-collaborators"] == 2  # one per repository: collaborator and invitation kinds share it
    assert delta["git/get-tree"] == 1  # files in two folders


def test_the_etag_cache_is_not_rewritten_when_nothing_changed(grid):
    applied(grid)
    path = grid.dir / ".gridctl" / "cache" / "main.json"
    stamp = path.stat().st_mtime_ns
    grid.check(0, "plan", "--detailed-exitcode")
    assert path.stat().st_mtime_ns == stamp
    # one repository changed by hand: its new answer is appended, the rest of the file is untouched
    before = path.read_bytes()
    assert grid.api("alice", "PATCH", "/repos/alice/r2", {"description": "by hand"}).status_code == 200
    grid.check(2, "plan", "--detailed-exitcode")
    after = path.read_bytes()
    assert after.startswith(before) and after[len(before):].count(b"\n") == 1, after[len(before):]


def test_an_apply_lists_each_invitees_invitations_once(grid):
    grid.user("alice")
    grid.user("bob")
    grid.user("carol")
    repos = "".join(f"  alice/inv{i}:\n    collaborators: {{node-1: push, node-2: pull}}\n" for i in range(5))
    grid.write("grid.yaml", grid_yaml("repos:\n" + repos, ALICE, NODE_BOB, "node-2: {login: carol, token: {env: GRID_TOKEN_CAROL}}"))
    # an invitation to something else is pending already: found in the same listing, left alone
    assert grid.api("alice", "POST", "/user/repos", {"name": "other"}).status_code == 201
    assert grid.api("alice", "PUT", "/repos/alice/other/collaborators/bob", {"permission": "pull"}).status_code == 201
    before = Counter({k: v["requests"] for k, v in stats(grid)["by_endpoint"].items()})
    grid.check(0, "apply", "--auto-approve")
    delta = Counter({k: v["requests"] for k, v in stats(grid)["by_endpoint"].items()}) - before
    assert delta["repos/accept-invitation-for-authenticated-user"] == 10
    assert delta["repos/list-invitations-for-authenticated-user"] <= 2  # one per invitee, not one per accept
    grid.check(0, "plan", "--detailed-exitcode")
    assert [i["repository"]["full_name"] for i in grid.api("bob", "GET", "/user/repository_invitations").json()] == ["alice/other"]
    assert grid.api("carol", "GET", "/user/repository_invitations").json() == []


def test_proxies_from_the_environment_are_honoured(grid):
    """Proxies are looked up once per client (not by requests on every request), with the same
    rules: ``NO_PROXY`` exempts the API's host, otherwise every request goes to the proxy."""
    applied(grid)
    dead = "http://127.0.0.1:9"  # the discard port: nothing answers there
    env = {"HTTP_PROXY": dead, "http_proxy": dead, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
           "GRIDCTL_MAX_ATTEMPTS": "1"}
    grid.check(0, "plan", "--detailed-exitcode", env=env)
    r = grid.run("plan", "--detailed-exitcode", env={**env, "NO_PROXY": "", "no_proxy": ""})
    assert r.code == 1 and "connection failed" in r.err, r.all


def test_files_in_two_folders_of_an_existing_empty_repository(grid):
    grid.user("alice")
    assert grid.api("alice", "POST", "/user/repos", {"name": "bare"}).status_code == 201  # no commit yet
    grid.write("grid.yaml", grid_yaml("""\
repos:
  alice/bare:
    files:
      README.md: {content: "bare\\n"}
      docs/a.md: {content: "a\\n"}
"""))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ file alice/bare README.md" in r.out and "+ file alice/bare docs/a.md" in r.out
    grid.check(0, "apply", "--auto-approve")
    grid.check(0, "plan", "--detailed-exitcode")


def test_creating_a_repository_is_one_post(grid):
    """A new repository costs its creating POST alone: no read-back (the POST answers with its id)
    and no PATCH to say it is not archived; a setting the POST cannot take still gets its PATCH."""
    grid.user("alice")
    grid.user("bob")
    grid.write("grid.yaml", grid_yaml("""\
repos:
  alice/plain: {description: one, visibility: private}
  alice/late: {description: two, default_branch: main}
""", ALICE, NODE_BOB))
    before = stats(grid)["by_endpoint"]
    grid.check(0, "apply", "--auto-approve")
    after = stats(grid)["by_endpoint"]
    delta = {op: after[op]["requests"] - before.get(op, {}).get("requests", 0) for op in after}
    delta = {op: n for op, n in delta.items() if n}
    assert delta.get("repos/create-for-authenticated-user") == 2, delta
    assert delta.get("repos/get") == 2, delta  # the plan's reads (both missing), none after the POSTs
    assert delta.get("repos/update") == 1, delta  # alice/late's default_branch only
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())["resources"]
    assert isinstance(state["repo:alice/plain"]["id"], int) and isinstance(state["repo:alice/late"]["id"], int)
    grid.check(0, "plan", "--detailed-exitcode")
