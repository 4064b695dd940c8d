"""Markdown for pull-request comments and job summaries, always under GitHub's body limit.

    text = render_markdown(plan, diagnostics=warnings, full_plan="`plan.json` (CI artifact)")

The document, top to bottom: the title with the plan id; one line of totals; what needs
``--force`` (unsafe reasons); what cannot be rolled back; a summary table per kind and one per
account; diagnostics (warnings); notes; then the detail, one collapsible ``<details>`` block per
repository (or organization/user scope), in a deterministic order (the same plan always renders
to the same text, whatever order its changes were built in).

Size: GitHub refuses a comment longer than 65,536 characters. The head (title, totals, tables,
lists) is bounded on its own (long lists end with "... and N more"); the detail is then cut
when it does not fit: whole repository blocks are dropped from the end (the first block that does
not fit may keep its first changes, never a partial line), and a notice at the top and the bottom
says how much is shown and points at the full JSON plan. The tables always count every change.

Secrets: a plan never holds a secret value (sensitive changes carry a keyed fingerprint), and
this renderer shows none of ``value``/``fingerprint`` for a sensitive change: they read
"(sensitive value)" / "(sensitive value changed)". As a last net, anything shaped like a GitHub
or sandbox token is masked.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from typing import Any

from ..plan import Action, Change, Plan
from ..util.text import address_parts
from .text import shown_after

#: GitHub's limit on an issue comment body, in characters
LIMIT = 65536
#: the default budget: room to spare for a marker line and for multi-byte characters
DEFAULT_LIMIT = LIMIT - 1536

ACTIONS = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE)
#: the longest shown value; the JSON plan has the whole of it
MAX_VALUE = 240
#: character budgets of the bounded head sections
BUDGET_LIST = 6000
BUDGET_TABLE = 8000
#: fields never shown for a sensitive change (a fingerprint is not a secret, but it is noise)
HIDDEN_SENSITIVE = {"value", "fingerprint", "encrypted_value", "key_id"}

_TOKEN_RE = re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{22,}|gridsbx_[0-9a-f]{20,})\b")
_SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "-/+", Action.DELETE: "-"}
_VERB = {
    Action.CREATE: "to create",
    Action.UPDATE: "to update",
    Action.REPLACE: "to replace",
    Action.DELETE: "to delete",
}


# -- small helpers ---------------------------------------------------------------------------------


def inline(text: str) -> str:
    """Free text made inert in Markdown: no HTML, no @mentions, no emphasis or links."""
    out = re.sub(r"([\\`*_\[\]|#~])", r"\\\1", str(text))
    out = html.escape(out, quote=False).replace("@", "&#64;")
    return " ".join(out.splitlines())


def code(text: str) -> str:
    """Inline code that survives backticks inside ``text``."""
    text = " ".join(str(text).splitlines())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE] + f"... ({len(text) - MAX_VALUE} more characters)"
    return text


def describe(change: Change) -> str:
    return " ".join(address_parts(change.address))


def group_of(change: Change) -> str:
    """The detail block a change belongs to: its repository, else its scope (org/user)."""
    scope = change.meta.get("_scope") if isinstance(change.meta, dict) else None
    repo = scope.get("repo") if isinstance(scope, dict) else None
    return str(repo or change.scope)


def change_lines(change: Change) -> list[str]:
    """One change as diff-block lines (never a secret: see the module docstring)."""
    head = f"{_SYMBOL[change.action]} {describe(change)}"
    if change.reason and change.action != Action.CREATE:
        head += f"  ({change.reason})"
    out = [head]
    if change.sensitive:
        if change.action == Action.CREATE:
            out.append("    value: (sensitive value)")
        elif change.action in (Action.UPDATE, Action.REPLACE):
            out.append("    value: (sensitive value changed)")
    hidden = HIDDEN_SENSITIVE if change.sensitive else {"fingerprint"}
    if change.action in (Action.UPDATE, Action.REPLACE):
        for d in change.diffs:
            if d.field not in hidden:
                out.append(f"    {d.field}: {_show(d.before)} -> {shown_after(change, d.field, d.after, _show)}")
    elif change.action == Action.CREATE:
        for k, v in sorted((change.after or {}).items()):
            if k not in hidden:
                out.append(f"    {k}: {shown_after(change, k, v, _show)}")
    elif change.action == Action.DELETE and not change.sensitive:
        for k, v in sorted((change.before or {}).items()):
            if k not in hidden:
                out.append(f"    {k}: {_show(v)}")
    if not change.reversible:
        out.append("    ! cannot be rolled back")
    return [" ".join(line.splitlines()) for line in out]


def counts_of(changes: Iterable[Change]) -> dict[Action, int]:
    out = dict.fromkeys(ACTIONS, 0)
    for c in changes:
        out[c.action] += 1
    return out


def _counts_text(counts: dict[Action, int]) -> str:
    parts = [f"{n} {_VERB[a]}" for a, n in counts.items() if n]
    return ", ".join(parts) if parts else "no changes"


def _bounded(items: list[str], budget: int, more: str) -> list[str]:
    """``items`` (one line each) while they fit in ``budget`` characters, then one line
    saying how many were left out."""
    out: list[str] = []
    used = 0
    for i, item in enumerate(items):
        if used + len(item) + 1 > budget:
            out.append(f"- ... and {len(items) - i} more {more} (see the JSON plan)")
            break
        out.append(item)
        used += len(item) + 1
    return out


# -- the document ---------------------------------------------------------------------------------


def _table(
    title: str, rows: list[tuple[str, dict[Action, int]]], totals: dict[Action, int], budget: int, what: str
) -> list[str]:
    lines = [f"| {title} | Create | Update | Replace | Delete | Total |", "|:--|--:|--:|--:|--:|--:|"]
    used = sum(len(x) + 1 for x in lines)
    for i, (name, c) in enumerate(rows):
        line = f"| {name} | " + " | ".join(str(c[a]) for a in ACTIONS) + f" | {sum(c.values())} |"
        if used + len(line) + 1 > budget:
            lines.append(f"| ... {len(rows) - i} more {what} | | | | | |")
            break
        lines.append(line)
        used += len(line) + 1
    lines.append(
        "| **Total** | " + " | ".join(f"**{totals[a]}**" for a in ACTIONS) + f" | **{sum(totals.values())}** |"
    )
    return lines


def _head(plan: Plan, diagnostics: list[Any], title: str | None) -> list[str]:
    totals = counts_of(plan.changes)
    what = "destroy plan" if plan.destroy else "plan"
    plan_id = plan.plan_id
    lines = [f"### {inline(title) if title else 'gridctl ' + what} `{plan_id[:12]}`", ""]
    bits = (
        [f"**{len(plan.changes)}** change(s): {_counts_text(totals)}"]
        if plan.changes
        else ["**No changes.** GitHub matches the manifest."]
    )
    if plan.manifest_file:
        bits.append(f"manifest {code(plan.manifest_file)}")
    if plan.targets:
        bits.append("targets " + ", ".join(code(t) for t in sorted(plan.targets)))
    lines.append(" · ".join(bits))
    lines.append("")
    lines.append(f"<sub>plan_id {code(plan_id)}</sub>")
    lines.append("")
    if plan.unsafe:
        lines += ["> [!CAUTION]", "> **Unsafe: `gridctl apply` refuses this plan without `--force`:**", ">"]
        lines += ["> " + x for x in _bounded([f"- {inline(r)}" for r in plan.unsafe], BUDGET_LIST, "reason(s)")]
        lines.append("")
    irreversible = [c for c in plan.changes if not c.reversible]
    if irreversible:
        lines += [
            "> [!WARNING]",
            f"> **{len(irreversible)} change(s) cannot be rolled back** (`gridctl rollback` cannot undo them):",
            ">",
        ]
        items = [f"- {_SYMBOL[c.action]} {code(describe(c))}" for c in irreversible]
        lines += ["> " + x for x in _bounded(items, BUDGET_LIST, "change(s)")]
        lines.append("")
    if plan.changes:
        by_kind: dict[str, list[Change]] = {}
        order: dict[str, int] = {}
        for c in plan.changes:
            by_kind.setdefault(c.kind, []).append(c)
            order[c.kind] = min(order.get(c.kind, c.order), c.order)
        rows = [(code(k), counts_of(v)) for k, v in sorted(by_kind.items(), key=lambda kv: (order[kv[0]], kv[0]))]
        lines += _table("Kind", rows, totals, BUDGET_TABLE, "kinds")
        lines.append("")
        by_account: dict[str, list[Change]] = {}
        for c in plan.changes:
            by_account.setdefault(c.account, []).append(c)
        rows = []
        for acc, changes in sorted(by_account.items()):
            login = plan.accounts.get(acc)
            name = code(acc) + (f" ({inline(login)})" if login and login != acc else "")
            rows.append((name, counts_of(changes)))
        lines += _table("Account", rows, totals, BUDGET_TABLE, "accounts")
        lines.append("")
    if diagnostics:
        lines.append("**Diagnostics**")
        lines.append("")
        items = []
        for d in diagnostics:
            where = d.location() if hasattr(d, "location") else ""
            text = f"- **{inline(d.severity)}**" + (f" {code(where)}" if where else "") + f": {inline(d.summary)}"
            if getattr(d, "detail", ""):
                text += f" ({inline(d.detail)})"
            items.append(text)
        lines += _bounded(items, BUDGET_LIST, "diagnostic(s)")
        lines.append("")
    if plan.notes:
        lines.append("**Notes**")
        lines.append("")
        lines += _bounded([f"- {code(n.address)}: {inline(n.message)}" for n in plan.notes], BUDGET_LIST, "note(s)")
        lines.append("")
    return lines


def _blocks(plan: Plan) -> list[tuple[str, list[Change]]]:
    groups: dict[str, list[Change]] = {}
    for c in plan.changes:  # plan order: deletes first, then parents before children
        groups.setdefault(group_of(c), []).append(c)
    return sorted(groups.items(), key=lambda kv: (kv[0].lower(), kv[0]))


def _block(name: str, changes: list[Change], shown: int | None = None) -> list[str]:
    """One repository's ``<details>``; ``shown`` keeps only the first changes (a cut block)."""
    keep = changes if shown is None else changes[:shown]
    body: list[str] = []
    for c in keep:
        body.extend(change_lines(c))
    longest = max((len(m) for line in body for m in re.findall(r"`{3,}", line)), default=2)
    fence = "`" * max(3, longest + 1)
    accounts = sorted({c.account for c in changes})
    summary = f"<code>{html.escape(name)}</code> · {html.escape(_counts_text(counts_of(changes)))}"
    summary += " · account " + ", ".join(html.escape(a) for a in accounts)
    if shown is not None:
        summary += f" · <b>showing {shown} of {len(changes)}</b>"
    return ["<details>", f"<summary>{summary}</summary>", "", f"{fence}diff", *body, fence, "", "</details>", ""]


def _notice(shown_groups: int, total_groups: int, shown_changes: int, total_changes: int, full_plan: str) -> list[str]:
    return [
        "> [!NOTE]",
        f"> **The detail is cut to fit one comment:** it shows {shown_groups} of {total_groups} "
        f"repositories/scopes ({shown_changes} of {total_changes} changes). The tables above count every change. "
        f"The full plan is the JSON plan: {full_plan}.",
        "",
    ]


def _footer(notice: list[str]) -> list[str]:
    return ["---", "", notice[1].removeprefix("> "), ""]


def render_markdown(
    plan: Plan,
    *,
    limit: int = DEFAULT_LIMIT,
    diagnostics: list[Any] | None = None,
    full_plan: str | None = None,
    title: str | None = None,
) -> str:
    """The plan as Markdown of at most ``limit`` characters (see the module docstring).

    ``diagnostics`` are shown (warnings of the manifest and plan-time checks); ``full_plan`` says
    where the complete JSON plan is (e.g. "`plan.json`, artifact gridctl-plan of [this run](url)").
    """
    pointer = full_plan or "`gridctl plan --out plan.json` (in CI, kept as the workflow run's artifact)"
    head = _head(plan, list(diagnostics or []), title)
    blocks = [(name, changes, _block(name, changes)) for name, changes in _blocks(plan)]
    detail_title = ["#### Changes by repository", ""] if blocks else []

    def size(lines: list[str]) -> int:
        return sum(len(x) + 1 for x in lines)

    full = head + detail_title + [x for _, _, b in blocks for x in b] + [f"<sub>The full plan: {pointer}.</sub>", ""]
    if size(full) <= limit:
        return _finish(full, limit)
    # cut: reserve room for the two notices (their numbers are at most the totals)
    total_changes = len(plan.changes)
    notice = _notice(len(blocks), len(blocks), total_changes, total_changes, pointer)
    footer = _footer(notice)
    room = limit - size(head) - size(detail_title) - size(notice) - size(footer)
    kept: list[str] = []
    shown_groups = shown_changes = 0
    for name, changes, lines in blocks:
        if size(lines) <= room:
            kept += lines
            room -= size(lines)
            shown_groups += 1
            shown_changes += len(changes)
            continue
        if shown_groups == 0:
            # not even the first block fits (one huge repository): keep its first changes,
            # whole ones only, and say so in its summary
            lo, hi = 0, len(changes) - 1  # the most changes that fit (binary search)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if size(_block(name, changes, shown=mid)) <= room:
                    lo = mid
                else:
                    hi = mid - 1
            n = lo
            if n > 0:
                kept += _block(name, changes, shown=n)
                shown_groups += 1
                shown_changes += n
        break  # whole blocks are dropped from here to the end
    notice = _notice(shown_groups, len(blocks), shown_changes, total_changes, pointer)
    return _finish(head + notice + detail_title + kept + _footer(notice), limit)


def _finish(lines: list[str], limit: int) -> str:
    text = _TOKEN_RE.sub("(token)", "\n".join(lines).rstrip("\n") + "\n")
    if len(text) > limit:  # only with a pathological head (e.g. enormous names): cut at a line
        cut = text.rfind("\n", 0, limit - 80)
        text = text[: max(cut, 0)] + "\n\n_(cut to fit one comment; see the full JSON plan)_\n"
    return text
