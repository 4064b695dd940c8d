"""JIT configuration files: one per runner, mode 0600, written atomically.

Layout under the configured folder (``settings.runner_dir``, default ``runners/``, or a runner
set's ``jit_config.write_to``; relative to the manifest's folder)::

    <folder>/repos/<owner>/<repo>/<name>.jit     a repository runner
    <folder>/orgs/<org>/<name>.jit               an organization runner

The file holds exactly the ``encoded_jit_config`` string GitHub returned (what the Actions
runner takes as ``run.sh --jitconfig``). ``gridctl runners run`` gives each runner the folder
next to its file (``<name>/``) as its own working folder.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path, PurePosixPath

from ..errors import GridctlError
from ..manifest.sources import Sensitive

SUFFIX = ".jit"
#: labels GitHub gives every self-hosted runner itself (read-only): never managed by gridctl
DEFAULT_LABELS = frozenset({"self-hosted", "linux", "windows", "macos", "x64", "arm", "arm64"})


class JitPathError(GridctlError):
    """A JIT file path would leave the manifest's folder."""


def _component(value: str, what: str) -> str:
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
        raise JitPathError(f"{what} {value!r} cannot be used in a JIT file path")
    return value


def relpath(write_to: str, scope: str, name: str) -> str:
    """The manifest-relative path of a runner's JIT file. ``scope`` is ``owner/repo`` or
    ``org:<login>`` (as in :class:`~gridctl.manifest.model.RunnerSpec`)."""
    base = PurePosixPath(write_to)
    if base.is_absolute() or ".." in base.parts or str(write_to).startswith("~"):
        raise JitPathError(f"the JIT folder {write_to!r} must be a folder inside the manifest's folder")
    if scope.startswith("org:"):
        parts = ["orgs", _component(scope[4:], "organization")]
    else:
        owner, _, repo = scope.partition("/")
        parts = ["repos", _component(owner, "owner"), _component(repo, "repository")]
    return str(base.joinpath(*parts, _component(name, "runner name") + SUFFIX))


def resolve(root: Path, rel: str) -> Path:
    """``root/rel``, refusing anything (``..``, absolute paths, symlinked folders) that ends up
    outside ``root``."""
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not rel:
        raise JitPathError(f"JIT file {rel!r} must stay inside the manifest's folder")
    root_real = root.resolve()
    target = root / p
    parent = target.parent.resolve()  # symlinked folders are followed here...
    if parent != root_real and root_real not in parent.parents:
        raise JitPathError(f"JIT file {rel} is outside the manifest's folder")  # ...and refused
    return parent / target.name


def write(root: Path, rel: str, config: Sensitive) -> Path:
    """Write ``config`` to its file atomically: a fresh temp file created 0600 (O_EXCL, no
    symlink following) in the same folder, fsync, rename over the target, fsync the folder."""
    path = resolve(root, rel)
    _mkdirs(root.resolve(), path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(config.reveal())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


def _mkdirs(root_real: Path, folder: Path) -> None:
    missing = []
    p = folder
    while not p.exists() and p != root_real and root_real in p.parents:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)


def exists(root: Path, rel: str) -> bool:
    try:
        return resolve(root, rel).is_file()
    except JitPathError:
        return False


def remove(root: Path, rel: str | None) -> bool:
    """Delete a runner's JIT file (the registration it holds is gone); True when one was there."""
    if not rel:
        return False
    try:
        path = resolve(root, rel)
    except JitPathError:
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def read(path: Path) -> Sensitive:
    return Sensitive(path.read_text(encoding="utf-8").strip())
