"""Markdown for pull-request comments (kept under GitHub's 65,536-character limit)."""

from __future__ import annotations

from ..plan import Plan
from .text import change_lines

LIMIT = 65536


def render_markdown(plan: Plan, *, limit: int = LIMIT - 1000) -> str:
    counts = plan.counts()
    head = [
        f"### gridctl plan `{plan.plan_id[:12]}`",
        "",
        f"**{counts['create']}** to create, **{counts['update']}** to update, "
        f"**{counts['replace']}** to replace, **{counts['delete']}** to delete.",
        "",
    ]
    if not plan.changes:
        head.append("No changes. GitHub matches the manifest.")
    body: list[str] = []
    scopes: dict[str, list] = {}
    for c in plan.changes:
        scopes.setdefault(c.scope, []).append(c)
    for scope, changes in scopes.items():
        block = [f"<details><summary><code>{scope}</code> ({len(changes)} change(s))</summary>", "", "```diff"]
        for c in changes:
            block.extend(change_lines(c))
        block.extend(["```", "</details>", ""])
        body.extend(block)
    text = "\n".join(head + body)
    if len(text) > limit:
        text = "\n".join(head) + "\n_The detail is too long for one comment; see the full JSON plan (CI artifact)._\n"
    return text + "\n"
