"""A stand-in for a GitHub Pages site: ``GET /_pages/{owner}/{repo}/{path}`` serves a file of a
branch as a web page (sandbox-only, never a GitHub path; it lets a browser open what
``gridctl queue publish`` committed).

GitHub Pages publishes the files of a branch (or of its ``/docs`` folder) as a static site, with
the media type of each file's extension and ``index.html`` for a folder, and the site is public
even when its repository is private ("About GitHub Pages",
https://docs.github.com/en/pages/getting-started-with-github-pages/about-github-pages;
"Configuring a publishing source for your GitHub Pages site",
https://docs.github.com/en/pages/getting-started-with-github-pages/configuring-a-publishing-source-for-your-github-pages-site).
The sandbox keeps no Pages settings: the branch is ``?ref=`` (a branch, tag or commit; default
``gh-pages``) and the path is any path of it, so no token is asked for. The web host adds
``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store`` to every answer.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from ..gitobjects import Git
from ..routing import WebReply, WebRequest, web

DEFAULT_REF = "gh-pages"
_TEXT = "text/plain; charset=utf-8"


def _missing(what: str) -> WebReply:
    return WebReply(404, f"404: {what}\n".encode(), _TEXT)


@web("GET", "/_pages/{owner}/{repo}/{path:path}")
def serve_page(app: Any, req: WebRequest) -> WebReply:
    """A file of the branch, ``index.html`` for a folder (or the site's root)."""
    world = app.world
    repo = world.find_repo(req.params["owner"], req.params["repo"])
    if repo is None:
        return _missing("there is no such repository")
    git = Git(world, repo)
    ref = req.query.get("ref") or DEFAULT_REF
    commit = None if git.is_empty() else git.resolve(ref)
    if commit is None:
        return _missing("the repository has no such branch")
    path = req.params.get("path", "").strip("/")
    if any(part in (".", "..") for part in path.split("/")):
        return _missing("no such file")
    entry = git.lookup(commit, path)
    if entry is not None and entry["type"] == "tree":
        path = f"{path}/index.html" if path else "index.html"
        entry = git.lookup(commit, path)
    if entry is None or entry["type"] != "blob":
        return _missing("no such file")
    kind, _ = mimetypes.guess_type(path)
    kind = kind or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/json", "application/javascript"):
        kind += "; charset=utf-8"
    return WebReply(200, git.blob_data(entry["sha"]), kind)
