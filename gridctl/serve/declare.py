"""What ``gridctl serve`` runs, declared in grid.yaml: ``pools:``, ``groups:`` and ``serve:``.

Three top-level manifest sections (:class:`~gridctl.manifest.sections.Section`), collected by
the kind registry next to the kinds' own sections, so ``validate`` and ``plan`` check them with
``file:line:col`` diagnostics like the rest of the file. They are not GitHub objects: ``plan``
shows nothing for them.

    pools:                           # autoscaled pools of ephemeral JIT runners
      gpu:
        scope: org:lab               # owner/repo, or org:<account id or org login>
        group: gpu                   # organization pools: a runner group (default: Default)
        labels: [gpu, linux]         # registered with self-hosted added
        min: 1                       # idle runners kept warm
        max: 5                       # runners at once, busy ones included
        idle_timeout: 10m            # an idle runner above min is removed after this long
        scale_up: {threshold: 1, cooldown: 30s}
        scale_down: {cooldown: 1m}
        launcher: {command: docker run --rm -e ACTIONS_RUNNER_INPUT_JITCONFIG runner-image}

    groups:                          # dispatch queue groups (what a Dispatchoor user calls groups)
      training:
        labels: [gpu]                # entries fire only when a runner with these labels is idle
        templates: [train-small, train-large]     # names of `dispatch:` templates
        max_concurrent: 2            # entries of the group in flight at once
        pool: gpu                    # the pool its queued entries pre-warm (default: found by labels)

    serve:
      listen: 127.0.0.1:8080
      database: sqlite:///.gridctl/controller.db  # or postgresql://host/db, or a source
      poll_interval: 30s
      webhook_secret: {env: GRID_WEBHOOK_SECRET}
      api:
        users:
          ops: {role: admin, token: {env: GRID_API_TOKEN}, password: {env: GRID_OPS_PASSWORD}}

Each section's parser returns frozen specs (:class:`PoolSpec`, :class:`GroupSpec`,
:class:`ServeSpec`) on ``Manifest.sections["pools" | "groups" | "serve"]``; the pure decision
(:mod:`gridctl.serve.decide`) takes pools and groups as they are.

Durations use gridctl's one grammar (:func:`gridctl.util.durations.seconds`: ``80ms``, ``90s``,
``30m``, ``1h``, ``2d``, a number alone is seconds).

**The launcher** is a command template started once per runner, split like a shell line (or
given as a list). The controller gives it the runner's JIT configuration through the
environment — ``ACTIONS_RUNNER_INPUT_JITCONFIG`` (the Actions runner reads every ``--arg`` of
``run.sh`` from ``ACTIONS_RUNNER_INPUT_<ARG>``) — with ``GRIDCTL_RUNNER_NAME`` and
``GRIDCTL_RUNNER_DIR``, and, only when the template names it, a 0600 file (``GRIDCTL_JIT_FILE``,
deleted once the runner is online). Placeholders: ``{jitconfig_file}``, ``{name}``, ``{workdir}``,
``{pool}``. A template must hand the configuration on — name ``{jitconfig_file}``,
``ACTIONS_RUNNER_INPUT_JITCONFIG`` or ``GRIDCTL_JIT_FILE`` — or the runner it starts could never
register; ``{jitconfig}`` (the credential itself on a command line, which ``ps`` shows every
user of the host) is refused. Without a launcher the Actions runner's ``./run.sh`` is started
in the runner's folder. ``gridctl sandbox runner`` (the sandbox's stand-in runner, which reads
``ACTIONS_RUNNER_INPUT_JITCONFIG`` itself) is a launcher too: the tests and ``gridctl serve
--sandbox`` use it. Examples::

    launcher: {command: docker run --rm -e ACTIONS_RUNNER_INPUT_JITCONFIG ghcr.io/actions/actions-runner:latest ./run.sh}
    launcher: {command: ssh -o SendEnv=ACTIONS_RUNNER_INPUT_JITCONFIG build-host ./actions-runner/run.sh}
    launcher: {command: [./start-vm.sh, --name, "{name}", --jit-file, "{jitconfig_file}"]}

**A group's labels and its templates' workflows.** GitHub gives a job to a self-hosted runner
only when the runner has every label of the job's ``runs-on`` (labels compare without regard to
case): "Choosing the runner for a job" and "Using labels with self-hosted runners",
https://docs.github.com/en/actions/using-jobs/choosing-the-runner-for-a-job and
https://docs.github.com/en/actions/hosting-your-own-runners/managing-self-hosted-runners/using-labels-with-self-hosted-runners.
A pool registers its runners with exactly its labels plus ``self-hosted`` (the JIT
registration takes the runner's label list, https://docs.github.com/en/rest/actions/self-hosted-runners),
so when a group's template names a workflow file this manifest declares, every job whose
``runs-on`` is written out (no ``${{ }}`` expression) is checked: if none of them could ever run
on the group's pool, the group would pre-warm runners its entries never use — an error at the
template's name in the group.

Secrets are never written here: API user tokens and the webhook secret are sources
(``{env}``, ``{file}``, ``{command}``) read by ``gridctl serve`` when it starts; a database URL
holding a password must be a source too (the diagnostic never repeats the URL).
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import SourceError
from ..manifest.load import file_content
from ..manifest.model import Manifest
from ..manifest.sections import Section, SectionContext
from ..manifest.sources import Source
from ..manifest.yamlpos import PathT
from ..util.durations import seconds

#: the label every self-hosted runner carries; the controller registers pool runners with it
SELF_HOSTED = "self-hosted"
#: what the controller puts in a launcher's environment
JIT_ENV = "ACTIONS_RUNNER_INPUT_JITCONFIG"
JIT_FILE_ENV = "GRIDCTL_JIT_FILE"
#: placeholders a launcher template may use
PLACEHOLDERS = ("{jitconfig_file}", "{name}", "{workdir}", "{pool}")
#: the default launcher: the Actions runner, started in the runner's folder
DEFAULT_LAUNCHER: tuple[str, ...] = ("./run.sh",)

DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_ONLINE_TIMEOUT = 300.0
DEFAULT_OFFLINE_TIMEOUT = 60.0
DEFAULT_POLL_INTERVAL = 30.0
DEFAULT_DRIFT_INTERVAL = 900.0
#: between two JIT registrations of one account: GitHub's secondary limit allows 900 points a
#: minute per REST endpoint and a POST costs 5 points, so at most 180 a minute, one per 0.33 s
#: (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits)
DEFAULT_LAUNCH_INTERVAL = 0.4
DEFAULT_LISTEN = ("127.0.0.1", 8080)
ROLES = ("admin", "readonly")
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
#: schemes a wrong database URL may be named by in a message (anything else is not repeated)
_KNOWN_SCHEMES = ("postgres", "mysql", "mariadb", "mssql", "oracle", "mongodb", "redis", "http", "https", "file", "sqlite", "postgresql")

_DURATION_HINT = "a duration is a number and a unit: 80ms, 90s, 30m, 1h or 2d (a number alone is seconds)"
_SOURCE_FORMS = "{env: VAR}, {file: path} or {command: [...]}"
_PLACEHOLDER_RE = re.compile(r"\{[A-Za-z_]*\}")


# -- specs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolSpec:
    """One pool of ephemeral JIT runners."""

    name: str
    account: str
    #: ``owner/repo`` or ``org:<login>``
    scope: str
    #: the organization runner group (None: Default)
    group: str | None
    #: the labels as declared (the runners get these plus ``self-hosted``)
    labels: tuple[str, ...]
    min: int
    max: int
    idle_timeout: float
    #: a runner registered this long ago and never online is removed
    online_timeout: float
    #: a runner that was online and is offline (its launcher died) this long is removed
    offline_timeout: float
    #: queued matching jobs (not yet served by a runner) before runners are added for them
    scale_up_threshold: int
    scale_up_cooldown: float
    scale_down_cooldown: float
    launcher: tuple[str, ...]
    path: PathT = ()

    @property
    def runner_labels(self) -> frozenset[str]:
        """The labels a runner of this pool has, lower-cased (GitHub compares them so)."""
        return frozenset(lb.lower() for lb in self.labels) | {SELF_HOSTED}

    @property
    def is_org(self) -> bool:
        return self.scope.startswith("org:")

    def covers(self, repo: str) -> bool:
        """Whether a job of ``repo`` (``owner/name``) may run on this pool's runners."""
        if self.is_org:
            return repo.split("/", 1)[0].lower() == self.scope[4:].lower()
        return repo.lower() == self.scope.lower()


@dataclass(frozen=True)
class GroupSpec:
    """One dispatch queue group."""

    name: str
    #: entries fire only when a runner with all these labels is idle (as declared)
    labels: tuple[str, ...]
    templates: tuple[str, ...]
    max_concurrent: int | None
    #: the pool its queued entries pre-warm (None: no pool serves it)
    pool: str | None
    path: PathT = ()

    @property
    def runner_labels(self) -> frozenset[str]:
        return frozenset(lb.lower() for lb in self.labels)


@dataclass(frozen=True)
class ApiUser:
    name: str
    role: str
    #: the API bearer token's source (None: dashboard only)
    token: Source | None
    path: PathT = ()
    #: the dashboard password's source (None: API only)
    password: Source | None = None


@dataclass(frozen=True)
class OAuthSpec:
    """Dashboard logins through a GitHub OAuth app."""

    client_id: str
    client_secret: Source
    #: GitHub's web address (None: derived from the API URL)
    url: str | None = None
    admin_users: tuple[str, ...] = ()
    admin_orgs: tuple[str, ...] = ()
    readonly_users: tuple[str, ...] = ()
    readonly_orgs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServeSpec:
    host: str = DEFAULT_LISTEN[0]
    port: int = DEFAULT_LISTEN[1]
    #: a URL, a source holding one, or None (SQLite under the work folder)
    database: str | Source | None = None
    poll_interval: float = DEFAULT_POLL_INTERVAL
    webhook_secret: Source | None = None
    users: tuple[ApiUser, ...] = ()
    path: PathT = ("serve",)
    oauth: OAuthSpec | None = None
    drift_interval: float = DEFAULT_DRIFT_INTERVAL
    launch_interval: float = DEFAULT_LAUNCH_INTERVAL


def database_url(url: str, root: Path) -> str:
    """A declared database URL as SQLAlchemy takes it: a relative SQLite path is relative to the
    manifest's folder ``root`` (not to wherever ``gridctl serve`` was started)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return "sqlite:///" + str(root / url[len("sqlite:///") :])
    return url


def pools_of(m: Manifest) -> dict[str, PoolSpec]:
    pools: dict[str, PoolSpec] = m.sections.get("pools") or {}
    return pools


def groups_of(m: Manifest) -> dict[str, GroupSpec]:
    groups: dict[str, GroupSpec] = m.sections.get("groups") or {}
    return groups


def serve_of(m: Manifest) -> ServeSpec:
    spec: ServeSpec = m.sections.get("serve") or ServeSpec()
    return spec


# -- schema ---------------------------------------------------------------------------------------

_LOCAL_ID = {"$ref": "#/$defs/localId"}
_LABELS = {"type": "array", "minItems": 1, "maxItems": 100, "uniqueItems": True, "items": {"type": "string", "minLength": 1, "maxLength": 256}}

DEFS: dict[str, Any] = {
    "duration": {
        "description": "A duration: a number and a unit (80ms, 90s, 30m, 1h, 2d); a number alone is seconds.",
        "type": ["string", "number"],
        "minimum": 0,
    },
    "pool": {
        "type": "object",
        "additionalProperties": False,
        "required": ["scope", "max"],
        "properties": {
            "scope": {"type": "string", "minLength": 1, "description": "Where the runners register: owner/repo, or org:<account id or org login>."},
            "account": {**_LOCAL_ID, "description": "The account whose token registers and removes the runners (default: the one managing the scope)."},
            "group": {"type": "string", "minLength": 1, "description": "The runner group of an organization pool (declared under runner_groups, or Default)."},
            "labels": {**_LABELS, "description": "The runners' labels (self-hosted is added); queued jobs whose runs-on they all cover are this pool's demand."},
            "min": {"type": "integer", "minimum": 0, "description": "Idle runners kept warm beyond the jobs waiting (default 0)."},
            "max": {"type": "integer", "minimum": 1, "maximum": 10000, "description": "Runners at once, busy ones included."},
            "idle_timeout": {"$ref": "#/$defs/duration", "description": "An idle runner above min is removed after this long (default 5m)."},
            "online_timeout": {"$ref": "#/$defs/duration", "description": "A runner registered but never online this long is removed (default 5m)."},
            "offline_timeout": {"$ref": "#/$defs/duration", "description": "A runner gone offline (its launcher died) this long is removed (default 1m)."},
            "scale_up": {
                "type": "object",
                "additionalProperties": False,
                "description": "When to add runners for queued jobs matching the labels (min is kept regardless).",
                "properties": {
                    "threshold": {"type": "integer", "minimum": 1, "description": "Unserved queued jobs before runners are added (default 1)."},
                    "cooldown": {"$ref": "#/$defs/duration", "description": "Least time between two scale-ups (default 0)."},
                },
            },
            "scale_down": {
                "type": "object",
                "additionalProperties": False,
                "description": "When to remove idle runners (never a busy one).",
                "properties": {"cooldown": {"$ref": "#/$defs/duration", "description": "Least time between two scale-downs (default 0)."}},
            },
            "launcher": {
                "type": "object",
                "additionalProperties": False,
                "required": ["command"],
                "description": "The command started once per runner; the JIT configuration comes through its environment (ACTIONS_RUNNER_INPUT_JITCONFIG) and a 0600 file ({jitconfig_file}, GRIDCTL_JIT_FILE). Default: the Actions runner's ./run.sh.",
                "properties": {
                    "command": {
                        "description": "A command line (split like a shell's) or a list of arguments; placeholders {jitconfig_file}, {name}, {workdir}, {pool}.",
                        "oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1, "items": {"type": "string"}}],
                    }
                },
            },
        },
    },
    "dispatchGroup": {
        "type": "object",
        "additionalProperties": False,
        "required": ["labels", "templates"],
        "properties": {
            "labels": {**_LABELS, "description": "Entries fire only when a runner with all these labels is idle."},
            "templates": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string", "minLength": 1}, "description": "The dispatch: templates queue entries of this group may use."},
            "max_concurrent": {"type": "integer", "minimum": 1, "description": "Entries of this group in flight (dispatched, run not finished) at once (default: no limit)."},
            "pool": {**_LOCAL_ID, "description": "The pool queued entries pre-warm (default: the first pool whose labels cover the group's)."},
        },
    },
    "oauthWho": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "users": {"type": "array", "maxItems": 1000, "items": {"type": "string", "minLength": 1, "maxLength": 39}, "description": "GitHub logins."},
            "orgs": {"type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 39}, "description": "Organizations whose active members qualify (needs the read:org scope, which the login asks for)."},
        },
    },
    "apiUser": {
        "type": "object",
        "additionalProperties": False,
        "required": ["role"],
        "anyOf": [{"required": ["token"]}, {"required": ["password"]}],
        "properties": {
            "role": {"enum": list(ROLES), "description": "admin may change the queue and the pools; readonly may only read."},
            "token": {"$ref": "#/$defs/source", "description": "Where the user's bearer token for the API comes from (never the token itself)."},
            "password": {"$ref": "#/$defs/source", "description": "Where the user's dashboard password comes from (never the password itself); kept only as an argon2 hash."},
        },
    },
}

POOLS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Autoscaled pools of ephemeral JIT runners that `gridctl serve` keeps sized to the jobs waiting, by pool name.",
    "propertyNames": _LOCAL_ID,
    "additionalProperties": {"$ref": "#/$defs/pool"},
}

GROUPS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Dispatch queue groups of `gridctl serve`, by name: entries (a template, inputs, a priority) fire when a runner with the group's labels is idle, highest priority first, then in order.",
    "propertyNames": _LOCAL_ID,
    "additionalProperties": {"$ref": "#/$defs/dispatchGroup"},
}

SERVE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "How `gridctl serve` runs: its API address, database, poll interval, webhook secret and API users.",
    "additionalProperties": False,
    "properties": {
        "listen": {"type": "string", "minLength": 1, "description": "host:port of the HTTP API (default 127.0.0.1:8080)."},
        "database": {
            "description": "sqlite:///PATH (relative to the manifest's folder) or postgresql://HOST/DB, or a source holding the URL (needed when it holds a password). Default: SQLite under .gridctl/.",
            "oneOf": [{"type": "string", "minLength": 1}, {"$ref": "#/$defs/source"}],
        },
        "poll_interval": {"$ref": "#/$defs/duration", "description": "How often GitHub is read when no webhook wakes the controller (default 30s)."},
        "launch_interval": {"$ref": "#/$defs/duration", "description": "The pause between two runner registrations of one account once a burst of 20 has gone out (default 0.4s: any minute stays under GitHub's 900 points for one endpoint, a POST costing 5)."},
        "drift_interval": {"$ref": "#/$defs/duration", "description": "How often the controller plans the manifest to show drift on its dashboard (default 15m; 0: never). It never applies."},
        "webhook_secret": {"$ref": "#/$defs/source", "description": "Where the workflow_job webhook secret comes from (without it, polling only)."},
        "api": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "users": {"type": "object", "propertyNames": _LOCAL_ID, "additionalProperties": {"$ref": "#/$defs/apiUser"}, "description": "API and dashboard users by name, each with a role and a token and/or password source."},
            },
        },
        "oauth": {
            "type": "object",
            "additionalProperties": False,
            "required": ["client_id", "client_secret"],
            "description": "Dashboard logins through a GitHub OAuth app: who may log in, and with which role.",
            "properties": {
                "client_id": {"type": "string", "minLength": 1, "maxLength": 100, "description": "The OAuth app's client ID."},
                "client_secret": {"$ref": "#/$defs/source", "description": "Where the OAuth app's client secret comes from (never the secret itself)."},
                "url": {"type": "string", "pattern": "^https?://", "description": "GitHub's web address (default: https://github.com, or the API URL without /api/v3)."},
                "admin": {"$ref": "#/$defs/oauthWho", "description": "GitHub users, and members of organizations, who log in as admins."},
                "readonly": {"$ref": "#/$defs/oauthWho", "description": "GitHub users, and members of organizations, who log in readonly."},
            },
        },
    },
}




# -- parsing --------------------------------------------------------------------------------------


def _duration(ctx: SectionContext, raw: dict[str, Any], key: str, path: PathT, default: float) -> float:
    if key not in raw:
        return default
    value = raw[key]
    if isinstance(value, bool):
        got = None
    elif isinstance(value, (int, float)):
        got = float(value)
    else:
        got = seconds(str(value))
    if got is None:
        ctx.error(path + (key,), f"{_where(path + (key,))}: {_show(value)} is not a duration", _DURATION_HINT)
        return default
    return got


def _where(path: PathT) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _near(name: str, known: list[str]) -> str:
    near = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _scope(ctx: SectionContext, name: str, raw: dict[str, Any], path: PathT) -> tuple[str, str | None] | None:
    """(normalized scope, the account managing it), or None after reporting why not."""
    m = ctx.manifest
    scope = str(raw["scope"])
    if scope.startswith("org:"):
        org = scope[4:]
        acc = m.accounts.get(org) or m.account_for_owner(org)
        if acc is None or not acc.is_org:
            ctx.error(path + ("scope",), f"pool {name}: no organization account {org!r} in this manifest",
                      "org:<name> names an account id or organization login declared with `org:`; a repository pool's scope is owner/repo")
            return None
        return f"org:{acc.login}", acc.id
    repo = m.repo(scope)
    if repo is not None:
        return repo.full_name, repo.account
    if scope.count("/") != 1 or not all(scope.split("/")):
        ctx.error(path + ("scope",), f"pool {name}: scope {scope!r} must be owner/repo or org:<name>")
        return None
    acc = m.account_for_owner(scope.split("/")[0])
    return scope, acc.id if acc else None


def _launcher(ctx: SectionContext, name: str, raw: Any, path: PathT) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_LAUNCHER
    command = raw["command"]
    where = path + ("command",)
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            ctx.error(where, f"pool {name}: the launcher is not a command line ({exc})")
            return DEFAULT_LAUNCHER
    else:
        argv = [str(a) for a in command]
    if not argv or not argv[0].strip():
        ctx.error(where, f"pool {name}: the launcher names no program")
        return DEFAULT_LAUNCHER
    text = " ".join(argv)
    for found in dict.fromkeys(_PLACEHOLDER_RE.findall(text)):
        if found == "{jitconfig}":
            ctx.error(where, f"pool {name}: the launcher puts the JIT configuration on its command line",
                      f"ps shows a command line to every user of the host: use {{jitconfig_file}} or the {JIT_ENV} environment variable")
        elif found not in PLACEHOLDERS:
            ctx.error(where, f"pool {name}: unknown placeholder {found} in the launcher{_near(found, list(PLACEHOLDERS))}",
                      f"placeholders are: {', '.join(PLACEHOLDERS)}")
    # the sandbox's stand-in runner reads ACTIONS_RUNNER_INPUT_JITCONFIG itself, as run.sh does
    standin = argv[:3] == ["gridctl", "sandbox", "runner"]
    if not standin and not any(s in text for s in ("{jitconfig_file}", "{jitconfig}", JIT_ENV, JIT_FILE_ENV)):
        ctx.error(where, f"pool {name}: the launcher never hands the runner its JIT configuration",
                  f"name {{jitconfig_file}} (a 0600 file), or pass on the {JIT_ENV} (or {JIT_FILE_ENV}) environment variable, "
                  f"e.g. docker run -e {JIT_ENV} IMAGE")
    return tuple(argv)


def parse_pools(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> dict[str, PoolSpec]:
    m = ctx.manifest
    out: dict[str, PoolSpec] = {}
    for name, p in raw.items():
        pp = path + (name,)
        scoped = _scope(ctx, name, p, pp)
        if scoped is None:
            continue
        scope, account = scoped
        if "account" in p:
            if p["account"] not in m.accounts:
                ctx.error(pp + ("account",), ctx.unknown_account(p["account"]))
                continue
            account = p["account"]
        if account is None:
            ctx.error(pp + ("scope",), f"pool {name}: no account manages {scope}", "declare the repository under repos, add an account for its owner, or give the pool an `account:`")
            continue
        if m.accounts[account].retired:
            acc = m.accounts[account]
            ctx.error(pp + ("account",) if "account" in p else pp + ("scope",), f"account {acc.id} ({acc.login}) is retired and cannot run a pool")
            continue
        group = p.get("group")
        if group is not None and group.lower() == "default":
            group = None
        if group is not None:
            if not scope.startswith("org:"):
                ctx.error(pp + ("group",), f"pool {name}: repository runners can only be in the default group")
            else:
                org_acc = m.account_for_owner(scope[4:])
                declared = {g.name for g in m.runner_groups if org_acc is not None and g.account == org_acc.id}
                if group not in declared:
                    owner = org_acc.id if org_acc else scope[4:]
                    ctx.error(pp + ("group",), f"runner group {group!r} is not declared under runner_groups.{owner}{_near(group, sorted(declared))}")
        lo, hi = int(p.get("min", 0)), int(p["max"])
        if lo > hi:
            ctx.error(pp + ("min",), f"pool {name}: min {lo} is more than max {hi}")
        up = p.get("scale_up") or {}
        down = p.get("scale_down") or {}
        out[name] = PoolSpec(
            name=name,
            account=account,
            scope=scope,
            group=group,
            labels=tuple(p.get("labels") or ()),
            min=lo,
            max=hi,
            idle_timeout=_duration(ctx, p, "idle_timeout", pp, DEFAULT_IDLE_TIMEOUT),
            online_timeout=_duration(ctx, p, "online_timeout", pp, DEFAULT_ONLINE_TIMEOUT),
            offline_timeout=_duration(ctx, p, "offline_timeout", pp, DEFAULT_OFFLINE_TIMEOUT),
            scale_up_threshold=int(up.get("threshold", 1)),
            scale_up_cooldown=_duration(ctx, up, "cooldown", pp + ("scale_up",), 0.0),
            scale_down_cooldown=_duration(ctx, down, "cooldown", pp + ("scale_down",), 0.0),
            launcher=_launcher(ctx, name, p.get("launcher"), pp + ("launcher",)),
            path=pp,
        )
    return out


# -- groups ---------------------------------------------------------------------------------------


def runs_on_labels(job: Any) -> frozenset[str] | None:
    """The labels a job's ``runs-on`` asks for, lower-cased; None when they are not written out
    (an expression, a missing or odd value): such a job may run anywhere as far as we know."""
    if not isinstance(job, dict):
        return None
    value = job.get("runs-on")
    if isinstance(value, dict):
        value = value.get("labels")
        if value is None:
            return None  # a runner group alone: any label
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return None
    if any("${{" in v for v in value):
        return None
    return frozenset(v.strip().lower() for v in value)


def _workflow_jobs(m: Manifest, template: str) -> tuple[str, list[frozenset[str] | None]] | None:
    """(workflow path, each job's runs-on labels) of a template whose workflow file this
    manifest declares on the branch the template dispatches; None when not known offline."""
    t = m.dispatch.get(template)
    if t is None:
        return None
    from ..fleet import dispatch as fd  # (here: a manifest without templates never needs it)

    try:
        wpath = fd.workflow_path(t.workflow)
    except fd.WorkflowError:
        return None
    spec, fspec = fd.declared_file(m, t, wpath)
    if spec is None or fspec is None or wpath is None:
        return None
    default = spec.settings.get("default_branch")
    file_branch = fspec.branch or default
    wanted = fd.short_ref(t.ref) if t.ref else default
    if (t.ref or fspec.branch) and (file_branch is None or wanted != file_branch):
        return None
    try:
        doc = fd.parse_workflow(file_content(m, fspec))
    except (fd.WorkflowError, SourceError, OSError):
        return None  # the dispatch check reports an unreadable workflow
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        return None
    return wpath, [runs_on_labels(j) for j in jobs.values()]


def _pool_for(pools: dict[str, PoolSpec], labels: frozenset[str]) -> str | None:
    for p in pools.values():
        if labels <= p.runner_labels:
            return p.name
    return None


def parse_groups(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> dict[str, GroupSpec]:
    m = ctx.manifest
    pools = pools_of(m)
    raw_pools = m.data.get("pools") or {}
    raw_templates = [k for k in (m.data.get("dispatch") or {}) if k != "include"]
    out: dict[str, GroupSpec] = {}
    for name, g in raw.items():
        gp = path + (name,)
        labels = frozenset(lb.lower() for lb in g["labels"])
        templates = list(g["templates"])
        for i, t in enumerate(templates):
            if t not in raw_templates:
                known = ", ".join(raw_templates) if raw_templates else "none are declared"
                ctx.error(gp + ("templates", i), f"dispatch group {name}: unknown dispatch template {t!r}{_near(t, raw_templates)}; templates are: {known}")
        pool_name = g.get("pool")
        if pool_name is not None:
            if pool_name not in raw_pools:
                known = ", ".join(raw_pools) if raw_pools else "none are declared"
                ctx.error(gp + ("pool",), f"dispatch group {name}: unknown pool {pool_name!r}{_near(pool_name, list(raw_pools))}; pools are: {known}")
                pool_name = None
            elif pool_name in pools and not labels <= pools[pool_name].runner_labels:
                missing = sorted(labels - pools[pool_name].runner_labels)
                ctx.error(gp + ("labels",), f"dispatch group {name}: pool {pool_name}'s runners never have the label(s) {', '.join(missing)}",
                          f"pool {pool_name} registers runners with: {', '.join(sorted(pools[pool_name].runner_labels))}")
                pool_name = None
        else:
            pool_name = _pool_for(pools, labels)
        pool = pools.get(pool_name) if pool_name else None
        if pool is not None:
            _check_templates(ctx, name, gp, templates, pool)
        out[name] = GroupSpec(name, tuple(g["labels"]), tuple(templates), g.get("max_concurrent"), pool_name, gp)
    return out


def _check_templates(ctx: SectionContext, group: str, gp: PathT, templates: list[str], pool: PoolSpec) -> None:
    """Each template's repository must be in the pool's scope, and some job of its workflow
    (when the manifest declares it) must be able to run on the pool's runners."""
    m = ctx.manifest
    have = pool.runner_labels
    for i, tname in enumerate(templates):
        t = m.dispatch.get(tname)
        if t is None:
            continue
        if not pool.covers(t.repo):
            ctx.error(gp + ("templates", i), f"dispatch group {group}: template {tname} runs in {t.repo}, outside pool {pool.name}'s scope ({pool.scope})",
                      "a pool's runners take jobs of its repository, or of its organization's repositories")
            continue
        found = _workflow_jobs(m, tname)
        if found is None:
            continue
        wpath, jobs = found
        if any(j is None or j <= have for j in jobs):
            continue
        asked = "; ".join(sorted({"[" + ", ".join(sorted(j)) + "]" for j in jobs if j is not None}))
        ctx.error(gp + ("templates", i), f"dispatch group {group}: no job of {wpath} (template {tname}) can run on pool {pool.name}'s runners",
                  f"runs-on asks for {asked}; the pool's runners have: {', '.join(sorted(have))} (a job needs a runner with all of its labels)")


# -- serve ----------------------------------------------------------------------------------------


def _listen(ctx: SectionContext, text: str, path: PathT) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    ok = bool(sep) and bool(host) and port.isdigit() and 0 < int(port) < 65536 and not any(c.isspace() for c in host)
    if not ok:
        ctx.error(path, f"serve.listen must be host:port (like 127.0.0.1:8080 or [::1]:8080), not {text!r}")
        return DEFAULT_LISTEN
    return host, int(port)


def _database(ctx: SectionContext, value: Any, path: PathT) -> str | Source | None:
    if isinstance(value, dict):
        return Source.from_dict(value)
    text = str(value)
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme not in DATABASE_SCHEMES or not text[len(scheme) + 1 :].startswith("//"):
        # the value itself is never repeated: a mistyped URL may hold a password
        shown = f" (this one is {scheme}:)" if scheme in _KNOWN_SCHEMES else ""
        hint = "SQLAlchemy 2 no longer reads postgres://: write postgresql://" if scheme == "postgres" else ""
        ctx.error(path, f"serve.database must be a sqlite:///PATH or postgresql://HOST/DB URL{shown}", hint)
        return None
    try:
        password = urlsplit(text).password
    except ValueError:
        password = None
    if password:
        ctx.error(path, "serve.database holds a password, which must not be written in the manifest",
                  f"give the URL as a source instead: {_SOURCE_FORMS}")
        return None
    if scheme == "sqlite" and not text.startswith("sqlite:///"):
        ctx.error(path, "serve.database: a SQLite URL is sqlite:///PATH (three slashes; the path is relative to the manifest's folder)")
        return None
    return text


def parse_serve(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> ServeSpec:
    host, port = _listen(ctx, raw["listen"], path + ("listen",)) if "listen" in raw else DEFAULT_LISTEN
    database = _database(ctx, raw["database"], path + ("database",)) if "database" in raw else None
    secret = Source.from_dict(raw["webhook_secret"]) if "webhook_secret" in raw else None
    users = []
    for uname, u in ((raw.get("api") or {}).get("users") or {}).items():
        token = Source.from_dict(u["token"]) if "token" in u else None
        password = Source.from_dict(u["password"]) if "password" in u else None
        users.append(ApiUser(uname, u["role"], token, path + ("api", "users", uname), password))
    poll = _duration(ctx, raw, "poll_interval", path, DEFAULT_POLL_INTERVAL)
    if "poll_interval" in raw and poll < 1:
        ctx.error(path + ("poll_interval",), "serve.poll_interval must be at least 1s", "GitHub's rate limit would not last: a poll reads runners and queued jobs of every pool")
        poll = DEFAULT_POLL_INTERVAL
    oauth = None
    if "oauth" in raw:
        o = raw["oauth"]
        admin, readonly = o.get("admin") or {}, o.get("readonly") or {}
        oauth = OAuthSpec(
            str(o["client_id"]), Source.from_dict(o["client_secret"]), o.get("url"),
            tuple(admin.get("users") or ()), tuple(admin.get("orgs") or ()),
            tuple(readonly.get("users") or ()), tuple(readonly.get("orgs") or ()),
        )
        if not (oauth.admin_users or oauth.admin_orgs or oauth.readonly_users or oauth.readonly_orgs):
            ctx.error(path + ("oauth",), "serve.oauth lets nobody in", "name GitHub users or organizations under admin: and/or readonly:")
    drift = _duration(ctx, raw, "drift_interval", path, DEFAULT_DRIFT_INTERVAL)
    if 0 < drift < 10:
        ctx.error(path + ("drift_interval",), "serve.drift_interval must be 0 (off) or at least 10s", "a drift check is a whole plan of the manifest")
        drift = DEFAULT_DRIFT_INTERVAL
    launch = _duration(ctx, raw, "launch_interval", path, DEFAULT_LAUNCH_INTERVAL)
    return ServeSpec(host, port, database, poll, secret, tuple(users), path, oauth, drift, launch)


#: the controller's manifest sections, in parse order (groups read the pools)
SECTIONS: tuple[Section, ...] = (
    Section("pools", "top", POOLS_SCHEMA, parse_pools, defs=DEFS),
    Section("groups", "top", GROUPS_SCHEMA, parse_groups),
    Section("serve", "top", SERVE_SCHEMA, parse_serve),
)
