"""Kind ``label``: a repository's issue and pull-request labels (``repos.<r>.labels``).

    repos:
      alice/demo:
        labels:
          bug: {color: d73a4a, description: Something is broken}
          triage: "#fbca04"            # a colour alone
        prune: {labels: true}          # also delete labels the manifest does not list

GitHub facts used here (REST "Labels" reference, docs.github.com/en/rest/issues/labels): labels
are listed at ``GET /repos/{owner}/{repo}/labels`` (paginated), created with ``POST`` there,
changed with ``PATCH .../labels/{name}`` (``new_name`` renames) and removed with ``DELETE``;
a colour is six hexadecimal digits without ``#``; names are unique regardless of case, and a
new repository starts with GitHub's default labels — which ``prune: {labels: true}`` removes
unless they are declared.

A repository created by the same apply already holds GitHub's default labels when its labels are
written: a declared label whose name is taken (422) takes the existing one over with a PATCH.

Labels are matched by name without regard to case, so changing only the case of a declared
name is an update (a rename), not a delete and a create.

``gridctl import`` writes a repository's labels except GitHub's default ones left as GitHub made
them (:data:`GITHUB_DEFAULT_LABELS`): a repository that kept its defaults gets no ``labels``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import GitHubError
from ..manifest.model import Manifest
from ..manifest.sections import Section, SectionContext
from ..manifest.yamlpos import PathT
from ..plan import Action, Change
from .base import ApplyContext, ApplyResult, Declaring, Item, Kind, PlanEnv, Scope
from .repository import repos_with

if TYPE_CHECKING:
    from .base import Reader

_COLOUR = "^#?[0-9a-fA-F]{6}$"

#: the labels GitHub puts in every new repository, ``name: (colour, description)`` ("About
#: default labels", https://docs.github.com/en/issues/using-labels-and-milestones-to-track-work/managing-labels#about-default-labels;
#: colours and descriptions as github.com gives them)
GITHUB_DEFAULT_LABELS: dict[str, tuple[str, str]] = {
    "bug": ("d73a4a", "Something isn't working"),
    "documentation": ("0075ca", "Improvements or additions to documentation"),
    "duplicate": ("cfd3d7", "This issue or pull request already exists"),
    "enhancement": ("a2eeef", "New feature or request"),
    "good first issue": ("7057ff", "Good for newcomers"),
    "help wanted": ("008672", "Extra attention is needed"),
    "invalid": ("e4e669", "This doesn't seem right"),
    "question": ("d876e3", "Further information is requested"),
    "wontfix": ("ffffff", "This will not be worked on"),
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Label name -> colour (6 hex digits, '#' optional), or {color, description}.",
    "propertyNames": {"minLength": 1, "maxLength": 50},
    "additionalProperties": {
        "oneOf": [
            {"type": "string", "pattern": _COLOUR},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["color"],
                "properties": {
                    "color": {"type": "string", "pattern": _COLOUR},
                    "description": {"type": "string", "maxLength": 100},
                },
            },
        ]
    },
}


def parse(ctx: SectionContext, repo: Any, raw: dict[str, Any], path: PathT) -> dict[str, dict[str, str]]:
    """name (lower case) -> {name, color, description}; a name declared twice is an error."""
    out: dict[str, dict[str, str]] = {}
    for name, value in raw.items():
        spec = {"color": value} if isinstance(value, str) else dict(value)
        if name.lower() in out:
            ctx.error(path + (name,), f"label {name} is declared twice (names are case-insensitive on GitHub)", key=True)
            continue
        out[name.lower()] = {
            "name": name,
            "color": spec["color"].lstrip("#").lower(),
            "description": spec.get("description", ""),
        }
    return out


class Label(Kind):
    name = "label"
    order = 62
    prune_key = "labels"
    sections = (Section("labels", "repo", SCHEMA, parse, prunable=True),)

    def app_permissions(self, m: Manifest) -> list[tuple[str, str, str, str]]:
        return [(r.account, "issues", "write", f"repos.{r.full_name}.labels") for r in m.repos.values() if "labels" in r.sections]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return repos_with(env, self, lambda spec: "labels" in spec.sections)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        assert spec is not None
        return {key: Item(key, attrs=dict(attrs)) for key, attrs in spec.sections.get("labels", {}).items()}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        out = {}
        for lb in reader.list(f"/repos/{scope.name}/labels") or []:
            attrs = {"name": lb["name"], "color": lb["color"].lower(), "description": lb.get("description") or ""}
            out[lb["name"].lower()] = Item(lb["name"].lower(), attrs=attrs, meta={"id": lb.get("id"), "live_name": lb["name"]})
        return out

    importable = True

    def declare(self, items: dict[str, Item], d: Declaring) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _, it in sorted(items.items()):
            name, color, description = it.attrs["name"], it.attrs["color"], it.attrs["description"]
            if GITHUB_DEFAULT_LABELS.get(name) == (color, description):
                continue
            if not re.fullmatch(_COLOUR, color) or len(name) > 50 or len(description) > 100:
                d.notes.append(f"{d.what}: label {name} is left out: its name, colour or description does not fit the manifest")
                continue
            out[name] = {"color": color, "description": description} if description else color
        return out

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        repo = change.scope
        entry = {"kind": self.name, "scope": repo, "account": change.account}
        if change.action == Action.CREATE:
            after = change.after or {}
            body = {"name": after["name"], "color": after["color"], "description": after["description"]}
            url = f"/repos/{repo}/labels/{quote(after['name'], safe='')}"
            try:
                made = client.raw("POST", f"/repos/{repo}/labels", body, verify=lambda: client.get(url))
            except GitHubError as exc:
                if exc.status != 422:
                    raise
                # the name is taken: a repository this plan created came with GitHub's default
                # labels (bug, documentation...), so the declared label takes that one over
                made = client.raw("PATCH", url, {"new_name": after["name"], "color": after["color"], "description": after["description"]})
            return ApplyResult({**entry, "id": (made or {}).get("id")}, result={"id": (made or {}).get("id")})
        current = (change.before or {}).get("name") or change.meta.get("live_name") or change.meta["key"]
        url = f"/repos/{repo}/labels/{quote(current, safe='')}"
        if change.action == Action.UPDATE:
            after = change.after or {}
            body = {"color": after["color"], "description": after["description"]}
            if after["name"] != current:
                body["new_name"] = after["name"]
            client.raw("PATCH", url, body)
            return ApplyResult(entry)
        client.delete(url, f"delete label {current} in {repo}")
        return ApplyResult(None)


KINDS = [Label()]
