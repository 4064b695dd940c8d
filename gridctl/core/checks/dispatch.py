"""Dispatch templates checked against their workflows at plan time.

Each template must name a workflow that exists on its ref and has ``workflow_dispatch``; the
inputs it gives must exist, the required ones must be given (or have defaults), and boolean,
number and choice values must fit. A workflow file the manifest declares for that repository
(``repos.<r>.files``) is checked from the manifest's content when the template dispatches on
the branch the file is committed to — this same plan may create it. Anything else is read from
GitHub at the ref: one contents GET per distinct (repository, workflow, ref), see
:mod:`gridctl.fleet.dispatch`.

Every problem is a diagnostic at the template's line in the file that declares it (an included
``dispatch.include`` file included).
"""

from __future__ import annotations

from typing import Any

from ...errors import Diagnostic, GitHubError


def check(env: Any, plan: Any) -> list[Diagnostic]:
    from ...fleet.dispatch import Problem, locate, template_problems
    from ...github.reader import Reader
    from ...plan import Action

    m = env.manifest
    if not m.dispatch:
        return []
    from ...resources import KINDS

    # scopes this plan creates (repositories): their workflow files may be declared, not live
    created = {c.scope.lower() for c in plan.changes if KINDS[c.kind].container and c.action == Action.CREATE}
    readers: dict[str, Reader] = {}
    out: list[Diagnostic] = []
    for t in sorted(m.dispatch.values(), key=lambda x: x.name):
        reader = readers.get(t.account)
        if reader is None:
            reader = readers[t.account] = Reader(env.client(t.account))
        try:
            problems = template_problems(m, t, reader, created)
        except GitHubError as exc:
            problems = [Problem(f"cannot read its workflow from GitHub: {exc}", field="workflow")]
        out.extend(locate(m, t, p) for p in problems)
    return out
