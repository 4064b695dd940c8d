"""Terraform-like text: ``+`` create, ``~`` update, ``-/+`` replace, ``-`` delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..plan import Action, Change, Plan
from ..util.text import address_parts, safe

_COLORS = {Action.CREATE: "32", Action.UPDATE: "33", Action.REPLACE: "35", Action.DELETE: "31"}


def _c(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


def show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False, default=str)


def shown_after(change: Change, field: str, value: Any, fmt: Callable[[Any], str] = show) -> str:
    """A declared value as the manifest wrote it, with GitHub's name in parentheses where the
    two differ (a collaborator's ``"push" (GitHub: "write")``); ``meta["as_written"]`` holds
    the manifest's words. The plan's ``after`` keeps GitHub's name: this is display only."""
    written = change.meta.get("as_written") if isinstance(change.meta, dict) else None
    word = written.get(field) if isinstance(written, dict) else None
    if isinstance(word, str) and word != value:
        return f"{fmt(word)} (GitHub: {fmt(value)})"
    return fmt(value)


def describe(change: Change) -> str:
    """``kind scope name`` for one change, e.g. ``secret alice/demo actions API_KEY``."""
    return safe(" ".join(address_parts(change.address)))


def change_lines(change: Change, color: bool = False) -> list[str]:
    sym = change.action.symbol
    head = f"{sym} {describe(change)}"
    out = [_c(head, _COLORS[change.action], color)]
    if change.reason:
        out[-1] += f"  ({safe(change.reason)})"
    if change.sensitive:
        if change.action == Action.CREATE:
            out.append("    value: (sensitive value)")
        elif change.action == Action.UPDATE:
            out.append("    value: (sensitive value changed)")
    attrs_before = change.before or {}
    attrs_after = change.after or {}
    if change.action in (Action.UPDATE, Action.REPLACE):
        for d in change.diffs:
            if d.field in ("value", "fingerprint") and change.sensitive:
                continue
            out.append(f"    {d.field}: {show(d.before)} -> {shown_after(change, d.field, d.after)}")
    elif change.action == Action.CREATE:
        for k, v in sorted(attrs_after.items()):
            if k == "fingerprint":
                continue
            out.append(f"    {k}: {shown_after(change, k, v)}")
    elif change.action == Action.DELETE and not change.sensitive:
        for k, v in sorted(attrs_before.items()):
            out.append(f"    {k}: {show(v)}")
    if not change.reversible:
        out.append(_c("    ! cannot be rolled back", "31", color))
    return out


def render_text(plan: Plan, *, color: bool = False) -> str:
    lines: list[str] = []
    if not plan.changes:
        lines.append("No changes. GitHub matches the manifest.")
    else:
        verb = "destroy" if plan.destroy else "apply"
        lines.append(f"gridctl will {verb} the following changes (plan {plan.plan_id[:12]}):")
        lines.append("")
        current = None
        for c in plan.changes:
            if c.scope != current:
                current = c.scope
                lines.append(f"  # {safe(c.scope)}  [account {safe(c.account)}]")
            for i, line in enumerate(change_lines(c, color)):
                lines.append(("  " if i == 0 else "  ") + line)
        lines.append("")
        counts = plan.counts()
        lines.append(
            f"Plan: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['replace']} to replace, {counts['delete']} to delete."
        )
        irreversible = [c.address for c in plan.changes if not c.reversible]
        if irreversible:
            lines.append(f"{len(irreversible)} change(s) cannot be rolled back: {', '.join(irreversible[:10])}" + (" ..." if len(irreversible) > 10 else ""))
    for n in plan.notes:
        lines.append(f"note: {safe(n.address)}: {safe(n.message)}")
    for reason in plan.unsafe:
        lines.append(_c(f"unsafe (needs --force): {reason}", "31", color))
    return "\n".join(lines) + "\n"
