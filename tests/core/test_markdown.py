"""The Markdown plan (PR comments, job summaries): built from Plan objects directly.

Size (always under GitHub's 65,536 characters, cut by whole repositories with a pointer to the
JSON plan, tables that stay correct), determinism, structure that hostile values cannot break,
and secrets that never show.
"""

from __future__ import annotations

import random
import re

import pytest

from gridctl.errors import Diagnostic
from gridctl.plan import Action, Change, FieldDiff, Note, Plan
from gridctl.review.markdown import LIMIT, render_markdown
from gridctl.review.pr import comment_body, parse_marker

ORDER = {"repo": 0, "topics": 5, "variable": 20, "secret": 30, "collaborator": 10}


def change(kind: str, repo: str, key: str, action: Action = Action.CREATE, *, account: str = "main", **kw) -> Change:
    scope = {"kind": kind, "account": account, "name": repo, "repo": repo if "/" in repo else None, "extra": []}
    address = f"repo:{repo}" if kind == "repo" else f"{kind}:{repo}:{key}"
    if action == Action.CREATE:
        kw.setdefault("after", {"value": f"value-{key}"})
    if action == Action.DELETE:
        kw.setdefault("before", {"value": f"old-{key}"})
    return Change(
        address=address,
        kind=kind,
        action=action,
        account=account,
        scope=repo,
        order=ORDER.get(kind, 50),
        meta={"_scope": scope, "key": key},
        **kw,
    )


def big_plan(repos: int = 100, per_repo: int = 20, accounts: int = 1) -> Plan:
    changes = []
    for i in range(repos):
        acc = f"acc{i % accounts}"
        repo = f"{acc}/r{i:03d}"
        changes.append(
            change("repo", repo, repo, account=acc, after={"visibility": "private", "description": f"Repository {i}"})
        )
        for j in range(per_repo):
            changes.append(change("variable", repo, f"V{j:02d}", account=acc))
    return Plan(
        changes=changes,
        accounts={f"acc{a}": f"login{a}" for a in range(accounts)},
        manifest_file="grid.yaml",
        manifest_sha256="0" * 64,
    )


def table_rows(text: str, title: str) -> dict[str, list[int]]:
    """``| name | c | u | r | d | total |`` rows of the table headed by ``title``."""
    out: dict[str, list[int]] = {}
    lines = text.splitlines()
    start = lines.index(f"| {title} | Create | Update | Replace | Delete | Total |")
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if cells[1].isdigit():
            out[cells[0]] = [int(c) for c in cells[1:]]
    return out


def assert_well_formed(text: str) -> None:
    """Every code block closed by its own fence; outside code, <details> blocks balanced and
    never nested (what is inside a code block is literal text)."""
    fence = None
    depth = 0
    for line in text.splitlines():
        if fence is None:
            m = re.fullmatch(r"(`{3,})diff", line)
            if m:
                fence = m.group(1)
                assert depth == 1  # code only inside a repository's block
                continue
            if line == "<details>":
                depth += 1
                assert depth == 1
            elif line == "</details>":
                depth -= 1
                assert depth == 0
            else:
                assert "<details>" not in line and "</details>" not in line
        elif line == fence:
            fence = None
    assert fence is None and depth == 0
    assert text.endswith("\n")


# -- size ---------------------------------------------------------------------------------------------


def test_two_thousand_changes_fit_with_a_correct_summary():
    plan = big_plan(100, 20)
    assert len(plan.changes) == 2100
    text = render_markdown(plan, full_plan="`plan.json`, artifact gridctl-plan")
    assert len(text) < LIMIT
    assert_well_formed(text)
    assert table_rows(text, "Kind") == {
        "`repo`": [100, 0, 0, 0, 100],
        "`variable`": [2000, 0, 0, 0, 2000],
        "Total": [2100, 0, 0, 0, 2100],
    }
    assert table_rows(text, "Account") == {"`acc0` (login0)": [2100, 0, 0, 0, 2100], "Total": [2100, 0, 0, 0, 2100]}
    # the cut is announced at the top and the bottom, with the numbers shown and the pointer
    notices = re.findall(
        r"it shows (\d+) of 100 repositories/scopes \((\d+) of 2100 changes\).*`plan\.json`, artifact gridctl-plan",
        text,
    )
    assert len(notices) == 2 and notices[0] == notices[1]
    shown_repos, shown_changes = map(int, notices[0])
    assert 10 < shown_repos < 100 and shown_changes == shown_repos * 21
    # whole repositories, the first ones in order; each one exactly as in the uncut rendering
    full = render_markdown(plan, limit=10**9)
    assert "cut" not in full
    blocks = re.findall(r"<details>.*?</details>", text, flags=re.S)
    assert len(blocks) == shown_repos
    for i, block in enumerate(blocks):
        assert f"<code>acc0/r{i:03d}</code>" in block and block in full
    assert "acc0/r099" not in text.split("#### Changes by repository")[1]


@pytest.mark.parametrize("limit", [3000, 8000, 20000, 40000])
def test_any_budget_is_respected(limit):
    text = render_markdown(big_plan(30, 10, accounts=3), limit=limit)
    assert len(text) <= limit
    assert_well_formed(text)
    assert table_rows(text, "Kind")["Total"] == [330, 0, 0, 0, 330]


def test_one_huge_repository_shows_its_first_changes():
    plan = Plan(changes=[change("variable", "main/big", f"V{j:04d}") for j in range(5000)], accounts={"main": "alice"})
    text = render_markdown(plan)
    assert len(text) < LIMIT
    assert_well_formed(text)
    m = re.search(r"<b>showing (\d+) of 5000</b>", text)
    assert m and 100 < int(m.group(1)) < 5000
    shown = int(m.group(1))
    assert f"variable main/big V{shown - 1:04d}" in text and f"V{shown:04d}" not in text
    assert table_rows(text, "Kind")["Total"] == [5000, 0, 0, 0, 5000]


def test_long_head_sections_are_bounded():
    changes = []
    for a in range(400):  # a fleet: 400 accounts, each with an irreversible secret change
        changes.append(
            change(
                "secret",
                f"acct{a:03d}/repo",
                "actions:TOKEN",
                Action.UPDATE,
                account=f"acct{a:03d}",
                sensitive=True,
                reversible=False,
                before={"visibility": "all"},
                after={"visibility": "all", "fingerprint": "hmac-sha256:ab"},
                diffs=(FieldDiff("value", "(sensitive)", "(sensitive)"),),
            )
        )
    plan = Plan(
        changes=changes,
        notes=[Note(f"collaborator:acct{a:03d}/repo:bob", "invitation pending " + "x" * 100) for a in range(400)],
        unsafe=[f"repo:acct{a:03d}/repo: makes a private repository public" for a in range(400)],
    )
    diags = [Diagnostic("warning", f"warning {i} " + "y" * 80, file="grid.yaml", line=i + 1, col=3) for i in range(300)]
    text = render_markdown(plan, diagnostics=diags)
    assert len(text) < LIMIT
    assert_well_formed(text)
    assert table_rows(text, "Account")["Total"] == [0, 400, 0, 0, 400]
    assert re.search(r"\| \.\.\. \d+ more accounts \|", text)
    for what in ("reason(s)", "change(s)", "note(s)", "diagnostic(s)"):
        assert re.search(rf"- \.\.\. and \d+ more {re.escape(what)} \(see the JSON plan\)", text), what
    assert "#### Changes by repository" in text and "<details>" in text


def test_a_comment_body_with_its_marker_stays_under_the_limit():
    plan = big_plan(100, 20)
    body = comment_body(plan, key="infra/grid.yaml")
    assert len(body) < LIMIT
    assert parse_marker(body) == ("infra/grid.yaml", "changes")


# -- order and content ------------------------------------------------------------------------------


def test_deterministic_whatever_the_order_changes_were_built_in():
    plan = big_plan(12, 5, accounts=2)
    shuffled = list(plan.changes)
    random.Random(7).shuffle(shuffled)
    other = Plan(changes=shuffled, accounts=plan.accounts, manifest_file="grid.yaml", manifest_sha256="0" * 64)
    assert render_markdown(plan) == render_markdown(other)
    names = re.findall(r"<summary><code>([^<]+)</code>", render_markdown(plan))
    assert names == sorted(names)


def sample_plan() -> Plan:
    return Plan(
        changes=[
            change(
                "repo",
                "alice/demo",
                "alice/demo",
                Action.UPDATE,
                before={"visibility": "private"},
                after={"visibility": "public"},
                diffs=(FieldDiff("visibility", "private", "public"),),
                reason="differs from the manifest",
            ),
            change("variable", "alice/demo", "REGION", Action.DELETE, reason="no longer declared"),
            change(
                "secret",
                "alice/demo",
                "actions:NEW",
                Action.CREATE,
                sensitive=True,
                reversible=True,
                after={"fingerprint": "hmac-sha256:" + "c" * 64},
            ),
            change(
                "secret",
                "alice/demo",
                "actions:API",
                Action.UPDATE,
                sensitive=True,
                reversible=False,
                before={},
                after={"fingerprint": "hmac-sha256:" + "d" * 64},
                reason="sensitive value changed",
                diffs=(
                    FieldDiff("value", "(sensitive)", "(sensitive)"),
                    FieldDiff("fingerprint", "hmac-sha256:1", "hmac-sha256:2"),
                ),
            ),
            change("variable", "bob/tools", "X", account="bob"),
        ],
        notes=[Note("collaborator:alice/demo:carol", "invitation pending since 2024-01-01; @carol has not accepted")],
        unsafe=["repo:alice/demo: makes a private repository public"],
        accounts={"main": "alice", "bob": "bob"},
        manifest_file="grid.yaml",
        manifest_sha256="1" * 64,
    )


def test_small_plan_shows_everything_a_reviewer_needs():
    plan = sample_plan()
    diags = [Diagnostic("warning", "key pool: 1 value(s) do not fit", file="grid.yaml", line=9, col=5)]
    text = render_markdown(plan, diagnostics=diags)
    assert_well_formed(text)
    assert plan.plan_id in text and f"`{plan.plan_id[:12]}`" in text.splitlines()[0]
    assert "cut" not in text
    assert (
        "**Unsafe: `gridctl apply` refuses this plan without `--force`:**" in text
        and "makes a private repository public" in text
    )
    assert "**1 change(s) cannot be rolled back**" in text and "`secret alice/demo actions API`" in text
    assert "**Diagnostics**" in text and "`grid.yaml:9:5`" in text
    assert "**Notes**" in text and "&#64;carol" in text and "@carol" not in text  # no mention pings
    assert table_rows(text, "Account") == {
        "`bob`": [1, 0, 0, 0, 1],
        "`main` (alice)": [1, 2, 0, 1, 4],
        "Total": [2, 2, 0, 1, 5],
    }
    assert table_rows(text, "Kind") == {
        "`repo`": [0, 1, 0, 0, 1],
        "`variable`": [1, 0, 0, 1, 2],
        "`secret`": [1, 1, 0, 0, 2],
        "Total": [2, 2, 0, 1, 5],
    }
    # one collapsible block per repository
    assert re.findall(r"<summary><code>([^<]+)</code>", text) == ["alice/demo", "bob/tools"]
    assert '~ repo alice/demo  (differs from the manifest)\n    visibility: "private" -> "public"' in text
    assert "- variable alice/demo REGION  (no longer declared)" in text
    # secrets: a placeholder, never a value or a fingerprint
    assert "+ secret alice/demo actions NEW\n    value: (sensitive value)\n" in text
    assert (
        "~ secret alice/demo actions API  (sensitive value changed)\n    value: (sensitive value changed)\n    ! cannot be rolled back"
        in text
    )
    assert "hmac-sha256" not in text and "(sensitive)" not in text


def test_no_changes():
    plan = Plan(changes=[], notes=[Note("repo:alice/demo", "archived on GitHub")], manifest_file="grid.yaml")
    text = render_markdown(plan)
    assert "**No changes.** GitHub matches the manifest." in text
    assert "<details>" not in text and "| Kind |" not in text and "archived on GitHub" in text


def test_hostile_values_cannot_break_out():
    nasty = "```\n</code></summary></details><img src=x onerror=alert(1)> @everyone ghp_" + "A" * 36
    plan = Plan(
        changes=[
            change("variable", "alice/demo", "EVIL", after={"value": nasty}),
            change(
                "repo",
                "alice/demo",
                "alice/demo",
                Action.UPDATE,
                before={"description": "a"},
                after={"description": "`" * 5},
                diffs=(FieldDiff("description", "a", "`" * 5),),
            ),
        ],
        notes=[Note("variable:alice/demo:EVIL", nasty)],
    )
    text = render_markdown(plan)
    assert_well_formed(text)
    assert "ghp_" + "A" * 36 not in text and "(token)" in text
    fence = re.search(r"^(`{3,})diff$", text, flags=re.M).group(1)
    assert len(fence) >= 6  # longer than any backtick run inside
    inner = text.split(fence + "diff\n", 1)[1].split("\n" + fence + "\n", 1)[0]
    assert "</details><img" in inner and "EVIL" in inner and "`````" in inner  # the values stay inside the code block
    notes = text.split("**Notes**", 1)[1].split("####", 1)[0]
    assert "<img" not in notes and "@everyone" not in notes


def test_long_values_are_shortened_in_display_only():
    plan = Plan(changes=[change("variable", "alice/demo", "LONG", after={"value": "z" * 5000})])
    text = render_markdown(plan)
    assert 'value: "' + "z" * 239 + "... (4762 more characters)" in text and "z" * 300 not in text
    assert plan.changes[0].after["value"] == "z" * 5000
