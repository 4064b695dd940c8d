"""The plan JSON (``gridctl plan --out`` / ``--format json``) and ``schemas/plan.schema.json``:
real plans validate, the file round-trips with the same ``plan_id``, and an edited plan file is
refused by ``gridctl apply``."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
from jsonschema import Draft202012Validator

from gridctl.manifest.schema import load_schema
from gridctl.plan import Plan, canonical

from ..helpers import ALICE, HELPER_BOB, grid_yaml

CANARY = "canary-plan-json-" + "5be1" * 6

MANIFEST = grid_yaml("""\
keys:
  api: {source: {file: keys/api.txt}}
repos:
  alice/demo:
    description: Demo repository
    visibility: private
    topics: [grid, demo]
    collaborators: {helper: push}
    secrets:
      actions:
        API_KEY: {key: api}
    variables: {REGION: eu, MAX_PARALLEL: 20}
""", ALICE, HELPER_BOB)


@pytest.fixture(scope="module")
def validator():
    schema = load_schema("plan.schema.json")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:160]}" for e in validator.iter_errors(doc)]


def setup(grid):
    grid.user("alice")
    grid.user("bob")
    grid.write("grid.yaml", MANIFEST)
    grid.write("keys/api.txt", CANARY + "\n")


def saved_plan(grid, *args: str) -> dict:
    grid.check(0, "plan", "--out", "plan.json", *args)
    text = (grid.dir / "plan.json").read_text()
    assert CANARY not in text
    return json.loads(text)


def check(validator, doc: dict) -> None:
    assert problems(validator, doc) == []
    counts = {a: sum(1 for c in doc["changes"] if c["action"] == a) for a in ("create", "update", "replace", "delete")}
    assert doc["summary"] == counts
    # the documented plan_id rule, computed independently of Plan
    body = {k: doc[k] for k in ("format_version", "manifest_sha256", "destroy", "targets", "changes")}
    assert doc["plan_id"] == hashlib.sha256(canonical(body).encode()).hexdigest()


def test_real_plans_match_the_schema(grid, validator):
    setup(grid)
    first = saved_plan(grid)
    check(validator, first)
    kinds = {c["kind"] for c in first["changes"]}
    assert {"repo", "topics", "variable", "secret", "collaborator"} <= kinds
    assert {c["action"] for c in first["changes"]} == {"create"}
    secret = next(c for c in first["changes"] if c["kind"] == "secret")
    assert secret["sensitive"] is True and secret["after"]["fingerprint"].startswith("hmac-sha256:")
    # --format json prints the same document
    r = grid.run("plan", "--format", "json")
    assert r.code == 0
    printed = json.loads(r.out)
    assert printed["plan_id"] == first["plan_id"] and problems(validator, printed) == []

    assert grid.run("apply", "--auto-approve").code == 0
    # updates and deletes: a changed setting, a dropped variable, a new secret value
    grid.write("grid.yaml", MANIFEST.replace("Demo repository", "Demo, renamed").replace(", MAX_PARALLEL: 20", ""))
    grid.write("keys/api.txt", CANARY + "-rotated\n")
    second = saved_plan(grid)
    check(validator, second)
    assert {c["action"] for c in second["changes"]} == {"update", "delete"}
    assert second["changes"][0]["action"] == "delete"  # deletes come first

    destroy = saved_plan(grid, "--destroy")
    check(validator, destroy)
    assert destroy["destroy"] is True and destroy["summary"]["delete"] >= 4

    targeted = saved_plan(grid, "--target", "variable")
    check(validator, targeted)
    assert targeted["targets"] == ["variable"]


def test_plan_file_round_trips_with_the_same_id(grid):
    setup(grid)
    doc = saved_plan(grid)
    plan = Plan.from_json(doc)
    assert plan.plan_id == doc["plan_id"]
    again = json.loads(json.dumps(plan.to_json(), default=str))
    # everything but the diagnostics shown beside the plan (saved for readers, not applied)
    assert again == {k: v for k, v in doc.items() if k != "diagnostics"}
    assert Plan.from_json(again).plan_id == doc["plan_id"]


def test_an_edited_plan_file_is_refused(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("grid.yaml", MANIFEST.replace("REGION: eu", "REGION: ap"))
    doc = saved_plan(grid)
    (change,) = [c for c in doc["changes"] if c["kind"] == "variable"]
    assert change["after"] == {"value": "ap"}

    edited = copy.deepcopy(doc)
    next(c for c in edited["changes"] if c["kind"] == "variable")["after"]["value"] = "hacked"
    (grid.dir / "edited.json").write_text(json.dumps(edited, indent=2))
    grid.ctl("POST", "/stats/reset")
    r = grid.run("apply", "edited.json", "--auto-approve")
    assert r.code == 1
    assert r.err == "error: edited.json: not a gridctl plan (the plan file was modified: its plan_id does not match its content)\n"
    assert grid.ctl("GET", "/stats")["total"].get("requests", 0) == 0
    assert grid.gh("alice").get_repo("alice/demo").get_variable("REGION").value == "eu"

    # a plan_id edited to match nothing is refused the same way
    forged = dict(doc, plan_id="0" * 64)
    (grid.dir / "forged.json").write_text(json.dumps(forged))
    r = grid.run("apply", "forged.json", "--auto-approve")
    assert r.code == 1 and "plan_id does not match" in r.err

    # the untouched file applies
    r = grid.check(0, "apply", "plan.json", "--auto-approve")
    assert grid.gh("alice").get_repo("alice/demo").get_variable("REGION").value == "ap"


def test_a_plan_made_before_the_manifest_changed_is_refused(grid):
    setup(grid)
    saved_plan(grid)
    grid.write("grid.yaml", MANIFEST.replace("REGION: eu", "REGION: us"))
    r = grid.run("apply", "plan.json", "--auto-approve")
    assert r.code == 1
    assert "changed since the plan was made" in r.err


@pytest.mark.parametrize(
    "what,edit",
    [
        ("unknown action", lambda d: d["changes"][0].update(action="upsert")),
        ("extra top-level field", lambda d: d.update(approved_by="someone")),
        ("extra change field", lambda d: d["changes"][0].update(value="plaintext")),
        ("create with a before", lambda d: d["changes"][0].update(before={"x": 1})),
        ("a secret in clear", lambda d: next(c for c in d["changes"] if c["sensitive"])["after"].update(fingerprint="hunter2")),
        ("missing summary", lambda d: d.pop("summary")),
        ("other format", lambda d: d.update(format_version="2")),
        ("short plan_id", lambda d: d.update(plan_id="abc")),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_schema_refuses_what_gridctl_never_writes(grid, validator, what, edit):
    setup(grid)
    doc = saved_plan(grid)
    assert problems(validator, doc) == []
    edit(doc)
    assert problems(validator, doc), what


def test_a_saved_plan_keeps_its_warnings(grid, validator):
    setup(grid)
    grid.write(
        "grid.yaml",
        MANIFEST.replace(
            "  api: {source: {file: keys/api.txt}}",
            "  api: {source: {file: keys/api.txt}}\n  pool: {source: {file: keys/pool.txt, lines: true}, spread: {over: [main, helper], per_account: 1}}",
        ),
    )
    grid.write("keys/pool.txt", "fake-1\nfake-2\nfake-3\n")
    doc = saved_plan(grid)
    check(validator, doc)
    assert [(d["severity"], d["file"], d["line"]) for d in doc["diagnostics"]] == [("warning", "grid.yaml", 7)]
    assert "fake-1" not in json.dumps(doc)
