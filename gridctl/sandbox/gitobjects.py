"""Git objects with git's own hashing, so SHAs computed by a client (``git hash-object``) match.

Objects live in the store table ``git`` under ``"{repo_id}:{sha}"``; branch and tag refs live on
the repository record (``repo["refs"] = {"refs/heads/main": sha}``). The contents API, the Git
Data API, workflows and branches all read and write through :class:`Git`.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import time
from typing import Any

from .errors import ApiError
from .world import World

FILE_MODE = "100644"
EXEC_MODE = "100755"
TREE_MODE = "040000"
LINK_MODE = "120000"


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _epoch(date: str) -> int:
    return calendar.timegm(time.strptime(date, "%Y-%m-%dT%H:%M:%SZ"))


def _tree_bytes(entries: list[dict]) -> bytes:
    def sort_key(e: dict) -> bytes:
        name: bytes = e["path"].encode()
        return name + b"/" if e["type"] == "tree" else name

    out = b""
    for e in sorted(entries, key=sort_key):
        mode = e["mode"].lstrip("0") if e["type"] == "tree" else e["mode"]
        out += mode.encode() + b" " + e["path"].encode() + b"\0" + bytes.fromhex(e["sha"])
    return out


def _commit_bytes(tree: str, parents: list[str], message: str, author: dict, committer: dict) -> bytes:
    lines = [f"tree {tree}"]
    lines += [f"parent {p}" for p in parents]
    lines.append(f"author {author['name']} <{author['email']}> {_epoch(author['date'])} +0000")
    lines.append(f"committer {committer['name']} <{committer['email']}> {_epoch(committer['date'])} +0000")
    return ("\n".join(lines) + "\n\n" + message).encode()


class Git:
    """The object database and refs of one repository."""

    def __init__(self, world: World, repo: dict):
        self.world = world
        self.repo = repo

    # -- objects ------------------------------------------------------------------------------
    def _key(self, sha: str) -> str:
        return f"{self.repo['id']}:{sha}"

    def get(self, sha: str) -> dict | None:
        return self.world.store.get("git", self._key(sha.lower()))

    def _put(self, sha: str, record: dict) -> str:
        if self.world.store.get("git", self._key(sha)) is None:
            self.world.save("git", self._key(sha), record)
        return sha

    def put_blob(self, data: bytes) -> str:
        sha = blob_sha(data)
        return self._put(sha, {"type": "blob", "size": len(data), "content": base64.b64encode(data).decode()})

    def blob_data(self, sha: str) -> bytes:
        obj = self.get(sha)
        if obj is None or obj["type"] != "blob":
            raise KeyError(sha)
        return base64.b64decode(obj["content"])

    def put_tree(self, entries: list[dict]) -> str:
        """``entries``: ``[{path, mode, type, sha}]`` for one directory level."""
        clean = [{"path": e["path"], "mode": e["mode"], "type": e["type"], "sha": e["sha"]} for e in entries]
        body = _tree_bytes(clean)
        sha = hashlib.sha1(b"tree %d\0" % len(body) + body, usedforsecurity=False).hexdigest()
        clean.sort(key=lambda e: e["path"])
        return self._put(sha, {"type": "tree", "entries": clean})

    def put_commit(self, tree: str, parents: list[str], message: str, author: dict, committer: dict | None = None) -> str:
        committer = committer or author
        body = _commit_bytes(tree, parents, message, author, committer)
        sha = hashlib.sha1(b"commit %d\0" % len(body) + body, usedforsecurity=False).hexdigest()
        return self._put(
            sha,
            {"type": "commit", "tree": tree, "parents": parents, "message": message, "author": author, "committer": committer},
        )

    # -- refs -----------------------------------------------------------------------------------
    @property
    def refs(self) -> dict[str, str]:
        refs: dict[str, str] = self.repo.setdefault("refs", {})
        return refs

    def is_empty(self) -> bool:
        return not self.refs

    def resolve(self, ref: str | None) -> str | None:
        """A branch, tag, full ref or commit SHA -> commit SHA (None when unknown)."""
        if ref is None or ref == "":
            ref = self.repo["default_branch"]
        for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if candidate in self.refs:
                return self.refs[candidate]
        if len(ref) >= 7 and all(c in "0123456789abcdef" for c in ref.lower()):
            if len(ref) == 40:
                obj = self.get(ref)
                return ref.lower() if obj and obj["type"] == "commit" else None
            prefix = f"{self.repo['id']}:{ref.lower()}"
            for key, obj in self.world.store.table("git").items():
                if key.startswith(prefix) and obj["type"] == "commit":
                    return key.split(":", 1)[1]
        return None

    def set_ref(self, ref: str, sha: str) -> None:
        self.refs[ref] = sha
        if ref.startswith("refs/heads/"):
            self.repo["pushed_at"] = self.world.now_iso()
        self.world.save("repos", self.repo["id"], self.repo)

    # -- trees as flat file maps ---------------------------------------------------------------
    def flatten(self, tree_sha: str, prefix: str = "") -> dict[str, tuple[str, str]]:
        """``{path: (mode, blob_sha)}`` for every file under a tree."""
        out: dict[str, tuple[str, str]] = {}
        tree = self.get(tree_sha)
        if tree is None:
            return out
        for e in tree["entries"]:
            path = prefix + e["path"]
            if e["type"] == "tree":
                out.update(self.flatten(e["sha"], path + "/"))
            else:
                out[path] = (e["mode"], e["sha"])
        return out

    def build_tree(self, files: dict[str, tuple[str, str]]) -> str:
        """Write the trees for a flat ``{path: (mode, sha)}`` map; returns the root tree SHA."""
        children: dict[str, dict[str, tuple[str, str]]] = {}
        entries: list[dict] = []
        for path, (mode, sha) in files.items():
            head, sep, rest = path.partition("/")
            if sep:
                children.setdefault(head, {})[rest] = (mode, sha)
            else:
                entries.append({"path": head, "mode": mode, "type": "commit" if mode == "160000" else "blob", "sha": sha})
        for name, sub in children.items():
            entries.append({"path": name, "mode": TREE_MODE, "type": "tree", "sha": self.build_tree(sub)})
        return self.put_tree(entries)

    def commit_tree(self, commit_sha: str) -> str:
        obj = self.get(commit_sha)
        if obj is None or obj["type"] != "commit":
            raise KeyError(commit_sha)
        tree: str = obj["tree"]
        return tree

    def files_at(self, ref: str | None) -> dict[str, tuple[str, str]]:
        sha = self.resolve(ref)
        return self.flatten(self.commit_tree(sha)) if sha else {}

    def lookup(self, commit_sha: str, path: str) -> dict | None:
        """The tree entry at ``path`` in a commit (``{path, mode, type, sha}``), the root tree
        for an empty path, or None."""
        tree_sha = self.commit_tree(commit_sha)
        path = path.strip("/")
        if not path:
            return {"path": "", "mode": TREE_MODE, "type": "tree", "sha": tree_sha}
        parts = path.split("/")
        current = tree_sha
        for i, part in enumerate(parts):
            tree = self.get(current)
            if tree is None or tree["type"] != "tree":
                return None
            match = next((e for e in tree["entries"] if e["path"] == part), None)
            if match is None:
                return None
            if i == len(parts) - 1:
                return dict(match)
            if match["type"] != "tree":
                return None
            current = match["sha"]
        return None

    # -- commits on a branch ---------------------------------------------------------------------
    def signature(self, user: dict | None, given: dict | None = None) -> dict:
        if given and given.get("name") and given.get("email"):
            return {"name": given["name"], "email": given["email"], "date": given.get("date") or self.world.now_iso()}
        login = user["login"] if user else "ghost"
        uid = user["id"] if user else 0
        return {"name": login, "email": f"{uid}+{login}@users.noreply.github.com", "date": self.world.now_iso()}

    def commit_changes(
        self,
        branch: str,
        changes: dict[str, bytes | None],
        message: str,
        author: dict,
        committer: dict | None = None,
        expect_parent: str | None = None,
    ) -> str:
        """Commit file changes (``None`` deletes) on ``branch``; creates the branch in an empty
        repository. ``expect_parent`` makes it a compare-and-swap on the branch head."""
        ref = f"refs/heads/{branch}"
        parent = self.refs.get(ref)
        if parent is None and not self.is_empty():
            raise ApiError(404, f"Branch {branch} not found")
        if expect_parent is not None and parent != expect_parent:
            raise ApiError(409, f"{ref} is at {parent} but expected {expect_parent}")
        files = self.flatten(self.commit_tree(parent)) if parent else {}
        for path, data in changes.items():
            if data is None:
                files.pop(path, None)
            else:
                files[path] = (FILE_MODE, self.put_blob(data))
        tree = self.build_tree(files)
        sha = self.put_commit(tree, [parent] if parent else [], message, author, committer)
        self.set_ref(ref, sha)
        return sha


def auto_init(world: World, repo: dict, user: dict | None) -> str:
    """The first commit of a repository created with ``auto_init``: a README."""
    git = Git(world, repo)
    readme = f"# {repo['name']}\n"
    if repo.get("description"):
        readme += f"\n{repo['description']}\n"
    sig = git.signature(user)
    return git.commit_changes(repo["default_branch"], {"README.md": readme.encode()}, "Initial commit", sig)


def commit_shape(ctx: Any, repo: dict, sha: str, obj: dict) -> dict:
    """A commit in the Git Data API shape (``git-commit``)."""
    api = ctx.url(f"/repos/{repo['owner']}/{repo['name']}/git")
    return {
        "sha": sha,
        "node_id": base64.b64encode(f"0:Commit{repo['id']}:{sha}".encode()).decode().rstrip("="),
        "url": f"{api}/commits/{sha}",
        "html_url": ctx.url("").rsplit("/api/v3", 1)[0] + f"/{repo['owner']}/{repo['name']}/commit/{sha}",
        "author": dict(obj["author"]),
        "committer": dict(obj["committer"]),
        "tree": {"sha": obj["tree"], "url": f"{api}/trees/{obj['tree']}"},
        "message": obj["message"],
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": ctx.url("").rsplit("/api/v3", 1)[0] + f"/{repo['owner']}/{repo['name']}/commit/{p}"}
            for p in obj["parents"]
        ],
        "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None, "verified_at": None},
    }
