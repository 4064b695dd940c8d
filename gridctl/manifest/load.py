"""grid.yaml -> :class:`Manifest`: parse, include, validate (schema + semantics), resolve sources.

Every problem is a :class:`~gridctl.errors.Diagnostic` with ``file:line:col``; all of them are
collected and raised together as one :class:`~gridctl.errors.ManifestError`. No API call is
made here: a bad manifest never reaches GitHub.
"""

from __future__ import annotations

import glob
import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, ManifestError, SourceError
from ..util.text import printable
from . import inherit
from . import keys as keymod
from .model import (
    REPO_SETTINGS,
    ROLE_OF,
    Account,
    AppSpec,
    CodespacesSecretSpec,
    DeployKeySpec,
    DispatchTemplate,
    EnvironmentSpec,
    FileSpec,
    KeySet,
    Manifest,
    OrgSecretSpec,
    RepoSpec,
    SecretRef,
    StateSpec,
)
from .quickcheck import accepts
from .schema import load_schema
from .schema import validate as schema_validate
from .sections import Section, SectionContext, merged_schema, parse_sections, scalar, unknown_account
from .sources import Sensitive, Source, folders_resolved_once, read_source, read_values, resolve_path
from .yamlpos import PathT, Positions, YamlLoadError, gc_paused, load_yaml

if TYPE_CHECKING:  # (jsonschema is imported only for a manifest the quick check does not accept)
    from jsonschema import Draft202012Validator

#: strings that look like credentials: GitHub tokens, the sandbox's own, and private keys (PEM)
TOKEN_RE = re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{22,}|gridsbx_[0-9a-f]{20,})\b|-----BEGIN [A-Z ]*PRIVATE KEY-----")
#: no shorter string holds a match of TOKEN_RE (ghp_ and 20 characters; tests/core/test_validate_imports.py checks it)
TOKEN_MIN = 24
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
REPO_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
SSH_KEY_RE = re.compile(r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$")


class _Collector:
    def __init__(self, pos: Positions):
        self.pos = pos
        self.diags: list[Diagnostic] = []

    def error(self, path: PathT, summary: str, detail: str = "", *, key: bool = False) -> None:
        self.diags.append(self.pos.diag(path, summary, detail, key=key))

    def warn(self, path: PathT, summary: str, detail: str = "", *, key: bool = False) -> None:
        self.diags.append(self.pos.diag(path, summary, detail, key=key, severity="warning"))

    @property
    def failed(self) -> bool:
        return any(d.severity == "error" for d in self.diags)


def _scan_tokens(node: Any, path: PathT, found: dict[PathT, bool]) -> None:
    """Every place holding a token-looking string: path -> whether it is a mapping key."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and TOKEN_RE.search(k):
                found[path + (k,)] = True
            _scan_tokens(v, path + (k,), found)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _scan_tokens(v, path + (i,), found)
    elif isinstance(node, str) and TOKEN_RE.search(node):
        found[path] = False


def _include(data: dict, pos: Positions, root: Path, display_root: str, c: _Collector) -> None:
    """Merge ``repos_from`` files into ``repos`` and ``dispatch.include`` files into ``dispatch``."""
    specs = data.get("repos_from")
    if isinstance(specs, str):
        specs = [specs]
    if isinstance(specs, list):
        repos = data.setdefault("repos", {}) if isinstance(data.get("repos", {}), dict) else None
        if repos is None:
            return
        for i, pattern in enumerate(specs):
            if not isinstance(pattern, str):
                continue
            where = ("repos_from", i) if isinstance(data["repos_from"], list) else ("repos_from",)
            for f in _glob_inside(root, pattern, where, c):
                _merge_file(f, root, display_root, "repos", repos, pos, c, where)
    disp = data.get("dispatch")
    if isinstance(disp, dict) and isinstance(disp.get("include"), list):
        for i, pattern in enumerate(disp["include"]):
            if not isinstance(pattern, str):
                continue
            for f in _glob_inside(root, pattern, ("dispatch", "include", i), c):
                _merge_file(f, root, display_root, "dispatch", disp, pos, c, ("dispatch", "include", i))


def _glob_inside(root: Path, pattern: str, where: PathT, c: _Collector) -> list[Path]:
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        c.error(where, f"include pattern {pattern!r} must stay inside the manifest's folder")
        return []
    matches = sorted(Path(p) for p in glob.glob(str(root / pattern), recursive=True))
    inside = []
    for m in matches:
        try:
            resolve_path(root, str(m.relative_to(root)))
        except SourceError as exc:
            c.error(where, str(exc))
            continue
        if m.is_file():
            inside.append(m)
    if not inside:
        c.error(where, f"include pattern {pattern!r} matches no file")
    return inside


def _merge_file(f: Path, root: Path, display_root: str, section: str, target: dict, pos: Positions, c: _Collector, where: PathT) -> None:
    display = str(Path(display_root) / f.relative_to(root)) if display_root else str(f.relative_to(root))
    try:
        sub, subpos = load_yaml(f, display)
    except YamlLoadError as exc:
        c.diags.append(exc.diagnostic)
        return
    if sub is None:
        return
    if not isinstance(sub, dict):
        c.diags.append(Diagnostic("error", f"{display} must hold a mapping of {section}", "", display, 1, 1))
        return
    for name, value in sub.items():
        if section == "dispatch" and name == "include":
            c.diags.append(subpos.diag((name,), "nested includes are not supported", key=True))
            continue
        if name in target:
            first_pos = pos.of((section, name), key=True)
            seen_at = f"{first_pos.file}:{first_pos.line}" if first_pos else "the manifest"
            c.diags.append(subpos.diag((name,), f"{section} entry {name!r} is declared twice (also at {seen_at})", key=True))
            continue
        target[name] = value
        pos.merge(subpos, (section,), under=(name,))


_SCHEMAS: dict[tuple[int, ...], dict[str, Any]] = {}
_VALIDATORS: dict[tuple[int, ...], Draft202012Validator] = {}


def _schema_for(sections: Sequence[Section]) -> dict[str, Any]:
    key = tuple(id(s) for s in sections)
    if key not in _SCHEMAS:
        _SCHEMAS[key] = merged_schema(load_schema(), sections)
    return _SCHEMAS[key]


def _validator_for(sections: Sequence[Section]) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    key = tuple(id(s) for s in sections)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = Draft202012Validator(_schema_for(sections))
    return _VALIDATORS[key]


def _surely_valid(schema: dict[str, Any], data: Any) -> bool:
    """The compiled check's "no schema error" (0.09 s, not jsonschema's 1.06 s, for 1,000 repositories); False: don't know."""
    try:
        return accepts(schema, data)
    except RecursionError:
        return False


def load_manifest(file: str | Path, *, sections: Sequence[Section] = (), resolve: bool = True, tokens: bool = True, secrets: bool = True) -> Manifest:
    """Load, validate and (with ``resolve``) read every source of a manifest.

    ``sections`` are the kind-owned sections (``gridctl.resources.SECTIONS``; the kind registry's
    :func:`gridctl.resources.load_manifest` passes them). Raises :class:`ManifestError` with
    every problem found. Warnings ride along on ``manifest.warnings``. ``tokens=False`` skips
    reading token sources (the embedded sandbox provides its own tokens). ``secrets=False``
    reads only the sources that are files — key files, secret files, deploy keys, workflow files
    — and skips environment variables and commands, so a manifest validates with no secret at
    all (a fork's pull request, an editor, a pre-commit hook).
    """
    # some 10^6 objects live until the end: no collector walking them again and again; thousands
    # of files in a few folders: each folder's symbolic links resolved once
    with gc_paused(), folders_resolved_once():
        return _load_manifest(Path(file), str(file), sections=sections, resolve=resolve, tokens=tokens, secrets=secrets)


def _load_manifest(path: Path, display: str, *, sections: Sequence[Section], resolve: bool, tokens: bool, secrets: bool) -> Manifest:
    root = path.resolve().parent
    try:
        data, pos = load_yaml(path, display)
    except YamlLoadError as exc:
        raise ManifestError(_ordered([exc.diagnostic])) from None
    c = _Collector(pos)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ManifestError([Diagnostic("error", "the manifest must be a mapping (version, accounts, repos...)", "", display, 1, 1)])
    display_root = str(Path(display).parent) if Path(display).parent != Path(".") else ""
    _include(data, pos, root, display_root, c)
    suspect = _suspect(data)  # (after the includes: included files may hold tokens too)
    tokens_at: dict[PathT, bool] = {}
    if suspect:
        _scan_tokens(data, (), tokens_at)
    for tp, is_key in tokens_at.items():
        c.error(tp, "a literal token is not allowed in the manifest", "use {env: VAR}, {file: path} or {command: [...]} as its source", key=is_key)
    token_paths = set(tokens_at)
    if not _surely_valid(_schema_for(sections), data):  # jsonschema then finds and words every problem
        c.diags.extend(schema_validate(data, pos, skip=token_paths, using=_validator_for(sections)))
    if suspect:
        _check_keys(data, (), c)
    if c.failed:
        raise ManifestError(_ordered(c.diags))
    m = Manifest(file=path, root=root, data=data, positions=pos)
    m.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    m.repo_groups, inherited = inherit.expand(data, pos, c.error, c.warn)
    if c.failed:  # a bad group: its repositories' merged entries would mislead
        raise ManifestError(_ordered(c.diags))
    _build(m, c)
    for full, (applied, origins) in inherited.items():
        if full in m.repos:
            m.repos[full].groups, m.repos[full].origins = applied, origins
    parse_sections(SectionContext(m, c.error, c.warn), sections)
    _check_retired(m, c)
    _check_limits(m, c)
    if resolve and not c.failed:
        _resolve(m, c, tokens=tokens, secrets=secrets)
    if c.failed:
        raise ManifestError(_ordered(c.diags))
    m.warnings = list(dict.fromkeys(_masked(d) for d in c.diags if d.severity == "warning"))
    return m


def _suspect(data: Any) -> bool:
    """Whether :func:`_scan_tokens` or :func:`_check_keys` may find anything: a token-looking
    string or key, a key that is not printable text. One walk without paths (most manifests have
    neither: the two walks that name places then need not run)."""
    search = TOKEN_RE.search
    least = TOKEN_MIN  # (most names and values are shorter: no regular expression run for them)
    todo = [data]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str) and (not k.isprintable() or (len(k) >= least and search(k))):
                    return True
                if isinstance(v, str):
                    if len(v) >= least and search(v):
                        return True
                elif isinstance(v, (dict, list)):
                    todo.append(v)
        elif isinstance(node, list):
            for v in node:
                if isinstance(v, str):
                    if len(v) >= least and search(v):
                        return True
                elif isinstance(v, (dict, list)):
                    todo.append(v)
        elif isinstance(node, str) and search(node):
            return True
    return False


def _check_keys(node: Any, path: PathT, c: _Collector) -> None:
    """No mapping key may hold a control or format character (a line break, an escape sequence,
    a bidi override): keys become names, paths and addresses that plans and logs print."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and not k.isprintable() and printable(k) != k:  # (isprintable: fast, and stricter)
                c.error(path + (k,), f"the key '{printable(k)}' holds a control character", "names, paths and keys are printable text", key=True)
                continue
            _check_keys(v, path + (k,), c)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_keys(v, path + (i,), c)


def _ordered(diags: list[Diagnostic]) -> list[Diagnostic]:
    """In file order, and with anything token-looking masked (a safety net: messages quote
    names and values from the manifest, and a token must never be printed)."""
    out = list(dict.fromkeys(_masked(d) for d in diags))  # a group's value is checked once per repository
    return sorted(out, key=lambda d: (d.file or "", d.line or 0, d.col or 0))


def _masked(d: Diagnostic) -> Diagnostic:
    summary, detail = TOKEN_RE.sub("(token)", d.summary), TOKEN_RE.sub("(token)", d.detail)
    return d if (summary, detail) == (d.summary, d.detail) else replace(d, summary=summary, detail=detail)


# -- building the model (semantic checks) -------------------------------------------------------


def _build(m: Manifest, c: _Collector) -> None:
    """The frame and the sections not yet owned by a kind, in dependency order (accounts and
    keys first: everything else refers to them). The kinds' sections are parsed after it, and
    the checks that span sections (retired accounts, GitHub's limits) run last."""
    _build_accounts(m, c)
    _build_keys(m, c)
    _build_repos(m, c)
    _build_codespaces(m, c)
    _build_org_secrets(m, c)
    _build_dispatch(m, c)
    _build_state(m, c)


def _build_accounts(m: Manifest, c: _Collector) -> None:
    d = m.data
    logins: dict[str, str] = {}
    for acc_id, a in d["accounts"].items():
        is_org = "org" in a
        login = a["org"] if is_org else a["login"]
        other = logins.get(login.lower())
        if other:
            c.error(("accounts", acc_id), f"accounts {other} and {acc_id} are the same GitHub account ({login})", key=True)
        logins[login.lower()] = acc_id
        app = _app_spec(a["app"], ("accounts", acc_id, "app"), c) if "app" in a else None
        source = app.key_source if app is not None else Source.from_dict(a["token"])
        m.accounts[acc_id] = Account(acc_id, login, is_org, source, ("accounts", acc_id), retired=bool(a.get("retired", False)), app=app)


def _app_spec(a: dict, path: PathT, c: _Collector) -> AppSpec:
    key = Source.from_dict(a["private_key"])
    if key.kind == "gh":
        c.error(path + ("private_key",), "an app's private key comes from env, file or command, not from gh")
    inst = a["installation"]
    repos = tuple(a["repositories"]) if a.get("repositories") is not None else None
    return AppSpec(str(a["id"]), key, inst, repos, dict(a["permissions"]) if a.get("permissions") is not None else None)


def _build_keys(m: Manifest, c: _Collector) -> None:
    d = m.data
    for key_id, k in (d.get("keys") or {}).items():
        ks = KeySet(key_id, Source.from_dict(k["source"]), ("keys", key_id))
        spread = k.get("spread")
        if spread:
            for i, acc in enumerate(spread["over"]):
                if acc not in m.accounts:
                    c.error(("keys", key_id, "spread", "over", i), _unknown_account(acc, m))
            ks.spread_over = list(spread["over"])
            ks.per_account = spread.get("per_account")
        m.keys[key_id] = ks


def _accounts_by_login(m: Manifest) -> dict[str, Account]:
    """``m.account_for_owner`` as a table, by login in lower case (the first account wins)."""
    out: dict[str, Account] = {}
    for a in m.accounts.values():
        out.setdefault(a.login.lower(), a)
    return out


def _build_repos(m: Manifest, c: _Collector) -> None:
    d = m.data
    seen: dict[str, str] = {}
    by_login = _accounts_by_login(m)
    for full, r in (d.get("repos") or {}).items():
        rp: PathT = ("repos", full)
        if not isinstance(full, str) or full.count("/") != 1:
            shown = repr(full) if isinstance(full, str) else "null" if full is None else str(full).lower() if isinstance(full, bool) else str(full)
            c.error(rp, f"repository {shown} must be written owner/name", key=True)
            continue
        owner, name = full.split("/")
        if not LOGIN_RE.match(owner):
            c.error(rp, f"repository owner {owner!r} is not a valid GitHub login", "logins are letters, digits and single hyphens, at most 39 characters, not starting or ending with a hyphen", key=True)
        if not REPO_NAME_RE.match(name) or name in (".", "..") or name.lower().endswith(".git"):
            c.error(rp, f"repository name {name!r} would be rejected by GitHub", "use letters, digits, '.', '-' and '_' (at most 100 characters; not '.', '..' or ending in .git)", key=True)
        low = full.lower()
        if low in seen:
            c.error(rp, f"repository {full} is declared twice (also as {seen[low]}); GitHub names are case-insensitive", key=True)
            continue
        seen[low] = full
        acc_id = r.get("account")
        owner_acc = by_login.get(owner.lower())
        if acc_id is None:
            acc = owner_acc
            if acc is None:
                c.error(rp, f"no account manages {full}", f"add `account:` to the repository or an account with login/org {owner}", key=True)
                continue
            acc_id = acc.id
        elif acc_id not in m.accounts:
            c.error(rp + ("account",), _unknown_account(acc_id, m))
            continue
        spec = RepoSpec(full_name=full, owner=owner, name=name, account=acc_id, path=rp)
        # r is the merged entry (defaults.repo, then its repository groups: manifest.inherit)
        spec.settings = {k: r[k] for k in REPO_SETTINGS if k in r}
        if spec.settings.get("visibility") == "internal" and owner_acc is not None and not owner_acc.is_org:
            c.error(rp + ("visibility",), f"{full}: only organization repositories can be internal")
        spec.topics = list(r["topics"]) if "topics" in r else None
        spec.auto_init = bool(r.get("auto_init", False))
        life = r.get("lifecycle") or {}
        spec.prevent_destroy = bool(life.get("prevent_destroy", False))
        spec.on_destroy = life.get("on_destroy", "archive")
        listed: set[str] = set()  # the collaborators' logins, lower case
        for who, perm in (r.get("collaborators") or {}).items():
            cp = rp + ("collaborators", who)
            login = m.accounts[who].login if who in m.accounts else who
            if who in m.accounts and m.accounts[who].is_org:
                c.error(cp, f"{who} is an organization and cannot be a collaborator", key=True)
                continue
            if not LOGIN_RE.match(login):
                c.error(cp, f"collaborator {who!r} is neither an account id of this manifest nor a valid GitHub login", key=True)
                continue
            if login.lower() == owner.lower():
                c.error(cp, f"{login} owns {full} and cannot be its collaborator", key=True)
                continue
            if login.lower() in listed:
                c.error(cp, f"collaborator {login} is listed twice", key=True)
                continue
            spec.collaborators[login] = ROLE_OF[perm]
            listed.add(login.lower())
            acc = by_login.get(login.lower())
            if acc is not None:
                spec.collaborator_accounts[login.lower()] = acc.id
        for typ, secrets in (r.get("secrets") or {}).items():
            spec.secrets[typ] = _secret_map(secrets, rp + ("secrets", typ), m, c, context=None)
        spec.variables = _variable_map(r.get("variables") or {}, rp + ("variables",), c)
        for env_name, e in (r.get("environments") or {}).items():
            ep = rp + ("environments", env_name)
            env = EnvironmentSpec(env_name, ep, e.get("wait_timer"), e.get("prevent_self_review"), [], e.get("protected_branches_only"))
            for i, rev in enumerate(e.get("reviewers") or []):
                env.reviewers.append(m.accounts[rev].login if rev in m.accounts else rev)
                if rev not in m.accounts and not LOGIN_RE.match(rev):
                    c.error(ep + ("reviewers", i), f"reviewer {rev!r} is not a valid GitHub login or account id")
            env.secrets = _secret_map(e.get("secrets") or {}, ep + ("secrets",), m, c, context=None)
            env.variables = _variable_map(e.get("variables") or {}, ep + ("variables",), c)
            spec.environments[env_name] = env
        for title, k in (r.get("deploy_keys") or {}).items():
            kp = rp + ("deploy_keys", title)
            dk = DeployKeySpec(title, kp, read_only=k.get("read_only", True))
            if "key" in k:
                if k["key"] not in m.keys:
                    c.error(kp + ("key",), _unknown_key(k["key"], m))
                dk.key = k["key"]
            else:
                dk.source = Source("file", k["file"]) if "file" in k else Source("env", k["env"])
            spec.deploy_keys[title] = dk
        for fpath, f in (r.get("files") or {}).items():
            fp = rp + ("files", fpath)
            if fpath.startswith("/") or ".." in fpath.split("/") or fpath.endswith("/") or "//" in fpath or not fpath.strip():
                c.error(fp, f"file path {fpath!r} must be a relative path inside the repository", key=True)
                continue
            spec.files[fpath] = FileSpec(fpath, fp, f.get("source"), f.get("content"), f.get("branch"), f.get("message"))
        spec.prune = dict(r.get("prune") or {})
        m.repos[full] = spec


def _build_codespaces(m: Manifest, c: _Collector) -> None:
    d = m.data
    for acc_id, secrets in (d.get("codespaces_secrets") or {}).items():
        ap: PathT = ("codespaces_secrets", acc_id)
        if acc_id not in m.accounts:
            c.error(ap, _unknown_account(acc_id, m), key=True)
            continue
        if m.accounts[acc_id].is_org:
            c.error(ap, f"{acc_id} is an organization; Codespaces user secrets belong to users", key=True)
            continue
        refs = _secret_map({n: {k: v for k, v in s.items() if k != "repos"} for n, s in secrets.items()}, ap, m, c, context=acc_id)
        for name, ref in refs.items():
            repos = list(secrets[name].get("repos") or [])
            _check_repo_refs(repos, ap + (name, "repos"), m, c)
            m.codespaces_secrets.append(CodespacesSecretSpec(acc_id, name, ref, repos, ap + (name,)))


def _build_org_secrets(m: Manifest, c: _Collector) -> None:
    d = m.data
    for acc_id, types in (d.get("org_secrets") or {}).items():
        ap = ("org_secrets", acc_id)
        if not _need_org(acc_id, ap, m, c):
            continue
        for typ, secrets in types.items():
            refs = _secret_map({n: {k: v for k, v in s.items() if k not in ("repos", "visibility")} for n, s in secrets.items()}, ap + (typ,), m, c, context=acc_id)
            for name, ref in refs.items():
                s = secrets[name]
                vis, repos = _visibility(s, ap + (typ, name), m, c, acc_id)
                m.org_secrets.append(OrgSecretSpec(acc_id, typ, name, ref, vis, repos, ap + (typ, name)))


def _build_dispatch(m: Manifest, c: _Collector) -> None:
    d = m.data
    for tname, t in (d.get("dispatch") or {}).items():
        if tname == "include":
            continue
        tp = ("dispatch", tname)
        acc_id = t.get("account")
        repo = m.repo(t["repo"])
        if acc_id is not None and acc_id not in m.accounts:
            c.error(tp + ("account",), _unknown_account(acc_id, m))
            continue
        if acc_id is None:
            if repo is not None:
                acc_id = repo.account
            elif t["repo"].count("/") == 1 and m.account_for_owner(t["repo"].split("/")[0]):
                acc_id = m.account_for_owner(t["repo"].split("/")[0]).id  # type: ignore[union-attr]
            else:
                c.error(tp + ("repo",), f"dispatch template {tname}: no account can reach {t['repo']} (add `account:`)")
                continue
        m.dispatch[tname] = DispatchTemplate(tname, t["repo"], acc_id, t["workflow"], t.get("ref"), dict(t.get("inputs") or {}), list((t.get("when_idle") or {}).get("labels") or []), t.get("max_concurrent"), tp)


def _build_state(m: Manifest, c: _Collector) -> None:
    d = m.data
    st = d.get("state") or {}
    m.state = StateSpec(st.get("backend", "local"), st.get("path"), st.get("repo"), st.get("branch"), st.get("account"))
    if m.state.backend == "github":
        if not m.state.repo:
            c.error(("state",), "state backend github needs `repo: owner/name`", key=True)
        elif m.state.account and m.state.account not in m.accounts:
            c.error(("state", "account"), _unknown_account(m.state.account, m))
    m.settings = dict(d.get("settings") or {})



# GitHub's limits, checked before anything is written (an apply must not stop at the 101st secret):
# "up to 1,000 organization secrets, 100 repository secrets, and 100 environment secrets"; "secrets
# are limited to 48 KB in size" — https://docs.github.com/en/actions/reference/security/secrets#limits-for-secrets
# "up to 1,000 organization variables, 500 variables per repository, and 100 variables per
# environment"; "variables are limited to 48 KB in size" —
# https://docs.github.com/en/actions/reference/workflows-and-actions/variables#limits-for-configuration-variables
MAX_VALUE_BYTES = 48 * 1024
MAX_SECRETS = {"repo": 100, "environment": 100, "org": 1000}
MAX_VARIABLES = {"repo": 500, "environment": 100, "org": 1000}
#: environment names: at most 255 characters (GitHub answers 422 beyond)
MAX_ENVIRONMENT_NAME = 255


def _too_many(c: _Collector, path: PathT, count: int, limit: int, what: str) -> None:
    if count > limit:
        c.error(path, f"{count} {what} declared here; GitHub allows at most {limit}", key=True)


def _check_limits(m: Manifest, c: _Collector) -> None:
    """Limits GitHub enforces that a manifest alone can break: counts, sizes, names, paths."""
    for spec in m.repos.values():
        for typ, refs in spec.secrets.items():
            _too_many(c, spec.path + ("secrets", typ), len(refs), MAX_SECRETS["repo"], f"{typ} secrets")
        _too_many(c, spec.path + ("variables",), len(spec.variables), MAX_VARIABLES["repo"], "variables")
        for name, value in spec.variables.items():
            if len(str(value).encode()) > MAX_VALUE_BYTES:
                c.error(spec.path + ("variables", name), f"variable {name} is {len(str(value).encode()):,} bytes; GitHub allows at most 48 KB")
        for env_name, env in spec.environments.items():
            ep = spec.path + ("environments", env_name)
            if len(env_name) > MAX_ENVIRONMENT_NAME:
                c.error(ep, f"environment name is {len(env_name)} characters; GitHub allows at most {MAX_ENVIRONMENT_NAME}", key=True)
            _too_many(c, ep + ("secrets",), len(env.secrets), MAX_SECRETS["environment"], "environment secrets")
            _too_many(c, ep + ("variables",), len(env.variables), MAX_VARIABLES["environment"], "environment variables")
            for name, value in env.variables.items():
                if len(str(value).encode()) > MAX_VALUE_BYTES:
                    c.error(ep + ("variables", name), f"variable {name} is {len(str(value).encode()):,} bytes; GitHub allows at most 48 KB")
        for fpath, f in spec.files.items():
            if any(part.lower() == ".git" for part in fpath.split("/")):
                c.error(f.path, f"file path {fpath!r} points into .git, which GitHub refuses", key=True)
    per_org: dict[tuple[str, str], list[PathT]] = {}
    for os_ in m.org_secrets:
        per_org.setdefault((os_.account, os_.type), []).append(os_.path)
    for (acc, typ), paths in per_org.items():
        _too_many(c, ("org_secrets", acc), len(paths), MAX_SECRETS["org"], f"organization {typ} secrets")
    org_vars: dict[str, int] = {}
    for ov in m.org_variables:
        org_vars[ov.account] = org_vars.get(ov.account, 0) + 1
        if len(str(ov.value).encode()) > MAX_VALUE_BYTES:
            c.error(ov.path, f"variable {ov.name} is {len(str(ov.value).encode()):,} bytes; GitHub allows at most 48 KB")
    for acc, n in org_vars.items():
        _too_many(c, ("org_variables", acc), n, MAX_VARIABLES["org"], "organization variables")
    for q in m.queues.values():
        raw = ((m.data.get("queues") or {}).get(q.name) or {}).get("path")
        if isinstance(raw, str) and raw.startswith("/"):
            c.error(q.path + ("path",), f"queue path {raw!r} must be relative to the repository root (no leading /)")


def _check_retired(m: Manifest, c: _Collector) -> None:
    """A retired account is kept only for its token: gridctl deletes through it what it wrote,
    so nothing may still be declared for it (each reference is an error at its place)."""
    retired = {a.id: a for a in m.accounts.values() if a.retired}
    if not retired:
        return
    by_login = {a.login.lower(): a for a in retired.values()}

    def hit(path: PathT, acc: Account, what: str, key: bool = False) -> None:
        c.error(
            path, f"account {acc.id} ({acc.login}) is retired and cannot {what}",
            f"remove this entry: the plan deletes what gridctl wrote through or for {acc.id}; "
            "once that apply is done, remove the account too", key=key,
        )

    def named(who: object) -> Account | None:
        if not isinstance(who, str):
            return None
        return retired.get(who) or by_login.get(who.lower())

    d = m.data
    for ks in m.keys.values():
        for i, acc_id in enumerate(ks.spread_over):
            if acc_id in retired:
                hit(ks.path + ("spread", "over", i), retired[acc_id], "hold a share of a key spread")
    for spec in m.repos.values():
        if spec.account in retired or spec.owner.lower() in by_login:
            hit(spec.path, retired.get(spec.account) or by_login[spec.owner.lower()], "manage a repository", key=True)
        raw = (d.get("repos") or {}).get(spec.full_name) or {}
        for who in raw.get("collaborators") or {}:
            if (acc := named(who)) is not None:
                hit(spec.path + ("collaborators", who), acc, "be a collaborator", key=True)
        for env_name, e in (raw.get("environments") or {}).items():
            for i, rev in enumerate(e.get("reviewers") or []):
                if (acc := named(rev)) is not None:
                    hit(spec.path + ("environments", env_name, "reviewers", i), acc, "be a reviewer")
    for section in ("codespaces_secrets", "org_secrets", "org_variables", "runner_groups"):
        for acc_id in d.get(section) or {}:
            if acc_id in retired:
                hit((section, acc_id), retired[acc_id], f"have {section.replace('_', ' ')}", key=True)
    for r in m.runners:
        if r.account in retired:
            hit(r.path, retired[r.account], "register runners")
    for t in m.dispatch.values():
        if t.account in retired:
            hit(t.path, retired[t.account], "dispatch workflows", key=True)
    for q in m.queues.values():
        if q.account in retired:
            hit(q.path, retired[q.account], "serve a task queue", key=True)
    if m.state.account in retired:
        hit(("state", "account"), retired[m.state.account], "hold the state")


def _unknown_account(acc: str, m: Manifest) -> str:
    return unknown_account(m, acc)


def _unknown_key(key: str, m: Manifest) -> str:
    import difflib

    near = difflib.get_close_matches(key, list(m.keys), n=1)
    known = ", ".join(m.keys) or "none declared"
    return f"unknown key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else "") + f"; keys are: {known}"


def _need_org(acc_id: str, path: PathT, m: Manifest, c: _Collector) -> bool:
    return SectionContext(m, c.error, c.warn).need_org(acc_id, path)


def _visibility(s: dict, path: PathT, m: Manifest, c: _Collector, acc_id: str) -> tuple[str, list[str]]:
    return SectionContext(m, c.error, c.warn).visibility(s, path, acc_id)


def _check_repo_refs(repos: list[str], path: PathT, m: Manifest, c: _Collector) -> None:
    for i, r in enumerate(repos):
        if not isinstance(r, str) or r.count("/") != 1:
            c.error(path + (i,), f"{r!r} must be owner/name")


def _variable_map(variables: dict, path: PathT, c: _Collector) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in variables.items():
        if name.upper().startswith("GITHUB_"):
            c.error(path + (name,), f"variable {name}: names starting with GITHUB_ are reserved by GitHub", key=True)
            continue
        if name.upper() in out:
            c.error(path + (name,), f"variable {name} is declared twice (names are case-insensitive)", key=True)
            continue
        out[name.upper()] = scalar(value)
    return out


def _secret_map(secrets: dict, path: PathT, m: Manifest, c: _Collector, context: str | None) -> dict[str, SecretRef]:
    out: dict[str, SecretRef] = {}
    for name, s in secrets.items():
        sp = path + (name,)
        if name.upper().startswith("GITHUB_"):
            c.error(sp, f"secret {name}: names starting with GITHUB_ are reserved by GitHub", key=True)
            continue
        if name.upper() in out:
            c.error(sp, f"secret {name} is declared twice (names are case-insensitive)", key=True)
            continue
        ref = SecretRef(sp, format=s.get("format"), share=s.get("share"))
        if "key" in s:
            ref.key = s["key"]
            ks = m.keys.get(s["key"])
            if ks is None:
                c.error(sp + ("key",), _unknown_key(s["key"], m))
                continue
            share = ref.share or ("own" if context and context in ks.spread_over else "all")
            if share == "own" and (context is None or context not in ks.spread_over):
                if context is None:
                    c.error(sp + ("share",) if "share" in s else sp, "share: own needs an account context, and a repository secret has none", f"own means the account's share of key {ks.id}: use it under codespaces_secrets.<account> or org_secrets.<account>; here use share: all or share: <account id>")
                else:
                    c.error(sp + ("share",) if "share" in s else sp, f"share: own: key {ks.id} is not spread over account {context}", f"add {context} to keys.{ks.id}.spread.over, or use share: all")
                continue
            if share not in ("own", "all") and share not in m.accounts:
                c.error(sp + ("share",), _unknown_account(share, m))
                continue
            if share not in ("own", "all") and share not in ks.spread_over:
                c.error(sp + ("share",), f"key {ks.id} is not spread over {share}")
                continue
            ref.share = context if share == "own" else share
        else:
            ref.source = Source.from_dict({k: v for k, v in s.items() if k in ("env", "file", "command")})
            if ref.format not in (None, "single"):
                c.error(sp + ("format",), "format applies to key references only")
        out[name.upper()] = ref
    return out


# -- resolving sources ----------------------------------------------------------------------------


def _resolve_tokens(m: Manifest, c: _Collector) -> None:
    """Every account's token, read from its source; an unavailable one is an error at its
    ``token:`` line naming the account and the source (never what it holds)."""
    for acc in m.accounts.values():
        if acc.app is not None:
            _resolve_app_key(m, acc, c)
            continue
        try:
            value = read_source(acc.token_source, m.root, allow_outside=True).strip()
        except SourceError as exc:
            c.error(acc.path + ("token",), f"account {acc.id}: token source unavailable: {exc}")
            continue
        if not value or any(ch.isspace() or not ch.isprintable() for ch in value):
            # an HTTP header cannot carry it; say so without echoing any of it
            c.error(acc.path + ("token",), f"account {acc.id}: the token from {acc.token_source.describe()} is malformed",
                    "a token is one line of printable characters, without spaces; check what the source holds")
            continue
        acc.token = Sensitive(value)


def _resolve_app_key(m: Manifest, acc: Account, c: _Collector) -> None:
    """An app account's private key, read from its source; it must look like a PEM private key
    (what it holds is never echoed)."""
    assert acc.app is not None
    where = acc.path + ("app", "private_key")
    try:
        value = read_source(acc.app.key_source, m.root, allow_outside=True).strip()
    except SourceError as exc:
        c.error(where, f"account {acc.id}: the app's private key is unavailable: {exc}")
        return
    if not (value.startswith("-----BEGIN") and "PRIVATE KEY-----" in value):
        c.error(where, f"account {acc.id}: {acc.app.key_source.describe()} does not hold a PEM private key",
                "download the app's private key (a .pem file) from its settings page")
        return
    acc.app.private_key = Sensitive(value)


def _resolve(m: Manifest, c: _Collector, *, tokens: bool = True, secrets: bool = True) -> None:
    """Read tokens and key material now, so a missing source fails before any API call.
    Without ``secrets``, only file sources are read (the others hold secrets to fetch)."""
    if tokens:
        _resolve_tokens(m, c)
    for ks in m.keys.values():
        if not secrets and not ks.source.is_file:
            continue
        try:
            ks.values = read_values(ks.source, m.root)
        except SourceError as exc:
            c.error(ks.path + ("source",), f"key {ks.id}: {exc}")
            continue
        if ks.spread_over:
            ks.shares, unassigned = keymod.spread(ks.values, ks.spread_over, ks.per_account)
            if unassigned:
                c.warn(ks.path + ("spread",), f"key {ks.id}: {unassigned} value(s) do not fit (per_account {ks.per_account} over {len(ks.spread_over)} accounts) and go to no account")
    sizes: dict[tuple[str, str | None, str], int] = {}  # a key's value as a secret, measured once per share and format
    for ref in _all_refs(m):
        if ref.key is not None:
            ks = m.keys[ref.key]
            if not ks.values:
                continue
            values = ks.values if ref.share in (None, "all") else ks.shares.get(ref.share or "", [])
            fmt = ref.format or ("single" if not ks.source.lines else "lines")
            if fmt == "single" and len(values) != 1:
                c.error(ref.path, f"key {ks.id} gives {len(values)} values here; use format: json or lines (format single needs exactly one)")
            if not values:
                c.error(ref.path, f"key {ks.id} gives no values to {ref.share}")
            elif fmt != "single" or len(values) == 1:
                at = (ref.key, ref.share, fmt)
                if at not in sizes:
                    sizes[at] = len(keymod.format_values(values, fmt).reveal().encode())
                _check_value_size(c, ref.path, sizes[at])
        else:
            assert ref.source is not None
            if not secrets and not ref.source.is_file:
                continue
            try:
                _check_value_size(c, ref.path, len(read_source(ref.source, m.root).encode()))
            except SourceError as exc:
                c.error(ref.path, f"secret source unavailable: {exc}")
    problem_of: dict[str, str | None] = {}  # a file source's problem, looked at once (many repositories share one)
    for repo in m.repos.values():
        _resolve_deploy_keys(m, c, repo, secrets=secrets)
        for f in repo.files.values():
            if f.source is not None:
                if f.source not in problem_of:
                    problem_of[f.source] = _file_problem(m.root, f.source)
                problem = problem_of[f.source]
                if problem is not None:
                    c.error(f.path + ("source",), f"{repo.full_name}: {f.path_in_repo}: {problem}")


def _file_problem(root: Path, source: str) -> str | None:
    """Why a file source cannot be read (None: it can)."""
    try:
        p = resolve_path(root, source)
        if p.is_dir():
            raise SourceError(f"file {source} is a directory")
        if not p.is_file():
            raise SourceError(f"file {source} does not exist")
    except SourceError as exc:
        return str(exc)
    return None


def _resolve_deploy_keys(m: Manifest, c: _Collector, repo: RepoSpec, *, secrets: bool) -> None:
    """Each deploy key must be an SSH public key; without ``secrets``, only those read from files."""
    for dk in repo.deploy_keys.values():
        from_secret = (dk.source is not None and not dk.source.is_file) or (dk.key is not None and not m.keys[dk.key].values)
        if not secrets and from_secret:
            continue
        try:
            value = deploy_key_value(m, dk)
        except SourceError as exc:
            c.error(dk.path, f"deploy key {dk.title}: {exc}")
            continue
        except KeyError:
            continue
        if not SSH_KEY_RE.match(value.reveal().strip()):
            c.error(dk.path, f"deploy key {dk.title} is not an SSH public key", "expected OpenSSH format: ssh-ed25519 AAAA... [comment]")


def _all_refs(m: Manifest) -> list[SecretRef]:
    refs: list[SecretRef] = []
    for repo in m.repos.values():
        for typ in repo.secrets.values():
            refs.extend(typ.values())
        for env in repo.environments.values():
            refs.extend(env.secrets.values())
    refs.extend(s.ref for s in m.codespaces_secrets)
    refs.extend(s.ref for s in m.org_secrets)
    sections = [*m.sections.values(), *(v for repo in m.repos.values() for v in repo.sections.values())]
    refs.extend(_section_refs(sections))
    return refs


def _section_refs(value: Any) -> list[SecretRef]:
    """The secret references kind-owned sections hold: each parsed spec with a
    ``secret_refs()`` method (a webhook's secret), in lists and dicts too."""
    refs = getattr(value, "secret_refs", None)
    if callable(refs):
        return list(refs())
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _section_refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _section_refs(v)]
    return []


def _check_value_size(c: _Collector, path: PathT, size: int) -> None:
    if size > MAX_VALUE_BYTES:
        c.error(path, f"this secret's value is {size:,} bytes; GitHub allows at most 48 KB", "split the key set, or spread it over more accounts")


def secret_value(m: Manifest, ref: SecretRef) -> Sensitive:
    """The value a secret reference stands for (from memory; sources were read at load time)."""
    if ref.key is not None:
        ks = m.keys[ref.key]
        values = ks.values if ref.share in (None, "all") else ks.shares.get(ref.share or "", [])
        fmt = ref.format or ("single" if not ks.source.lines else "lines")
        return keymod.format_values(values, fmt)
    assert ref.source is not None
    return Sensitive(read_source(ref.source, m.root))


def deploy_key_value(m: Manifest, dk: DeployKeySpec) -> Sensitive:
    if dk.key is not None:
        values = m.keys[dk.key].values
        if len(values) != 1:
            raise SourceError(f"key {dk.key} holds {len(values)} values; a deploy key needs exactly one")
        return values[0]
    assert dk.source is not None
    return Sensitive(read_source(dk.source, m.root).strip())


def file_content(m: Manifest, f: FileSpec) -> bytes:
    if f.content is not None:
        return f.content.encode()
    assert f.source is not None
    return resolve_path(m.root, f.source).read_bytes()
