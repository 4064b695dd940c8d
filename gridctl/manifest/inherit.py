"""Inheritance: ``defaults.repo`` -> ``repo_groups.<name>.repo`` -> ``repos.<owner/name>``.

A repository group picks repositories by name glob (``match``), by list (``repos``) or by the
topics their own entries declare (``topics``), and holds anything a repository entry holds. Each
repository's entry is replaced, before anything else reads it, by the merge of its layers:
``defaults.repo``, then its groups (ordered by ``order``; a repository in two groups without
distinct orders is an error), then its own entry. A later layer wins:

* a setting, a list (``topics``) or any non-mapping value is replaced whole;
* a mapping section (``collaborators``, ``variables``, ``environments``, ``files``, ``labels``,
  ``actions``, ``lifecycle``, ``prune`` and kind-owned sections) is merged by key, each entry
  replaced whole; ``secrets`` by type, then by name. Names GitHub compares without case
  (collaborators, variables, secrets, labels, environments) are merged without case too.

What each inherited value's origin is stays on the model (``RepoSpec.origins``), and the merged
values' positions are those of where they are written (a group's line, not the repository's),
so diagnostics, plans and ``gridctl plan --explain`` point at the right line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from .model import Origin, RepoGroup
from .yamlpos import PathT, Pos, Positions

#: how deep a mapping section merges (entries replaced whole below that); default 1
DEPTH = {"secrets": 2}
#: sections whose entry names GitHub compares without case
FOLD = frozenset({"collaborators", "variables", "secrets", "labels", "environments"})
#: characters of a repository-name glob: name characters and * ? [ ] !
_GLOB_CHARS = re.compile(r"^[A-Za-z0-9._\-*?\[\]!/]+$")

Report = Callable[..., None]
#: per repository (as written under ``repos``): the groups applied, and path -> origin
Provenance = dict[str, tuple[list[str], dict[PathT, Origin]]]


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a repository-name glob, or None."""
    if not pattern:
        return "an empty pattern matches nothing"
    if pattern.count("/") > 1:
        return "a pattern is NAME or OWNER/NAME (at most one '/')"
    if not _GLOB_CHARS.match(pattern):
        bad = sorted({ch for ch in pattern if not _GLOB_CHARS.match(ch)})
        return f"{', '.join(repr(ch) for ch in bad)} cannot be in a repository name; patterns use letters, digits, '.', '-', '_' and * ? [...] [!...]"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "]":
            return f"']' at character {i + 1} closes no '['"
        if ch == "[":
            j = i + 1 + (pattern[i + 1 : i + 2] == "!")
            end = pattern.find("]", j + 1)  # a ']' right after '[' or '[!' is a member
            if end < 0:
                return f"'[' at character {i + 1} is never closed"
            if "/" in pattern[i:end]:
                return f"the set at character {i + 1} holds '/'"
            i = end
        i += 1
    return None


def picks(pattern: str, full: str) -> bool:
    """Whether a glob picks ``owner/name`` (case-insensitive; without '/', the name only)."""
    subject = full if "/" in pattern else full.split("/", 1)[1]
    return fnmatchcase(subject.lower(), pattern.lower())


def _where(pos: Positions, path: PathT) -> str:
    p = pos.of(path, key=True)
    return f"{p.file}:{p.line}:{p.col}" if p else "the manifest"


def _groups(data: dict[str, Any], pos: Positions, repos: dict[str, Any], error: Report, warn: Report) -> dict[str, RepoGroup]:
    """``repo_groups`` parsed, with each group's members."""
    raw_groups = data.get("repo_groups") or {}
    defaults = (data.get("defaults") or {}).get("repo") or {}
    declared = {full.lower(): full for full in repos}
    out: dict[str, RepoGroup] = {}
    for name, g in raw_groups.items():
        gp: PathT = ("repo_groups", name)
        g = g or {}
        match = g.get("match", [])
        match = [match] if isinstance(match, str) else list(match)
        group = RepoGroup(name, gp, match, list(g.get("repos") or []), [t.lower() for t in g.get("topics") or []], g.get("order"))
        if not (group.match or group.repos or group.topics):
            error(gp, f"repository group {name} picks no repository", "give it match: [name globs], repos: [owner/name] or topics: [topic]", key=True)
        good, faulty = [], False
        for i, pattern in enumerate(group.match):
            problem = glob_problem(pattern)
            if problem:
                error(gp + ("match",) + ((i,) if isinstance(g.get("match"), list) else ()), f"repository group {name}: bad pattern {pattern!r}", problem)
                faulty = True
            else:
                good.append(pattern)
        listed = set()
        for i, full in enumerate(group.repos):
            if full.lower() in declared:
                listed.add(declared[full.lower()])
                continue
            near = difflib.get_close_matches(full, list(repos), n=1)
            faulty = True
            error(gp + ("repos", i), f"repository group {name} lists {full}, which is not declared under repos" + (f" (did you mean {near[0]}?)" if near else ""))
        wanted = set(group.topics)
        for full, r in repos.items():
            own_topics = (r or {}).get("topics", defaults.get("topics")) or []
            if (full in listed or any(picks(p, full) for p in good)
                    or (wanted and wanted & {t.lower() for t in own_topics if isinstance(t, str)})):
                group.members.append(full)
        if not group.members and not faulty and (group.match or group.repos or group.topics):
            warn(gp, f"repository group {name} picks no repository of this manifest", key=True)
        out[name] = group
    return out


def _order(groups: dict[str, RepoGroup], pos: Positions, error: Report) -> dict[str, list[str]]:
    """Each repository's groups in the order they apply; overlaps without distinct orders are
    errors (one per pair of groups, at the later group, naming the earlier one's position)."""
    of: dict[str, list[str]] = {}
    for g in groups.values():
        for full in g.members:
            of.setdefault(full, []).append(g.name)
    clashes: dict[tuple[str, str], list[str]] = {}
    for full, names in of.items():
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                oa, ob = groups[a].order, groups[b].order
                if oa is None or ob is None or oa == ob:
                    clashes.setdefault((a, b), []).append(full)
        names.sort(key=lambda n: (groups[n].order or 0))
    for (a, b), fulls in clashes.items():
        shown = ", ".join(fulls[:5]) + (f" and {len(fulls) - 5} more" if len(fulls) > 5 else "")
        oa, ob = groups[a].order, groups[b].order
        if oa is not None and oa == ob:
            hint = f"both have order {oa}; give them different orders (the higher one applies last and wins)"
        else:
            hint = "give both groups an order (the higher one applies last and wins), or narrow one of them"
        error(groups[b].path, f"{shown} {'is' if len(fulls) == 1 else 'are'} in repository groups {a} ({_where(pos, groups[a].path)}) and {b} ({_where(pos, groups[b].path)})",
              hint, key=True)
    return of


def _merge(layers: list[tuple[Origin, dict[str, Any]]]) -> tuple[dict[str, Any], dict[PathT, Origin], dict[PathT, Origin]]:
    """The merged entry, each leaf's origin, and each mapping section's (first) origin."""
    out: dict[str, Any] = {}
    leaves: dict[PathT, Origin] = {}
    containers: dict[PathT, Origin] = {}

    #: a folded mapping below the top level -> its text keys by lower case (each put into it
    #: folds, so it holds one key per lower case; the mapping is held, its id not reused)
    folded: dict[int, tuple[dict[str, Any], dict[str, str]]] = {}

    def drop(rel: PathT) -> None:
        for p in [p for p in leaves if p[: len(rel)] == rel]:
            del leaves[p]

    def put(target: dict[str, Any], rel: PathT, key: str, value: Any, depth: int, o: Origin, fold: bool) -> None:
        if fold and len(rel) > 1 and isinstance(key, str):
            held = folded.get(id(target))
            if held is None:
                held = folded[id(target)] = (target, {})
            low = key.lower()
            old = held[1].get(low)
            if old is not None and old != key:
                del target[old]
                drop(rel[:-1] + (old,))
            held[1][low] = key
        elif fold:
            for old in [k for k in target if isinstance(k, str) and k != key and k.lower() == key.lower()]:
                del target[old]
                drop(rel[:-1] + (old,))
        if depth > 0 and isinstance(value, dict):
            here = target.get(key)
            if not isinstance(here, dict):
                if key in target:
                    drop(rel)
                here = target[key] = {}
                containers.setdefault(rel, o)
            else:
                leaves.pop(rel, None)  # an empty mapping an earlier layer gave
            if not value:
                leaves.setdefault(rel, o)
            for k, v in value.items():
                put(here, rel + (k,), k, v, depth - 1, o, fold)
            return
        if key in target:
            drop(rel)
        target[key] = value
        leaves[rel] = o

    for o, layer in layers:
        for k, v in layer.items():
            put(out, (k,), k, v, DEPTH.get(k, 1), o, k in FOLD)
    return out, leaves, containers


class _Index:
    """The positions under one layer's block, by the first one to three steps of their path
    relative to it (so a leaf's positions are found without scanning them all)."""

    def __init__(self, pos: Positions, prefix: PathT):
        n = len(prefix)
        first = prefix[0] if prefix else None
        self.under: dict[PathT, list[tuple[PathT, Pos, bool]]] = {}
        for path, entry in pos.table.items():
            # (the first step alone rules out most paths: those under ``repos``)
            if len(path) > n and (first is None or path[0] == first) and path[:n] == prefix:
                rel = path[n:]
                for is_key in (False, True):
                    p = pos.side(entry, is_key)
                    if p is not None:
                        for i in range(1, min(len(rel), 4) + 1):
                            self.under.setdefault(rel[:i], []).append((rel, p, is_key))


def expand(data: dict[str, Any], pos: Positions, error: Report, warn: Report) -> tuple[dict[str, RepoGroup], Provenance]:
    """Merge every repository's layers into ``data["repos"]`` (in place), copy the positions of
    inherited values under the repository, and return the groups and each repository's
    provenance. Problems are reported through ``error``/``warn``; nothing is merged then."""
    raw_repos = data.get("repos") or {}
    defaults = (data.get("defaults") or {}).get("repo") or {}
    if not data.get("repo_groups") and not defaults:
        return {}, {}
    repos = {k: v for k, v in raw_repos.items() if isinstance(k, str) and k.count("/") == 1}
    groups = _groups(data, pos, repos, error, warn)
    order = _order(groups, pos, error)
    default_origin = Origin("defaults", ("defaults", "repo"))
    origins = {n: Origin("group", ("repo_groups", n, "repo"), n) for n in groups}
    indexes: dict[PathT, _Index] = {}
    prov: Provenance = {}
    for full, raw in repos.items():
        applied = order.get(full, [])
        layers: list[tuple[Origin, dict[str, Any]]] = [(default_origin, defaults)] if defaults else []
        layers += [(origins[n], (data["repo_groups"][n] or {}).get("repo") or {}) for n in applied]
        layers = [(o, layer) for o, layer in layers if layer]
        if not layers:
            continue
        own = Origin("entry", ("repos", full))
        merged, leaves, containers = _merge([*layers, (own, raw or {})])
        raw_repos[full] = merged
        prov[full] = (list(applied), leaves)
        base = ("repos", full)
        for rel, o in containers.items():
            if o.layer != "entry" and base + rel not in pos.keys:
                for table in (pos.keys, pos.values):
                    at = table.get(o.path + rel)
                    if at is not None:
                        table[base + rel] = at
        for rel, o in leaves.items():
            if o.layer == "entry":
                continue
            idx = indexes.get(o.path)
            if idx is None:
                idx = indexes[o.path] = _Index(pos, o.path)
            for sub, p, is_key in idx.under.get(rel, ()):
                (pos.keys if is_key else pos.values)[base + sub] = p
    return groups, prov
