"""Kind ``file``: files committed through the contents API (``repos.<r>.files``).

Never a force push: every write is one commit made with a compare-and-swap on the file's blob
SHA (the contents ``PUT`` of an update and the ``DELETE`` send the SHA read at plan time; a file
changed on GitHub in between makes GitHub answer 409, reported as such — nothing is retried or
overwritten).

Plans hold git blob SHAs and sizes, never file content. Reading costs one request per branch —
the branch's recursive git tree lists every file's blob SHA — or, for files in a single folder
(or a truncated tree), one contents listing per folder (``_read_files``); the content is never
downloaded to compare. A file with no ``branch``
lives on the repository's default branch (from the memoized repository GET).

Apply takes the content from the manifest when it still has the planned blob SHA; otherwise
(a rollback restoring an earlier version) it fetches the blob by SHA from GitHub.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import posixpath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import GitHubError, GridctlError
from ..manifest.load import file_content
from ..manifest.model import Manifest
from ..plan import Action, Change
from .base import ApplyResult, Item, Kind, Scope

if TYPE_CHECKING:
    from .base import ApplyContext, PlanEnv, Reader


#: how many commits back the auto_init check looks for the repository's first commit
_MAX_WALK = 50


def blob_sha(content: bytes) -> str:
    """Git's blob id: sha1 of ``"blob <size>\\0" + content``."""
    return hashlib.sha1(b"blob %d\x00" % len(content) + content, usedforsecurity=False).hexdigest()


def _contents_url(full: str, path: str) -> str:
    return f"/repos/{full}/contents/{quote(path)}" if path else f"/repos/{full}/contents"


def _keep_name(what: str, paths: list[str]) -> str:
    return what + ":" + hashlib.sha256("\0".join(sorted(paths)).encode("utf-8")).hexdigest()[:16]


def _read_files(reader: Reader, full: str, branch: str, paths: list[str]) -> dict[str, tuple[str, Any]]:
    """``{path: (blob sha, size)}`` of the files among ``paths`` that exist on ``branch``.

    Files in two or more folders are read with one request: the branch's recursive git tree,
    of which the ETag cache keeps only these paths' entries. One folder, a branch name with a
    ``/`` (kept out of a URL path segment), or a tree GitHub truncated (a recursive tree stops
    at 100,000 entries or 7 MB: GitHub Docs, "Get a tree",
    https://docs.github.com/en/rest/git/trees#get-a-tree — the ``truncated`` flag) is read with
    one contents listing per folder instead (``GET /repos/{r}/contents/{dir}?ref=``; up to
    1,000 entries a folder: https://docs.github.com/en/rest/repos/contents#get-repository-content).
    Symbolic links count as files, as the contents API lists them; folders and submodules do not.
    """
    from ..github.client import Keep  # (here: loading a manifest imports the kinds, not the clients)

    wanted = set(paths)
    folders = sorted({posixpath.dirname(p) for p in paths})
    if len(folders) > 1 and "/" not in branch:

        def from_tree(body: Any) -> Any:
            entries = body.get("tree") if isinstance(body, dict) else None
            if not isinstance(entries, list) or body.get("truncated"):
                return {"truncated": True}
            files = {
                e["path"]: [e.get("sha"), e.get("size")]
                for e in entries
                if isinstance(e, dict) and e.get("path") in wanted and e.get("type") == "blob"
            }
            return {"truncated": False, "files": files}

        tree = reader.tree(full, branch, Keep(_keep_name("tree", paths), from_tree))
        if tree is None:
            return {}  # no such branch, or an empty repository
        if not tree.get("truncated"):
            return {p: (v[0], v[1]) for p, v in tree["files"].items()}
    out: dict[str, tuple[str, Any]] = {}
    for folder in folders:
        mine = [p for p in paths if posixpath.dirname(p) == folder]

        def from_listing(body: Any, mine: list[str] = mine) -> Any:
            if not isinstance(body, list):
                return None  # a file in the folder's place
            return [
                [e.get("path"), e.get("sha"), e.get("size")]
                for e in body
                if isinstance(e, dict) and e.get("path") in mine and e.get("type") in ("file", "symlink")
            ]

        listing = reader.get(_contents_url(full, folder), {"ref": branch}, keep=Keep(_keep_name("contents", mine), from_listing))
        for path, sha, size in listing if isinstance(listing, list) else []:
            out[path] = (sha, size)
    return out


class File(Kind):
    name = "file"

    def app_permissions(self, m: Manifest) -> list[tuple[str, str, str, str]]:
        files = [(r.account, "contents", "write", f"repos.{r.full_name}.files") for r in m.repos.values() if r.files]
        return files + super().app_permissions(m)
    order = 80

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        # GitHub refuses to write under .github/workflows/ without the workflow scope
        return [
            (r.account, "workflow", f"repos.{r.full_name}.files")
            for r in m.repos.values() if any(p.startswith(".github/workflows/") for p in r.files)
        ]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        out: list[Scope] = []
        managed: dict[str, list[tuple[str, str | None]]] = {}
        for entry in env.state.of_kind(self.name).values():
            if entry.get("path"):
                managed.setdefault(str(entry["scope"]).lower(), []).append((entry["path"], entry.get("branch")))
        for spec in env.manifest.repos.values():
            files: dict[str, str | None] = {p: f.branch for p, f in spec.files.items()}
            for path, branch in managed.get(spec.full_name.lower(), []):
                files.setdefault(path, branch)
            if files:
                out.append(
                    Scope(
                        self.name,
                        spec.account,
                        spec.full_name,
                        spec.full_name,
                        (("files", tuple(sorted(files.items()))),),
                    )
                )
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        assert spec is not None
        out: dict[str, Item] = {}
        for path, f in spec.files.items():
            content = file_content(env.manifest, f)
            meta: dict[str, Any] = {"path": path}
            if f.branch:
                meta["branch"] = f.branch
            if f.message:
                meta["message"] = f.message
            if spec.auto_init:
                meta["auto_init"] = True
            out[path] = Item(
                path,
                attrs={"sha": blob_sha(content), "size": len(content)},
                meta=meta,
                source=env.manifest.positions.source(f.path),
            )
        return out

    def live(self, reader: Reader, scope: Scope, only: str | None = None) -> dict[str, Item]:
        data = reader.repo(scope.name)
        if data is None:
            return {}
        default = data.get("default_branch") or "main"
        by_branch: dict[str, list[str]] = {}
        for path, branch in scope.get("files", ()):
            by_branch.setdefault(branch or default, []).append(path)
        out: dict[str, Item] = {}
        for branch, paths in sorted(by_branch.items()):
            found = _read_files(reader, scope.name, branch, paths)
            for path in paths:
                e = found.get(path)
                if e is None or (only is not None and path != only):
                    continue
                out[path] = Item(path, attrs={"sha": e[0], "size": e[1]}, meta={"path": path, "branch": branch})
        return out

    def refresh(self, reader: Reader, scope: Scope, key: str) -> Item | None:
        return self.live(reader, scope, only=key).get(key)

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {
            **super().state_entry(scope, live),
            "path": live.meta.get("path", live.key),
            "branch": live.meta.get("branch"),
        }

    # -- apply ------------------------------------------------------------------------------------
    def _content(self, ctx: ApplyContext, change: Change) -> bytes:
        """The bytes whose blob SHA the change planned: from the manifest, else from GitHub."""
        want = (change.after or {})["sha"]
        path = change.meta["key"]
        spec = ctx.manifest.repo(change.scope)
        f = spec.files.get(path) if spec else None
        if f is not None:
            content = file_content(ctx.manifest, f)
            if blob_sha(content) == want:
                return content
        try:  # an uncached read: file content is not kept in the ETag cache on disk
            data = ctx.client(change.account).raw("GET", f"/repos/{change.scope}/git/blobs/{want}")
        except GitHubError as exc:
            if exc.status != 404:
                raise
            data = None
        if not data or "content" not in data:
            raise GridctlError(
                f"{path}: the planned content (blob {want[:12]}) is neither in the manifest nor on GitHub; run gridctl plan again"
            )
        content = base64.b64decode("".join(str(data["content"]).split()))
        if blob_sha(content) != want:
            raise GridctlError(f"{path}: blob {want[:12]} from GitHub does not have the expected content")
        return content

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        full = change.scope
        path = change.meta["key"]
        branch = change.meta.get("branch")
        kw: dict[str, Any] = {"branch": branch} if branch else {}
        # create, update (with the blob SHA it replaces) and delete: one contents URL
        # (https://docs.github.com/en/rest/repos/contents#create-or-update-file-contents,
        # https://docs.github.com/en/rest/repos/contents#delete-a-file)
        url = _contents_url(full, path)
        where = f"{full}:{path}" + (f" on {branch}" if branch else "")

        def live_sha() -> str | None:
            listing = client.get(_contents_url(full, posixpath.dirname(path)), {"ref": branch} if branch else None)
            for e in listing if isinstance(listing, list) else []:
                if e.get("path") == path:
                    sha: str | None = e.get("sha")
                    return sha
            return None

        if change.action == Action.DELETE:
            sha = (change.before or {})["sha"]
            message = change.meta.get("message") or f"gridctl: delete {path}"
            self._cas(
                client,
                where,
                "DELETE",
                url,
                {"message": message, "sha": sha, **kw},
                verify=lambda: live_sha() is None or None,
            )
            return ApplyResult(None, result={"deleted": sha})

        content = self._content(ctx, change)
        want = blob_sha(content)
        encoded = base64.b64encode(content).decode("ascii")
        message = change.meta.get("message") or f"gridctl: update {path}"

        def update(sha: str) -> None:
            """Replace the file if its blob is still ``sha`` (compare-and-swap)."""
            self._cas(
                client,
                where,
                "PUT",
                url,
                {"message": message, "content": encoded, "sha": sha, **kw},
                verify=lambda: live_sha() == want or None,
            )

        if change.action == Action.CREATE:
            try:
                self._cas(
                    client,
                    where,
                    "PUT",
                    url,
                    {"message": message, "content": encoded, **kw},
                    verify=lambda: live_sha() == want or None,
                )
            except GitHubError as exc:
                if exc.status != 422:
                    raise
                current = live_sha()
                if current is None:
                    raise
                if not (
                    change.meta.get("auto_init") and self._from_initial_commit(client, full, branch, path, current)
                ):
                    raise GitHubError(
                        f"{where} already exists on GitHub (it was created after the plan read the repository); "
                        "nothing was overwritten. Run gridctl plan again",
                        status=exc.status,
                    ) from None
                # the file is still exactly what auto_init's initial commit made: replace it (CAS)
                update(current)
        else:
            update((change.before or {})["sha"])  # compare-and-swap on the blob read at plan time
        entry = {"kind": self.name, "scope": full, "account": change.account, "path": path, "branch": branch}
        return ApplyResult(entry, result={"sha": want})

    def _from_initial_commit(self, client: Any, full: str, branch: str | None, path: str, current: str) -> bool:
        """``path`` still has the blob the repository's first commit (auto_init) gave it.

        Walks the first-parent chain of the branch (bounded), then looks the path up in the
        root commit's tree. Only root-level files qualify: auto_init writes nothing deeper.
        """
        if "/" in path:
            return False
        name = branch or (client.get(f"/repos/{full}") or {}).get("default_branch")
        head = client.get(f"/repos/{full}/branches/{quote(name or '', safe='')}") if name else None
        if not head:
            return False
        commit = head["commit"]
        tree = ((commit.get("commit") or {}).get("tree") or {}).get("sha")
        parents = commit.get("parents") or []
        for _ in range(_MAX_WALK):
            if not parents:
                break
            c = client.get(f"/repos/{full}/git/commits/{parents[0]['sha']}")
            if not c:
                return False
            tree, parents = (c.get("tree") or {}).get("sha"), c.get("parents") or []
        else:
            return False
        root = client.get(f"/repos/{full}/git/trees/{tree}") if tree else None
        return any(e.get("path") == path and e.get("sha") == current for e in (root or {}).get("tree") or [])

    def _cas(self, client: Any, where: str, verb: str, url: str, body: dict[str, Any], *, verify: Any) -> None:
        """One contents write, retried after a transient failure only when ``verify`` shows it
        did not happen (a lost answer to a PUT that did land would otherwise answer 409)."""
        try:
            client.raw(verb, url, body, idempotent=False, verify=verify)
        except GitHubError as exc:
            if exc.status == 409:
                raise GitHubError(
                    f"{where} changed on GitHub since it was read (compare-and-swap on its blob SHA failed; nothing was "
                    f"overwritten): {exc}. Run gridctl plan again and review the new plan",
                    status=409,
                    request_id=exc.request_id,
                    github_message=exc.github_message,
                ) from None
            raise

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        inv = super().inverse(change, result)
        if inv is None:
            return None
        return dataclasses.replace(
            inv, meta={**inv.meta, "message": f"gridctl: roll back {change.action.value} of {change.meta['key']}"}
        )


KINDS = [File()]
