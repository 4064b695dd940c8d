"""The desired model: what grid.yaml declares, typed, normalized and resolved.

Built by :func:`gridctl.manifest.load.load_manifest` after schema and semantic checks; every
object keeps the manifest path it came from (``path``) so later diagnostics can point at a line.
Sensitive values (tokens, key material) are :class:`~gridctl.manifest.sources.Sensitive`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Diagnostic
from .sources import Sensitive, Source
from .yamlpos import PathT, Positions

#: collaborator permission vocabulary -> GitHub role names
ROLE_OF = {"pull": "read", "read": "read", "triage": "triage", "push": "write", "write": "write", "maintain": "maintain", "admin": "admin"}
#: GitHub role name -> the collaborator PUT vocabulary
PERMISSION_OF = {"read": "pull", "triage": "triage", "write": "push", "maintain": "maintain", "admin": "admin"}

REPO_SETTINGS = (
    "description",
    "homepage",
    "visibility",
    "has_issues",
    "has_projects",
    "has_wiki",
    "has_discussions",
    "is_template",
    "allow_squash_merge",
    "allow_merge_commit",
    "allow_rebase_merge",
    "allow_auto_merge",
    "allow_update_branch",
    "delete_branch_on_merge",
    "allow_forking",
    "web_commit_signoff_required",
    "default_branch",
    "archived",
)


@dataclass
class AppSpec:
    """``accounts.<id>.app``: the account is a GitHub App installation."""

    app_id: str
    key_source: Source
    #: the installation's id, or the login (or ``owner/repo``) it is installed on
    installation: int | str
    repositories: tuple[str, ...] | None = None
    permissions: dict[str, str] | None = None
    private_key: Sensitive | None = None  # resolved at run time


@dataclass
class Account:
    id: str
    login: str  # the user login, or the organization login
    is_org: bool
    #: the token's source; for an app account, the private key's (never sent as a token)
    token_source: Source
    path: PathT
    token: Sensitive | None = None  # resolved at run time
    #: being retired: nothing may be declared for it; plan deletes what gridctl wrote through it
    retired: bool = False
    app: AppSpec | None = None

    @property
    def kind(self) -> str:
        return "org" if self.is_org else "user"


@dataclass
class KeySet:
    id: str
    source: Source
    path: PathT
    values: list[Sensitive] = field(default_factory=list)
    spread_over: list[str] = field(default_factory=list)
    per_account: int | None = None
    shares: dict[str, list[Sensitive]] = field(default_factory=dict)


@dataclass
class SecretRef:
    """Where a secret's value comes from: a key (with format and share) or a source."""

    path: PathT
    key: str | None = None
    format: str | None = None
    share: str | None = None
    source: Source | None = None


@dataclass
class EnvironmentSpec:
    name: str
    path: PathT
    wait_timer: int | None = None
    prevent_self_review: bool | None = None
    reviewers: list[str] = field(default_factory=list)
    protected_branches_only: bool | None = None
    secrets: dict[str, SecretRef] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class DeployKeySpec:
    title: str
    path: PathT
    key: str | None = None
    source: Source | None = None
    read_only: bool = True


@dataclass
class FileSpec:
    path_in_repo: str
    path: PathT
    source: str | None = None
    content: str | None = None
    branch: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Origin:
    """Where a value of a repository's entry is written: ``defaults.repo``, a repository group's
    ``repo`` block, or the repository's own entry (``path`` is that block in the manifest)."""

    layer: str  # "defaults" | "group" | "entry" (the repository's own)
    path: PathT
    group: str = ""

    @property
    def label(self) -> str:
        return {"defaults": "defaults.repo", "group": f"group {self.group}"}.get(self.layer, "the repository entry")


@dataclass
class RepoGroup:
    """``repo_groups.<name>``: repositories picked by name glob, list or topic, with their own
    defaults (``repo``), applied between ``defaults.repo`` and each repository's entry."""

    name: str
    path: PathT
    match: list[str] = field(default_factory=list)
    repos: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    order: int | None = None
    #: the repositories it picks (full names as written under ``repos``), in file order
    members: list[str] = field(default_factory=list)


@dataclass
class RepoSpec:
    full_name: str
    owner: str
    name: str
    account: str
    path: PathT
    settings: dict[str, Any] = field(default_factory=dict)
    topics: list[str] | None = None
    auto_init: bool = False
    prevent_destroy: bool = False
    on_destroy: str = "archive"
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> role
    collaborator_accounts: dict[str, str] = field(default_factory=dict)  # login_lower -> account id
    secrets: dict[str, dict[str, SecretRef]] = field(default_factory=dict)  # actions|dependabot -> NAME -> ref
    variables: dict[str, str] = field(default_factory=dict)
    environments: dict[str, EnvironmentSpec] = field(default_factory=dict)
    deploy_keys: dict[str, DeployKeySpec] = field(default_factory=dict)
    files: dict[str, FileSpec] = field(default_factory=dict)
    prune: dict[str, bool] = field(default_factory=dict)
    #: what each kind-owned section (``manifest.sections.Section``) parsed, by section key
    sections: dict[str, Any] = field(default_factory=dict)
    #: the repository groups applied to it, in the order applied (the last one wins)
    groups: list[str] = field(default_factory=list)
    #: when it inherits anything: path inside the entry (``("has_wiki",)``, ``("collaborators",
    #: "bob")``) -> where that value is written; empty when the entry is all its own
    origins: dict[PathT, Origin] = field(default_factory=dict)


@dataclass
class CodespacesSecretSpec:
    account: str
    name: str
    ref: SecretRef
    repos: list[str]
    path: PathT


@dataclass
class OrgSecretSpec:
    account: str
    type: str  # actions | dependabot
    name: str
    ref: SecretRef
    visibility: str
    repos: list[str]
    path: PathT


@dataclass
class OrgVariableSpec:
    account: str
    name: str
    value: str
    visibility: str
    repos: list[str]
    path: PathT


@dataclass
class RunnerGroupSpec:
    account: str
    name: str
    visibility: str
    repos: list[str]
    allows_public_repos: bool
    restricted_to_workflows: bool
    selected_workflows: list[str]
    path: PathT


@dataclass
class RunnerSpec:
    """One declared runner (a `runners` entry expands to one per name)."""

    scope: str  # "owner/repo" or "org:<login>"
    account: str
    name: str
    labels: list[str]
    group: str | None
    work_folder: str
    write_to: str
    path: PathT

    @property
    def is_org(self) -> bool:
        return self.scope.startswith("org:")


@dataclass
class DispatchTemplate:
    name: str
    repo: str
    account: str
    workflow: str | int
    ref: str | None
    inputs: dict[str, Any]
    when_idle: list[str]
    max_concurrent: int | None
    path: PathT


@dataclass
class QueueSpec:
    name: str
    repo: str
    account: str
    path_in_repo: str
    branch: str | None
    validate_pull_requests: bool
    orphan_after: float  # seconds
    path: PathT


@dataclass
class StateSpec:
    backend: str = "local"
    path: str | None = None
    repo: str | None = None
    branch: str | None = None
    account: str | None = None


@dataclass
class Manifest:
    file: Path
    root: Path
    data: dict[str, Any]
    positions: Positions
    accounts: dict[str, Account] = field(default_factory=dict)
    keys: dict[str, KeySet] = field(default_factory=dict)
    repos: dict[str, RepoSpec] = field(default_factory=dict)  # by full_name (as written)
    codespaces_secrets: list[CodespacesSecretSpec] = field(default_factory=list)
    org_secrets: list[OrgSecretSpec] = field(default_factory=list)
    dispatch: dict[str, DispatchTemplate] = field(default_factory=dict)
    state: StateSpec = field(default_factory=StateSpec)
    settings: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    #: top-level kind-owned sections, parsed, by section key
    sections: dict[str, Any] = field(default_factory=dict)
    #: ``repo_groups`` by name
    repo_groups: dict[str, RepoGroup] = field(default_factory=dict)
    #: warnings found while loading (printed by the commands, never fatal)
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def org_variables(self) -> list[OrgVariableSpec]:
        """``org_variables``, one spec per variable (the ``org-variable`` kind's section)."""
        variables: list[OrgVariableSpec] = self.sections.get("org_variables", [])
        return variables

    @property
    def runner_groups(self) -> list[RunnerGroupSpec]:
        """``runner_groups`` (the ``runner-group`` kind's section)."""
        groups: list[RunnerGroupSpec] = self.sections.get("runner_groups", [])
        return groups

    @property
    def runners(self) -> list[RunnerSpec]:
        """``runners``, one spec per declared name (the ``runner`` kind's section)."""
        runners: list[RunnerSpec] = self.sections.get("runners", [])
        return runners

    @property
    def queues(self) -> dict[str, QueueSpec]:
        """``queues`` by name (the ``queue`` kind's section)."""
        queues: dict[str, QueueSpec] = self.sections.get("queues", {})
        return queues

    def account_for_owner(self, owner: str) -> Account | None:
        low = owner.lower()
        for acc in self.accounts.values():
            if acc.login.lower() == low:
                return acc
        return None

    def repo(self, full_name: str) -> RepoSpec | None:
        """The repository spec by full name, any case (an index, rebuilt when ``repos`` changed)."""
        index = self.__dict__.get("_repo_index")
        if index is None or index[0] is not self.repos or index[1] != len(self.repos):
            by_name = {r.full_name.lower(): r for r in reversed(list(self.repos.values()))}  # the first wins
            index = self.__dict__["_repo_index"] = (self.repos, len(self.repos), by_name)
        found: RepoSpec | None = index[2].get(full_name.lower())
        return found
