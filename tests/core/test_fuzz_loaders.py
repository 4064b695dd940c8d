"""Fuzzing gridctl's loaders: the manifest, the state, the journal, the ETag cache and a saved plan.

One real apply against a strict sandbox leaves a working folder (``grid.yaml``, ``.gridctl/state.json``,
a journal run whose end line is cut off as a killed apply leaves it, ``.gridctl/cache/main.json`` and
a saved ``plan.json``). For each loader Hypothesis damages its file in a copy of that folder —
truncated, bytes flipped or inserted, or parsed and one value replaced by any JSON value, deleted or
wrapped — and the real CLI runs on it. Every outcome must be:

* exit 0, or exit 1 with a message naming the damaged file; never a traceback or "internal error";
* state: exit 0 only when the file still matches ``schemas/state.schema.json`` (checked here with
  jsonschema, not through gridctl), and then ``state show`` counts its entries — a damaged state
  is never read as empty;
* journal: replaying it never writes a state that breaks the schema;
* ETag cache (disposable): always exit 0 and *no changes* — a damaged cache is dropped, a cached
  body that no longer matches its digest is read again;
* saved plan: ``show`` exit 0 or a named refusal; ``apply`` never changes GitHub (the manifest
  moved on since the plan, so even an intact plan is refused).

Bounded and repeatable: ``EXAMPLES`` per loader (``GRIDCTL_FUZZ_LOADER_EXAMPLES``), derandomized
(the same inputs each run), no shrinking phase, no example database. The figures (examples,
outcomes, seconds) are printed.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gridctl.manifest.schema import load_schema
from gridctl.sandbox.server import Sandbox
from gridctl.sandbox.testing import strict_sandbox

from ..helpers import grid_yaml
from .conftest import Grid, Result

EXAMPLES = int(os.environ.get("GRIDCTL_FUZZ_LOADER_EXAMPLES", "40"))

MANIFEST = grid_yaml("""\
repos:
  alice/r1:
    visibility: private
    description: first
    topics: [grid, fuzz]
    variables: {MODE: MODE_WORD}
    labels: {bug: d73a4a}
""")

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


@dataclass
class World:
    sb: Sandbox
    template: Path
    runs: Path
    tokens: dict[str, str]
    env: dict[str, str]
    counter: int = 0
    outcomes: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def raw(self, rel: str) -> bytes:
        return (self.template / rel).read_bytes()

    def case(self, rel: str, damaged: bytes, check: Callable[[Grid, Path], None]) -> None:
        """Copy the working folder, damage ``rel`` in it, run ``check`` on it."""
        self.counter += 1
        where = self.runs / f"case-{self.counter}"
        shutil.copytree(self.template, where)
        try:
            (where / rel).write_bytes(damaged)
            check(Grid(self.sb, where, dict(self.tokens), dict(self.env)), where / rel)
        finally:
            shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with strict_sandbox() as sb:
        template = tmp_path_factory.mktemp("fuzz-template")
        grid = Grid(sb, template)
        grid.user("alice")
        grid.write("grid.yaml", MANIFEST.replace("MODE_WORD", "one"))
        assert grid.run("apply", "--auto-approve").code == 0
        # a saved plan with a change, then the manifest moves on: applying it is always refused
        grid.write("grid.yaml", MANIFEST.replace("MODE_WORD", "two"))
        grid.check(0, "plan", "--out", "plan.json")
        grid.write("grid.yaml", MANIFEST.replace("MODE_WORD", "one") + "# moved on\n")
        assert grid.run("plan", "--detailed-exitcode").code == 0  # the cache matches GitHub
        # the apply's journal as a killed run leaves it: no end line, so every plan replays it
        journal = sorted((template / ".gridctl" / "journal").glob("*.jsonl"))[-1]
        lines = journal.read_bytes().splitlines()
        journal.write_bytes(b"\n".join(lines[:-1]) + b"\n")
        (template / "journal.path").write_text(str(journal.relative_to(template)))
        w = World(sb, template, tmp_path_factory.mktemp("fuzz-runs"), grid.tokens, grid.env)
        yield w
        print(f"\nloader fuzz: {w.counter} damaged files, outcomes {dict(sorted(w.outcomes.items()))}, {time.monotonic() - w.started:.1f}s")
        # nothing a damaged file did reached GitHub
        variable = grid.api("alice", "GET", "/repos/alice/r1/actions/variables/MODE").json()
        assert variable["value"] == "one"


# -- mutations ------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def byte_damage(data: st.DataObject, raw: bytes) -> bytes:
    how = data.draw(st.sampled_from(["truncate", "flip", "insert", "nest"]), label="bytes")
    if how == "truncate":
        return raw[: data.draw(st.integers(0, max(0, len(raw) - 1)), label="keep")]
    if how == "nest":
        return data.draw(st.sampled_from([b"[", b"{\"a\":"]), label="open") * data.draw(st.integers(1, 100_000), label="depth")
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4), label="count")):
        at = data.draw(st.integers(0, max(0, len(out) - 1)), label="at")
        if how == "flip" and out:
            out[at] = data.draw(st.integers(0, 255), label="byte")
        else:
            out[at:at] = data.draw(st.binary(min_size=1, max_size=6), label="inserted")
    return bytes(out)


def value_damage(data: st.DataObject, doc: Any) -> Any:
    """``doc`` with one value somewhere in it replaced, deleted, wrapped in a list or stringified."""
    doc = copy.deepcopy(doc)
    parent: Any = None
    key: Any = None
    node = doc
    for _ in range(data.draw(st.integers(0, 5), label="depth")):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node, key=str)), label="key")
        elif isinstance(node, list) and node:
            key = data.draw(st.integers(0, len(node) - 1), label="index")
        else:
            break
        parent, node = node, node[key]
    how = data.draw(st.sampled_from(["replace", "same type", "delete", "wrap", "stringify", "rename"]), label="how")
    if how == "same type":  # a value of the same type: the shape holds, the content is odd
        new = data.draw(_same_type(node), label="value")
    elif how == "replace" or parent is None:
        new = data.draw(JSON_VALUES, label="value")
    elif how == "wrap":
        new = [node]
    elif how == "stringify":
        new = json.dumps(node, default=str)
    elif how == "rename" and isinstance(parent, dict):
        parent[key + data.draw(st.text(min_size=1, max_size=3), label="suffix")] = parent.pop(key)
        return doc
    else:
        del parent[key]
        return doc
    if parent is None:
        return new
    parent[key] = new
    return doc


def _same_type(value: Any) -> st.SearchStrategy:
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-(2**64), 2**64)
    if isinstance(value, str):
        return st.text(max_size=30) | st.sampled_from(["", "alice/r1", "repo", "main", "nobody", "a:b:c", "../x", value.upper()])
    if isinstance(value, dict):
        return st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2) | st.just({})
    if isinstance(value, list):
        return st.lists(st.text(max_size=8), max_size=2)
    return JSON_VALUES


def json_damage(data: st.DataObject, raw: bytes) -> bytes:
    if data.draw(st.booleans(), label="structured"):
        return json.dumps(value_damage(data, json.loads(raw))).encode()
    return byte_damage(data, raw)


def json_lines_damage(data: st.DataObject, raw: bytes) -> bytes:
    """Damage to a file of JSON lines (the ETag cache's log): one line's structure, or bytes anywhere."""
    lines = raw.splitlines(keepends=True)
    if lines and data.draw(st.booleans(), label="structured"):
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        try:
            value = json.loads(lines[i])
        except ValueError:
            return byte_damage(data, raw)
        lines[i] = json.dumps(value_damage(data, value)).encode() + b"\n"
        return b"".join(lines)
    return byte_damage(data, raw)


# -- checks -----------------------------------------------------------------------------------------


def clean(r: Result) -> None:
    assert "Traceback" not in r.all and "internal error" not in r.all, r.all


def named_or_ok(world: World, r: Result, path: Path, loader: str) -> None:
    clean(r)
    assert r.code in (0, 1), r.all
    if r.code == 1:
        assert str(path) in r.err or path.name in r.err, r.all
    world.outcomes[f"{loader} {'ok' if r.code == 0 else 'refused'}"] += 1


STATE_SCHEMA = Draft202012Validator(load_schema("state.schema.json"))


def schema_valid_state(text: bytes) -> dict | None:
    try:
        doc = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    try:
        return doc if STATE_SCHEMA.is_valid(doc) else None
    except RecursionError:
        return None


# -- the loaders ------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_fuzz_state(world, data):
    raw = world.raw(".gridctl/state.json")

    def check(grid: Grid, path: Path) -> None:
        valid = schema_valid_state(path.read_bytes())
        r = grid.run("state", "show")
        named_or_ok(world, r, path, "state")
        if valid is None:
            assert r.code == 1, f"a damaged state was read: {r.out}"
        else:
            assert f"{len(valid['resources'])} managed object(s)" in r.out, r.out
        r = grid.run("plan")
        named_or_ok(world, r, path, "state")
        assert (r.code == 0) == (valid is not None), r.all

    world.case(".gridctl/state.json", json_damage(data, raw), check)


@FUZZ
@given(data=st.data())
def test_fuzz_journal(world, data):
    rel = world.raw("journal.path").decode()
    lines = world.raw(rel).splitlines()
    at = data.draw(st.integers(0, len(lines) - 1), label="line")
    if data.draw(st.booleans(), label="structured"):
        lines[at] = json.dumps(value_damage(data, json.loads(lines[at]))).encode()
    else:
        lines[at] = byte_damage(data, lines[at])
    damaged = b"\n".join(lines) + data.draw(st.sampled_from([b"\n", b""]), label="last newline")

    def check(grid: Grid, path: Path) -> None:
        r = grid.run("plan")
        named_or_ok(world, r, path, "journal")
        state = (path.parents[2] / ".gridctl" / "state.json").read_bytes()
        assert schema_valid_state(state) is not None, state  # replay never writes a broken state

    world.case(rel, damaged, check)


@FUZZ
@given(data=st.data())
def test_fuzz_etag_cache(world, data):
    raw = world.raw(".gridctl/cache/main.json")

    def check(grid: Grid, path: Path) -> None:
        r = grid.run("plan", "--detailed-exitcode")
        clean(r)
        # disposable: never an error, and never a change that is not there
        assert r.code == 0, r.all
        world.outcomes["cache ok"] += 1

    world.case(".gridctl/cache/main.json", json_lines_damage(data, raw), check)


@FUZZ
@given(data=st.data())
def test_fuzz_saved_plan(world, data):
    raw = world.raw("plan.json")

    def check(grid: Grid, path: Path) -> None:
        named_or_ok(world, grid.run("show", "plan.json"), path, "plan show")
        r = grid.run("apply", "plan.json")
        clean(r)
        assert r.code == 1 and ("plan.json" in r.err or "the manifest grid.yaml changed" in r.err), r.all
        world.outcomes["plan apply refused"] += 1

    world.case("plan.json", json_damage(data, raw), check)


@FUZZ
@given(data=st.data())
def test_fuzz_manifest(world, data):
    raw = world.raw("grid.yaml")
    if data.draw(st.booleans(), label="structured"):
        damaged = yaml.safe_dump(value_damage(data, yaml.safe_load(raw)), sort_keys=False).encode()
    else:
        damaged = byte_damage(data, raw)

    def check(grid: Grid, path: Path) -> None:
        named_or_ok(world, grid.run("validate"), path, "manifest")

    world.case("grid.yaml", damaged, check)
