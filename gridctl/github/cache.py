"""The ETag cache: what a conditional GET needs, per account, optionally on disk (mode 0600).

An entry is ``{etag, body, link, sha256}`` under the request's URL (and the name of the
projection the caller keeps, see :class:`~gridctl.github.client.Keep`): the ``ETag`` goes back in
``If-None-Match``, and on a 304 the ``body`` (only the part the caller uses) and ``link`` stand in
for the answer GitHub did not send. GitHub computes an ETag for the token that asked (its answers
say ``Vary: Accept, Authorization``), so each account has its own cache. Bodies cached here are
GET answers, which never carry secret values on GitHub's API.

On disk the cache is a log of JSON lines, one entry (or ``{"key", "drop": true}``) a line, later
lines winning. A run appends only the entries it changed — a no-change plan writes nothing — and
the log is rewritten compacted once it holds more than about twice the live entries. In memory an
entry is kept as that line of text, read again when asked for: a few megabytes of text for a
fleet of a thousand repositories instead of several times that in parsed objects, and a caller
that changes what it was handed cannot change the cache.

The cache is disposable: a file that cannot be read, is not UTF-8 JSON lines or holds an entry of
the wrong shape is dropped whole with one warning and rebuilt by the reads that follow. Each entry
keeps the SHA-256 of its body; a 304 answer is trusted only while the body on file still has that
digest (:meth:`EtagCache.intact`), else the entry is dropped and the resource read again. A file
of an older gridctl (one JSON object of entries) is read as such and rewritten in the new form.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from ..util.files import private_dir

log = logging.getLogger("gridctl.client")


class EtagCache:
    """``key -> {etag, body, link, sha256}`` for one account (see the module's docstring)."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self.lock = threading.Lock()
        #: key -> the entry's line (:func:`_line`)
        self.entries: dict[str, str] = {}
        self.changed: set[str] = set()
        #: lines in the file (live and superseded); -1 when it must be rewritten whole
        self.lines = 0
        if path is not None:
            self.entries, self.lines = self._load(path)

    @property
    def dirty(self) -> bool:
        return bool(self.changed)

    @staticmethod
    def _load(path: Path) -> tuple[dict[str, str], int]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}, 0
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror or exc.__class__.__name__})"
        else:
            try:
                found = _parse(raw)
            except _Damaged as exc:
                problem = str(exc)
            else:
                return found
        log.warning("the ETag cache %s %s; it is disposable: dropped, and rebuilt as gridctl reads GitHub", path, problem)
        return {}, -1

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry under ``key`` (a new object each time), or None."""
        with self.lock:
            line = self.entries.get(key)
        if line is None:
            return None
        entry: dict[str, Any] = json.loads(line)
        del entry["key"]
        return entry

    def put(self, key: str, etag: str, body: Any, link: str | None) -> None:
        line = _line(key, {"etag": etag, "body": body, "link": link, "sha256": _digest(body)})
        with self.lock:
            if self.entries.get(key) == line:
                return  # the same answer again (an entry dropped and read back): nothing to write
            self.entries[key] = line
            self.changed.add(key)

    def intact(self, entry: dict[str, Any]) -> bool:
        """Whether ``entry``'s body is still what was stored (its digest matches)."""
        return entry.get("sha256") == _digest(entry.get("body"))

    def drop(self, key: str) -> None:
        with self.lock:
            if self.entries.pop(key, None) is not None:
                self.changed.add(key)

    def save(self) -> None:
        """Append the changed entries to the file (or rewrite it compacted, see the module)."""
        if self.path is None or (not self.changed and self.lines >= 0):
            return
        with self.lock:
            private_dir(self.path.parent)
            live = len(self.entries)
            if self.lines < 0 or not self.path.exists() or self.lines + len(self.changed) > 2 * live + 64:
                tmp = self.path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.writelines(self.entries.values())
                os.replace(tmp, self.path)
                self.lines = live
            else:
                text = "".join(self.entries.get(k) or _line(k, None) for k in sorted(self.changed))
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
                try:  # one write: a concurrent gridctl's lines land before or after these
                    os.write(fd, text.encode("utf-8"))
                finally:
                    os.close(fd)
                self.lines += len(self.changed)
            self.changed.clear()


class _Damaged(ValueError):
    pass


def _line(key: str, entry: dict[str, Any] | None) -> str:
    record = {"key": key, "drop": True} if entry is None else {"key": key, **entry}
    return json.dumps(record, separators=(",", ":")) + "\n"


def _parse(raw: bytes) -> tuple[dict[str, str], int]:
    """``(entries, lines)`` of a cache file, each entry as its line; raises :class:`_Damaged`
    saying what is wrong."""
    try:
        text = raw.decode("utf-8")
    except ValueError:
        raise _Damaged("is not JSON") from None
    try:
        whole = json.loads(text)
    except (ValueError, RecursionError):
        whole = None
    if isinstance(whole, dict) and whole and "key" not in whole:
        # an older gridctl's file: one object of entries; rewritten as lines at the next save
        wrong = [k for k, v in whole.items() if not _entry_shape(v)]
        if wrong:
            raise _Damaged(f"has {len(wrong)} damaged entr{'y' if len(wrong) == 1 else 'ies'}")
        return {k: _line(k, v) for k, v in whole.items() if isinstance(v.get("sha256"), str)}, -1
    entries: dict[str, str] = {}
    lines = 0
    bad = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        lines += 1
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise _Damaged("is not JSON") from None
        if not isinstance(record, dict) or not isinstance(record.get("key"), str):
            bad += 1
            continue
        key = record.pop("key")
        if record.get("drop") is True and len(record) == 1:
            entries.pop(key, None)
        elif _entry_shape(record) and isinstance(record.get("sha256"), str):
            entries[key] = line + "\n" if line.startswith('{"key":') else _line(key, record)
        else:
            bad += 1
    if bad:
        raise _Damaged(f"has {bad} damaged entr{'y' if bad == 1 else 'ies'}")
    return entries, lines


def _entry_shape(entry: Any) -> bool:
    """An ETag cache entry as :meth:`EtagCache.put` writes it (the digest may be missing)."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("etag"), str)
        and bool(entry["etag"])
        and entry["etag"].isascii()
        and entry["etag"].isprintable()  # it goes back in a header: no line breaks, no other text
        and "body" in entry
        and (entry.get("link") is None or isinstance(entry.get("link"), str))
        and (entry.get("sha256") is None or isinstance(entry.get("sha256"), str))
    )


def _digest(body: Any) -> str:
    """The SHA-256 of a body's canonical JSON (sorted keys, no spaces)."""
    try:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return ""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
