"""``gridctl import``: write a manifest from what one account has on GitHub.

    result = run_import(ImportOptions(account="alice", output=Path("grid.yaml")))

Three steps, each usable on its own:

1. :func:`read_account` reads the account with the same machinery a plan uses — the account's
   :class:`~gridctl.github.client.AccountClient` (ETag cache, retries) and the resource kinds'
   own ``live()`` readers over a memoizing :class:`~gridctl.core.engine.Reader` — so what is
   imported is normalized exactly as ``gridctl plan`` will compare it. Reads only: no state,
   no lock, no write to GitHub.
2. :func:`build_manifest` turns that into manifest data (pure): repositories with the managed
   settings that differ from GitHub's defaults (settings most repositories share go to
   ``defaults.repo``; repositories keep only their differences), topics, collaborators (direct
   and pending invitations), variables, secret *names*, environments (their protection, variables
   and secret names), deploy keys (public keys, written to files under ``keys/``), and for an
   organization its secrets, variables, runner groups and runners; for a user, its Codespaces
   secrets. Then every kind marked :attr:`~gridctl.resources.base.Kind.importable` (labels,
   Actions permissions, webhooks, autolinks, security settings, branch protection, rulesets, at
   repository and organization level) writes its own section from what its ``live()`` read, with
   :meth:`~gridctl.resources.base.Kind.declare`: a new kind gets import by implementing that
   hook, with no code here. What a kind cannot declare it leaves out with a note.
3. :func:`render_yaml` writes it as YAML: the ``yaml-language-server`` schema line first, then a
   fixed section order with every mapping sorted, so the same estate always gives the same bytes.

Secrets: GitHub never returns a value. Each imported secret reads a key whose source is a
placeholder file ``keys/.../<NAME>.txt`` (mode 0600, ``lines: true`` so its ``#`` comment lines
are ignored) holding an obvious placeholder, so the manifest loads and plans; the plan shows each
secret as an update ("not written by gridctl yet"), and the real values go into those files (or
the keys are pointed at ``env``/``command`` sources) before applying. An existing key file is
never overwritten — it may already hold the real value.

Webhook secrets cannot be read either: an imported hook with one gets a ``secret: {file: ...}``
source reading a one-line placeholder file (never overwritten), which apply refuses to write.

Reads per repository (a user's repository list already carries every setting, so no GET per
repository; an organization's list does not, so one GET each): collaborators, invitations,
variables, Actions and Dependabot secrets, environments, deploy keys (7 list calls), plus two per
environment (its variables and secrets); then the importable kinds' own reads: labels, webhooks,
autolinks, protected branches and rulesets (one list each, plus one GET per protected branch and
per ruleset), Actions permissions (two, three with selected actions) and security settings (two)
— 16 in all for a repository with none of those. An organization adds its Actions permissions,
webhooks and rulesets.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AuthError, GitHubError, GridctlError
from ..github.reader import Reader
from ..manifest.model import REPO_SETTINGS, Account, Manifest
from ..manifest.sources import Sensitive, Source, read_source
from ..manifest.yamlpos import Positions
from ..resources import KINDS
from ..resources.base import Declaring, Item, Kind, Scope
from .teams import read_teams, team_sections

#: GitHub's value of each managed repository setting for a new repository (a setting equal to
#: it is left out of the imported manifest, i.e. not managed). ``tests/core/test_import.py``
#: checks these against the sandbox's own defaults.
GITHUB_REPO_DEFAULTS: dict[str, Any] = {
    "description": None,
    "homepage": None,
    "visibility": "public",
    "has_issues": True,
    "has_projects": True,
    "has_wiki": True,
    "has_discussions": False,
    "is_template": False,
    "allow_squash_merge": True,
    "allow_merge_commit": True,
    "allow_rebase_merge": True,
    "allow_auto_merge": False,
    "allow_update_branch": False,
    "delete_branch_on_merge": False,
    "allow_forking": True,
    "web_commit_signoff_required": False,
    "default_branch": "main",
    "archived": False,
}

#: settings never factored into ``defaults.repo`` (they describe one repository)
NOT_FACTORED = frozenset({"description", "homepage", "archived"})

SECRET_TYPES = ("actions", "dependabot")
from ..resources.secret import PLACEHOLDER as PLACEHOLDER_PREFIX  # noqa: E402  (one spelling)

KEYS_DIR = "keys"
SECRET_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RUNNER_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LOCAL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PERMISSIONS = ("read", "triage", "write", "maintain", "admin")


# -- what was read -----------------------------------------------------------------------------


@dataclass
class LiveEnv:
    name: str  # GitHub's spelling
    wait_timer: int = 0
    prevent_self_review: bool = False
    reviewers: list[str] = field(default_factory=list)  # user logins, GitHub's spelling
    protected_branches_only: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


@dataclass
class LiveRepo:
    full_name: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)  # managed settings GitHub reported
    topics: list[str] = field(default_factory=list)
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> role (direct or invited)
    pending: set[str] = field(default_factory=set)  # logins whose invitation is still pending
    variables: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, list[str]] = field(default_factory=dict)  # type -> names
    environments: dict[str, LiveEnv] = field(default_factory=dict)
    deploy_keys: dict[str, tuple[str, bool]] = field(default_factory=dict)  # title -> (key, read_only)
    kinds: dict[str, dict[str, Item]] = field(default_factory=dict)  # importable kind -> its live items
    notes: list[str] = field(default_factory=list)

    @property
    def archived(self) -> bool:
        return bool(self.settings.get("archived"))


@dataclass
class LiveAccount:
    id: str
    login: str
    is_org: bool
    repos: list[LiveRepo] = field(default_factory=list)
    org_secrets: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # type -> NAME -> attrs
    org_variables: dict[str, dict[str, Any]] = field(default_factory=dict)  # NAME -> {value, visibility, repos}
    runner_groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> attrs
    runners: list[dict[str, Any]] = field(default_factory=list)  # {name, labels, group}
    codespaces_secrets: dict[str, list[str]] = field(default_factory=dict)  # NAME -> repos
    org_members: dict[str, str] = field(default_factory=dict)  # login -> member | admin
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)  # team name -> declaration
    kinds: dict[str, dict[str, Item]] = field(default_factory=dict)  # importable organization kind -> its live items
    notes: list[str] = field(default_factory=list)


@dataclass
class CallCounts:
    connect: int = 0
    listing: int = 0
    repos: int = 0
    account: int = 0
    repo_count: int = 0

    @property
    def total(self) -> int:
        return self.connect + self.listing + self.repos + self.account

    @property
    def per_repo(self) -> float:
        return self.repos / self.repo_count if self.repo_count else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "connect": self.connect,
            "repository_list": self.listing,
            "repositories": self.repos,
            "per_repository": round(self.per_repo, 2),
            "account_level": self.account,
        }


# -- reading ------------------------------------------------------------------------------------


class _ImportReader(Reader):
    """A :class:`Reader` that already knows the repositories the account listing returned
    (when the listing carried every managed setting), so reading one costs no GET."""

    def __init__(self, client: Any, known: dict[str, dict[str, Any]]):
        super().__init__(client)
        self.known = known

    def repo(self, full_name: str) -> dict | None:
        data = self.known.get(full_name.lower())
        return data if data is not None else super().repo(full_name)


def _guard(notes: list[str], what: str, fn: Callable[[], Any], default: Any) -> Any:
    """Run a read; a 403 (no permission, or a scope the token lacks) becomes a note."""
    try:
        return fn()
    except GitHubError as exc:
        if exc.status in (403, 404):
            notes.append(f"{what}: not readable with this token ({exc.status}); left out")
            return default
        raise


def list_repositories(client: Any, login: str, is_org: bool) -> list[dict[str, Any]]:
    """Every repository the account owns (one paginated list call)."""
    if is_org:
        items = client.get_list(f"/orgs/{login}/repos", {"type": "all"})
    else:
        items = client.get_list("/user/repos", {"affiliation": "owner"})
    return [r for r in items or [] if str(r["owner"]["login"]).lower() == login.lower()]


def matches(full_name: str, globs: list[str]) -> bool:
    if not globs:
        return True
    low = full_name.lower()
    name = low.split("/", 1)[1]
    return any(fnmatch.fnmatchcase(name, g.lower()) or fnmatch.fnmatchcase(low, g.lower()) for g in globs)


def importable_kinds(where: str) -> list[Kind]:
    """The kinds whose section (``repo`` or ``top``) ``gridctl import`` writes with the kind's own
    :meth:`~gridctl.resources.base.Kind.declare`, in the registry's order."""
    return [k for k in KINDS.values() if k.importable and k.sections and k.sections[0].where == where]


def _read_kinds(reader: Reader, kinds: list[Kind], scope_of: Callable[[Kind], Scope], what: str, notes: list[str]) -> dict[str, dict[str, Item]]:
    """The live items of each importable kind (one kind's 403/404 becomes a note)."""
    out: dict[str, dict[str, Item]] = {}
    for kind in kinds:
        items = _guard(notes, f"{what} {kind.sections[0].key}", lambda k=kind: k.live(reader, scope_of(k)), {})  # type: ignore[misc]
        if items:
            out[kind.name] = items
    return out


def read_repo(reader: Reader, account: str, full: str) -> LiveRepo:
    """One repository as the resource kinds see it."""
    notes: list[str] = []

    def scope(kind: str, extra: tuple = ()) -> Scope:
        return Scope(kind, account, full, full, extra)

    item = KINDS["repo"].live(reader, scope("repo")).get(full)
    if item is None:
        raise GitHubError(f"repository {full} disappeared while importing", status=404)
    data = reader.repo(full) or {}
    out = LiveRepo(full_name=f"{item.meta['owner']}/{item.meta['name']}", name=str(item.meta["name"]), notes=notes)
    out.settings = dict(item.attrs)
    topics = KINDS["topics"].live(reader, scope("topics")).get("topics")
    out.topics = list(topics.attrs["topics"]) if topics else list(data.get("topics") or [])
    if out.archived:
        notes.append(f"{out.full_name} is archived (read-only on GitHub): only its settings and topics are imported")
        return out

    # collaborators: the direct ones, and pending invitations (prune forces the invitation read)
    collab_scope = scope("collaborator", (("want", ""), ("managed", ""), ("prune", "1")))
    for _, it in sorted(_guard(notes, f"{full} collaborators", lambda: KINDS["collaborator"].live(reader, collab_scope), {}).items()):
        login, role = it.attrs["login"], it.attrs.get("role")
        if it.meta.get("expired"):
            notes.append(f"{full}: the invitation of {login} has expired; left out (declare {login} to invite again)")
            continue
        if role not in PERMISSIONS:
            notes.append(f"{full}: collaborator {login} has the custom role {role!r}, which the manifest cannot declare; left out")
            continue
        out.collaborators[login] = role
        if it.meta.get("pending"):
            out.pending.add(login)

    for name, it in _guard(notes, f"{full} variables", lambda: KINDS["variable"].live(reader, scope("variable")), {}).items():
        if name.upper().startswith("GITHUB_"):
            notes.append(f"{full}: variable {name} has a reserved name; left out")
            continue
        out.variables[name] = str(it.attrs["value"])

    def secret_names(typ: str) -> list[str]:
        items = KINDS["secret"].live(reader, scope("secret", (("types", (typ,)),)))
        return sorted(it.meta["name"] for it in items.values() if SECRET_NAME_RE.match(it.meta["name"]))

    for typ in SECRET_TYPES:
        names = _guard(notes, f"{full} {typ} secrets", lambda t=typ: secret_names(t), [])  # type: ignore[misc]
        if names:
            out.secrets[typ] = names

    out.environments = _guard(notes, f"{full} environments", lambda: _read_environments(reader, account, full, notes), {})

    keys = _guard(notes, f"{full} deploy keys", lambda: reader.list(f"/repos/{full}/keys") or [], [])
    for k in sorted(keys, key=lambda k: k["id"]):
        title = k.get("title") or ""
        if title in out.deploy_keys:
            notes.append(f"{full}: more than one deploy key is titled {title!r}; only the oldest is imported (gridctl manages keys by title)")
            continue
        out.deploy_keys[title] = (str(k["key"]).strip(), bool(k.get("read_only")))

    owner = out.full_name.split("/", 1)[0]
    out.kinds = _read_kinds(reader, importable_kinds("repo"), lambda k: k.import_scope(account, owner, full), full, notes)
    return out


def _read_environments(reader: Reader, account: str, full: str, notes: list[str]) -> dict[str, LiveEnv]:
    from ..resources.environment import env_scope_name, environments_of

    items = KINDS["environment"].live(reader, Scope("environment", account, full, full, (("names", ()),)))
    raw = {e["name"]: e for e in environments_of(reader, full)}
    out: dict[str, LiveEnv] = {}
    for name, it in sorted(items.items()):
        gh_name = it.meta.get("github_name") or name
        env = LiveEnv(
            gh_name,
            wait_timer=int(it.attrs.get("wait_timer") or 0),
            prevent_self_review=bool(it.attrs.get("prevent_self_review")),
            protected_branches_only=bool(it.attrs.get("protected_branches_only")),
        )
        # reviewers in GitHub's spelling (the kind compares them lower-cased)
        for rule in (raw.get(gh_name) or {}).get("protection_rules") or []:
            if rule.get("type") == "required_reviewers":
                for r in rule.get("reviewers") or []:
                    who = r.get("reviewer") or {}
                    if r.get("type") == "User" and who.get("login"):
                        env.reviewers.append(str(who["login"]))
        env.reviewers = sorted(set(env.reviewers), key=str.lower)
        if len(env.reviewers) > 6:
            notes.append(f"{full}: environment {gh_name} has more than 6 reviewers; left out of its declaration")
            env.reviewers = []
        vscope = Scope("env-variable", account, env_scope_name(full, gh_name), full, (("environment", gh_name),))
        for vname, v in KINDS["env-variable"].live(reader, vscope).items():
            env.variables[vname] = str(v.attrs["value"])
        sscope = Scope("env-secret", account, env_scope_name(full, gh_name), full, (("env", gh_name),))
        env.secrets = sorted(s.meta["name"] for s in KINDS["env-secret"].live(reader, sscope).values() if SECRET_NAME_RE.match(s.meta["name"]))
        out[gh_name] = env
    return out


def read_org(reader: Reader, live: LiveAccount, *, runner_root: Path, runner_dir: str) -> None:
    """Organization secrets, variables, runner groups and runners."""
    from ..fleet import jitfile

    acc, org, notes = live.id, live.login, live.notes
    scope_name = f"org {org}"

    def secrets(watch: tuple) -> dict:
        s = Scope("org-secret", acc, scope_name, None, (("org", org), ("types", SECRET_TYPES), ("watch", watch)))
        return KINDS["org-secret"].live(reader, s)

    items = _guard(notes, f"organization {org} secrets", lambda: secrets(()), {})
    selected = tuple(sorted(k for k, it in items.items() if it.attrs.get("visibility") == "selected"))
    if selected:
        items = _guard(notes, f"organization {org} secrets", lambda: secrets(selected), items)
    for key, it in sorted(items.items()):
        typ, name = key.split(":", 1)
        if SECRET_NAME_RE.match(name):
            attrs = {"visibility": it.attrs.get("visibility") or "all"}
            if attrs["visibility"] == "selected":
                attrs["repos"] = list(it.attrs.get("repos") or [])
            live.org_secrets.setdefault(typ, {})[name] = attrs

    vscope = Scope("org-variable", acc, scope_name, None, (("org", org),))
    for name, it in sorted(_guard(notes, f"organization {org} variables", lambda: KINDS["org-variable"].live(reader, vscope), {}).items()):
        live.org_variables[name] = dict(it.attrs)

    def groups(watch: tuple) -> dict:
        return KINDS["runner-group"].live(reader, Scope("runner-group", acc, scope_name, None, (("org", org), ("watch", watch))))

    gitems = _guard(notes, f"organization {org} runner groups", lambda: groups(()), {})
    selected = tuple(sorted(k for k, it in gitems.items() if it.attrs.get("visibility") == "selected"))
    if selected:
        gitems = _guard(notes, f"organization {org} runner groups", lambda: groups(selected), gitems)
    for key, it in sorted(gitems.items()):
        live.runner_groups[it.meta.get("name") or key] = dict(it.attrs)

    live.kinds = _read_kinds(reader, importable_kinds("top"), lambda k: k.import_scope(acc, org, None), f"organization {org}", notes)

    members_teams = _guard(notes, f"organization {org} members and teams", lambda: read_teams(reader, acc, org), ({}, {}))
    live.org_members, live.teams = members_teams

    runner_kind = KINDS["runner"]
    rscope = runner_kind.scope_of(scope_name, acc)  # type: ignore[attr-defined]
    skipped = []
    for key, it in sorted(_guard(notes, f"organization {org} runners", lambda: runner_kind.live(reader, rscope), {}).items()):
        name = str(it.meta.get("name") or key)
        if not RUNNER_NAME_RE.match(name):
            notes.append(f"runner {name} of {org}: the name cannot be declared in a manifest; left out")
            continue
        online = (it.meta.get("status") or it.attrs.get("status")) == "online"
        try:
            here = jitfile.exists(runner_root, jitfile.relpath(runner_dir, f"org:{org}", name))
        except jitfile.JitPathError:
            here = False
        if not online and not here:
            skipped.append(name)
            continue
        live.runners.append({"name": name, "labels": list(it.attrs.get("labels") or []), "group": it.attrs.get("group") or "Default"})
    if skipped:
        notes.append(
            f"offline runner(s) of {org} without a JIT file here, left out (declaring them would register them again, "
            f"with new JIT files on this host): {', '.join(skipped)}"
        )


def read_codespaces(reader: Reader, live: LiveAccount) -> None:
    """A user's Codespaces secrets (names and repositories), with the user's own token."""
    acc, login = live.id, live.login

    def items(watch: tuple) -> dict:
        s = Scope("codespaces-secret", acc, f"user {login}", None, (("login", login), ("watch", watch)))
        return KINDS["codespaces-secret"].live(reader, s)

    first = _guard(live.notes, f"Codespaces secrets of {login}", lambda: items(()), {})
    if not first:
        return
    full = _guard(live.notes, f"Codespaces secrets of {login}", lambda: items(tuple(sorted(first))), {})
    for name, it in sorted(full.items()):
        if SECRET_NAME_RE.match(name):
            live.codespaces_secrets[name] = list(it.attrs.get("repos") or [])


def read_account(
    client: Any,
    account: str,
    login: str,
    is_org: bool,
    *,
    globs: list[str] | None = None,
    parallelism: int = 4,
    runner_root: Path | None = None,
    runner_dir: str = "runners",
    progress: Callable[[str, str], None] | None = None,
    counts: CallCounts | None = None,
) -> LiveAccount:
    """Read everything the import declares for one account (GitHub reads only)."""
    counts = counts or CallCounts()

    def requests_so_far() -> int:
        return int(client.stats.as_dict().get("requests", 0))

    start = requests_so_far()
    listed = [r for r in list_repositories(client, login, is_org) if matches(r["full_name"], globs or [])]
    counts.listing += requests_so_far() - start
    if globs and not listed:
        raise GridctlError(f"no repository of {login} matches {' or '.join(globs)}")
    # a listing that carries every managed setting saves a GET per repository
    known = {r["full_name"].lower(): r for r in listed if all(k in r for k in REPO_SETTINGS)}
    live = LiveAccount(account, login, is_org)

    def one(full: str) -> LiveRepo:
        reader = _ImportReader(client, known)
        repo = read_repo(reader, account, full)
        if progress:
            progress("read", full)
        return repo

    start = requests_so_far()
    names = sorted((r["full_name"] for r in listed), key=str.lower)
    with ThreadPoolExecutor(max_workers=max(1, min(32, parallelism)), thread_name_prefix="gridctl-import") as pool:
        live.repos = list(pool.map(one, names))
    counts.repos += requests_so_far() - start
    counts.repo_count = len(live.repos)

    start = requests_so_far()
    reader = Reader(client)
    if is_org:
        read_org(reader, live, runner_root=runner_root or Path.cwd(), runner_dir=runner_dir)
    else:
        read_codespaces(reader, live)
    counts.account += requests_so_far() - start
    return live


# -- building the manifest -----------------------------------------------------------------------


@dataclass
class FileOut:
    """A file the import writes next to the manifest."""

    rel: str
    text: str
    secret: bool  # a placeholder for a secret value: mode 0600, never overwritten


@dataclass
class Generated:
    data: dict[str, Any]
    files: list[FileOut]
    notes: list[str]
    comments: dict[tuple, list[str]] = field(default_factory=dict)


def factor_defaults(repos: list[LiveRepo]) -> dict[str, Any]:
    """Settings for ``defaults.repo``: for each managed setting every repository reports, the
    most common value when it covers at least half of them and differs from GitHub's default."""
    out: dict[str, Any] = {}
    if not repos:
        return out
    for key in REPO_SETTINGS:
        if key in NOT_FACTORED or any(key not in r.settings for r in repos):
            continue
        counter = Counter(json.dumps(r.settings[key], sort_keys=True) for r in repos)
        default = json.dumps(GITHUB_REPO_DEFAULTS.get(key), sort_keys=True)
        top = max(counter.values())
        # on a tie GitHub's default wins (nothing to factor), then the smallest value
        best = sorted((v for v, n in counter.items() if n == top), key=lambda v: (v != default, v))[0]
        if best != default and top * 2 >= len(repos):
            out[key] = json.loads(best)
    return out


def _safe_part(text: str, fallback: str = "x") -> str:
    """A file-name / key-id component: letters, digits, ``.``, ``_`` and ``-`` only."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip()
    if out in ("", ".", ".."):
        out = fallback
    return out


class _Ids:
    """Unique key ids (``keys:`` entries) and file paths."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.paths: set[str] = set()

    def key_id(self, *parts: str) -> str:
        raw = ".".join(_safe_part(p) for p in parts)
        if not raw[:1].isalnum():
            raw = "k" + raw
        candidate = raw if len(raw) <= 64 else raw[:55] + "-" + hashlib.sha256(raw.encode()).hexdigest()[:8]
        n = 2
        while candidate.lower() in self.ids or not LOCAL_ID_RE.match(candidate):
            suffix = f"-{n}"
            candidate = (raw if len(raw) + len(suffix) <= 64 else raw[: 64 - len(suffix) - 9] + "-" + hashlib.sha256(raw.encode()).hexdigest()[:8]) + suffix
            n += 1
        self.ids.add(candidate.lower())
        return candidate

    def path(self, folder: str, stem: str, suffix: str) -> str:
        base = f"{folder}/{_safe_part(stem)}"
        candidate, n = base + suffix, 2
        while candidate.lower() in self.paths:
            candidate, n = f"{base}-{n}{suffix}", n + 1
        self.paths.add(candidate.lower())
        return candidate


def _placeholder(what: str, key_id: str) -> str:
    return (
        f"# gridctl import: placeholder for {what}.\n"
        "# GitHub never returns secret values. Replace the last line with the real value (lines\n"
        "# starting with # are ignored; a value of several lines is kept line by line), or point\n"
        f"# keys.{key_id}.source in the manifest at your secret store (env or command).\n"
        "# Until then, gridctl apply would overwrite the secret on GitHub with this placeholder.\n"
        f"{PLACEHOLDER_PREFIX} {what}\n"
    )


class _Builder:
    """Collects what the sections need besides their data: key ids, files, notes."""

    def __init__(self, notes: list[str]):
        self.ids = _Ids()
        self.files: list[FileOut] = []
        self.keys: dict[str, Any] = {}
        self.notes = notes

    def secret_ref(self, what: str, folder: str, name: str, *id_parts: str) -> dict[str, Any]:
        """``{key: <id>}`` for a secret, with a ``keys:`` entry reading a new placeholder file."""
        key_id = self.ids.key_id(*id_parts)
        rel = self.ids.path(folder, name, ".txt")
        self.keys[key_id] = {"source": {"file": rel, "lines": True}}
        self.files.append(FileOut(rel, _placeholder(what, key_id), secret=True))
        return {"key": key_id}

    def secret_source(self, what: str, folder: str, name: str) -> dict[str, Any]:
        """A ``{file: ...}`` source for a secret that is a source, not a key (a webhook's): a new
        placeholder file of one line (a source without ``lines`` reads the whole file)."""
        rel = self.ids.path(folder, name, ".txt")
        self.files.append(FileOut(rel, f"{PLACEHOLDER_PREFIX} {what}\n", secret=True))
        self.notes.append(
            f"{what} cannot be read from GitHub: it reads the placeholder file {rel}; put the real value there "
            "(or point that source at env/command) before applying"
        )
        return {"file": rel}

    def declare(self, kind: Kind, items: dict[str, Item], what: str, folder: str) -> Any:
        """The kind's declaration of ``items`` (secrets as placeholder files under ``folder``)."""
        return kind.declare(items, Declaring(what, self.notes, lambda w, n: self.secret_source(w, folder, n)))

    def public_key(self, folder: str, title: str, text: str) -> str:
        rel = self.ids.path(folder, title or "key", ".pub")
        self.files.append(FileOut(rel, text + "\n", secret=False))
        return rel


def _repo_entry(b: _Builder, r: LiveRepo, defaults: dict[str, Any], login_accounts: dict[str, str], used: set[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for key in sorted(r.settings):
        baseline = defaults[key] if key in defaults else GITHUB_REPO_DEFAULTS.get(key, object())
        if r.settings[key] != baseline:
            entry[key] = r.settings[key]
    if r.topics:
        entry["topics"] = sorted(r.topics)
    if r.collaborators:
        collabs = {}
        for login, role in sorted(r.collaborators.items(), key=lambda kv: kv[0].lower()):
            who = login_accounts.get(login.lower())
            if who is not None:
                used.add(who)
                if login in r.pending:
                    b.notes.append(
                        f"{r.full_name}: {login} (account {who}) has not accepted the invitation yet; "
                        f"gridctl plan will show its acceptance with {who}'s token"
                    )
            collabs[who or login] = role
        entry["collaborators"] = dict(sorted(collabs.items(), key=lambda kv: kv[0].lower()))
    if r.variables:
        entry["variables"] = dict(sorted(r.variables.items()))
    repo_dir = f"{KEYS_DIR}/repos/{_safe_part(r.name)}"
    if r.secrets:
        entry["secrets"] = {
            typ: {
                name: b.secret_ref(f"the {typ} secret {name} of {r.full_name}", f"{repo_dir}/{typ}", name, r.name, typ, name)
                for name in names
            }
            for typ, names in sorted(r.secrets.items())
        }
    if r.environments:
        envs: dict[str, Any] = {}
        for env_name, e in sorted(r.environments.items(), key=lambda kv: kv[0].lower()):
            decl: dict[str, Any] = {}
            if e.wait_timer:
                decl["wait_timer"] = e.wait_timer
            if e.reviewers:
                decl["reviewers"] = list(e.reviewers)
                if e.prevent_self_review:
                    decl["prevent_self_review"] = True
            if e.protected_branches_only:
                decl["protected_branches_only"] = True
            if e.variables:
                decl["variables"] = dict(sorted(e.variables.items()))
            if e.secrets:
                folder = f"{repo_dir}/environments/{_safe_part(env_name)}"
                decl["secrets"] = {
                    name: b.secret_ref(f"the secret {name} of environment {env_name} of {r.full_name}", folder, name, r.name, "env", env_name, name)
                    for name in e.secrets
                }
            envs[env_name] = decl
        entry["environments"] = envs
    if r.deploy_keys:
        dks: dict[str, Any] = {}
        for title, (text, read_only) in sorted(r.deploy_keys.items()):
            dk: dict[str, Any] = {"file": b.public_key(f"{repo_dir}/deploy_keys", title, text)}
            if not read_only:
                dk["read_only"] = False
            dks[title] = dk
        entry["deploy_keys"] = dks
    for kind in importable_kinds("repo"):
        if kind.name in r.kinds:
            section = kind.sections[0].key
            decl = b.declare(kind, r.kinds[kind.name], r.full_name, f"{repo_dir}/{section}")
            if decl:
                entry[section] = decl
    return entry


def _visibility_decl(decl: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    """``visibility`` (when not ``all``) and, for ``selected``, ``repos``."""
    vis = attrs.get("visibility") or "all"
    if vis != "all":
        decl["visibility"] = vis
    if vis == "selected":
        decl["repos"] = sorted(attrs.get("repos") or [])
    return decl


def _account_sections(b: _Builder, live: LiveAccount) -> dict[str, Any]:
    """codespaces_secrets, org_secrets, org_variables, runner_groups, runners."""
    out: dict[str, Any] = {}
    if live.codespaces_secrets:
        cs: dict[str, Any] = {}
        for name, repos in sorted(live.codespaces_secrets.items()):
            decl = b.secret_ref(f"the Codespaces secret {name} of {live.login}", f"{KEYS_DIR}/codespaces", name, "codespaces", name)
            if repos:
                decl["repos"] = sorted(repos, key=str.lower)
            cs[name] = decl
        out["codespaces_secrets"] = {live.id: cs}
    if live.org_secrets:
        org_sec: dict[str, Any] = {}
        for typ, secrets in sorted(live.org_secrets.items()):
            org_sec[typ] = {
                name: _visibility_decl(b.secret_ref(f"the organization {typ} secret {name} of {live.login}", f"{KEYS_DIR}/org/{typ}", name, "org", typ, name), attrs)
                for name, attrs in sorted(secrets.items())
            }
        out["org_secrets"] = {live.id: org_sec}
    if live.org_variables:
        org_vars: dict[str, Any] = {}
        for name, attrs in sorted(live.org_variables.items()):
            if (attrs.get("visibility") or "all") == "all":
                org_vars[name] = str(attrs["value"])
            else:
                org_vars[name] = _visibility_decl({"value": str(attrs["value"])}, attrs)
        out["org_variables"] = {live.id: org_vars}
    if live.runner_groups:
        groups: dict[str, Any] = {}
        for name, attrs in sorted(live.runner_groups.items(), key=lambda kv: kv[0].lower()):
            decl = _visibility_decl({}, attrs)
            if attrs.get("allows_public_repos"):
                decl["allows_public_repos"] = True
            if attrs.get("restricted_to_workflows"):
                decl["restricted_to_workflows"] = True
            if attrs.get("selected_workflows"):
                decl["selected_workflows"] = list(attrs["selected_workflows"])
            groups[name] = decl
        out["runner_groups"] = {live.id: groups}
    if live.runners:
        sets: dict[tuple[tuple[str, ...], str], list[str]] = {}
        for rn in live.runners:
            sets.setdefault((tuple(sorted(rn["labels"])), rn.get("group") or "Default"), []).append(rn["name"])
        runner_sets = []
        for (labels, group), names in sorted(sets.items(), key=lambda kv: (kv[0][1].lower(), kv[0][0])):
            rs: dict[str, Any] = {"scope": f"org:{live.id}", "names": sorted(names, key=str.lower)}
            if labels:
                rs["labels"] = list(labels)
            if group.lower() != "default":
                rs["group"] = group
            runner_sets.append(rs)
        out["runners"] = runner_sets
    return out


def build_manifest(
    live: LiveAccount,
    account_entry: dict[str, Any],
    *,
    extra_accounts: dict[str, dict[str, Any]] | None = None,
    login_accounts: dict[str, str] | None = None,
) -> Generated:
    """Manifest data for ``live`` (pure). ``extra_accounts`` are more ``accounts:`` entries
    (collaborators that are accounts of an existing manifest); ``login_accounts`` maps a
    lower-cased login to the account id to write instead of the login."""
    extra_accounts = dict(extra_accounts or {})
    b = _Builder(list(live.notes))
    repos_sorted = sorted(live.repos, key=lambda r: r.full_name.lower())
    defaults = factor_defaults(repos_sorted)
    used: set[str] = set()
    repos: dict[str, Any] = {}
    for r in repos_sorted:
        b.notes.extend(r.notes)
        repos[r.full_name] = _repo_entry(b, r, defaults, dict(login_accounts or {}), used)
    more = _account_sections(b, live)
    more.update(team_sections(live.id, live.org_members, live.teams, dict(login_accounts or {}), used))
    for kind in importable_kinds("top"):
        if kind.name in live.kinds:
            section = kind.sections[0].key
            decl = b.declare(kind, live.kinds[kind.name], f"organization {live.login}", f"{KEYS_DIR}/org/{section}")
            if decl:
                more[section] = {live.id: decl}

    accounts = {live.id: account_entry}
    for acc_id in sorted(used):
        if acc_id != live.id and acc_id in extra_accounts:
            accounts[acc_id] = extra_accounts[acc_id]
    data: dict[str, Any] = {"version": 1, "accounts": accounts}
    comments: dict[tuple, list[str]] = {}
    if b.keys:
        data["keys"] = dict(sorted(b.keys.items()))
        comments[("keys",)] = [
            "Secret values cannot be read from GitHub: each key below reads a placeholder file.",
            "Put the real values in those files (or point the sources at env/command) before applying.",
        ]
    if defaults:
        data["defaults"] = {"repo": dict(sorted(defaults.items()))}
        comments[("defaults",)] = ["Settings most repositories share; a repository lists only where it differs."]
    data["repos"] = repos
    data.update(more)
    return Generated(data, sorted(b.files, key=lambda f: f.rel), b.notes, comments)


# -- YAML ---------------------------------------------------------------------------------------

_PLAIN_RE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"}
WIDTH = 100


def yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN_RE.match(text) and text.lower() not in _RESERVED:
        return text
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable() or ch in "\u0085\ufeff":
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _flow(value: Any) -> str | None:
    """A one-line rendering of a list or mapping of scalars, or None."""
    if isinstance(value, list) and all(_is_scalar(v) for v in value):
        return "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
    if isinstance(value, dict) and all(_is_scalar(v) for v in value.values()):
        return "{" + ", ".join(f"{yaml_scalar(k)}: {yaml_scalar(v)}" for k, v in value.items()) + "}"
    return None


def _emit(value: Any, indent: int, path: tuple, lines: list[str], comments: dict[tuple, list[str]]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for k, v in value.items():
            child = path + (k,)
            for c in comments.get(child, []):
                lines.append(f"{pad}# {c}")
            key = yaml_scalar(k)
            if _is_scalar(v):
                lines.append(f"{pad}{key}: {yaml_scalar(v)}")
                continue
            if not v:
                lines.append(f"{pad}{key}: {'{}' if isinstance(v, dict) else '[]'}")
                continue
            flow = _flow(v) if len(child) >= 3 or isinstance(v, list) else None
            if flow is not None and len(pad) + len(key) + 2 + len(flow) <= WIDTH:
                lines.append(f"{pad}{key}: {flow}")
                continue
            lines.append(f"{pad}{key}:")
            _emit(v, indent + 2, child, lines, comments)
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            if _is_scalar(v):
                lines.append(f"{pad}- {yaml_scalar(v)}")
                continue
            sub: list[str] = []
            _emit(v, indent + 2, path + (i,), sub, comments)
            first = sub[0]
            lines.append(f"{pad}- {first[indent + 2:]}")
            lines.extend(sub[1:])
        return
    raise TypeError(f"cannot render {type(value).__name__}")


def render_yaml(gen: Generated, *, schema: str, header: list[str]) -> str:
    """The manifest text: the schema line, a header comment, then the sections (a blank line
    between top-level sections)."""
    lines = [f"# yaml-language-server: $schema={schema}"]
    for h in header:
        h = re.sub(r"[\r\n\u0085\u2028\u2029]+", " ", h)
        lines.append(f"# {h}" if h else "#")
    for section, value in gen.data.items():
        lines.append("")
        _emit({section: value}, 0, (), lines, gen.comments)
    return "\n".join(lines) + "\n"


# -- the command ----------------------------------------------------------------------------------


@dataclass
class ImportOptions:
    account: str
    output: Path = Path("grid.yaml")
    repos: list[str] = field(default_factory=list)
    existing: Path | None = None
    login: str | None = None
    org: str | None = None
    sandbox: bool = False
    api_url: str | None = None
    state_dir: Path | None = None
    parallelism: int = 4
    force: bool = False
    schema: str | None = None
    progress: Callable[[str, str], None] | None = None


@dataclass
class ImportResult:
    output: Path
    account: str
    login: str
    is_org: bool
    repos: int
    secrets: int
    placeholders_written: list[str]
    placeholders_kept: list[str]
    files_written: list[str]
    notes: list[str]
    calls: CallCounts


def default_token_env(account: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", account.upper())
    return f"GRID_TOKEN_{name}" if name[:1] else "GRID_TOKEN"


def _rebase_token(entry: dict[str, Any], old_root: Path, new_root: Path) -> dict[str, Any]:
    """An ``accounts:`` entry moved from one manifest folder to another: a relative token file
    keeps pointing at the same file (relative when it is inside the new folder, else absolute,
    since a relative token path may not leave the manifest's folder)."""
    token = dict(entry.get("token") or {})
    path = token.get("file")
    if isinstance(path, str) and not os.path.isabs(os.path.expanduser(path)) and not path.startswith("~"):
        target = (old_root / path).resolve()
        new = new_root.resolve()
        token["file"] = target.relative_to(new).as_posix() if new in target.parents else str(target)
    return {**entry, "token": token}


def _schema_ref(out_dir: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    from ..manifest.schema import schema_path

    return os.path.relpath(schema_path("grid.schema.json").resolve(), out_dir.resolve())


def _write_text(path: Path, text: str, *, private: bool) -> None:
    from ..state.local import write_private

    if private:
        write_private(path, text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_import(opts: ImportOptions) -> ImportResult:
    """Read one account and write the manifest and its key files. Raises GridctlError."""
    from ..core.session import Options, Session, workdir_for
    from ..resources import load_manifest

    out = opts.output
    out_dir = out.resolve().parent
    if out.exists() and not opts.force:
        raise GridctlError(f"{out} exists; pass --force to overwrite it (key files already under {KEYS_DIR}/ are kept)")

    # -- the account and its token source (from the existing manifest when it declares it)
    existing_entries: dict[str, dict[str, Any]] = {}  # rebased to the output's folder
    existing_logins: dict[str, str] = {}  # login_lower -> account id (users only)
    entry: dict[str, Any] | None = None
    token_source: dict[str, Any] = {"env": default_token_env(opts.account)}
    login, is_org = (opts.org, True) if opts.org else (opts.login, False)
    if opts.existing is not None:
        em = load_manifest(opts.existing, resolve=False)
        for acc in em.accounts.values():
            existing_entries[acc.id] = _rebase_token(dict(em.data["accounts"][acc.id]), em.root, out_dir)
            if not acc.is_org:
                existing_logins[acc.login.lower()] = acc.id
        if opts.account in em.accounts:
            token_source = dict(existing_entries[opts.account]["token"])
            if not (opts.login or opts.org):
                login, is_org = em.accounts[opts.account].login, em.accounts[opts.account].is_org
                entry = existing_entries[opts.account]
    if opts.sandbox and login is None:
        login = opts.account

    token: Sensitive | None = None
    if not opts.sandbox:
        try:
            token = Sensitive(read_source(Source.from_dict(token_source), out_dir, allow_outside=True).strip())
        except GridctlError as exc:
            raise AuthError(f"account {opts.account}: token source unavailable: {exc}") from None

    workdir = workdir_for(out, opts.state_dir)
    provisional = login or opts.account
    manifest = Manifest(file=out, root=out_dir, data={"version": 1, "accounts": {}}, positions=Positions())
    manifest.accounts[opts.account] = Account(opts.account, provisional, is_org, Source.from_dict(token_source), ("accounts", opts.account), token)
    options = Options(api_url=opts.api_url, sandbox=opts.sandbox, workdir=workdir, progress=opts.progress, check_tokens=False)
    session = Session(manifest, options, workdir)
    counts = CallCounts()
    try:
        session._connect()
        client = session.clients[opts.account]
        if not opts.sandbox:
            checked = False
            if login is None:  # the token's user, or the organization the account id names
                me, _ = client.whoami()
                login, checked = me, True
                if me.lower() != opts.account.lower() and client.get(f"/orgs/{opts.account}") is not None:
                    login, is_org, checked = opts.account, True, False
                acc = manifest.accounts[opts.account]
                acc.login, acc.is_org = login, is_org
            if not checked:
                session._check_tokens()  # the token's user is the account, or an owner of the organization
        counts.connect = int(client.stats.as_dict().get("requests", 0))
        assert login is not None
        live = read_account(
            client,
            opts.account,
            login,
            is_org,
            globs=opts.repos,
            parallelism=opts.parallelism,
            runner_root=out_dir,
            progress=opts.progress,
            counts=counts,
        )
    finally:
        session.close()

    if entry is None:
        entry = {("org" if is_org else "login"): login, "token": token_source}
    gen = build_manifest(live, entry, extra_accounts=existing_entries, login_accounts={k: v for k, v in existing_logins.items() if v != opts.account})
    kind = "organization" if is_org else "user"
    n_secrets = sum(1 for f in gen.files if f.secret)
    header = [
        f"Imported by `gridctl import` from the GitHub {kind} {login} (account {opts.account}): {len(live.repos)} repositories.",
        "Settings equal to GitHub's defaults are left out (not managed); settings most repositories",
        "share are in defaults.repo. Every collection is as GitHub had it (nothing is pruned).",
    ]
    if n_secrets:
        header += [
            f"{n_secrets} secret(s): GitHub never returns values, so each reads a placeholder file under {KEYS_DIR}/.",
            "Put the real values there (or point keys.<id>.source at env/command) before gridctl apply;",
            "until then the plan shows each secret as an update and apply would write the placeholders.",
        ]
    if gen.notes:
        header.append("Notes:")
        header.extend(f"  - {n}" for n in gen.notes)
    text = render_yaml(gen, schema=_schema_ref(out_dir, opts.schema), header=header)
    _check_roundtrip(text, gen.data, out)

    written, kept, others = [], [], []
    for f in gen.files:
        path = out_dir / f.rel
        if f.secret:
            if path.exists():
                kept.append(f.rel)  # may already hold the real value: never overwritten
                continue
            _write_text(path, f.text, private=True)
            written.append(f.rel)
        else:
            if not path.exists() or path.read_text(encoding="utf-8", errors="replace") != f.text:
                _write_text(path, f.text, private=False)
            others.append(f.rel)
    _write_text(out, text, private=False)
    load_manifest(out, tokens=False)  # the import must load (schema, references, key files)
    return ImportResult(out, opts.account, login, is_org, len(live.repos), n_secrets, written, kept, others, gen.notes, counts)


def _check_roundtrip(text: str, data: dict[str, Any], out: Path) -> None:
    """The rendered YAML must parse back to exactly ``data`` (a guard on the emitter)."""
    import tempfile

    from ..manifest.yamlpos import load_yaml

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "import.yaml"
        p.write_text(text, encoding="utf-8")
        parsed, _ = load_yaml(p, str(out))
    if parsed != data:
        raise GridctlError(f"internal error: the YAML rendered for {out} does not read back as the imported data")

