"""Retiring a worker account: nothing gridctl manages drops silently out of the plan, ``retired:
true`` deletes what gridctl wrote through or for the account, and every key ends on exactly the
accounts the spread gives it.

The check of the spread is independent of gridctl's code: the sandbox decrypts each sealed value
and keeps its SHA-256, and the test finds, for each worker, the one subset of the key file (in
file order, as a JSON list) whose digest matches. 11 keys make 2,048 subsets: cheap to search.
"""

from __future__ import annotations

import hashlib
import itertools
import json

import requests

KEYS = [f"dg-key-{i:02d}-{'x' * 6}" for i in range(11)]
WORKERS = {"w1": "bob", "w2": "carol", "w3": "dave", "w4": "erin", "w5": "frank"}


def manifest(workers: dict[str, str], retired: tuple[str, ...] = ()) -> str:
    active = [w for w in workers if w not in retired]
    lines = [
        "version: 1",
        "accounts:",
        "  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}",
    ]
    for acc, login in workers.items():
        extra = ", retired: true" if acc in retired else ""
        lines.append(f"  {acc}: {{login: {login}, token: {{env: GRID_TOKEN_{login.upper()}}}{extra}}}")
    lines += [
        "keys:",
        f"  api: {{source: {{file: keys.txt, lines: true}}, spread: {{over: [{', '.join(active)}]}}}}",
        "repos:",
        "  alice/fleet:",
        "    visibility: private",
        "    collaborators:",
        *[f"      {w}: push" for w in active],
        "codespaces_secrets:",
        *[f"  {w}:\n    API_KEYS: {{key: api, share: own, format: json, repos: [alice/fleet]}}" for w in active],
    ]
    return "\n".join(lines) + "\n"


def setup(grid) -> None:
    for login in ("alice", *WORKERS.values()):
        grid.user(login)
    grid.write("keys.txt", "\n".join(KEYS) + "\n")
    grid.write("grid.yaml", manifest(WORKERS))


def held_keys(grid) -> dict[str, set[str]]:
    """login -> the keys its Codespaces secret API_KEYS holds, found from the sandbox's digests."""
    rows = requests.get(f"{grid.sb.config.public_url}/_sandbox/secrets", timeout=30).json()
    subsets = {}
    for n in range(len(KEYS) + 1):
        for combo in itertools.combinations(KEYS, n):
            subsets[hashlib.sha256(json.dumps(list(combo)).encode()).hexdigest()] = set(combo)
    out = {}
    for row in rows:
        if row.get("name") == "API_KEYS" and row.get("scope") == "user":
            login = row["owner"]
            digest = row.get("sha256")
            assert digest in subsets, f"{login}'s secret holds something that is no subset of the keys"
            out[login] = subsets[digest]
    return out


def test_secrets_rows_shape(grid):
    """The sandbox's secret listing names user scopes and digests (what held_keys relies on)."""
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    held = held_keys(grid)
    assert set(held) == set(WORKERS.values()), held
    assert set().union(*held.values()) == set(KEYS)
    assert sum(len(v) for v in held.values()) == len(KEYS)  # each key on exactly one worker


def test_removed_account_is_never_no_changes(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    # the worker is removed from accounts, spread.over, collaborators and codespaces_secrets
    grid.write("grid.yaml", manifest({k: v for k, v in WORKERS.items() if k != "w5"}))
    r = grid.check(1, "plan", "--detailed-exitcode")
    assert "No changes" not in r.all
    assert "codespaces-secret:frank:API_KEYS" in r.all  # names the object left behind
    assert "retired: true" in r.all  # and the way out
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1 and "codespaces-secret:frank:API_KEYS" in r.all


def test_retired_account_holds_nothing_and_keys_land_exactly(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    before = held_keys(grid)
    assert before.get("frank"), before
    grid.write("grid.yaml", manifest(WORKERS, retired=("w5",)))
    r = grid.check(0, "plan", "--format", "json")
    plan = json.loads(r.out)
    deletes = {c["address"] for c in plan["changes"] if c["action"] == "delete"}
    assert "codespaces-secret:frank:API_KEYS" in deletes, deletes
    assert any(a.startswith("collaborator:") and a.endswith(":frank") for a in deletes), deletes
    # nothing else is deleted: the other workers' secrets are updated, not removed
    assert all("frank" in a for a in deletes), deletes
    r = grid.check(0, "apply", "--auto-approve")
    after = held_keys(grid)
    assert "frank" not in after, after
    assert set(after) == {"bob", "carol", "dave", "erin"}
    assert set().union(*after.values()) == set(KEYS)
    assert sum(len(v) for v in after.values()) == len(KEYS)
    # every state entry that mentions the retired account is gone
    state = json.loads((grid.dir / ".gridctl/state.json").read_text())
    assert not [a for a in state["resources"] if "frank" in a], state["resources"].keys()
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # afterwards the account can be removed from the file: still no changes
    grid.write("grid.yaml", manifest({k: v for k, v in WORKERS.items() if k != "w5"}))
    r = grid.check(0, "plan", "--detailed-exitcode")


def test_spread_change_moves_keys_exactly(grid):
    """Any change of spread.over or the key file leaves each key exactly on its assigned account."""
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("keys.txt", "\n".join([*KEYS[:5], *KEYS[6:]]) + "\n")  # one key removed
    assert grid.run("apply", "--auto-approve").code == 0
    after = held_keys(grid)
    assert KEYS[5] not in set().union(*after.values())
    assert sum(len(v) for v in after.values()) == len(KEYS) - 1


def test_plan_shows_the_spread_per_account(grid):
    setup(grid)
    r = grid.check(0, "plan")
    assert "note: keyspread:api: w5 (frank): — → #" in r.out, r.out
    assert not any(k in r.all for k in KEYS)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("grid.yaml", manifest(WORKERS, retired=("w5",)))
    r = grid.check(0, "plan")
    # frank's line shows what it held before and nothing after
    line = next(ln for ln in r.out.splitlines() if ln.startswith("note: keyspread:api: w5"))
    assert line.startswith("note: keyspread:api: w5 (frank, retired): #") and line.endswith("→ —"), line
    others = [ln for ln in r.out.splitlines() if ln.startswith("note: keyspread:api: w") and "frank" not in ln]
    assert others and all(" → #" in ln for ln in others), r.out
    assert not any(k in r.all for k in KEYS)
