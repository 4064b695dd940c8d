"""Repository groups (``repo_groups``): defaults.repo -> group -> repository, for every section.

The end-to-end case is issue 17's must-show 4: 30 repositories in 3 groups plan exactly as the
same manifest written out per repository (the plan JSON is the same bytes once what names the
manifest file — its path, digest, the plan id computed from it, each change's ``file:line`` —
is set aside), an apply of one leaves the other with nothing to do, and ``plan --explain``
names where each value came from. The expansion is computed here, independently of gridctl's
merge. Then the precedence rules on the loaded model, and bad groups at their line.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from gridctl.errors import ManifestError
from gridctl.resources import load_manifest

from ..helpers import ACME, ALICE, HELPER_BOB, grid_yaml

HEAD = grid_yaml("", ALICE, ACME, HELPER_BOB)

DEFAULTS = {"has_wiki": False, "delete_branch_on_merge": True, "labels": {"bug": "d73a4a"}}
GROUPS: dict[str, dict[str, Any]] = {
    "services": {
        "match": ["svc-*"],
        "order": 1,
        "repo": {
            "has_projects": False,
            "allow_auto_merge": True,
            "variables": {"TIER": "backend", "REGION": "eu"},
            "collaborators": {"helper": "push"},
            "labels": {"service": "0e8a16"},
            "environments": {"production": {"wait_timer": 5}},
        },
    },
    "web": {
        "match": ["acme/web-0*"],
        "repos": ["acme/web-10"],
        "repo": {
            "homepage": "https://example.com/web",
            "variables": {"TIER": "frontend"},
            "secrets": {"actions": {"DEPLOY_KEY": {"env": "WEB_DEPLOY"}}},
            "files": {".github/CODEOWNERS": {"content": "* @acme/web\n"}},
        },
    },
    "libraries": {
        "topics": ["library"],
        "order": 2,
        "repo": {
            "allow_squash_merge": False,
            "variables": {"TIER": "library"},
            "actions": {"allowed_actions": "local_only"},
        },
    },
}


def repositories() -> dict[str, dict[str, Any]]:
    """The 30 repositories' own entries: 10 services (3 also libraries, by topic), 10 web
    (9 by glob, one by list), 10 libraries; a few override what they inherit."""
    repos: dict[str, dict[str, Any]] = {}
    for i in range(10):
        repos[f"acme/svc-{i:02}"] = {"description": f"Service {i}"}
    for i in range(1, 11):
        repos[f"acme/web-{i:02}"] = {"description": f"Site {i}"}
    for i in range(10):
        repos[f"acme/lib-{i:02}"] = {"description": f"Library {i}", "topics": ["library"]}
    for i in range(3):
        repos[f"acme/svc-{i:02}"]["topics"] = ["library"]
    repos["acme/svc-05"]["variables"] = {"REGION": "us"}  # the repository's own value wins
    repos["acme/web-03"]["has_wiki"] = True  # over defaults.repo
    repos["acme/lib-04"]["labels"] = {"bug": "ff0000", "docs": "0075ca"}  # bug replaced, docs added
    repos["acme/svc-07"]["environments"] = {"production": {"wait_timer": 30}}  # the entry replaced whole
    return repos


def groups_of(full: str, own: dict[str, Any]) -> list[str]:
    name = full.split("/")[1]
    out = []
    if name.startswith("svc-"):
        out.append("services")
    if name.startswith("web-0") or full == "acme/web-10":
        out.append("web")
    if "library" in own.get("topics", []):
        out.append("libraries")
    return sorted(out, key=lambda g: GROUPS[g].get("order", 0))


def expanded(full: str, own: dict[str, Any]) -> dict[str, Any]:
    """What the repository's entry means, written out: settings and lists replaced, mapping
    sections merged by key (secrets by type then name), the later layer winning."""
    out: dict[str, Any] = {}
    for layer in [DEFAULTS] + [GROUPS[g]["repo"] for g in groups_of(full, own)] + [own]:
        for key, value in copy.deepcopy(layer).items():
            if key == "secrets":
                for typ, entries in value.items():
                    out.setdefault("secrets", {}).setdefault(typ, {}).update(entries)
            elif isinstance(value, dict):
                out.setdefault(key, {}).update(value)
            else:
                out[key] = value
    return out


def grouped_yaml() -> str:
    data = {"defaults": {"repo": DEFAULTS}, "repo_groups": GROUPS, "repos": repositories()}
    return HEAD + "".join(f"{k}: {json.dumps(v, indent=2)}\n" for k, v in data.items())


def expanded_yaml() -> str:
    repos = {full: expanded(full, own) for full, own in repositories().items()}
    return HEAD + f"repos: {json.dumps(repos, indent=2)}\n"


def normalized(plan_json: str) -> str:
    """The plan JSON without what names the manifest file (path, digest, the id computed from
    them, each change's file:line) and without the time it was made."""
    doc = json.loads(plan_json)
    for key in ("plan_id", "manifest_sha256", "manifest_file", "created_at"):
        doc.pop(key)
    for change in doc["changes"]:
        del change["source"]
    return json.dumps(doc, indent=2, sort_keys=True)


@pytest.fixture
def fleet(grid):
    grid.user("alice")
    grid.user("bob")
    grid.org("acme", admins=("alice",))
    grid.env["WEB_DEPLOY"] = "canary-web-deploy-" + "7e11" * 6
    grid.write("grouped.yaml", grouped_yaml())
    grid.write("expanded.yaml", expanded_yaml())
    return grid


def test_thirty_repositories_in_three_groups_plan_as_written_out(fleet):
    grid = fleet
    grouped = grid.check(0, "plan", "-f", "grouped.yaml", "--format", "json").out
    written = grid.check(0, "plan", "-f", "expanded.yaml", "--format", "json").out
    doc = json.loads(grouped)
    assert len({c["scope"] for c in doc["changes"]}) >= 30
    assert doc["summary"]["create"] > 150
    # the same bytes, except what names the manifest file
    assert normalized(grouped) == normalized(written)
    kinds = {c["kind"] for c in doc["changes"]}
    assert {"repo", "variable", "collaborator", "label", "environment", "secret", "file", "actions-permissions", "topics"} <= kinds
    # and the same plan with the other manifest's positions: an apply of the grouped one
    # leaves the written-out one nothing to do
    grid.check(0, "apply", "-f", "grouped.yaml", "--auto-approve")
    grid.check(0, "plan", "-f", "expanded.yaml", "--detailed-exitcode")
    grid.check(0, "plan", "-f", "grouped.yaml", "--detailed-exitcode")
    assert "canary-web-deploy" not in json.dumps(grid.files_written(), default=str)


def line_of(text: str, needle: str, after: str = "") -> int:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


def test_explain_names_the_group_a_value_came_from(fleet):
    grid = fleet
    text = (grid.dir / "grouped.yaml").read_text()
    at = {what: line_of(text, f'"{what}"') for what in ("acme/web-03", "homepage", "delete_branch_on_merge", "helper")}
    at["own has_wiki"] = line_of(text, '"has_wiki": true')
    out = grid.check(0, "plan", "-f", "grouped.yaml", "--explain", "repo:acme/web-03").out
    assert out.splitlines()[0] == f"repo:acme/web-03  (declared at grouped.yaml:{at['acme/web-03']})"
    assert "acme/web-03: in group(s) web (applied in this order)" in out
    fields = {line.split()[0]: line for line in out.splitlines()[3:]}
    assert fields["homepage"].endswith(f"from group web at grouped.yaml:{at['homepage']}")
    assert fields["delete_branch_on_merge"].endswith(f"from defaults.repo at grouped.yaml:{at['delete_branch_on_merge']}")
    assert fields["has_wiki"].endswith(f"from the repository entry at grouped.yaml:{at['own has_wiki']}")
    assert fields["archived"].endswith("not declared (gridctl's default)")
    # a repository in two groups: the higher order wins
    out = grid.check(0, "plan", "-f", "grouped.yaml", "--explain", "variable:acme/svc-01:TIER").out
    assert "in group(s) services, libraries" in out
    assert re.search(r'value\s+"library"\s+from group libraries at grouped\.yaml:\d+', out), out
    out = grid.check(0, "plan", "-f", "grouped.yaml", "--explain", "variable:acme/svc-05:REGION").out
    assert re.search(r'value\s+"us"\s+from the repository entry at grouped\.yaml:\d+', out), out
    out = grid.check(0, "plan", "-f", "grouped.yaml", "--explain", "collaborator:acme/svc-05:bob").out
    assert re.search(rf'role\s+"write"\s+from group services at grouped\.yaml:{at["helper"]}$', out, re.M), out
    out = grid.check(0, "plan", "-f", "grouped.yaml", "--explain", "actions-permissions:acme/lib-02", "--format", "json").out
    doc = json.loads(out)
    assert doc["groups"] == ["libraries"]
    assert [(f["field"], f["from"]) for f in doc["fields"]] == [("allowed_actions", "group libraries")]
    # a secret: where its value comes from, never the value
    r = grid.check(0, "plan", "-f", "grouped.yaml", "--explain", "secret:acme/web-02:actions:DEPLOY_KEY")
    assert re.search(r'value\s+"\(sensitive\)"\s+from group web at grouped\.yaml:\d+', r.out), r.out
    assert "canary-web-deploy" not in r.all
    # an address the manifest does not declare: exit 1, the nearest one named
    r = grid.check(1, "plan", "-f", "grouped.yaml", "--explain", "repo:acme/svc-5")
    assert "declares no resource at repo:acme/svc-5 (did you mean repo:acme/svc-05?)" in r.err
    assert "Traceback" not in r.all


# -- the loaded model (no sandbox) ------------------------------------------------------------------

def load(tmp_path, body: str, **files: str):
    (tmp_path / "grid.yaml").write_text(grid_yaml(body, ALICE, ACME))
    return load_manifest(tmp_path / "grid.yaml", resolve=False)


def errors(tmp_path, body: str) -> list[str]:
    with pytest.raises(ManifestError) as exc:
        load(tmp_path, body)
    return [f"{d.line}:{d.col}: {d.summary}" for d in exc.value.diagnostics()]


def test_precedence_and_merge_by_key(tmp_path):
    m = load(tmp_path, """\
defaults:
  repo:
    has_issues: false
    topics: [base]
    variables: {A: d, B: d}
    secrets: {actions: {S1: {env: X}}}
repo_groups:
  g:
    match: ["*"]
    repo:
      has_issues: true
      topics: [grp]
      variables: {b: g, C: g}
      secrets: {actions: {S2: {env: Y}}, dependabot: {S3: {env: Z}}}
      lifecycle: {prevent_destroy: true}
repos:
  acme/one:
    variables: {C: own}
    secrets: {actions: {S1: {env: OWN}}}
    lifecycle: {on_destroy: delete}
  acme/two:
    topics: [own]
""")
    one, two = m.repos["acme/one"], m.repos["acme/two"]
    assert one.settings == {"has_issues": True} and one.topics == ["grp"] and two.topics == ["own"]
    # variables merged by key, names without case: the group's b replaces defaults' B
    assert one.variables == {"A": "d", "B": "g", "C": "own"}
    assert {t: {n: r.source.describe() if r.source else None for n, r in refs.items()} for t, refs in one.secrets.items()} == {
        "actions": {"S1": "env OWN", "S2": "env Y"}, "dependabot": {"S3": "env Z"}}
    assert (one.prevent_destroy, one.on_destroy) == (True, "delete")
    assert one.groups == ["g"]
    labels = {p: o.label for p, o in one.origins.items()}
    assert labels[("variables", "A")] == "defaults.repo" and labels[("variables", "b")] == "group g"
    assert labels[("variables", "C")] == "the repository entry" and labels[("secrets", "actions", "S2")] == "group g"
    # positions of inherited values are where they are written
    assert m.positions.source(("repos", "acme/one", "lifecycle", "prevent_destroy")) == f"{tmp_path / 'grid.yaml'}:20"


def test_no_groups_and_no_defaults_leave_entries_alone(tmp_path):
    m = load(tmp_path, "repos:\n  acme/one: {description: x}\n")
    assert m.repos["acme/one"].origins == {} and m.repo_groups == {}


def test_selection_by_glob_list_and_topic(tmp_path):
    m = load(tmp_path, """\
repo_groups:
  a: {match: "svc-[ab]*", repo: {has_wiki: false}}
  b: {match: ["ACME/API"], repos: [acme/tool], order: 1, repo: {has_wiki: true}}
  c: {topics: [Python], order: 2, repo: {has_projects: false}}
repos:
  acme/svc-a1: {}
  acme/svc-c1: {}
  acme/api: {topics: [python]}
  acme/tool: {}
""")
    assert {n: g.members for n, g in m.repo_groups.items()} == {"a": ["acme/svc-a1"], "b": ["acme/api", "acme/tool"], "c": ["acme/api"]}
    assert m.repos["acme/api"].groups == ["b", "c"]


def test_overlap_without_order_names_both_groups(tmp_path):
    f = tmp_path / "grid.yaml"
    assert errors(tmp_path, """\
repo_groups:
  a: {match: ["*"]}
  b: {match: ["x-*"], order: 1}
repos:
  acme/x-1: {}
  acme/x-2: {}
""") == [f"8:3: acme/x-1, acme/x-2 are in repository groups a ({f}:7:3) and b ({f}:8:3)"]
    assert errors(tmp_path, """\
repo_groups:
  a: {match: ["*"], order: 1}
  b: {match: ["x-*"], order: 1}
repos:
  acme/x-1: {}
""") == [f"8:3: acme/x-1 is in repository groups a ({f}:7:3) and b ({f}:8:3)"]


def test_an_error_in_a_group_value_is_reported_once_at_the_group(tmp_path):
    assert errors(tmp_path, """\
repo_groups:
  g:
    match: ["*"]
    repo:
      variables: {GITHUB_X: "1"}
repos:
  acme/one: {}
  acme/two: {}
""") == ["10:19: variable GITHUB_X: names starting with GITHUB_ are reserved by GitHub"]
