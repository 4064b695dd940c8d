"""End to end: ``gridctl import`` writes the kinds that import through their own
``Kind.declare`` (branch protection, rulesets, labels, webhooks, Actions permissions, autolinks,
security settings), each made on the sandbox with raw API calls (not by gridctl), and the
imported manifest then plans with no changes (a webhook's secret, which GitHub never returns,
aside)."""

from __future__ import annotations

import json
import stat
import uuid
from typing import Any

from gridctl.importer import PLACEHOLDER_PREFIX
from gridctl.manifest.yamlpos import load_yaml


def ok(resp: Any, *codes: int) -> Any:
    assert resp.status_code in (codes or (200, 201, 204)), f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp


def imported(grid, *args: str) -> tuple[dict[str, Any], Any]:
    """Import alice (or the account in ``args``) to ``imported/grid.yaml``: its data and the run."""
    r = grid.run("import", *(args or ("--account", "alice")), "-o", "imported/grid.yaml")
    assert r.code == 0, r.all
    data, _ = load_yaml(grid.dir / "imported" / "grid.yaml")
    return data, r


def plans_clean(grid) -> None:
    r = grid.run("plan", "-f", "imported/grid.yaml", "--detailed-exitcode")
    assert r.code == 0, r.all


def test_branch_protection_is_imported(grid):
    grid.user("alice")
    api = lambda *a: grid.api("alice", *a)  # noqa: E731
    ok(api("POST", "/user/repos", {"name": "demo", "auto_init": True}), 201)
    ok(api("POST", "/repos/alice/demo/git/refs", {"ref": "refs/heads/release", "sha": api("GET", "/repos/alice/demo/git/ref/heads/main").json()["object"]["sha"]}), 201)
    ok(api("PUT", "/repos/alice/demo/branches/main/protection", {
        "required_status_checks": {"strict": True, "contexts": ["ci/test", "ci/lint"]},
        "enforce_admins": True,
        "required_pull_request_reviews": {"required_approving_review_count": 2, "dismiss_stale_reviews": True},
        "restrictions": None,
        "required_linear_history": True,
        "required_conversation_resolution": True,
    }))
    ok(api("POST", "/repos/alice/demo/branches/main/protection/required_signatures"))
    ok(api("PUT", "/repos/alice/demo/branches/release/protection", {
        "required_status_checks": None, "enforce_admins": False, "required_pull_request_reviews": None, "restrictions": None,
        "allow_deletions": True,
    }))
    data, _ = imported(grid)
    assert data["repos"]["alice/demo"]["branch_protection"] == {
        "main": {
            "conversation_resolution": True, "enforce_admins": True, "linear_history": True, "signed_commits": True,
            "reviews": {"approvals": 2, "dismiss_stale": True},
            "status_checks": {"strict": True, "contexts": ["ci/lint", "ci/test"]},
        },
        "release": {"allow_deletions": True},
    }
    plans_clean(grid)


def test_rulesets_are_imported(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    api = lambda *a: grid.api("alice", *a)  # noqa: E731
    ok(api("POST", "/orgs/acme/repos", {"name": "svc", "auto_init": True}), 201)
    ok(api("POST", "/repos/acme/svc/rulesets", {
        "name": "protect-main", "target": "branch", "enforcement": "active",
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": ["refs/heads/tmp/*"]}},
        "bypass_actors": [{"actor_type": "RepositoryRole", "actor_id": 5, "bypass_mode": "always"},
                          {"actor_type": "OrganizationAdmin", "actor_id": 1, "bypass_mode": "pull_request"}],
        "rules": [
            {"type": "deletion"}, {"type": "non_fast_forward"},
            {"type": "pull_request", "parameters": {
                "required_approving_review_count": 2, "dismiss_stale_reviews_on_push": True, "require_code_owner_review": False,
                "require_last_push_approval": True, "required_review_thread_resolution": False, "allowed_merge_methods": ["squash"]}},
            {"type": "required_status_checks", "parameters": {
                "strict_required_status_checks_policy": True, "required_status_checks": [{"context": "ci/test"}]}},
        ],
    }), 201)
    ok(api("POST", "/repos/acme/svc/rulesets", {
        "name": "tags", "target": "tag", "enforcement": "evaluate",
        "conditions": {"ref_name": {"include": ["~ALL"], "exclude": []}}, "rules": [{"type": "update"}],
    }), 201)
    ok(api("POST", "/orgs/acme/rulesets", {
        "name": "every-default-branch", "target": "branch", "enforcement": "evaluate",
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []},
                       "repository_name": {"include": ["~ALL"], "exclude": ["sandbox-*"]}},
        "bypass_actors": [{"actor_type": "OrganizationAdmin", "actor_id": 1, "bypass_mode": "always"}],
        "rules": [{"type": "deletion"}, {"type": "required_signatures"}],
    }), 201)
    grid.env["GRID_TOKEN_ACME"] = grid.tokens["alice"]
    data, _ = imported(grid, "--account", "acme")
    assert data["repos"]["acme/svc"]["rulesets"] == {
        "protect-main": {
            "enforcement": "active", "include": ["~DEFAULT_BRANCH"], "exclude": ["refs/heads/tmp/*"],
            "bypass": [{"org_admin": True, "mode": "pull_request"}, {"role": "admin"}],
            "rules": {"deletion": True, "non_fast_forward": True,
                      "pull_request": {"approvals": 2, "dismiss_stale": True, "last_push_approval": True, "merge_methods": ["squash"]},
                      "status_checks": {"contexts": ["ci/test"], "strict": True}},
        },
        "tags": {"target": "tag", "enforcement": "evaluate", "include": ["~ALL"], "rules": {"update": True}},
    }
    assert data["org_rulesets"] == {"acme": {"every-default-branch": {
        "enforcement": "evaluate", "include": ["~DEFAULT_BRANCH"], "repos": {"include": ["~ALL"], "exclude": ["sandbox-*"]},
        "bypass": [{"org_admin": True}], "rules": {"deletion": True, "signed_commits": True},
    }}}
    plans_clean(grid)


def test_labels_are_imported_except_githubs_untouched_defaults(grid):
    from gridctl.resources.label import GITHUB_DEFAULT_LABELS
    from gridctl.sandbox.api.issues import DEFAULT_LABELS

    assert {n: (c, d) for n, c, d in DEFAULT_LABELS} == GITHUB_DEFAULT_LABELS
    grid.user("alice")
    api = lambda *a: grid.api("alice", *a)  # noqa: E731
    for name in ("demo", "plain"):
        ok(api("POST", "/user/repos", {"name": name}), 201)
    ok(api("POST", "/repos/alice/demo/labels", {"name": "triage", "color": "FBCA04"}), 201)
    ok(api("POST", "/repos/alice/demo/labels", {"name": "Needs: review", "color": "00ff00", "description": 'Say "yes" #1'}), 201)
    ok(api("PATCH", "/repos/alice/demo/labels/bug", {"color": "ff0000"}))
    ok(api("DELETE", "/repos/alice/demo/labels/wontfix"))
    ok(api("GET", "/repos/alice/plain/labels"))
    data, _ = imported(grid)
    assert data["repos"]["alice/demo"]["labels"] == {
        "bug": {"color": "ff0000", "description": "Something isn't working"},
        "Needs: review": {"color": "00ff00", "description": 'Say "yes" #1'},
        "triage": "fbca04",
    }
    assert "labels" not in data["repos"]["alice/plain"]
    plans_clean(grid)


def test_webhooks_are_imported_with_placeholder_secrets(grid):
    grid.user("alice", scopes=("repo", "admin:org", "admin:org_hook"))
    grid.org("acme", admins=("alice",))
    api = lambda *a: grid.api("alice", *a)  # noqa: E731
    ok(api("POST", "/orgs/acme/repos", {"name": "svc"}), 201)
    secret = f"CANARY-{uuid.uuid4().hex}"
    ok(api("POST", "/repos/acme/svc/hooks", {"name": "web", "events": ["push", "pull_request"], "active": True,
                                             "config": {"url": "https://ci.example.com/hook", "content_type": "json", "secret": secret}}), 201)
    ok(api("POST", "/repos/acme/svc/hooks", {"name": "web", "events": ["push"], "active": False,
                                             "config": {"url": "https://plain.example.com/x", "insecure_ssl": "1"}}), 201)
    ok(api("POST", "/repos/acme/svc/hooks", {"name": "web", "events": ["issues"], "config": {"url": "https://ci.example.com/hook"}}), 201)
    ok(api("POST", "/orgs/acme/hooks", {"name": "web", "events": ["*"], "config": {"url": "https://audit.example.com/all"}}), 201)
    grid.env["GRID_TOKEN_ACME"] = grid.tokens["alice"]
    data, r = imported(grid, "--account", "acme")
    hooks = data["repos"]["acme/svc"]["hooks"]
    rel = hooks["https://ci.example.com/hook"]["secret"]["file"]
    assert hooks == {
        "https://ci.example.com/hook": {"content_type": "json", "events": ["pull_request", "push"], "secret": {"file": rel}},
        "https://plain.example.com/x": {"active": False, "insecure_ssl": True},
    }
    assert data["org_hooks"] == {"acme": {"https://audit.example.com/all": {"events": ["*"]}}}
    assert "shares its payload URL with an older hook" in r.err and rel in r.err
    placeholder = grid.dir / "imported" / rel
    assert stat.S_IMODE(placeholder.stat().st_mode) == 0o600 and placeholder.read_text().startswith(PLACEHOLDER_PREFIX)
    assert secret not in r.all and all(secret.encode() not in p.read_bytes() for p in (grid.dir / "imported").rglob("*") if p.is_file())

    # the plan: only the secret gridctl has not written (its value is unknown); apply refuses the placeholder
    plan = json.loads(grid.check(0, "plan", "-f", "imported/grid.yaml", "--format", "json").out)
    assert [(c["address"], c["action"], [d["field"] for d in c["diffs"]]) for c in plan["changes"]] == [
        ("hook:acme/svc:https://ci.example.com/hook", "update", ["secret"])], plan["changes"]
    assert "not written by gridctl yet" in plan["changes"][0]["reason"]
    r = grid.run("apply", "-f", "imported/grid.yaml", "--auto-approve")
    assert r.code == 1 and "still holds the placeholder written by gridctl import" in r.err, r.all
    placeholder.write_text(secret + "\n")
    grid.check(0, "apply", "-f", "imported/grid.yaml", "--auto-approve")
    plans_clean(grid)


def test_actions_permissions_are_imported(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    api = lambda *a: grid.api("alice", *a)  # noqa: E731
    svc = ok(api("POST", "/orgs/acme/repos", {"name": "svc"}), 201).json()["id"]
    ok(api("POST", "/orgs/acme/repos", {"name": "web"}), 201)
    ok(api("PUT", "/orgs/acme/actions/permissions", {"enabled_repositories": "selected", "allowed_actions": "selected"}))
    ok(api("PUT", "/orgs/acme/actions/permissions/repositories", {"selected_repository_ids": [svc]}))
    ok(api("PUT", "/orgs/acme/actions/permissions/selected-actions", {"github_owned_allowed": True, "verified_allowed": True, "patterns_allowed": ["octo-org/*@v2"]}))
    ok(api("PUT", "/repos/acme/svc/actions/permissions", {"enabled": True, "allowed_actions": "local_only"}))
    ok(api("PUT", "/repos/acme/svc/actions/permissions/workflow", {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": False}))
    grid.env["GRID_TOKEN_ACME"] = grid.tokens["alice"]
    data, _ = imported(grid, "--account", "acme")
    assert data["org_actions"] == {"acme": {
        "allowed_actions": "selected", "enabled_repositories": "selected", "repos": ["acme/svc"],
        "selected": {"github_owned": True, "verified": True, "patterns": ["octo-org/*@v2"]},
    }}
    assert data["repos"]["acme/svc"]["actions"] == {"allowed_actions": "local_only"}
    # a repository the organization keeps from Actions reports it so (and the organization's policy)
    assert data["repos"]["acme/web"]["actions"]["enabled"] is False
    plans_clean(grid)


def test_autolinks_and_security_settings_are_imported(grid):
    grid.user("alice")
    api = lambda *a: grid.api("alice", *a)  # noqa: E731
    for name in ("demo", "plain"):
        ok(api("POST", "/user/repos", {"name": name}), 201)
    ok(api("POST", "/repos/alice/demo/autolinks", {"key_prefix": "TICKET-", "url_template": "https://t.example.com/TICKET-<num>"}), 201)
    ok(api("POST", "/repos/alice/demo/autolinks", {"key_prefix": "JIRA-", "url_template": "https://jira.example.com/browse/JIRA-<num>", "is_alphanumeric": False}), 201)
    ok(api("PUT", "/repos/alice/demo/vulnerability-alerts"))
    for endpoint in ("vulnerability-alerts", "automated-security-fixes"):
        ok(api("DELETE", f"/repos/alice/plain/{endpoint}"))
    data, _ = imported(grid)
    demo = data["repos"]["alice/demo"]
    assert demo["autolinks"] == {
        "JIRA-": {"url_template": "https://jira.example.com/browse/JIRA-<num>", "is_alphanumeric": False},
        "TICKET-": "https://t.example.com/TICKET-<num>",
    }
    assert demo["security"]["vulnerability_alerts"] is True
    assert "security" not in data["repos"]["alice/plain"] and "autolinks" not in data["repos"]["alice/plain"]
    plans_clean(grid)


def test_every_importable_kind_declares_and_writes_its_first_section():
    from gridctl.importer import importable_kinds
    from gridctl.resources import KINDS
    from gridctl.resources.base import Kind

    importable = {k.name for k in KINDS.values() if k.importable}
    assert importable == {"label", "actions-permissions", "org-actions-permissions", "hook", "org-hook", "autolink", "security",
                          "branch-protection", "ruleset", "org-ruleset"}
    for name in importable:
        assert type(KINDS[name]).declare is not Kind.declare, name
    assert [k.sections[0].key for k in importable_kinds("top")] == ["org_actions", "org_hooks", "org_rulesets"]
