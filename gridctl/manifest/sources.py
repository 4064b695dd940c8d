"""Reading values from sources (env, file, command) without ever exposing them.

Values are wrapped in :class:`Sensitive`, whose ``repr``/``str`` never show the content; only
:meth:`Sensitive.reveal` does, and only the client layer calls it (to encrypt or authenticate).
Errors name the source (``env GRID_TOKEN``, ``file keys/a.txt``), never what it holds.

A token source may also be ``{gh: true}``: the token the GitHub CLI would use, looked up in the
CLI's own order — ``GH_TOKEN``, then ``GITHUB_TOKEN``, then the output of ``gh auth token`` (the
CLI documents that order in "gh help environment", https://cli.github.com/manual/gh_help_environment,
and the command in https://cli.github.com/manual/gh_auth_token). gridctl never falls back to
those on its own: only a manifest that says ``gh: true`` reads them.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import hmac
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError


class Sensitive:
    """A secret string that refuses to be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def fingerprint(self, key: bytes) -> str:
        """A keyed fingerprint (HMAC-SHA256) safe to store and compare."""
        return "hmac-sha256:" + hmac.new(key, self._value.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "Sensitive(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sensitive) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._value.encode()).digest())

    def __reduce__(self) -> tuple[object, ...]:  # never pickled into anything by accident
        raise TypeError("Sensitive values cannot be serialized")


#: where ``{gh: true}`` looks, in the GitHub CLI's order: these variables, then ``gh auth token``
GH_TOKEN_VARS = ("GH_TOKEN", "GITHUB_TOKEN")
GH_TOKEN_COMMAND = ("gh", "auth", "token")


@dataclass(frozen=True)
class Source:
    """``{env: X}``, ``{file: path}``, ``{command: [argv...]}`` or (tokens only) ``{gh: true}``;
    ``lines`` splits per line."""

    kind: str
    target: str | tuple[str, ...]
    lines: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> Source:
        if "env" in d:
            return cls("env", d["env"], bool(d.get("lines")))
        if "file" in d:
            return cls("file", d["file"], bool(d.get("lines")))
        if "gh" in d:
            return cls("gh", GH_TOKEN_COMMAND)
        return cls("command", tuple(d["command"]), bool(d.get("lines")))

    @property
    def is_file(self) -> bool:
        """A file: readable without any secret from the environment (validation reads it)."""
        return self.kind == "file"

    def describe(self) -> str:
        if self.kind == "command":
            return "command " + " ".join(self.target)
        if self.kind == "gh":
            return "gh (" + ", ".join(GH_TOKEN_VARS) + " or `" + " ".join(GH_TOKEN_COMMAND) + "`)"
        return f"{self.kind} {self.target}"


def resolve_path(root: Path, raw: str, *, allow_outside: bool = False) -> Path:
    """A file path from the manifest, relative to its folder.

    Relative paths must stay inside the manifest's folder, symlinks included (no ``..`` or
    symlink escape). ``allow_outside`` (token files only) also accepts absolute and ``~`` paths.
    """
    expanded = os.path.expanduser(raw)
    if os.path.isabs(expanded):  # (Path(expanded).is_absolute(), without making the Path)
        if not allow_outside:
            raise SourceError(f"file {raw} must be relative to the manifest's folder")
        return Path(expanded)
    if raw.startswith("~") and allow_outside:
        return Path(expanded)
    p = Path(expanded)  # (normalized as Path.resolve() sees it: "a//b" and "a/./b" are "a/b")
    # Path.resolve() of both, in strings (a third of the CPU: a manifest may name thousands of
    # files); a symlink loop is left to Path.resolve(), which words it as this Python does
    folders = _FOLDERS.get()
    if folders is None:
        root_real = _resolved(root)
        candidate = _resolved(os.path.join(root, p))
    else:
        top = os.fspath(root)
        root_real = folders.get(top) or folders.setdefault(top, _resolved(root))
        candidate = _resolved_in(os.path.join(top, p), folders)
    if candidate != root_real and not candidate.startswith(root_real.rstrip(os.sep) + os.sep):
        raise SourceError(f"file {raw} is outside the manifest's folder")
    return Path(candidate)


def _resolved(path: str | Path) -> str:
    """``str(Path(path).resolve())``."""
    real = os.path.realpath(path)
    try:
        os.stat(real)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # (Path.resolve() raises for a loop, os.path.realpath() does not)
            return str(Path(path).resolve())
    return real


def _resolved_in(path: str, folders: dict[str, str]) -> str:
    """:func:`_resolved`, its folder resolved once: ``realpath(folder/name)`` is the folder's
    real path joined with ``name`` when ``name`` is not a symbolic link (nor ``.`` or ``..``)."""
    folder, name = os.path.split(path)
    if not name or name in (os.curdir, os.pardir):
        return _resolved(path)
    real_folder = folders.get(folder)
    if real_folder is None:
        real_folder = folders[folder] = _resolved(folder)
    joined = os.path.join(real_folder, name)
    try:
        if stat.S_ISLNK(os.lstat(joined).st_mode):
            return _resolved(path)
    except OSError:  # (nothing there, or not a folder: as os.path.realpath, taken as it is)
        pass
    return joined


#: the real paths of the folders :func:`resolve_path` has seen, inside :func:`folders_resolved_once`
_FOLDERS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("gridctl_folders", default=None)


@contextlib.contextmanager
def folders_resolved_once() -> Iterator[None]:
    """Inside, :func:`resolve_path` resolves each folder's symbolic links once (a manifest may
    name thousands of files in a few folders: its load resolves each folder once, not each file)."""
    token = _FOLDERS.set({})
    try:
        yield
    finally:
        _FOLDERS.reset(token)


def _read_text(path: Path) -> str:
    """``path.read_text(encoding="utf-8")``, read as bytes and decoded whole: the same text
    (line ends translated as text mode does) for half the CPU — a manifest may name thousands of
    key files."""
    with open(path, "rb") as fh:
        text = fh.read().decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def read_source(src: Source, root: Path, *, allow_outside: bool = False, timeout: float = 30.0) -> str:
    """The text a source holds (stripped of the trailing newline), or :class:`SourceError`."""
    if src.kind == "gh":
        return _read_gh(src, root, timeout)
    if src.kind == "env":
        value = os.environ.get(str(src.target))
        if value is None:
            raise SourceError(f"env {src.target} is not set")
        if not value.strip():
            raise SourceError(f"env {src.target} is empty")
        return value.strip("\r\n")
    if src.kind == "file":
        path = resolve_path(root, str(src.target), allow_outside=allow_outside)
        try:
            text = _read_text(path)
        except FileNotFoundError:
            raise SourceError(f"file {src.target} does not exist") from None
        except IsADirectoryError:
            raise SourceError(f"file {src.target} is a directory") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"file {src.target} cannot be read ({exc.__class__.__name__})") from None
        if not text.strip():
            raise SourceError(f"file {src.target} is empty")
        return text.rstrip("\r\n") if not src.lines else text
    try:
        code, raw = _run_command(list(src.target), root, timeout)
    except FileNotFoundError:
        raise SourceError(f"{src.describe()}: program not found") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"{src.describe()}: timed out after {timeout:g}s (it and everything it started were stopped)") from None
    except OverflowError:
        raise SourceError(f"{src.describe()}: printed more than {COMMAND_OUTPUT_LIMIT // 1024} KB (stopped)") from None
    except OSError as exc:
        raise SourceError(f"{src.describe()}: cannot run ({exc.__class__.__name__})") from None
    if code != 0:
        # stderr may echo secrets: report only the exit status
        raise SourceError(f"{src.describe()}: exited with status {code}")
    try:
        stdout = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{src.describe()}: printed something that is not UTF-8 text") from None
    if not stdout.strip():
        raise SourceError(f"{src.describe()}: printed nothing")
    return stdout.rstrip("\r\n") if not src.lines else stdout


#: what a source command may print (a token, a key file's worth of keys) before it is stopped
COMMAND_OUTPUT_LIMIT = 4 * 1024 * 1024


def _run_command(argv: list[str], cwd: Path, timeout: float) -> tuple[int, bytes]:
    """Run a source command in its own process group, its stderr discarded (it may echo
    secrets), its stdout read up to :data:`COMMAND_OUTPUT_LIMIT`. On a timeout or too much
    output the whole group is killed — a helper it left in the background included — so nothing
    outlives gridctl; raises ``subprocess.TimeoutExpired`` / ``OverflowError`` then."""
    import selectors
    import signal
    import time

    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            cwd=cwd, start_new_session=True)
    assert proc.stdout is not None
    out = bytearray()
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    failure: BaseException | None = None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                failure = subprocess.TimeoutExpired(argv, timeout)
                break
            if not sel.select(min(left, 0.5)):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break  # stdout closed: the command (and anything sharing its stdout) is done
            out += chunk
            if len(out) > COMMAND_OUTPUT_LIMIT:
                failure = OverflowError()
                break
        if failure is None:
            try:
                code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired as exc:
                failure = exc
    finally:
        sel.close()
        proc.stdout.close()
        if failure is not None or proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
    if failure is not None:
        raise failure
    return code, bytes(out)


def _read_gh(src: Source, root: Path, timeout: float) -> str:
    """``{gh: true}``: the first non-empty of GH_TOKEN and GITHUB_TOKEN, else ``gh auth token``."""
    for var in GH_TOKEN_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return value
    command = Source("command", GH_TOKEN_COMMAND)
    try:
        return read_source(command, root, timeout=timeout)
    except SourceError as exc:
        # the message names the command and its exit status, never its output
        unset = " and ".join(GH_TOKEN_VARS)
        raise SourceError(f"gh: {unset} are not set, and {exc}") from None


def read_values(src: Source, root: Path) -> list[Sensitive]:
    """A source as a list of values: one per non-empty line with ``lines``, else one."""
    text = read_source(src, root)
    if not src.lines:
        return [Sensitive(text)]
    values = [line.strip() for line in text.splitlines()]
    values = [v for v in values if v and not v.startswith("#")]
    if not values:
        raise SourceError(f"{src.describe()} holds no values")
    return [Sensitive(v) for v in values]
