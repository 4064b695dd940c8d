"""Damaged working files are named with what to do, never an "internal error"; a damaged state is
never taken as empty; a damaged ETag cache is dropped with one warning; a plan runs beside an
apply (it reads the state as last written and replays no journal), and ``state show`` says an
apply is in progress; a cached body that changed on disk is fetched again on a 304.

Each corruption is applied to the files a real apply left in ``.gridctl/`` and the real CLI is
run on it (``plan``, and ``state show``/``state list`` for the state file): the outcome is exit 0,
or exit 1 with a message naming the damaged file — never a traceback or "internal error".
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gridctl.plan import canonical

from ..helpers import grid_yaml

MANIFEST = grid_yaml("""\
repos:
  alice/r1:
    visibility: private
    description: first
    topics: [grid]
    variables: {MODE: one}
""")

BAD_OUTCOME = ("Traceback", "internal error")


def applied(grid) -> Path:
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    grid.check(0, "apply", "--auto-approve")
    return grid.dir / ".gridctl"


def clean(r) -> None:
    for word in BAD_OUTCOME:
        assert word not in r.all, r.all


def _state(change: Callable[[dict], object]) -> Callable[[bytes], bytes]:
    def damage(raw: bytes) -> bytes:
        data = json.loads(raw)
        out = change(data)
        return json.dumps(data if out is None else out).encode()

    return damage


def _first_resource(value: object) -> Callable[[dict], None]:
    def change(d: dict) -> None:
        first = sorted(d["resources"])[0]
        d["resources"][first] = value

    return change


def _set(key: str, value: object) -> Callable[[dict], None]:
    def change(d: dict) -> None:
        d[key] = value

    return change


def _drop(key: str) -> Callable[[dict], None]:
    def change(d: dict) -> None:
        del d[key]

    return change


#: (id, damage of .gridctl/state.json)
STATE_DAMAGE: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("truncated", lambda raw: raw[: len(raw) // 2]),
    ("empty", lambda raw: b""),
    ("list", lambda raw: b"[]"),
    ("null", lambda raw: b"null"),
    ("string", lambda raw: b'"state"'),
    ("non-utf8", lambda raw: b"\xff\xfe" + raw),
    ("deeply-nested", lambda raw: b"[" * 200_000),
    ("format-2", _state(_set("format_version", 2))),
    ("resources-list", _state(_set("resources", []))),
    ("resources-missing", _state(_drop("resources"))),
    ("resource-not-object", _state(_first_resource(5))),
    ("resource-without-kind", _state(_first_resource({"scope": "alice/r1"}))),
    ("serial-abc", _state(_set("serial", "abc"))),
    ("serial-nan", lambda raw: raw.replace(b'"serial": 1', b'"serial": NaN')),
    ("lineage-number", _state(_set("lineage", 7))),
]


@pytest.mark.parametrize("damage", [d for _, d in STATE_DAMAGE], ids=[i for i, _ in STATE_DAMAGE])
def test_a_damaged_state_is_named_and_never_taken_as_empty(grid, damage):
    path = applied(grid) / "state.json"
    path.write_bytes(damage(path.read_bytes()))
    for args in (("plan", "--detailed-exitcode"), ("state", "show"), ("state", "list"), ("apply", "--auto-approve")):
        r = grid.run(*args)
        clean(r)
        # never "0 managed objects", never a plan creating what the state says is managed
        assert r.code == 1, (args, r.all)
        assert str(path) in r.err, (args, r.all)
        assert "state.json.backup" in r.err, r.all  # says how to get it back
    assert grid.api("alice", "GET", "/repos/alice/r1").json()["description"] == "first"


def test_a_state_folder_in_place_of_the_file_is_named(grid):
    path = applied(grid) / "state.json"
    path.unlink()
    path.mkdir()
    for args in (("plan",), ("state", "show")):
        r = grid.run(*args)
        clean(r)
        assert r.code == 1 and str(path) in r.err, r.all


def test_the_state_schema_is_shipped_and_matches_what_gridctl_writes(grid):
    from jsonschema import Draft202012Validator

    from gridctl.manifest.schema import load_schema, schema_path

    root = Path(__file__).resolve().parents[2]
    assert schema_path("state.schema.json").resolve() == (root / "schemas" / "state.schema.json").resolve()
    data = json.loads((applied(grid) / "state.json").read_text())
    Draft202012Validator(load_schema("state.schema.json")).validate(data)


# -- the journal ------------------------------------------------------------------------------


def _unfinished(workdir: Path) -> Path:
    """The newest run, its end line dropped (as a killed apply leaves it)."""
    path = sorted((workdir / "journal").glob("*.jsonl"))[-1]
    lines = path.read_bytes().splitlines()
    assert json.loads(lines[-1])["type"] == "end"
    path.write_bytes(b"\n".join(lines[:-1]) + b"\n")
    return path


def _done_state(value: object) -> Callable[[list[bytes]], list[bytes]]:
    def change(lines: list[bytes]) -> list[bytes]:
        out = []
        for line in lines:
            entry = json.loads(line)
            if entry.get("type") == "done":
                entry["state"] = {next(iter(entry["state"] or {"repo:alice/r1": 0})): value}
            out.append(json.dumps(entry).encode())
        return out

    return change


JOURNAL_DAMAGE: list[tuple[str, Callable[[list[bytes]], list[bytes]]]] = [
    ("non-utf8-byte", lambda lines: [lines[0], b"\xff" + lines[1], *lines[2:]]),
    ("line-is-a-list", lambda lines: [lines[0], b"[1, 2]", *lines[2:]]),
    ("done-update-not-an-object", _done_state(5)),
    ("done-update-a-list", _done_state([1, 2])),
]


@pytest.mark.parametrize("damage", [d for _, d in JOURNAL_DAMAGE], ids=[i for i, _ in JOURNAL_DAMAGE])
def test_a_damaged_journal_of_an_interrupted_run_is_named_and_skipped(grid, damage):
    path = _unfinished(applied(grid))
    path.write_bytes(b"\n".join(damage(path.read_bytes().splitlines())) + b"\n")
    r = grid.run("plan", "--detailed-exitcode")
    clean(r)
    assert r.code == 0, r.all
    assert str(path) in r.err, r.all
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 0 and str(path) not in r.all, r.all  # closed once


# -- the ETag cache -------------------------------------------------------------------------------

def _records(raw: bytes) -> list[dict]:
    """The ETag cache's JSON lines."""
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]


def _lines(records: list) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


CACHE_DAMAGE: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("truncated", lambda raw: raw[: len(raw) // 2].rstrip(b"\n")[:-1]),  # a line cut short
    ("non-utf8", lambda raw: b"\xff" + raw),
    ("list", lambda raw: b"[]"),
    ("entry-is-a-string", lambda raw: _lines(["x" for _ in _records(raw)])),
    ("entry-without-etag", lambda raw: _lines([{"key": r["key"], "body": r["body"]} for r in _records(raw)])),
    ("etag-is-a-number", lambda raw: _lines([{**r, "etag": 5} for r in _records(raw)])),
    ("deeply-nested", lambda raw: b"[" * 200_000),
]


@pytest.mark.parametrize("damage", [d for _, d in CACHE_DAMAGE], ids=[i for i, _ in CACHE_DAMAGE])
def test_a_damaged_etag_cache_is_dropped_with_one_warning(grid, damage):
    path = applied(grid) / "cache" / "main.json"
    path.write_bytes(damage(path.read_bytes()))
    r = grid.run("plan", "--detailed-exitcode")
    clean(r)
    assert r.code == 0, r.all
    warnings = [line for line in r.err.splitlines() if str(path) in line]
    assert len(warnings) == 1, r.err
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 0 and str(path) not in r.all, r.all  # rebuilt


def test_a_cached_body_changed_on_disk_is_fetched_again_on_a_304(grid):
    path = applied(grid) / "cache" / "main.json"
    assert grid.run("plan", "--detailed-exitcode").code == 0  # the cache now matches GitHub
    records = _records(path.read_bytes())
    key = "/repos/alice/r1#keep=no-urls"  # the repository, as the kinds keep it
    [record] = [r for r in records if r["key"] == key]
    assert record["body"]["description"] == "first"
    record["body"]["description"] = "tampered"
    path.write_bytes(_lines(records))
    r = grid.run("plan", "--detailed-exitcode")
    # the 304 says "unchanged", but what is on disk is not what was stored: fetched again
    assert r.code == 0 and "tampered" not in r.all, r.all
    assert [r["body"]["description"] for r in _records(path.read_bytes()) if r["key"] == key][-1] == "first"


def test_an_etag_cache_of_an_older_gridctl_is_read_and_rewritten_as_lines(grid):
    path = applied(grid) / "cache" / "main.json"
    assert grid.run("plan", "--detailed-exitcode").code == 0
    live: dict = {}
    for r in _records(path.read_bytes()):
        live[r.pop("key")] = r
    path.write_text(json.dumps(live))  # one JSON object of entries, as gridctl wrote it before
    grid.ctl("POST", "/stats/reset")
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 0 and str(path) not in r.all, r.all  # no warning
    assert grid.ctl("GET", "/stats")["total"].get("points", 0) == 0  # every entry still used
    assert {r["key"] for r in _records(path.read_bytes())} == set(live)  # now as JSON lines


# -- the lock and the fingerprint key ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["state.lock", "fingerprint.key"])
def test_a_folder_where_a_work_file_belongs_is_named(grid, name):
    path = applied(grid) / name
    path.unlink()
    path.mkdir()
    r = grid.run("apply", "--auto-approve")
    clean(r)
    assert r.code == 1 and str(path) in r.err, r.all


# -- a plan beside a running apply ------------------------------------------------------------------


def _wait(what: Callable[[], bool], proc: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_plan_and_state_show_run_beside_an_apply(grid):
    workdir = applied(grid)
    grid.write("grid.yaml", MANIFEST.replace("{MODE: one}", "{MODE: two, A: a, B: b, C: c}"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GRID_TOKEN", "GITHUB_"))},
        "GRIDCTL_API_URL": grid.sb.url, "NO_COLOR": "1", **grid.env,
        "GRIDCTL_WRITE_INTERVAL": "1.5",  # four writes: the apply runs for a few seconds
    }
    before = set((workdir / "journal").glob("*.jsonl"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridctl", "apply", "--auto-approve"], cwd=grid.dir, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        def running() -> list[Path]:
            return sorted(set((workdir / "journal").glob("*.jsonl")) - before)

        _wait(lambda: bool(running()) and b'"done"' in running()[0].read_bytes(), proc)
        journal = running()[0]
        r = grid.run("plan")
        clean(r)
        assert r.code == 0, r.all
        progress = [line for line in r.err.splitlines() if "an apply is in progress" in line]
        assert len(progress) == 1 and journal.stem in progress[0], r.err
        assert "recovered" not in r.all, r.all
        r = grid.check(0, "state", "show")
        assert "serial 1, 3 managed object(s)" in r.out and "repo:alice/r1" in r.out, r.out
        assert "an apply is in progress" in r.out and journal.stem in r.out, r.out
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out + err
    ends = [json.loads(line) for line in journal.read_bytes().splitlines() if b'"end"' in line]
    assert [e["status"] for e in ends] == ["ok"]  # the plan neither replayed nor closed it
    assert "an apply is in progress" not in grid.run("state", "show").out


# -- a saved plan ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("reversible", "no", "changes[0].reversible is a string, not true/false"),
        ("order", "x", "changes[0].order is a string, not an integer"),
        ("reason", 5, "changes[0].reason is an integer, not a string"),
        ("diffs", [{"field": 5, "before": 1, "after": 2}], "changes[0].diffs[0]"),
        ("before", [1], "changes[0].before is a list, not an object or null"),
    ],
)
def test_a_saved_plan_with_a_wrongly_typed_field_is_refused_naming_it(grid, field, value, named):
    """Even with a plan_id that matches (edited by hand, the id recomputed), a change whose field
    has the wrong type is refused by show and apply — not shown or applied as if it made sense."""
    from gridctl.plan import Plan

    applied(grid)
    grid.write("grid.yaml", MANIFEST.replace("description: first", "description: second"))
    assert grid.run("plan", "--out", "plan.json").code == 0
    doc = json.loads((grid.dir / "plan.json").read_text())
    doc["changes"][0][field] = value
    doc["plan_id"] = hashlib.sha256(canonical({k: doc[k] for k in Plan([]).body()}).encode()).hexdigest()
    (grid.dir / "plan.json").write_text(json.dumps(doc))
    for args in (("show", "plan.json"), ("apply", "plan.json")):
        r = grid.run(*args)
        clean(r)
        assert r.code == 1 and "plan.json: not a gridctl plan" in r.err and named in r.err, (args, r.all)
    assert grid.api("alice", "GET", "/repos/alice/r1").json()["description"] == "first"


def test_rollback_skips_a_damaged_undo_naming_the_journal(grid):
    workdir = applied(grid)
    path = sorted((workdir / "journal").glob("*.jsonl"))[-1]
    entries = [json.loads(line) for line in path.read_bytes().splitlines()]
    done = [e for e in entries if e.get("type") == "done" and e.get("inverse")]
    assert len(done) >= 2
    done[0]["inverse"]["action"] = 5
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    r = grid.run("rollback", "--auto-approve")
    clean(r)
    assert r.code == 0, r.all
    assert f"cannot roll back {done[0]['address']} (its undo in {path} is damaged: changes[0].action" in r.err, r.err
    assert "rolled back" in r.err, r.err  # the others were undone
