"""Kinds ``hook`` and ``org-hook`` end to end against the strict sandbox: plan (create) -> apply
-> no changes -> one field edited and planned alone -> apply -> rollback -> destroy; the secret
(write-only on GitHub) fingerprinted, rewritten when its value changes or GitHub lost it,
removed when no longer declared, and never in any output, plan file, journal or state (canary
values); organization hooks; prune and hooks sharing a URL; bad manifests at their line.
What the sandbox holds is read back with raw requests, independently of gridctl."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from ..helpers import ACME, ALICE, change_block, grid_yaml

URL = "https://ci.example.com/github"
HOOKS = "/repos/alice/demo/hooks"
ORG_HOOKS = "/orgs/acme/hooks"

MANIFEST = grid_yaml(f"""\
repos:
  alice/demo:
    hooks:
      {URL}:
        events: [push, pull_request]
        content_type: json
        secret: {{env: HOOK_SECRET}}
""")


def canary(tag: str) -> str:
    return f"CANARY-{tag}-{uuid.uuid4().hex}"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hooks(grid, path: str = HOOKS, login: str = "alice") -> list[dict[str, Any]]:
    resp = grid.api(login, "GET", path)
    assert resp.status_code == 200, resp.text
    return list(resp.json())


def only_hook(grid, path: str = HOOKS, login: str = "alice") -> dict[str, Any]:
    got = hooks(grid, path, login)
    assert len(got) == 1, got
    return got[0]


def secret_sha(grid, hook_id: int) -> str | None:
    return grid.ctl("GET", "/hooks/secrets")[str(hook_id)]


def assert_nowhere(grid, texts: list[str], secrets: list[str]) -> None:
    blobs = {f"output {i}": t.encode() for i, t in enumerate(texts)}
    blobs.update(grid.files_written())
    for p in grid.dir.glob("*.json"):
        blobs[p.name] = p.read_bytes()
    assert any(k.startswith(".gridctl/journal") or "journal" in k for k in blobs), sorted(blobs)
    for s in secrets:
        for where, blob in blobs.items():
            assert s.encode() not in blob, f"the secret leaked into {where}"
            assert s.encode().hex().encode() not in blob, f"the secret (hex) leaked into {where}"


def test_create_converge_edit_one_field_rollback_destroy(grid):
    grid.user("alice")
    secret = canary("hook")
    grid.env["HOOK_SECRET"] = secret
    grid.write("grid.yaml", MANIFEST)
    outputs = []
    r = grid.check(2, "plan", "--detailed-exitcode", "--out", "plan.json")
    outputs.append(r.all)
    assert change_block(r.out, f"+ hook alice/demo {URL}") == [
        "active: true",
        'content_type: "json"',
        'events: ["pull_request", "push"]',
        "insecure_ssl: false",
        'secret: "(sensitive)"',
    ], r.out
    outputs.append(grid.check(0, "apply", "plan.json").all)
    hook = only_hook(grid)
    assert hook["config"] == {"url": URL, "content_type": "json", "insecure_ssl": "0", "secret": "********"}
    assert sorted(hook["events"]) == ["pull_request", "push"] and hook["active"] is True
    assert secret_sha(grid, hook["id"]) == sha(secret)
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())["resources"]
    entry = state[f"hook:alice/demo:{URL}"]
    assert entry["id"] == hook["id"] and entry["fingerprint"].startswith("hmac-sha256:")
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes" in r.out, r.out

    # one field edited: the plan shows exactly that field, and the secret is kept
    grid.write("grid.yaml", MANIFEST.replace("events: [push, pull_request]", "events: [push]"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    outputs.append(r.all)
    assert change_block(r.out, f"~ hook alice/demo {URL}") == ['events: ["pull_request", "push"] -> ["push"]'], r.out
    assert "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete." in r.out and "cannot be rolled back" not in r.out
    outputs.append(grid.check(0, "apply", "--auto-approve").all)
    hook = only_hook(grid)
    assert hook["events"] == ["push"] and secret_sha(grid, hook["id"]) == sha(secret)
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # rollback restores the previous value
    r = grid.check(0, "rollback", "--auto-approve")
    outputs.append(r.all)
    assert 'events: ["push"] -> ["pull_request", "push"]' in r.out, r.out
    hook = only_hook(grid)
    assert sorted(hook["events"]) == ["pull_request", "push"] and secret_sha(grid, hook["id"]) == sha(secret)
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())["resources"]
    assert state[f"hook:alice/demo:{URL}"]["fingerprint"] == entry["fingerprint"]  # still known: not rewritten
    grid.write("grid.yaml", MANIFEST)
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # destroy deletes the hook (and says it cannot be brought back)
    r = grid.check(0, "destroy", "--auto-approve")
    outputs.append(r.all)
    assert f"- hook alice/demo {URL}" in r.out and "cannot be rolled back" in r.out, r.out
    assert hooks(grid) == []
    assert_nowhere(grid, outputs, [secret])


def test_the_secret_is_written_only_when_needed_and_never_shown(grid):
    grid.user("alice")
    first, second = canary("first"), canary("second")
    grid.env["HOOK_SECRET"] = first
    grid.write("grid.yaml", MANIFEST)
    outputs = [grid.check(0, "apply", "--auto-approve").all]
    hook_id = only_hook(grid)["id"]

    # a config field: only that field; the secret stays as it was
    grid.write("grid.yaml", MANIFEST.replace("content_type: json", "content_type: form\n        insecure_ssl: true"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, f"~ hook alice/demo {URL}") == ['content_type: "json" -> "form"', "insecure_ssl: false -> true"], r.out
    grid.check(0, "apply", "--auto-approve")
    assert only_hook(grid)["config"] == {"url": URL, "content_type": "form", "insecure_ssl": "1", "secret": "********"}
    assert secret_sha(grid, hook_id) == sha(first)
    grid.write("grid.yaml", MANIFEST)
    grid.check(0, "apply", "--auto-approve")

    # a new value: planned as a sensitive change, which cannot be rolled back
    grid.env["HOOK_SECRET"] = second
    r = grid.check(2, "plan", "--detailed-exitcode", "--out", "plan2.json")
    outputs.append(r.all)
    assert f"~ hook alice/demo {URL}  (secret changed)" in r.out, r.out
    assert change_block(r.out, f"~ hook alice/demo {URL}") == ['secret: "(sensitive)" -> "(sensitive)"', "! cannot be rolled back"], r.out
    plan = json.loads((grid.dir / "plan2.json").read_text())
    (change,) = plan["changes"]
    assert change["reversible"] is False and change["after"]["fingerprint"].startswith("hmac-sha256:")
    r = grid.check(0, "apply", "plan2.json", env={"GRIDCTL_LOG": "debug"})  # one line per request, never a body
    assert f"PATCH /repos/alice/demo/hooks/{hook_id}/config 200" in r.err, r.err
    outputs.append(r.all)
    assert secret_sha(grid, hook_id) == sha(second)
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # removed on GitHub by hand: written again
    assert grid.api("alice", "PATCH", f"{HOOKS}/{hook_id}", {"config": {"url": URL, "content_type": "json"}}).status_code == 200
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "(secret not set on GitHub)" in r.out and 'secret: null -> "(sensitive)"' in r.out, r.out
    outputs.append(grid.check(0, "apply", "--auto-approve").all)
    assert secret_sha(grid, hook_id) == sha(second)

    # no longer declared: GitHub's is removed, the rest of the configuration kept
    grid.write("grid.yaml", MANIFEST.replace("        secret: {env: HOOK_SECRET}\n", ""))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, f"~ hook alice/demo {URL}") == ['secret: "(sensitive)" -> null', "! cannot be rolled back"], r.out
    outputs.append(grid.check(0, "apply", "--auto-approve").all)
    hook = only_hook(grid)
    assert hook["config"] == {"url": URL, "content_type": "json", "insecure_ssl": "0"} and secret_sha(grid, hook_id) is None
    assert hook["id"] == hook_id
    assert grid.run("plan", "--detailed-exitcode").code == 0
    outputs.append(grid.check(0, "state", "list").all)
    assert_nowhere(grid, outputs, [first, second])


def test_a_hook_gridctl_did_not_write_gets_its_secret_written_once(grid):
    grid.user("alice")
    secret = canary("adopt")
    grid.env["HOOK_SECRET"] = secret
    assert grid.api("alice", "POST", "/user/repos", {"name": "demo"}).status_code == 201
    body = {"name": "web", "events": ["pull_request", "push"], "config": {"url": URL, "content_type": "json", "secret": "old"}}
    assert grid.api("alice", "POST", HOOKS, body).status_code == 201
    grid.write("grid.yaml", MANIFEST)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert f"~ hook alice/demo {URL}  (secret not written by gridctl yet (value unknown))" in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    hook = only_hook(grid)
    assert secret_sha(grid, hook["id"]) == sha(secret)
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_prune_and_hooks_sharing_a_url(grid):
    grid.user("alice")
    grid.env["HOOK_SECRET"] = canary("prune")
    grid.write("grid.yaml", MANIFEST)
    grid.check(0, "apply", "--auto-approve")
    mine = only_hook(grid)["id"]
    # someone adds one at another URL, and one at the same URL for other events
    other = {"name": "web", "events": ["issues"], "config": {"url": "https://other.example.com/x"}}
    twin = {"name": "web", "events": ["release"], "config": {"url": URL}}
    assert grid.api("alice", "POST", HOOKS, other).status_code == 201
    twin_id = grid.api("alice", "POST", HOOKS, twin).json()["id"]
    assert grid.run("plan", "--detailed-exitcode").code == 0  # not declared, not managed: left alone
    grid.write("grid.yaml", MANIFEST.replace("    hooks:\n", "    prune: {hooks: true}\n    hooks:\n"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- hook alice/demo https://other.example.com/x  (not declared, and prune is on)" in r.out, r.out
    assert f"- hook alice/demo {URL} (hook {twin_id})  (not declared, and prune is on)" in r.out, r.out
    assert "Plan: 0 to create, 0 to update, 0 to replace, 2 to delete." in r.out
    grid.check(0, "apply", "--auto-approve")
    assert [h["id"] for h in hooks(grid)] == [mine]


def test_organization_hooks(grid):
    grid.user("alice", scopes=("repo", "admin:org", "admin:org_hook"))
    grid.org("acme", admins=("alice",))
    secret = canary("org")
    grid.env["ORG_HOOK_SECRET"] = secret
    text = grid_yaml("org_hooks:\n  acme:\n    https://audit.example.com/hook: {events: ['*'], secret: {env: ORG_HOOK_SECRET}}\n", ALICE, ACME)
    grid.write("grid.yaml", text)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ org-hook acme https://audit.example.com/hook" in r.out, r.out
    outputs = [r.all, grid.check(0, "apply", "--auto-approve").all]
    hook = only_hook(grid, ORG_HOOKS)
    assert hook["events"] == ["*"] and secret_sha(grid, hook["id"]) == sha(secret)
    assert grid.run("plan", "--detailed-exitcode").code == 0

    grid.write("grid.yaml", text.replace("{events: ['*'],", "{events: ['*'], active: false,"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ org-hook acme https://audit.example.com/hook") == ["active: true -> false"], r.out
    outputs.append(grid.check(0, "apply", "--auto-approve").all)
    assert only_hook(grid, ORG_HOOKS)["active"] is False
    outputs.append(grid.check(0, "rollback", "--auto-approve").all)
    assert only_hook(grid, ORG_HOOKS)["active"] is True and secret_sha(grid, hook["id"]) == sha(secret)
    outputs.append(grid.check(0, "destroy", "--auto-approve").all)
    assert hooks(grid, ORG_HOOKS) == []
    assert_nowhere(grid, outputs, [secret])


def test_tokens_that_may_not_manage_hooks_are_refused_at_plan_time(grid):
    grid.user("alice")  # no admin:org_hook
    grid.org("acme", admins=("alice",))
    grid.env["ORG_HOOK_SECRET"] = canary("scope")
    grid.write("grid.yaml", grid_yaml("org_hooks:\n  acme:\n    https://audit.example.com/hook: {secret: {env: ORG_HOOK_SECRET}}\n", ALICE, ACME))
    r = grid.run("plan")
    assert r.code == 1 and "token lacks scope admin:org_hook, needed by org_hooks.acme" in r.err, r.all
    grid.user("alice", scopes=("public_repo",))
    grid.env["HOOK_SECRET"] = canary("scope")
    grid.write("grid.yaml", MANIFEST.replace("alice/demo:\n", "alice/demo:\n    visibility: public\n"))
    r = grid.run("plan")
    assert r.code == 1 and "token lacks scope admin:repo_hook, needed by repos.alice/demo.hooks" in r.err, r.all
    assert "Traceback" not in r.all


def test_bad_manifests_are_refused_at_their_line(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST.replace(URL, "https://bot:hunter2@ci.example.com/github"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:7:7: error: a payload URL may not hold credentials" in r.err, r.err
    grid.write("grid.yaml", MANIFEST.replace("secret: {env: HOOK_SECRET}", "secret: hunter2"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:10:17: error:" in r.err and "hunter2" not in r.err, r.err
    grid.write("grid.yaml", MANIFEST.replace("content_type: json", "content_type: xml"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:9:23: error:" in r.err, r.err
    grid.write("grid.yaml", MANIFEST.replace(URL, "ftp://ci.example.com/github"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:7:7: error:" in r.err, r.err
    # an unavailable secret source: at its line, before any API call
    grid.write("grid.yaml", MANIFEST)
    r = grid.run("plan")
    assert r.code == 1 and "grid.yaml:10:17: error: secret source unavailable: env HOOK_SECRET is not set" in r.err, r.err
    assert "Traceback" not in r.all


def test_a_create_whose_answer_was_lost_is_not_sent_twice(grid):
    """GitHub created the hook but the answer was lost (a 502 after the write): apply finds the
    hook by its URL instead of creating a second one."""
    grid.user("alice")
    grid.env["HOOK_SECRET"] = canary("lost")
    grid.write("grid.yaml", MANIFEST)
    grid.ctl("PUT", "/faults", {"specs": ["nth=1,op=repos/create-webhook,status=502,after=1"]})
    grid.sb.app.stats.reset()
    grid.check(0, "apply", "--auto-approve")
    grid.ctl("PUT", "/faults", {"specs": []})
    creates = grid.sb.app.stats.as_dict()["by_endpoint"]["repos/create-webhook"]
    assert creates["requests"] == 1 and creates.get("status_502") == 1, creates
    hook = only_hook(grid)
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())["resources"]
    assert state[f"hook:alice/demo:{URL}"]["id"] == hook["id"]
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_a_converged_plan_reads_each_collection_once_and_writes_nothing(grid, capsys):
    grid.user("alice")
    grid.env["HOOK_SECRET"] = canary("reads")
    text = MANIFEST + (
        "      https://deploy.example.com/hook: {events: [deployment], active: false}\n"
        "    autolinks: {TICKET-: 'https://t.example.com/<num>', JIRA-: 'https://j.example.com/<num>'}\n"
        "    security: {vulnerability_alerts: true, automated_security_fixes: true}\n"
    )
    grid.write("grid.yaml", text)
    grid.check(0, "apply", "--auto-approve")
    grid.sb.app.stats.reset()
    assert grid.run("plan", "--detailed-exitcode").code == 0
    ops = grid.sb.app.stats.as_dict()["by_endpoint"]
    mine = {op: c["requests"] for op, c in ops.items() if "webhook" in op or "autolink" in op or "vulnerab" in op or "security-fixes" in op}
    assert mine == {"repos/list-webhooks": 1, "repos/list-autolinks": 1, "repos/check-vulnerability-alerts": 1,
                    "repos/check-automated-security-fixes": 1}, ops
    writes = {op: c for op, c in ops.items() if op.split("/")[1].split("-")[0] in ("create", "update", "delete", "enable", "disable", "set")}
    assert writes == {}, writes
    with capsys.disabled():
        total = sum(c["requests"] for c in ops.values())
        print(f"\nconverged plan, 1 repository with 2 hooks, 2 autolinks, security: {total} requests, {mine}")


def test_a_url_stays_whole_when_an_address_is_described():
    from gridctl.util.text import address_parts

    assert address_parts("hook:alice/demo:https://h.example:8443/x?a=b") == ["hook", "alice/demo", "https://h.example:8443/x?a=b"]
    assert address_parts("org-hook:acme:http://127.0.0.1:9/x (hook 5)") == ["org-hook", "acme", "http://127.0.0.1:9/x (hook 5)"]
    assert address_parts("secret:alice/demo:actions:API_KEY") == ["secret", "alice/demo", "actions", "API_KEY"]
