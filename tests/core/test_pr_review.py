"""End to end: plans reviewed in pull requests ("PR review").

A pull request is opened on the sandbox (a branch through the Git Data API, a commit on it,
``POST /pulls``); ``gridctl plan --comment-pr`` and ``gridctl comment`` put the plan on it as one
sticky comment, updated in place, with a gridctl label that follows the plan. Inside GitHub
Actions the plan also goes to the job summary and diagnostics become annotations. Canary
secret values and canary tokens appear in no comment, label, summary, annotation or artifact.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gridctl.review.markdown import LIMIT

from ..helpers import grid_yaml

MANIFEST = grid_yaml("""\
repos:
  alice/demo:
    visibility: private
    variables: {MAX_PARALLEL: 20, REGION: eu}
""")

MARKER_RE = re.compile(r"^<!-- gridctl:plan key=(\S+) result=([a-z-]+) -->")
WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "workflows" / "gridctl.yml"


#: what GitHub Actions sets, unset for every run here unless a test sets it (these tests may
#: themselves run inside Actions)
ACTIONS_ENV = (
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_WORKSPACE",
    "GITHUB_REPOSITORY",
    "GITHUB_EVENT_PATH",
    "GITHUB_SERVER_URL",
    "GITHUB_RUN_ID",
    "GITHUB_API_URL",
    "GRIDCTL_PLAN_ARTIFACT",
)


@pytest.fixture(autouse=True)
def _outside_actions(request):
    if "grid" in request.fixturenames:
        request.getfixturevalue("grid").env.update(dict.fromkeys(ACTIONS_ENV))


def canary(tag: str) -> str:
    return f"CANARY-{tag}-{uuid.uuid4().hex}"


def open_pr(grid, owner: str = "alice", name: str = "infra", branch: str = "change-grid") -> int:
    """A repository with a pull request from ``branch`` (one commit) into main."""
    r = grid.api(owner, "POST", "/user/repos", {"name": name, "auto_init": True})
    assert r.status_code == 201, r.text
    base = r.json()["default_branch"]
    sha = grid.api(owner, "GET", f"/repos/{owner}/{name}/git/ref/heads/{base}").json()["object"]["sha"]
    r = grid.api(owner, "POST", f"/repos/{owner}/{name}/git/refs", {"ref": f"refs/heads/{branch}", "sha": sha})
    assert r.status_code == 201, r.text
    content = base64.b64encode(MANIFEST.encode()).decode()
    r = grid.api(
        owner,
        "PUT",
        f"/repos/{owner}/{name}/contents/grid.yaml",
        {"message": "grid: change", "content": content, "branch": branch},
    )
    assert r.status_code == 201, r.text
    r = grid.api(
        owner, "POST", f"/repos/{owner}/{name}/pulls", {"title": "Change the grid", "head": branch, "base": base}
    )
    assert r.status_code == 201, r.text
    return r.json()["number"]


def comments(grid, number: int, repo: str = "alice/infra", login: str = "alice") -> list[dict]:
    out, page = [], 1
    while True:
        r = grid.api(login, "GET", f"/repos/{repo}/issues/{number}/comments?per_page=100&page={page}")
        assert r.status_code == 200, r.text
        out += r.json()
        if len(r.json()) < 100:
            return out
        page += 1


def gridctl_comments(grid, number: int, repo: str = "alice/infra") -> list[dict]:
    return [c for c in comments(grid, number, repo) if MARKER_RE.match(c["body"])]


def labels(grid, number: int, repo: str = "alice/infra") -> list[str]:
    return sorted(lb["name"] for lb in grid.api("alice", "GET", f"/repos/{repo}/issues/{number}/labels").json())


def op_count(grid, op: str) -> int:
    return grid.ctl("GET", "/stats")["by_endpoint"].get(op, {}).get("requests", 0)


WRITES = (
    "issues/create-comment",
    "issues/update-comment",
    "issues/delete-comment",
    "issues/add-labels",
    "issues/remove-label",
    "issues/create-label",
    "issues/set-labels",
)


def writes(grid) -> dict[str, int]:
    return {op: op_count(grid, op) for op in WRITES}


def comment_plan(grid, number: int, *args: str, env: dict | None = None):
    r = grid.check(0, "plan", "--comment-pr", str(number), "--comment-repo", "alice/infra", *args, env=env)
    return r


# -- 1. one sticky comment, updated in place; labels follow the plan -----------------------------------


def test_one_sticky_comment_updated_in_place_and_labels_follow(grid):
    grid.user("alice")
    number = open_pr(grid)
    grid.write("grid.yaml", MANIFEST)

    r = comment_plan(grid, number)
    assert f"plan comment created on alice/infra#{number}" in r.err
    [first] = gridctl_comments(grid, number)
    assert MARKER_RE.match(first["body"]).groups() == ("grid.yaml", "changes")
    assert "+ variable alice/demo REGION" in first["body"] and "<details>" in first["body"]
    assert first["user"]["login"] == "alice"
    assert labels(grid, number) == ["gridctl:changes"]
    repo_labels = {
        lb["name"]: lb["color"] for lb in grid.api("alice", "GET", "/repos/alice/infra/labels?per_page=100").json()
    }
    assert repo_labels["gridctl:changes"] == "fbca04"  # created with its colour, not GitHub's grey default

    # the same plan again: nothing to write (same text, same label)
    before = writes(grid)
    r = comment_plan(grid, number)
    assert "plan comment unchanged" in r.err
    assert writes(grid) == before
    assert [c["id"] for c in gridctl_comments(grid, number)] == [first["id"]]

    # a different plan: the same comment, edited
    grid.write("grid.yaml", MANIFEST.replace("REGION: eu", "REGION: ap"))
    comment_plan(grid, number)
    [second] = gridctl_comments(grid, number)
    assert second["id"] == first["id"] and second["body"] != first["body"]
    assert '"ap"' in second["body"]
    assert op_count(grid, "issues/update-comment") == before["issues/update-comment"] + 1
    assert op_count(grid, "issues/create-comment") == before["issues/create-comment"]

    # applied: no changes left, the label follows
    assert grid.run("apply", "--auto-approve").code == 0
    comment_plan(grid, number)
    [third] = gridctl_comments(grid, number)
    assert third["id"] == first["id"] and "No changes" in third["body"]
    assert MARKER_RE.match(third["body"]).group(2) == "no-changes"
    assert labels(grid, number) == ["gridctl:no-changes"]

    # a managed variable dropped from the manifest: a destroy
    grid.write(
        "grid.yaml",
        MANIFEST.replace("REGION: eu", "REGION: ap")
        .replace(", MAX_PARALLEL: 20", "")
        .replace("MAX_PARALLEL: 20, ", ""),
    )
    comment_plan(grid, number)
    assert labels(grid, number) == ["gridctl:destroys"]
    [fourth] = gridctl_comments(grid, number)
    assert fourth["id"] == first["id"] and "- variable alice/demo MAX_PARALLEL" in fourth["body"]
    assert len(comments(grid, number)) == 1


# -- 2. `gridctl comment` with a saved plan, a token from the environment, two manifests -------------


def test_comment_command_token_env_and_one_comment_per_manifest(grid):
    grid.user("alice")
    number = open_pr(grid)
    ci_token = grid.sb.add_user("alice", token=canary("ci-token"))  # e.g. Actions' GITHUB_TOKEN
    grid.write("grid.yaml", MANIFEST)
    grid.write("other.yaml", MANIFEST.replace("alice/demo", "alice/other"))
    assert grid.run("plan", "--out", "plan.json").code == 0
    assert grid.run("plan", "-f", "other.yaml", "--out", "other.json").code == 0

    # the manifest's token is not even set: the comment is posted with the one from --token-env
    no_manifest_token = {"GRID_TOKEN_ALICE": "", "GITHUB_TOKEN": ci_token}
    r = grid.run(
        "comment",
        "plan.json",
        "--repo",
        "alice/infra",
        "--pr",
        str(number),
        "--token-env",
        "GITHUB_TOKEN",
        env=no_manifest_token,
    )
    assert r.code == 0, r.all
    r = grid.run(
        "comment",
        "other.json",
        "--repo",
        "alice/infra",
        "--pr",
        str(number),
        "--token-env",
        "GITHUB_TOKEN",
        env=no_manifest_token,
    )
    assert r.code == 0, r.all
    assert ci_token not in r.all
    found = {MARKER_RE.match(c["body"]).group(1): c for c in gridctl_comments(grid, number)}
    assert set(found) == {"grid.yaml", "other.yaml"}
    assert "alice/other" in found["other.yaml"]["body"] and "alice/other" not in found["grid.yaml"]["body"]

    # again, through the manifest's account this time, the pull request taken from the Actions
    # event: still one comment per manifest
    event = grid.write("event.json", json.dumps({"pull_request": {"number": number}}))
    r = grid.run("comment", "plan.json", env={"GITHUB_REPOSITORY": "alice/infra", "GITHUB_EVENT_PATH": str(event)})
    assert r.code == 0 and "unchanged" in r.err, r.all
    r = grid.run("plan", "-f", "other.yaml", "--comment-pr", str(number), "--comment-repo", "alice/infra")
    assert r.code == 0 and "unchanged" in r.err, r.all
    assert len(gridctl_comments(grid, number)) == 2

    # the label is the most severe of the two plans
    assert grid.run("apply", "--auto-approve").code == 0
    comment_plan(grid, number)
    assert labels(grid, number) == ["gridctl:changes"]  # other.yaml still has changes
    assert grid.run("apply", "-f", "other.yaml", "--auto-approve").code == 0
    comment_plan(grid, number, "-f", "other.yaml")
    assert labels(grid, number) == ["gridctl:no-changes"]

    # a bad token variable is named, never shown
    r = grid.run("comment", "plan.json", "--repo", "alice/infra", "--pr", str(number), "--token-env", "NOPE_TOKEN")
    assert r.code == 1 and "env NOPE_TOKEN is not set" in r.err
    r = grid.run("comment", "plan.json", "--repo", "alice/infra", "--pr", "999")
    assert r.code == 1 and "alice/infra#999" in r.err


def test_comment_found_past_the_first_page_and_duplicates_removed(grid):
    grid.user("alice")
    number = open_pr(grid)
    grid.write("grid.yaml", MANIFEST)
    grid.ctl("PUT", "/limits", {"content_per_minute": 1000})  # seeding 100 comments is not what is tested
    for i in range(100):
        assert (
            grid.api(
                "alice", "POST", f"/repos/alice/infra/issues/{number}/comments", {"body": f"review note {i}"}
            ).status_code
            == 201
        )
    comment_plan(grid, number)  # the 101st comment: on page 2
    for i in range(5):
        grid.api("alice", "POST", f"/repos/alice/infra/issues/{number}/comments", {"body": f"later note {i}"})
    [sticky] = gridctl_comments(grid, number)
    # a race left a second copy of the sticky comment behind
    dup = grid.api("alice", "POST", f"/repos/alice/infra/issues/{number}/comments", {"body": sticky["body"]}).json()
    grid.write("grid.yaml", MANIFEST.replace("REGION: eu", "REGION: us"))
    comment_plan(grid, number)
    [after] = gridctl_comments(grid, number)
    assert after["id"] == sticky["id"] and after["id"] != dup["id"] and '"us"' in after["body"]
    assert len(comments(grid, number)) == 106


# -- 3. GitHub Actions: job summary and annotations ---------------------------------------------------


def test_actions_job_summary_and_annotations(grid, tmp_path):
    grid.user("alice")
    summary = tmp_path / "step_summary.md"
    actions = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(grid.dir)}
    # a warning (a key value that goes to no account) rides along with the plan
    grid.write("keys/pool.txt", "one\ntwo\n")
    grid.write(
        "grid.yaml",
        MANIFEST
        + "keys:\n  pool: {source: {file: keys/pool.txt, lines: true}, spread: {over: [main], per_account: 1}}\n",
    )
    r = grid.check(0, "plan", "--out", "plan.json", env=actions)
    text = summary.read_text()
    plan_id = json.loads((grid.dir / "plan.json").read_text())["plan_id"]
    assert text.startswith("### gridctl plan") and plan_id in text
    assert "| **Total** | **3** |" in text and "<details>" in text
    assert "**Diagnostics**" in text and "go to no account" in text
    warn = [line for line in r.err.splitlines() if line.startswith("::warning ")]
    assert warn and re.match(
        r"^::warning file=grid\.yaml,line=\d+,col=\d+::key pool: 1 value\(s\) do not fit", warn[0]
    ), r.err
    # the saved plan carries the diagnostics, so `gridctl comment` shows them too
    assert json.loads((grid.dir / "plan.json").read_text())["diagnostics"][0]["severity"] == "warning"

    # a second plan appends to the summary (one step may plan twice); an error is an annotation
    grid.write("grid.yaml", MANIFEST.replace("visibility: private", "visibility: privat"))
    r = grid.run("plan", env=actions)
    assert r.code == 1
    [err] = [line for line in r.err.splitlines() if line.startswith("::error ")]
    assert re.match(r"^::error file=grid\.yaml,line=6,col=\d+::", err), err
    assert summary.read_text() == text  # a failed plan writes no summary

    # outside Actions: no workflow commands, no summary
    summary.unlink()
    r = grid.run("plan", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert "::error" not in r.err and not summary.exists()


def test_annotation_escaping():
    from gridctl.cli.common import annotation
    from gridctl.errors import Diagnostic

    d = Diagnostic("error", "bad value: 100%\nsecond line", "detail, with comma", "dir,x/grid:1.yaml", 3, 5)
    assert (
        annotation(d)
        == "::error file=dir%2Cx/grid%3A1.yaml,line=3,col=5::bad value: 100%25%0Asecond line%0Adetail, with comma"
    )
    assert annotation(Diagnostic("warning", "no file")) == "::warning::no file"


# -- 4. canaries: no secret value or token anywhere we write ------------------------------------------


CANARY_MANIFEST = grid_yaml("""\
keys:
  api: {source: {file: keys/api.txt, lines: true}}
repos:
  alice/demo:
    visibility: private
    variables: {REGION: eu}
    secrets:
      actions:
        API: {key: api, format: json}
        FROM_ENV: {env: SECRET_FROM_ENV}
""")


def test_canary_secrets_and_tokens_appear_nowhere(grid, tmp_path):
    alice_token = canary("alice-token")
    grid.sb.add_user("alice", token=alice_token)
    grid.env["GRID_TOKEN_ALICE"] = alice_token
    grid.tokens["alice"] = alice_token
    ci_token = grid.sb.add_user("alice", token=canary("ci-token"))
    number = open_pr(grid)
    values = [canary("v1"), canary("v2")]
    env_secret = canary("env")
    grid.env["SECRET_FROM_ENV"] = env_secret
    grid.write("keys/api.txt", "\n".join(values) + "\n")
    grid.write("grid.yaml", CANARY_MANIFEST)
    summary = tmp_path / "summary.md"
    actions = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_TOKEN": ci_token,
        "GITHUB_REPOSITORY": "alice/infra",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "77",
    }
    outputs = []
    r = grid.run(
        "plan", "--out", "plan.json", "--comment-pr", str(number), "--comment-token-env", "GITHUB_TOKEN", env=actions
    )
    assert r.code == 0, r.all
    outputs.append(r.all)
    assert grid.run("apply", "--auto-approve").code == 0
    # rotate the key material: an update of secret values
    values = [canary("v3"), canary("v4")]
    grid.write("keys/api.txt", "\n".join(values) + "\n")
    r = grid.check(0, "plan", "--out", "plan.json", "--format", "markdown", env=actions)
    outputs.append(r.all)
    assert "(sensitive value changed)" in r.out
    r = grid.check(0, "comment", "plan.json", "--token-env", "GITHUB_TOKEN", "--pr", str(number), env=actions)
    outputs.append(r.all)
    # a manifest error in Actions: an annotation, still without secrets
    grid.write("grid.yaml", CANARY_MANIFEST.replace("REGION: eu", "REGION: [eu]"))
    r = grid.run("plan", env=actions)
    assert r.code == 1 and "::error file=grid.yaml" in r.err
    outputs.append(r.all)

    [sticky] = gridctl_comments(grid, number)
    assert "(sensitive value changed)" in sticky["body"]
    assert (
        "artifact `gridctl-plan` of [workflow run 77](https://github.example/alice/infra/actions/runs/77)"
        in sticky["body"]
    )
    blobs = {
        "comments": json.dumps(comments(grid, number)).encode(),
        "labels": json.dumps(labels(grid, number)).encode(),
        "summary": summary.read_bytes(),
        "artifact plan.json": (grid.dir / "plan.json").read_bytes(),
    }
    blobs.update({f"output {i}": o.encode() for i, o in enumerate(outputs)})
    blobs.update(grid.files_written())
    secrets = [*values, env_secret, "CANARY-v1", "CANARY-v2", alice_token, ci_token]
    for c in secrets:
        for where, blob in blobs.items():
            assert c.encode() not in blob, f"{c[:16]}... leaked into {where}"
            assert c.encode().hex().encode() not in blob, f"{c[:16]}... (hex) leaked into {where}"
    assert b"sensitive value" in blobs["summary"]


# -- 5. 2,000 changes: one comment, under the limit, a correct summary --------------------------------


@pytest.mark.slow
def test_two_thousand_changes_render_to_one_comment(grid):
    grid.user("alice")
    number = open_pr(grid)
    repos = "\n".join(
        f"  alice/r{i:03d}:\n    visibility: private\n    variables: {{"
        + ", ".join(f"V{j:02d}: value-{i}-{j}" for j in range(20))
        + "}"
        for i in range(100)
    )
    grid.write(
        "grid.yaml",
        "version: 1\naccounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\nrepos:\n" + repos + "\n",
    )
    grid.check(0, "plan", "--out", "plan.json", "--comment-pr", str(number), "--comment-repo", "alice/infra")
    plan = json.loads((grid.dir / "plan.json").read_text())
    assert plan["summary"] == {"create": 2100, "update": 0, "replace": 0, "delete": 0}
    [c] = gridctl_comments(grid, number)
    body = c["body"]
    assert len(body) < LIMIT
    assert "| `repo` | 100 | 0 | 0 | 0 | 100 |" in body
    assert "| `variable` | 2000 | 0 | 0 | 0 | 2000 |" in body
    assert "| **Total** | **2100** | **0** | **0** | **0** | **2100** |" in body
    assert "The detail is cut to fit one comment" in body and "`plan.json`" in body
    assert body.count("<details>") == body.count("</details>") > 10
    assert len(comments(grid, number)) == 1 and labels(grid, number) == ["gridctl:changes"]


# -- 6. the example workflow ---------------------------------------------------------------------------


def _uses_secrets(node) -> bool:
    return "secrets." in json.dumps(node)


def test_example_workflow_is_safe_for_pull_requests():
    wf = YAML(typ="safe").load(WORKFLOW.read_text())
    on = wf["on"]
    assert "pull_request" in on and "pull_request_target" not in on
    code_lines = [line for line in WORKFLOW.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert "pull_request_target" not in "\n".join(code_lines)
    assert on["push"]["branches"] == ["main"]
    assert wf["permissions"] == {} or wf["permissions"] == {"contents": "read"}  # jobs ask for what they need
    jobs = wf["jobs"]
    plan = next(
        j for j in jobs.values() if "gridctl plan" in json.dumps(j) and j.get("if", "").find("pull_request") >= 0
    )
    apply = next(j for j in jobs.values() if "gridctl apply" in json.dumps(j))
    # fork pull requests get no secrets: the job that uses them does not run for forks...
    assert "github.event.pull_request.head.repo.full_name == github.repository" in plan["if"]
    for name, job in jobs.items():
        if _uses_secrets(job) and job is not apply:
            assert "head.repo.full_name == github.repository" in job.get("if", ""), name
    # ...and a job for forks says so, without any secret
    fork = next(j for j in jobs.values() if "head.repo.full_name != github.repository" in j.get("if", ""))
    assert not _uses_secrets(fork) and "::notice" in json.dumps(fork)
    # the plan is kept as an artifact and put on the pull request
    steps = json.dumps(plan["steps"])
    assert "actions/upload-artifact@" in steps and "plan.json" in steps
    assert "gridctl comment" in steps or "--comment-pr" in steps
    assert plan["permissions"].get("pull-requests") == "write" and plan["permissions"].get("contents") == "read"
    # apply: only on push to the default branch, never two at once, and only the reviewed plan
    assert "github.event_name == 'push'" in apply["if"]
    assert apply["concurrency"]["group"] and apply["concurrency"]["cancel-in-progress"] is False
    assert "--plan-id" in json.dumps(apply["steps"]) or re.search(
        r"gridctl apply \S+\.json", json.dumps(apply["steps"])
    )
    assert apply["permissions"]["contents"] == "read"  # gridctl writes with its own tokens, not the workflow's
    assert {k for k, v in apply["permissions"].items() if v == "write"} <= {"pull-requests", "issues"}
