"""Releases of ``actions/runner``: a built-in release list whose packages are the stand-in runner.

GitHub operations (group ``releases``), from GitHub Docs, "REST API endpoints for releases" and
"... for release assets" (https://docs.github.com/en/rest/releases/releases,
https://docs.github.com/en/rest/releases/assets), in our words:

* ``GET /repos/{owner}/{repo}/releases/latest``: the most recent published release that is
  neither a draft nor a prerelease; a repository with no such release answers 404, as does one
  the caller cannot see (or that does not exist);
* ``GET /repos/{owner}/{repo}/releases/tags/{tag}``: the published release with that tag, else 404;
* ``GET /repos/{owner}/{repo}/releases/assets/{asset_id}``: the asset's JSON; with
  ``Accept: application/octet-stream`` the API "will either redirect the client to the
  location, or stream it directly": here a 302 to the asset's ``browser_download_url``.

The sandbox knows the releases of one repository, ``actions/runner`` (public, readable by anyone,
whether or not the sandbox has a repository of that name); every other repository has none. Each
release carries the seven packages GitHub publishes (``actions-runner-{os}-{arch}-{version}``:
``.tar.gz`` for linux and osx, ``.zip`` for win), built here on the fly and byte-for-byte
deterministic: instead of the Actions runner, each holds a ``run.sh`` (``run.cmd`` for win) that
starts ``gridctl sandbox runner`` with the interpreter running the sandbox, taking the JIT
configuration the way the Actions runner does (``./run.sh --jitconfig ...`` or
``ACTIONS_RUNNER_INPUT_JITCONFIG``), and a ``config.sh`` that explains there is nothing to
configure. The release body publishes each package's SHA-256 the way actions/runner's release
notes do (https://github.com/actions/runner/releases, the "SHA-256 Checksums" section:
``- <file> <!-- BEGIN SHA linux-x64 -->HEX<!-- END SHA linux-x64 -->``), and each asset's
``digest`` is ``sha256:HEX``, as GitHub fills it for assets.

The download (``browser_download_url``) is a page of the web host that mimics
``https://github.com/actions/runner/releases/download/v{version}/{file}`` (github.com answers it
with a redirect to its storage; the sandbox serves the bytes directly), so the whole path works
offline. Each download counts in the asset's ``download_count`` (memory only).

Control routes (tests only): ``PUT /_sandbox/releases/{tag}/assets/{name}`` with
``{"content_base64": ..., "publish": bool}`` serves other bytes for an asset: ``publish: false``
is a tampered package (the release still publishes the original checksum), ``publish: true`` a
package its release vouches for (the checksum published follows the new bytes).
``DELETE`` on the same path restores the built-in package. Kept in ``world.services["releases"]``
(memory only), like the download counts.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import hashlib
import io
import shlex
import sys
import tarfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiError, not_found
from ..http import Ctx, Reply, json_reply
from ..inputs import bool_field, str_field
from ..routing import WebReply, WebRequest, control, route, web
from ..shapes import simple_user, web_root
from ..world import World, iso, node_id

OWNER, REPO = "actions", "runner"
#: the built-in releases, newest first: (version, published, Unix time of publication)
RELEASES: tuple[tuple[str, float], ...] = (
    ("2.321.0", 1732579200.0),  # 2024-11-26
    ("2.320.0", 1727654400.0),  # 2024-09-30
)
#: the release ``/latest`` answers and the runner downloads list points at
LATEST = RELEASES[0][0]
#: (os, arch) of every package, in the order of GitHub's downloads list
PLATFORMS: tuple[tuple[str, str], ...] = (
    ("osx", "x64"),
    ("osx", "arm64"),
    ("linux", "x64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("win", "x64"),
    ("win", "arm64"),
)
#: the largest replacement package a control route takes
MAX_OVERRIDE_BYTES = 16 * 1024 * 1024
#: who publishes actions/runner's releases (the GitHub Actions bot, its public id on github.com)
_BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
_RELEASE_ID_BASE = 190_000_000


def package_name(version: str, os_name: str, arch: str) -> str:
    ext = "zip" if os_name == "win" else "tar.gz"
    return f"actions-runner-{os_name}-{arch}-{version}.{ext}"


# -- the packages ------------------------------------------------------------------------------------
def _scripts(version: str, os_name: str, arch: str) -> list[tuple[str, bytes]]:
    python = sys.executable or "python3"
    head = f"gridctl sandbox: a stand-in for the GitHub Actions runner {version} ({os_name}-{arch})."
    if os_name == "win":
        run = (
            "@echo off\r\n"
            f"rem {head}\r\n"
            "rem It starts `gridctl sandbox runner`, which takes the JIT configuration like the Actions runner.\r\n"
            f'if "%GRIDCTL_PYTHON%"=="" set "GRIDCTL_PYTHON={python}"\r\n'
            '"%GRIDCTL_PYTHON%" -m gridctl sandbox runner %*\r\n'
        )
        return [("run.cmd", run.encode())]
    run = (
        "#!/bin/sh\n"
        f"# {head}\n"
        "# It starts `gridctl sandbox runner`, which takes the JIT configuration the way the Actions\n"
        "# runner does: ./run.sh --jitconfig ... or the ACTIONS_RUNNER_INPUT_JITCONFIG environment variable.\n"
        f"PYTHON=\"${{GRIDCTL_PYTHON:-{shlex.quote(python)}}}\"\n"
        'if [ ! -x "$PYTHON" ]; then PYTHON=python3; fi\n'
        'exec "$PYTHON" -m gridctl sandbox runner "$@"\n'
    )
    config = (
        "#!/bin/sh\n"
        f"# {head}\n"
        "echo 'This is the gridctl sandbox stand-in runner: there is nothing to configure.'\n"
        "echo 'A JIT runner starts with ./run.sh and its JIT configuration (gridctl runners run does that).'\n"
        'case "$1" in ""|--help|-h) exit 0 ;; *) exit 1 ;; esac\n'
    )
    return [("run.sh", run.encode()), ("config.sh", config.encode())]


def _tar_gz(files: list[tuple[str, bytes]], mtime: float) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        top = tarfile.TarInfo("./")
        top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o755, int(mtime)
        tar.addfile(top)
        for name, data in files:
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode, info.mtime = len(data), 0o755, int(mtime)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return raw.getvalue()


@functools.lru_cache(maxsize=64)
def builtin_package(version: str, os_name: str, arch: str) -> bytes:
    """The built-in package (deterministic: the same bytes for the same interpreter path)."""
    published = dict(RELEASES)[version]
    files = _scripts(version, os_name, arch)
    return _zip(files) if os_name == "win" else _tar_gz(files, published)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- memory-only state: replaced packages, download counts --------------------------------------------
@dataclass
class _Override:
    data: bytes
    published_sha256: str


@dataclass
class _State:
    overrides: dict[str, _Override] = field(default_factory=dict)  # key: "{tag}/{name}"
    downloads: Counter[str] = field(default_factory=Counter)


def _state(world: World) -> _State:
    found = world.services.get("releases")
    if not isinstance(found, _State):
        found = world.services["releases"] = _State()
    return found


def _find(tag: str, name: str) -> tuple[str, str, str] | None:
    """(version, os, arch) of the package ``name`` of release ``tag``."""
    version = tag.removeprefix("v")
    if not tag.startswith("v") or version not in dict(RELEASES):
        return None
    for os_name, arch in PLATFORMS:
        if package_name(version, os_name, arch) == name:
            return version, os_name, arch
    return None


def package_bytes(world: World, version: str, os_name: str, arch: str) -> bytes:
    """What the download of that package serves (a replaced package, else the built-in one)."""
    override = _state(world).overrides.get(f"v{version}/{package_name(version, os_name, arch)}")
    return override.data if override is not None else builtin_package(version, os_name, arch)


def published_sha256(world: World, version: str, os_name: str, arch: str) -> str:
    """The SHA-256 the release publishes for that package (in its body, its asset's digest and
    the runner downloads list)."""
    override = _state(world).overrides.get(f"v{version}/{package_name(version, os_name, arch)}")
    return override.published_sha256 if override is not None else _sha256(builtin_package(version, os_name, arch))


# -- shapes -----------------------------------------------------------------------------------------------
def _release_id(version: str) -> int:
    return _RELEASE_ID_BASE + [v for v, _ in RELEASES].index(version)


def _asset_id(version: str, os_name: str, arch: str) -> int:
    return _release_id(version) * 10 + PLATFORMS.index((os_name, arch))


def download_url(root: str, version: str, os_name: str, arch: str) -> str:
    """The package's ``browser_download_url`` on the sandbox's web host (``root``)."""
    return f"{root}/{OWNER}/{REPO}/releases/download/v{version}/{package_name(version, os_name, arch)}"


def _body(world: World, version: str) -> str:
    lines = [
        "## What's changed",
        "",
        "This is a release of the **gridctl sandbox**: each package holds a stand-in for the Actions runner, "
        "whose `run.sh` starts `gridctl sandbox runner` with the runner's JIT configuration.",
        "",
        "## SHA-256 Checksums",
        "",
        "The SHA-256 checksums for the packages included in this build are shown below:",
        "",
    ]
    for os_name, arch in PLATFORMS:
        plat = f"{os_name}-{arch}"
        sha = published_sha256(world, version, os_name, arch)
        lines.append(f"- {package_name(version, os_name, arch)} <!-- BEGIN SHA {plat} -->{sha}<!-- END SHA {plat} -->")
    return "\n".join(lines) + "\n"


def _asset(ctx: Ctx, version: str, os_name: str, arch: str) -> dict[str, Any]:
    name = package_name(version, os_name, arch)
    published = iso(dict(RELEASES)[version])
    ident = _asset_id(version, os_name, arch)
    return {
        "url": ctx.url(f"/repos/{OWNER}/{REPO}/releases/assets/{ident}"),
        "id": ident,
        "node_id": node_id("ReleaseAsset", ident),
        "name": name,
        "label": "",
        "uploader": simple_user(ctx, _BOT),
        "content_type": "application/zip" if os_name == "win" else "application/gzip",
        "state": "uploaded",
        "size": len(package_bytes(ctx.world, version, os_name, arch)),
        "digest": "sha256:" + published_sha256(ctx.world, version, os_name, arch),
        "download_count": _state(ctx.world).downloads[f"v{version}/{name}"],
        "created_at": published,
        "updated_at": published,
        "browser_download_url": download_url(web_root(ctx), version, os_name, arch),
    }


def _release(ctx: Ctx, version: str) -> dict[str, Any]:
    ident = _release_id(version)
    published = iso(dict(RELEASES)[version])
    base = f"/repos/{OWNER}/{REPO}"
    tag = f"v{version}"
    return {
        "url": ctx.url(f"{base}/releases/{ident}"),
        "assets_url": ctx.url(f"{base}/releases/{ident}/assets"),
        "upload_url": ctx.url(f"{base}/releases/{ident}/assets{{?name,label}}"),
        "html_url": f"{web_root(ctx)}/{OWNER}/{REPO}/releases/tag/{tag}",
        "id": ident,
        "author": simple_user(ctx, _BOT),
        "node_id": node_id("Release", ident),
        "tag_name": tag,
        "target_commitish": "main",
        "name": tag,
        "draft": False,
        "immutable": False,
        "prerelease": False,
        "created_at": published,
        "updated_at": published,
        "published_at": published,
        "assets": [_asset(ctx, version, os_name, arch) for os_name, arch in PLATFORMS],
        "tarball_url": ctx.url(f"{base}/tarball/{tag}"),
        "zipball_url": ctx.url(f"{base}/zipball/{tag}"),
        "body": _body(ctx.world, version),
    }


def _runner_repo(ctx: Ctx) -> bool:
    """Whether the request names actions/runner (names are case-insensitive); any other
    repository has no release (404), whether the caller can see it or not."""
    return str(ctx.params["owner"]).lower() == OWNER and str(ctx.params["repo"]).lower() == REPO


# -- routes ---------------------------------------------------------------------------------------------
@route("GET", "/repos/{owner}/{repo}/releases/latest", "repos/get-latest-release")
def get_latest(ctx: Ctx) -> Reply:
    if not _runner_repo(ctx):
        raise not_found()
    return json_reply(_release(ctx, LATEST))


@route("GET", "/repos/{owner}/{repo}/releases/tags/{tag:path}", "repos/get-release-by-tag")
def get_by_tag(ctx: Ctx) -> Reply:
    tag = str(ctx.params["tag"])
    version = tag.removeprefix("v")
    if not _runner_repo(ctx) or not tag.startswith("v") or version not in dict(RELEASES):
        raise not_found()
    return json_reply(_release(ctx, version))


@route("GET", "/repos/{owner}/{repo}/releases/assets/{asset_id:int}", "repos/get-release-asset")
def get_asset(ctx: Ctx) -> Reply:
    ident = int(ctx.params["asset_id"])
    if not _runner_repo(ctx):
        raise not_found()
    for version, _ in RELEASES:
        for os_name, arch in PLATFORMS:
            if _asset_id(version, os_name, arch) != ident:
                continue
            if "application/octet-stream" in ctx.headers.get("accept", ""):
                location = download_url(web_root(ctx), version, os_name, arch)
                return Reply(status=302, body=None, headers={"Location": location})
            return json_reply(_asset(ctx, version, os_name, arch))
    raise not_found()


@web("GET", "/actions/runner/releases/download/{tag}/{name}")
def download(app: Any, req: WebRequest) -> WebReply:
    """The package behind a ``browser_download_url``."""
    found = _find(req.params["tag"], req.params["name"])
    if found is None:
        return WebReply(404, b"Not Found", "text/plain; charset=utf-8")
    version, os_name, arch = found
    data = package_bytes(app.world, version, os_name, arch)
    _state(app.world).downloads[f"v{version}/{req.params['name']}"] += 1
    return WebReply(200, data, "application/octet-stream",
                    {"Content-Disposition": f"attachment; filename={req.params['name']}"})


# -- control routes --------------------------------------------------------------------------------------
@control("PUT", "/releases/{tag}/assets/{name}")
def replace_package(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{"content_base64": "...", "publish": false}``: serve these bytes for the package;
    ``publish`` says whether the release's published checksum follows them (true) or stays the
    original's (false: a tampered package)."""
    found = _find(params["tag"], params["name"])
    if found is None:
        raise ApiError(404, f"no package {params['name']} in release {params['tag']} of {OWNER}/{REPO}")
    text = str_field(body, "content_base64", max_length=MAX_OVERRIDE_BYTES * 4 // 3 + 4)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "content_base64 is not base64") from None
    publish = bool_field(body, "publish", False)
    version, os_name, arch = found
    original = _sha256(builtin_package(version, os_name, arch))
    key = f"{params['tag']}/{params['name']}"
    _state(app.world).overrides[key] = _Override(data, _sha256(data) if publish else original)
    return {"name": params["name"], "size": len(data), "sha256": _sha256(data),
            "published_sha256": _sha256(data) if publish else original}


@control("DELETE", "/releases/{tag}/assets/{name}")
def restore_package(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Serve the built-in package again."""
    if _find(params["tag"], params["name"]) is None:
        raise ApiError(404, f"no package {params['name']} in release {params['tag']} of {OWNER}/{REPO}")
    _state(app.world).overrides.pop(f"{params['tag']}/{params['name']}", None)
    return {"name": params["name"], "restored": True}
