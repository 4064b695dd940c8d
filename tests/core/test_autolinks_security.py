"""Kinds ``autolink`` and ``security`` end to end against the strict sandbox: plan (create) ->
apply -> no changes -> one field edited and planned alone -> apply -> rollback -> destroy; prune,
drift, bad manifests at their line, tokens that may not read the settings. What the sandbox holds
is read back with raw requests, independently of gridctl."""

from __future__ import annotations

from typing import Any

from ..helpers import HELPER_BOB, change_block, grid_yaml

LINKS = "/repos/alice/demo/autolinks"
VULN = "/repos/alice/demo/vulnerability-alerts"
FIXES = "/repos/alice/demo/automated-security-fixes"

AUTOLINKS = grid_yaml("""\
repos:
  alice/demo:
    autolinks:
      TICKET-: https://tickets.example.com/TICKET-<num>
      JIRA-: {url_template: "https://jira.example.com/browse/JIRA-<num>", is_alphanumeric: false}
""")

SECURITY = grid_yaml("""\
repos:
  alice/demo:
    security:
      vulnerability_alerts: true
      automated_security_fixes: true
""")


def links(grid) -> dict[str, dict[str, Any]]:
    resp = grid.api("alice", "GET", LINKS)
    assert resp.status_code == 200, resp.text
    return {a["key_prefix"]: a for a in resp.json()}


def security(grid) -> dict[str, bool]:
    return {"alerts": grid.api("alice", "GET", VULN).status_code == 204, "fixes": grid.api("alice", "GET", FIXES).status_code == 200}


# -- autolinks ----------------------------------------------------------------------------------------
def test_autolinks_create_converge_edit_one_field_rollback_destroy(grid):
    grid.user("alice")
    grid.write("grid.yaml", AUTOLINKS)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "+ autolink alice/demo JIRA-") == [
        "is_alphanumeric: false", 'url_template: "https://jira.example.com/browse/JIRA-<num>"',
    ], r.out
    assert "+ autolink alice/demo TICKET-" in r.out
    grid.check(0, "apply", "--auto-approve")
    got = links(grid)
    assert {k: (v["url_template"], v["is_alphanumeric"]) for k, v in got.items()} == {
        "TICKET-": ("https://tickets.example.com/TICKET-<num>", True),
        "JIRA-": ("https://jira.example.com/browse/JIRA-<num>", False),
    }
    assert grid.check(0, "plan", "--detailed-exitcode").out.startswith("No changes")

    # one field: GitHub cannot edit an autolink, so it is replaced, and only that field is shown
    grid.write("grid.yaml", AUTOLINKS.replace("is_alphanumeric: false", "is_alphanumeric: true"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "-/+ autolink alice/demo JIRA-") == ["is_alphanumeric: false -> true"], r.out
    assert "Plan: 0 to create, 0 to update, 1 to replace, 0 to delete." in r.out
    grid.check(0, "apply", "--auto-approve")
    assert links(grid)["JIRA-"]["is_alphanumeric"] is True
    assert grid.run("plan", "--detailed-exitcode").code == 0
    ticket_id = links(grid)["TICKET-"]["id"]

    r = grid.check(0, "rollback", "--auto-approve")
    assert "is_alphanumeric: true -> false" in r.out, r.out
    assert links(grid)["JIRA-"]["is_alphanumeric"] is False and links(grid)["TICKET-"]["id"] == ticket_id

    r = grid.check(0, "destroy", "--auto-approve")
    assert "- autolink alice/demo JIRA-" in r.out and "- autolink alice/demo TICKET-" in r.out, r.out
    assert links(grid) == {}


def test_autolinks_prune_and_a_removed_declaration(grid):
    grid.user("alice")
    grid.write("grid.yaml", AUTOLINKS)
    grid.check(0, "apply", "--auto-approve")
    body = {"key_prefix": "OTHER-", "url_template": "https://other.example.com/<num>"}
    assert grid.api("alice", "POST", LINKS, body).status_code == 201
    assert grid.run("plan", "--detailed-exitcode").code == 0  # not declared, not managed
    # a managed one removed from the manifest is deleted; a rollback brings it back
    grid.write("grid.yaml", AUTOLINKS.replace('      JIRA-: {url_template: "https://jira.example.com/browse/JIRA-<num>", is_alphanumeric: false}\n', ""))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- autolink alice/demo JIRA-  (no longer declared)" in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    assert sorted(links(grid)) == ["OTHER-", "TICKET-"]
    grid.check(0, "rollback", "--auto-approve")
    assert links(grid)["JIRA-"]["is_alphanumeric"] is False
    grid.write("grid.yaml", AUTOLINKS.replace("    autolinks:\n", "    prune: {autolinks: true}\n    autolinks:\n"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- autolink alice/demo OTHER-  (not declared, and prune is on)" in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    assert sorted(links(grid)) == ["JIRA-", "TICKET-"]


def test_autolink_bad_manifests_are_refused_at_their_line(grid):
    grid.user("alice")
    grid.write("grid.yaml", AUTOLINKS.replace("TICKET-<num>", "TICKET-"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:7:16: error:" in r.err, r.err
    grid.write("grid.yaml", AUTOLINKS.replace("JIRA-:", "ticket-:"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:8:7: error: autolink ticket- is declared twice" in r.err, r.err
    assert "Traceback" not in r.all


# -- security settings ----------------------------------------------------------------------------------
def test_security_create_converge_edit_one_field_rollback_destroy(grid):
    grid.user("alice")
    grid.write("grid.yaml", SECURITY)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "+ security alice/demo") == ["automated_security_fixes: true", "vulnerability_alerts: true"], r.out
    grid.check(0, "apply", "--auto-approve")
    assert security(grid) == {"alerts": True, "fixes": True}
    assert grid.run("plan", "--detailed-exitcode").code == 0

    grid.write("grid.yaml", SECURITY.replace("automated_security_fixes: true", "automated_security_fixes: false"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ security alice/demo") == ["automated_security_fixes: true -> false"], r.out
    grid.check(0, "apply", "--auto-approve")
    assert security(grid) == {"alerts": True, "fixes": False}
    assert grid.run("plan", "--detailed-exitcode").code == 0

    r = grid.check(0, "rollback", "--auto-approve")
    assert "automated_security_fixes: false -> true" in r.out, r.out
    assert security(grid) == {"alerts": True, "fixes": True}

    # destroy stops managing them and leaves them as they are (GitHub has no default to restore)
    grid.write("grid.yaml", SECURITY)
    r = grid.check(0, "destroy", "--auto-approve")
    assert "- security alice/demo" in r.out and "leaves them as they are" in r.out, r.out


def test_security_drift_and_order_of_writes(grid):
    grid.user("alice")
    assert grid.api("alice", "POST", "/user/repos", {"name": "demo"}).status_code == 201
    grid.write("grid.yaml", SECURITY)
    grid.check(0, "apply", "--auto-approve")
    # turned off by hand (alerts off takes security updates along): both planned back, alerts first
    assert grid.api("alice", "DELETE", VULN).status_code == 204
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ security alice/demo") == ["automated_security_fixes: false -> true", "vulnerability_alerts: false -> true"], r.out
    grid.check(0, "apply", "--auto-approve")
    assert security(grid) == {"alerts": True, "fixes": True}
    # both off: security updates first, then alerts
    grid.write("grid.yaml", SECURITY.replace("true", "false"))
    grid.check(0, "apply", "--auto-approve")
    assert security(grid) == {"alerts": False, "fixes": False}
    # only the declared field is managed
    grid.write("grid.yaml", grid_yaml("repos:\n  alice/demo:\n    security: {vulnerability_alerts: true}\n"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ security alice/demo") == ["vulnerability_alerts: false -> true"], r.out


def test_security_bad_manifest_and_a_token_without_admin(grid):
    grid.user("alice")
    grid.write("grid.yaml", SECURITY.replace("vulnerability_alerts: true", "vulnerability_alerts: false"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:8:7: error: automated_security_fixes needs vulnerability_alerts" in r.err, r.err
    grid.user("bob")
    assert grid.api("alice", "POST", "/user/repos", {"name": "demo"}).status_code == 201
    assert grid.api("alice", "PUT", "/repos/alice/demo/collaborators/bob", {"permission": "push"}).status_code in (201, 204)
    invitations = grid.api("bob", "GET", "/user/repository_invitations").json()
    for inv in invitations:
        assert grid.api("bob", "PATCH", f"/user/repository_invitations/{inv['id']}").status_code == 204
    grid.write("grid.yaml", grid_yaml("repos:\n  alice/demo:\n    account: helper\n    security: {vulnerability_alerts: true}\n", HELPER_BOB))
    r = grid.run("plan")
    assert r.code == 1 and "cannot read the security settings of alice/demo: the token needs admin rights on it" in r.err, r.all
    assert "Traceback" not in r.all
