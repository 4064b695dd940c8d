"""The sandbox's persistent store: tables of JSON records, in memory, written through to SQLite.

Every record lives in memory (a dict per table) so reads cost nothing. Handlers that change a
record call :meth:`Store.put` (or :meth:`Store.delete`); the changed keys are written to SQLite
in one transaction when the request finishes (:meth:`Store.commit`). A request is therefore
atomic on disk: a crash loses at most the request in flight, never half of one.

Without a data folder the store is memory only. A file that is not a sandbox store, or is
damaged, raises :class:`StoreError` with the path and the cause; the sandbox never silently
starts afresh over somebody's data.

The store holds token hashes and the private halves of the sealed-box key pairs, so what it
creates is private whatever the umask: folders 0700 (:func:`make_private_dir`), the database
0600 (SQLite gives its ``-wal`` and ``-shm`` files the database file's mode).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

#: one stored record: a JSON object (the ``sequences`` table, read only by :meth:`Store.next_id`,
#: holds integers)
Record = dict[str, Any]
T = TypeVar("T")

SCHEMA_VERSION = 1
FILE_NAME = "sandbox.sqlite3"


class StoreError(Exception):
    """The store cannot be opened or written."""


def make_private_dir(path: Path) -> None:
    """Create the folder ``path`` and its missing parents, each 0700 whatever the umask.

    Folders that exist already are left as they are; a file in the way is a FileExistsError.
    """
    if path.exists() and not path.is_dir():
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    missing: list[Path] = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:  # made by someone else meanwhile: not ours to change
            continue
        os.chmod(folder, 0o700)  # the umask may have taken bits mkdir's mode asked for


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; True when it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return True


class Store:
    def __init__(self, data_dir: str | os.PathLike[str] | None = None):
        self.lock = threading.RLock()
        self.tables: dict[str, dict[str, Any]] = {}
        self._dirty: dict[tuple[str, str], bool] = {}
        self._db: sqlite3.Connection | None = None
        self.path: Path | None = None
        if data_dir is not None:
            self._open(Path(data_dir))

    # -- persistence ---------------------------------------------------------------------
    def _open(self, data_dir: Path) -> None:
        make_private_dir(data_dir)
        self.path = data_dir / FILE_NAME
        existed = self.path.exists()
        db: sqlite3.Connection | None = None
        try:
            if not existed:
                create_private_file(self.path)  # before SQLite makes it (0644 less the umask)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if existed and tables and "meta" not in tables:  # checked before changing anything in it
                raise StoreError(f"{self.path} is not a gridctl sandbox store")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS records (tbl TEXT NOT NULL, key TEXT NOT NULL,"
                " value TEXT NOT NULL, PRIMARY KEY (tbl, key))"
            )
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has store schema version {row[0]}; this gridctl reads {SCHEMA_VERSION}"
                )
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise StoreError(f"{self.path} failed its integrity check: {check}")
            for tbl, key, value in db.execute("SELECT tbl, key, value FROM records"):
                self.tables.setdefault(tbl, {})[key] = json.loads(value)
        except BaseException as exc:
            self.tables.clear()
            if db is not None:
                db.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(f"{self.path} is damaged or not a sandbox store ({exc})") from None
            if isinstance(exc, (ValueError, TypeError)):
                raise StoreError(f"{self.path} holds a record that is not valid JSON ({exc})") from None
            raise
        self._db = db

    def commit(self) -> None:
        """Write every record changed since the last commit, in one transaction."""
        with self.lock:
            if not self._dirty:
                return
            dirty, self._dirty = self._dirty, {}
            if self._db is None:
                return
            rows_put = []
            rows_del = []
            for (tbl, key) in dirty:
                value = self.tables.get(tbl, {}).get(key)
                if value is None:
                    rows_del.append((tbl, key))
                else:
                    rows_put.append((tbl, key, json.dumps(value, separators=(",", ":"))))
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if rows_put:
                    self._db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", rows_put)
                if rows_del:
                    self._db.executemany("DELETE FROM records WHERE tbl=? AND key=?", rows_del)
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.DatabaseError:
                    pass
                raise StoreError(f"cannot write {self.path}: {exc}") from None

    def close(self) -> None:
        with self.lock:
            self.commit()
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- records -------------------------------------------------------------------------
    def table(self, tbl: str) -> dict[str, Any]:
        return self.tables.setdefault(tbl, {})

    def get(self, tbl: str, key: str | int) -> Record | None:
        rec: Record | None = self.tables.get(tbl, {}).get(str(key))
        return rec

    def put(self, tbl: str, key: str | int, value: T) -> T:
        with self.lock:
            self.tables.setdefault(tbl, {})[str(key)] = value
            self._dirty[(tbl, str(key))] = True
        return value

    def delete(self, tbl: str, key: str | int) -> Record | None:
        with self.lock:
            value: Record | None = self.tables.get(tbl, {}).pop(str(key), None)
            self._dirty[(tbl, str(key))] = True
        return value

    def values(self, tbl: str) -> Iterator[Record]:
        return iter(list(self.tables.get(tbl, {}).values()))

    def next_id(self, sequence: str, start: int = 1) -> int:
        """A new id from a named sequence; ids are never reused, across restarts too."""
        with self.lock:
            seqs = self.tables.setdefault("sequences", {})
            value = int(seqs.get(sequence, start - 1)) + 1
            self.put("sequences", sequence, value)
            return value
