"""``gridctl runners install``: the GitHub Actions runner, fetched once, in every runner folder.

In order:

1. **Resolve** the release through GitHub's REST API with an account client
   (``GET /repos/actions/runner/releases/latest`` or ``.../releases/tags/v{version}``; GitHub
   Docs, "REST API endpoints for releases", https://docs.github.com/en/rest/releases/releases)
   and pick this machine's package, ``actions-runner-{linux|osx}-{x64|arm64|arm}-{version}.tar.gz``
   (the names actions/runner publishes its packages under, https://github.com/actions/runner/releases).
2. **Checksum**: ``--sha256``, else what the release publishes. Its notes carry one line per
   package, ``<!-- BEGIN SHA linux-x64 -->HEX<!-- END SHA linux-x64 -->`` (the "SHA-256
   Checksums" section of actions/runner's release notes,
   https://github.com/actions/runner/blob/main/releaseNote.md), and GitHub gives each release
   asset a ``digest`` of ``sha256:HEX`` (the "Release Asset" object,
   https://docs.github.com/en/rest/releases/assets#get-a-release-asset); when both are there they
   must agree. A release that publishes neither needs ``--sha256``.
3. **Download** the asset's ``browser_download_url`` without a token (a public release's assets
   need none, and the link leaves the API host), streamed to a private temporary folder beside
   DIR, at most :data:`MAX_PACKAGE_BYTES`, with dropped connections and 5xx answers retried under
   the client's retry policy.
4. **Verify** the SHA-256 of what arrived. A mismatch refuses (exit 1) and leaves nothing: the
   temporary folder is removed, DIR is not touched.
5. **Unpack once** into ``DIR/.runner/{version}/``: every member is checked before anything is
   written (no absolute path, no ``..``, nothing through a link, no link pointing outside, no
   device, FIFO or other special file; at most :data:`MAX_MEMBERS` members and
   :data:`MAX_UNPACKED_BYTES`; a ``run.sh`` at the top), extracted with tarfile's ``data`` filter
   as a second guard, made read-only, and renamed into place in one step.
6. **Prepare each runner folder**: the folder beside each JIT file (``<name>/`` next to
   ``<name>.jit``, where ``gridctl runners run`` starts ``./run.sh``; see :mod:`.supervisor`),
   for the JIT files under DIR and the runners the caller names (the manifest's). A runner folder
   is a tree of hard links to the shared unpack (a copy where the file system refuses links), not
   a symbolic link to it: the Actions runner's ``run.sh`` follows a symbolic link to itself and
   would then run every runner from the one shared folder, with one ``_work`` and one ``_diag``
   (https://github.com/actions/runner/blob/main/src/Misc/layoutroot/run.sh). A new folder is
   built under a temporary name and renamed into place; an existing one (the runner's log may be
   there) gets each package entry swapped in by a rename, and its marker ``.gridctl-runner.json``
   is written last.

Running it again downloads nothing when ``DIR/.runner/{version}/`` records the checksum the
release publishes and its files are all there, and leaves alone the folders whose marker records
that checksum; folders of another version are linked to the new package. Older unpacks stay in
``DIR/.runner/`` until removed by hand.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import json
import os
import platform
import posixpath
import re
import secrets
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .. import __version__
from ..errors import GridctlError
from ..util.text import printable
from .jitfile import SUFFIX
from .supervisor import LAYOUT

REPOSITORY = "actions/runner"
#: the largest package downloaded (the Actions runner's are about 200 MB)
MAX_PACKAGE_BYTES = 512 * 1024 * 1024
#: the most a package may unpack to, and its most members
MAX_UNPACKED_BYTES = 4 * 1024 * 1024 * 1024
MAX_MEMBERS = 100_000
#: the shared unpacks, one folder per version, under DIR
SHARED = ".runner"
#: the record of a shared unpack (inside it) and of a prepared runner folder
PACKAGE_MARKER = ".gridctl-package.json"
RUNNER_MARKER = ".gridctl-runner.json"
_CHUNK = 1024 * 1024
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+-]{0,63}$")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_TRANSIENT = {500, 502, 503, 504}


class InstallError(GridctlError):
    """The runner could not be installed (exit code 1); nothing was left half-prepared."""


class _Unavailable(ConnectionError):
    """A 5xx answer to the download: transient, retried by the policy."""


# -- what to install -----------------------------------------------------------------------------------
def host_platform(system: str | None = None, machine: str | None = None) -> tuple[str, str]:
    """``(os, arch)`` in the package names' words (``linux``/``osx``, ``x64``/``arm64``/``arm``)."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    os_name = {"linux": "linux", "darwin": "osx"}.get(system)
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if arch is None and machine.startswith("arm"):
        arch = "arm"
    if os_name is None or arch is None:
        raise InstallError(
            f"no Actions runner package to install for this machine ({printable(system)} {printable(machine)}): "
            "gridctl runners install unpacks the .tar.gz packages of Linux and macOS (x64, arm64, arm)"
        )
    return os_name, arch


def clean_version(value: str) -> str:
    """``2.321.0`` from ``2.321.0`` or ``v2.321.0``; anything else is refused."""
    version = value.strip().removeprefix("v")
    if not _VERSION.match(version):
        raise InstallError(f"--version {printable(value)!r} is not a runner version (like 2.321.0)")
    return version


def clean_sha256(value: str) -> str:
    if not _HEX.match(value.strip()):
        raise InstallError("--sha256 must be 64 hexadecimal digits (a SHA-256)")
    return value.strip().lower()


def published_checksums(body: str) -> dict[str, str]:
    """``{"linux-x64": hex, ...}`` from release notes in actions/runner's format."""
    out: dict[str, str] = {}
    for m in re.finditer(r"<!--\s*BEGIN SHA ([\w-]+)\s*-->\s*([0-9a-fA-F]{64})\s*<!--\s*END SHA \1\s*-->", body):
        out.setdefault(m.group(1), m.group(2).lower())
    return out


@dataclass(frozen=True)
class Package:
    version: str
    name: str
    url: str
    sha256: str
    #: where the checksum comes from, for the messages
    source: str


def resolve(get: Callable[[str], Any], version: str | None, plat: tuple[str, str], sha256: str | None = None) -> Package:
    """The package to install: the release (latest, or ``version``) read with ``get`` (an
    account client's ``get``: the JSON of a GET, None for a 404), this platform's asset and the
    checksum to verify it against."""
    path = f"/repos/{REPOSITORY}/releases/" + (f"tags/v{version}" if version else "latest")
    release = get(path)
    if release is None:
        raise InstallError(f"{REPOSITORY} has no release v{version}" if version else f"{REPOSITORY} has no published release")
    if not isinstance(release, dict) or not isinstance(release.get("tag_name"), str) or not isinstance(release.get("assets"), list):
        raise InstallError(f"GET {path} did not answer with a release")
    found = clean_version(release["tag_name"])
    os_name, arch = plat
    name = f"actions-runner-{os_name}-{arch}-{found}.tar.gz"
    asset = next((a for a in release["assets"] if isinstance(a, dict) and a.get("name") == name), None)
    if asset is None:
        raise InstallError(f"release v{found} of {REPOSITORY} has no package {name} (this machine is {os_name}-{arch})")
    url = asset.get("browser_download_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise InstallError(f"release v{found} of {REPOSITORY}: the asset {name} has no download link")
    if sha256 is not None:
        return Package(found, name, url, sha256, "--sha256")
    sources: dict[str, str] = {}
    body = release.get("body")
    notes = published_checksums(body) if isinstance(body, str) else {}
    if f"{os_name}-{arch}" in notes:
        sources["the release notes"] = notes[f"{os_name}-{arch}"]
    digest = asset.get("digest")
    if isinstance(digest, str) and digest.startswith("sha256:") and _HEX.match(digest[7:]):
        sources["the asset's digest"] = digest[7:].lower()
    if not sources:
        raise InstallError(
            f"release v{found} of {REPOSITORY} publishes no SHA-256 for {name}; check the package yourself "
            "and give its checksum with --sha256"
        )
    if len(set(sources.values())) > 1:
        raise InstallError(
            f"release v{found} of {REPOSITORY} publishes two different SHA-256 for {name} "
            f"({', '.join(f'{k}: {v}' for k, v in sources.items())}); refusing to install it"
        )
    return Package(found, name, url, next(iter(sources.values())), " and ".join(sources))


# -- download ---------------------------------------------------------------------------------------------
def download(url: str, dest: Path, *, limit: int = MAX_PACKAGE_BYTES, retry: Callable[[Callable[[], Any]], Any] | None = None) -> tuple[str, int]:
    """Stream ``url`` into ``dest`` (created 0600); ``(sha256 hex, size)``. Refuses more than
    ``limit`` bytes; ``retry`` runs the attempt under a retry policy (transient failures)."""

    def attempt() -> tuple[str, int]:
        digest, size = hashlib.sha256(), 0
        headers = {"User-Agent": f"gridctl/{__version__}", "Accept": "application/octet-stream"}
        with requests.get(url, stream=True, timeout=(10, 60), headers=headers) as resp:
            if resp.status_code in _TRANSIENT:
                raise _Unavailable(f"HTTP {resp.status_code}")
            if resp.status_code != 200:
                raise InstallError(f"downloading {printable(url)} failed: HTTP {resp.status_code}")
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise InstallError(f"{printable(url)} is {int(length):,} bytes, more than the {limit:,} bytes a runner package may have")
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as out:
                for chunk in resp.iter_content(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise InstallError(f"{printable(url)} sent more than the {limit:,} bytes a runner package may have")
                    digest.update(chunk)
                    out.write(chunk)
        return digest.hexdigest(), size

    try:
        result: tuple[str, int] = (retry or (lambda fn: fn()))(attempt)
    except (requests.RequestException, ConnectionError, TimeoutError) as exc:
        raise InstallError(f"downloading {printable(url)} failed ({exc.__class__.__name__})") from None
    return result


# -- safe unpacking ---------------------------------------------------------------------------------------
def _member_problem(m: tarfile.TarInfo, links: set[str]) -> str | None:
    """Why ``m`` may not be unpacked (None: it may). ``links`` holds the archive's symbolic
    links seen so far, normalised."""
    name = m.name
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "has '..' in its path"
    norm = posixpath.normpath(name)
    parts = norm.split("/")
    if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
        return "lies under a link of the archive"
    if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
        return "is a device, FIFO or other special file"
    if m.issym() or m.islnk():
        target = m.linkname
        if not target or target.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", target):
            return "is a link to an absolute path"
        base = posixpath.dirname(norm) if m.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved == ".." or resolved.startswith("../"):
            return "is a link pointing outside the package"
    if m.mode & (stat.S_ISUID | stat.S_ISGID):
        return "has the setuid or setgid bit"
    return None


def check_archive(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Every member of ``tar``, each checked (see :func:`_member_problem`), within the limits."""
    members: list[tarfile.TarInfo] = []
    links: set[str] = set()
    total = 0
    for m in tar:
        problem = _member_problem(m, links)
        if problem is not None:
            raise InstallError(f"the package's member {printable(m.name)!r} {problem}: refusing to unpack it (nothing was installed)")
        if m.issym():
            links.add(posixpath.normpath(m.name))
        total += m.size if m.isreg() else 0
        members.append(m)
        if len(members) > MAX_MEMBERS or total > MAX_UNPACKED_BYTES:
            raise InstallError(f"the package unpacks to more than {MAX_MEMBERS:,} files or {MAX_UNPACKED_BYTES:,} bytes: "
                               "refusing to unpack it (nothing was installed)")
    return members


def unpack(archive: Path, target: Path) -> dict[str, int]:
    """Unpack the checked ``archive`` into the new folder ``target``, files made read-only;
    returns ``{relative path: size}`` of its regular files."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = check_archive(tar)
            os.mkdir(target, 0o700)
            tar.extractall(target, members=members, filter="data")
    except tarfile.FilterError as exc:  # the second guard: not reached by what check_archive refuses
        raise InstallError(f"the package's member {printable(exc.tarinfo.name)!r} was refused ({exc.__class__.__name__}): "
                           "refusing to unpack it (nothing was installed)") from None
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InstallError(f"the package is not a readable .tar.gz ({exc.__class__.__name__}): nothing was installed") from None
    files: dict[str, int] = {}
    for root, dirs, names in os.walk(target):
        for d in dirs:  # folders stay the owner's to write (so a later removal works)
            p = os.path.join(root, d)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode) | 0o700)
        for n in names:
            p = os.path.join(root, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                os.chmod(p, stat.S_IMODE(st.st_mode) & ~0o222)
                files[os.path.relpath(p, target)] = st.st_size
    return files


# -- the shared unpack -----------------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


def shared_ready(shared: Path, package: Package) -> bool:
    """Whether ``shared`` holds ``package`` unpacked: its record names that checksum and every
    file it lists is there with its size."""
    record = _read_json(shared / PACKAGE_MARKER)
    if record is None or record.get("sha256") != package.sha256 or record.get("name") != package.name:
        return False
    files = record.get("files")
    if not isinstance(files, dict):
        return False
    for rel, size in files.items():
        try:
            st = os.lstat(shared / rel)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            return False
    return True


def _remove(path: Path) -> None:
    """Delete a file or a folder of ours (its folders are the owner's to write, so read-only
    files go too)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def fetch_shared(package: Package, folder: Path, *, retry: Callable[[Callable[[], Any]], Any] | None = None,
                 say: Callable[[str], None] = lambda text: None) -> tuple[Path, int]:
    """``folder/.runner/{version}`` holding ``package``: downloaded, verified and unpacked unless
    it already is; ``(path, bytes downloaded)``. Nothing is written under ``folder`` unless the
    checksum matched and the package unpacked cleanly."""
    shared = folder / SHARED / package.version
    if shared_ready(shared, package):
        return shared, 0
    parent = folder.resolve().parent
    if not parent.is_dir():
        raise InstallError(f"{folder}: its parent folder {parent} does not exist")
    work = Path(tempfile.mkdtemp(prefix=".gridctl-runner-install-", dir=parent))
    try:
        say(f"downloading {package.name} from {package.url}")
        sha, size = download(package.url, work / package.name, retry=retry)
        if sha != package.sha256:
            raise InstallError(
                f"{package.name} has the SHA-256 {sha}, not the {package.sha256} expected (from {package.source}): "
                "refusing to unpack it (nothing was installed)"
            )
        files = unpack(work / package.name, work / "unpacked")
        if "run.sh" not in files:
            raise InstallError(f"{package.name} has no run.sh at its top: not an Actions runner package (nothing was installed)")
        _write_json(work / "unpacked" / PACKAGE_MARKER, {"version": package.version, "name": package.name,
                                                          "sha256": package.sha256, "files": files})
        for d in (folder, folder / SHARED):
            with contextlib.suppress(FileExistsError):
                os.mkdir(d, 0o700)
        if os.path.lexists(shared):  # another package of that version (or a damaged one): replaced
            os.rename(shared, work / "old")
        os.rename(work / "unpacked", shared)
    finally:
        _remove(work)
    return shared, size


# -- runner folders ----------------------------------------------------------------------------------------
def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copy2(src, dst, follow_symlinks=False)


def link_tree(src: Path, dst: Path) -> list[str]:
    """``dst`` (a new folder) as a tree of hard links to ``src``'s files, its symbolic links
    copied; returns the top-level names. The package record is left out."""
    os.mkdir(dst, 0o700)
    for root, dirs, names in os.walk(src):
        rel = os.path.relpath(root, src)
        here = dst if rel == "." else dst / rel
        for d in list(dirs):
            s = os.path.join(root, d)
            if os.path.islink(s):
                os.symlink(os.readlink(s), here / d)
                dirs.remove(d)
            else:
                os.mkdir(here / d, stat.S_IMODE(os.lstat(s).st_mode) | 0o700)
        for n in names:
            if rel == "." and n == PACKAGE_MARKER:
                continue
            s = os.path.join(root, n)
            if os.path.islink(s):
                os.symlink(os.readlink(s), here / n)
            else:
                _link_or_copy(s, str(here / n))
    return sorted(n for n in os.listdir(dst))


def installed(folder: Path) -> bool:
    """Whether a runner is installed in ``folder`` (its ``run.sh`` is there)."""
    return (folder / "run.sh").is_file()


def _mkdirs(path: Path) -> None:
    missing = []
    while not os.path.lexists(path) and path != path.parent:
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)


def prepare(runner: Path, shared: Path, package: Package) -> str:
    """Put ``package`` (unpacked in ``shared``) into the runner folder ``runner``: ``prepared``
    (a new folder), ``updated`` (an existing folder got the package) or ``ready`` (it had it)."""
    if runner.is_symlink() or (runner.exists() and not runner.is_dir()):
        raise InstallError(f"{runner} is not a folder (a file or a link is in the way); move it away and run install again")
    record = _read_json(runner / RUNNER_MARKER)
    if record is not None and record.get("sha256") == package.sha256 and installed(runner):
        return "ready"
    _mkdirs(runner.parent)
    tag = secrets.token_hex(4)
    if not runner.exists():
        staging = runner.with_name(f".{runner.name}.install-{tag}")
        try:
            entries = link_tree(shared, staging)
            _write_json(staging / RUNNER_MARKER, {"version": package.version, "sha256": package.sha256, "entries": entries})
            os.rename(staging, runner)
        finally:
            if staging.exists():
                _remove(staging)
        return "prepared"
    staging, trash = runner / f".gridctl-install-{tag}", runner / f".gridctl-old-{tag}"
    moved: list[str] = []  # entries moved to the trash, put back if anything fails
    placed: list[str] = []
    try:
        entries = link_tree(shared, staging)
        os.mkdir(trash, 0o700)
        old = record.get("entries") if record is not None else None
        stale = {n for n in old or [] if isinstance(n, str) and _plain_name(n)}
        for name in sorted({*entries, *stale}):
            if os.path.lexists(runner / name):
                os.rename(runner / name, trash / name)
                moved.append(name)
        for name in entries:
            os.rename(staging / name, runner / name)
            placed.append(name)
        _write_json(runner / RUNNER_MARKER, {"version": package.version, "sha256": package.sha256, "entries": entries})
    except BaseException:
        for name in placed:  # the folder as it was
            with contextlib.suppress(OSError):
                os.rename(runner / name, staging / name)
        for name in moved:
            with contextlib.suppress(OSError):
                os.rename(trash / name, runner / name)
        raise
    finally:
        for p in (staging, trash):
            if p.exists():
                _remove(p)
    return "updated"


def _plain_name(name: str) -> bool:
    """A top-level entry name recorded by an earlier install (never a path, never ours)."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..", RUNNER_MARKER)


def runner_folders(folder: Path, declared: Iterable[Path] = ()) -> list[Path]:
    """The runner folders to prepare: beside every JIT file of ``folder``'s layout (as
    ``gridctl runners run`` finds them) and beside each ``declared`` JIT file."""
    found: set[Path] = set()
    if folder.is_dir():
        for pattern in LAYOUT:
            for p in folder.glob(pattern):
                if p.is_file() and not p.name.startswith("."):
                    found.add(p.with_suffix(""))
    for jit in declared:
        if jit.name.endswith(SUFFIX):
            found.add(jit.with_suffix(""))
    return sorted(found)


# -- the whole command -------------------------------------------------------------------------------------
@dataclass
class Report:
    package: Package
    shared: Path
    downloaded: int
    folders: list[tuple[Path, str]] = field(default_factory=list)


def install(
    get: Callable[[str], Any],
    folder: Path,
    *,
    version: str | None = None,
    sha256: str | None = None,
    declared: Iterable[Path] = (),
    plat: tuple[str, str] | None = None,
    retry: Callable[[Callable[[], Any]], Any] | None = None,
    say: Callable[[str], None] = lambda text: None,
) -> Report:
    """Resolve, fetch (unless already there) and place the runner in every runner folder."""
    package = resolve(get, clean_version(version) if version else None, plat or host_platform(),
                      clean_sha256(sha256) if sha256 else None)
    say(f"{REPOSITORY} v{package.version}: {package.name} (SHA-256 {package.sha256}, from {package.source})")
    try:
        shared, size = fetch_shared(package, folder, retry=retry, say=say)
        report = Report(package, shared, size)
        for runner in runner_folders(folder, declared):
            report.folders.append((runner, prepare(runner, shared, package)))
    except OSError as exc:
        where = f"{printable(exc.filename)}: " if exc.filename else ""
        raise InstallError(f"{where}{exc.strerror or exc.__class__.__name__}") from None
    return report
