"""Plan renderers: ``text`` (a terminal), ``markdown`` (a PR comment), ``json`` (machines).

All renderers read the same :class:`~gridctl.plan.Plan`; none can show a secret value, because
a plan never holds one.
"""

from __future__ import annotations

from ..plan import Plan


def render(plan: Plan, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        from .plan_json import render_json

        return render_json(plan)
    if fmt == "markdown":
        from .markdown import render_markdown

        return render_markdown(plan)
    from .text import render_text

    return render_text(plan, color=color)
