"""Keys spread over accounts: deterministic, and sticky — replacing or adding a key moves only
that key (state remembers each account's share as HMAC fingerprints, never values)."""

from __future__ import annotations

import json

from gridctl.manifest.keys import spread
from gridctl.manifest.sources import Sensitive

from ..helpers import ALICE, grid_yaml

KEYS = [f"dg-key-{i:04d}" for i in range(12)]

MANIFEST = grid_yaml("""\
keys:
  api: {source: {file: keys.txt, lines: true}, spread: {over: [w1, w2, w3], per_account: PER}}
codespaces_secrets:
  w1: {API_KEYS: {key: api, format: json}}
  w2: {API_KEYS: {key: api, format: json}}
  w3: {API_KEYS: {key: api, format: json}}
""", ALICE, "w1: {login: bob, token: {env: GRID_TOKEN_BOB}}", 'w2: {login: carol, token: {env: GRID_TOKEN_CAROL}}', 'w3: {login: dave, token: {env: GRID_TOKEN_DAVE}}')


def setup(grid, keys, per):
    for login in ("alice", "bob", "carol", "dave"):
        grid.user(login)
    grid.write("grid.yaml", MANIFEST.replace("PER", str(per)))
    grid.write("keys.txt", "\n".join(keys) + "\n")


def planned(grid) -> list[str]:
    r = grid.check(0, "plan", "--format", "json")
    return sorted(c["address"] for c in json.loads(r.out)["changes"])


def test_spread_is_deterministic_and_balanced():
    values = [Sensitive(k) for k in KEYS]
    a, left = spread(values, ["w1", "w2", "w3"], 4)
    b, _ = spread(list(reversed(values)), ["w1", "w2", "w3"], 4)
    assert left == 0 and {k: len(v) for k, v in a.items()} == {"w1": 4, "w2": 4, "w3": 4}
    assert {k: {x.reveal() for x in v} for k, v in a.items()} == {k: {x.reveal() for x in v} for k, v in b.items()}


def test_previous_assignment_keeps_keys_in_place():
    values = [Sensitive(k) for k in KEYS]
    first, _ = spread(values, ["w1", "w2", "w3"], 4)
    previous = {a: {v.reveal() for v in vs} for a, vs in first.items()}
    replaced = [Sensitive("dg-key-new") if v.reveal() == KEYS[5] else v for v in values]
    second, _ = spread(replaced, ["w1", "w2", "w3"], 4, previous, lambda v: v.reveal())
    moved = {a for a in first if {v.reveal() for v in first[a]} != {v.reveal() for v in second[a]}}
    holder = next(a for a, vs in first.items() if KEYS[5] in {v.reveal() for v in vs})
    assert moved == {holder}
    assert "dg-key-new" in {v.reveal() for v in second[holder]}


def test_replacing_one_key_changes_one_workers_secret(grid):
    setup(grid, KEYS, 4)
    assert grid.run("apply", "--auto-approve").code == 0
    state = json.loads((grid.dir / ".gridctl/state.json").read_text())
    shares = state["resources"]["keyspread:api"]["shares"]
    assert sorted(shares) == ["w1", "w2", "w3"] and all(len(v) == 4 for v in shares.values())
    assert not any(k in json.dumps(state) for k in KEYS)  # fingerprints only
    grid.write("keys.txt", "\n".join(k if k != KEYS[7] else "dg-key-rotated" for k in KEYS) + "\n")
    changes = planned(grid)
    assert len(changes) == 1 and changes[0].startswith("codespaces-secret:"), changes
    assert grid.run("apply", "--auto-approve").code == 0
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_adding_a_key_with_room_changes_one_workers_secret(grid):
    setup(grid, KEYS, 5)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("keys.txt", "\n".join([*KEYS, "dg-key-extra"]) + "\n")
    changes = planned(grid)
    assert len(changes) == 1 and changes[0].startswith("codespaces-secret:"), changes
