"""The controller's database: the dispatch queue, the runners it launched, events, deliveries.

SQLAlchemy 2 (Core) over SQLite in WAL mode — a file under ``.gridctl/`` by default — or
PostgreSQL through psycopg 3 (``postgresql://...`` URLs). The schema is kept by Alembic
migrations shipped in :mod:`gridctl.serve.migrations` and applied on open, so an upgraded
gridctl moves an existing database forward by itself.

What the controller must never do — fire a queue entry twice, or lose one — rests on two
statements here, each one atomic in the database:

* :meth:`Store.begin_dispatch` moves an entry from ``queued`` to ``dispatching`` and stamps it
  with a fresh key *before* the ``workflow_dispatch`` POST; only one caller can win it. After a
  crash, an entry left ``dispatching`` is reconciled against GitHub's runs (by its key and start
  time), never sent again blindly.
* :meth:`Store.remember_delivery` inserts a webhook delivery's GUID; a replayed delivery finds it
  there and is refused.

One controller leads at a time (:class:`Leadership`): on PostgreSQL a session-level advisory
lock held on a dedicated connection, released by the server when that connection dies (a killed
leader included); on SQLite a lock on a file next to the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from ..errors import GridctlError
from ..util.files import private_dir

#: queue entry states, in the order an entry moves through them (cancelled/failed end early)
ENTRY_STATES = ("queued", "dispatching", "dispatched", "completed", "failed", "cancelled")
#: states in which an entry still counts against its group's ``max_concurrent``
IN_FLIGHT = ("dispatching", "dispatched")

metadata = sa.MetaData()
entries = sa.Table(
    "entries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("group_name", sa.String(200), nullable=False),
    sa.Column("template", sa.String(200), nullable=False),
    sa.Column("inputs", sa.JSON, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dispatch_key", sa.String(64)),
    sa.Column("dispatch_started_at", sa.DateTime(timezone=True)),
    sa.Column("dispatched_at", sa.DateTime(timezone=True)),
    sa.Column("run_id", sa.BigInteger),
    sa.Column("run_url", sa.String(500)),
    sa.Column("conclusion", sa.String(40)),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.String(1000)),
)
runners = sa.Table(
    "runners", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pool", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("github_id", sa.BigInteger),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("launched_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("online_at", sa.DateTime(timezone=True)),
    sa.Column("idle_since", sa.DateTime(timezone=True)),
    sa.Column("removed_at", sa.DateTime(timezone=True)),
    sa.Column("launcher_pid", sa.Integer),
)
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("guid", sa.String(100), primary_key=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event", sa.String(60), nullable=False),
    sa.Column("result", sa.String(40), nullable=False),
)


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class Entry:
    id: int
    group: str
    template: str
    inputs: dict[str, Any]
    priority: int
    position: int
    state: str
    created_by: str
    created_at: datetime
    dispatch_key: str | None = None
    dispatch_started_at: datetime | None = None
    dispatched_at: datetime | None = None
    run_id: int | None = None
    run_url: str | None = None
    conclusion: str | None = None
    completed_at: datetime | None = None
    error: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Entry:
        m = row._mapping
        return cls(
            id=m["id"], group=m["group_name"], template=m["template"], inputs=dict(m["inputs"] or {}),
            priority=m["priority"], position=m["position"], state=m["state"], created_by=m["created_by"],
            created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
            dispatch_key=m["dispatch_key"], dispatch_started_at=_aware(m["dispatch_started_at"]),
            dispatched_at=_aware(m["dispatched_at"]), run_id=m["run_id"], run_url=m["run_url"],
            conclusion=m["conclusion"], completed_at=_aware(m["completed_at"]), error=m["error"],
        )


def default_url(workdir: Path) -> str:
    return f"sqlite:///{private_dir(workdir) / 'controller.db'}"


def _engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        private_dir(path.parent)
        if not path.exists():  # created private, before SQLite opens it with the umask's mode
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql+psycopg://"):
        return sa.create_engine(url, pool_pre_ping=True)
    raise GridctlError(f"database URL must be sqlite:///PATH or postgresql://...; got a {url.split(':', 1)[0]}: URL")


def migrate(engine: Engine) -> str:
    """Bring the database to the newest schema; returns the revision it is at."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # two controllers starting at once: one migrates, the other waits for it
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        revision = MigrationContext.configure(conn).get_current_revision()
    return str(revision)


#: advisory lock keys (any fixed 64-bit numbers; these spell "gridctl" and "gridmig")
LEADER_LOCK = 0x67726964_63746C00
MIGRATION_LOCK = 0x67726964_6D696700


class Store:
    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        engine = _engine(url)
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            raise GridctlError(f"cannot open the controller database ({exc.orig.__class__.__name__}): check serve.database") from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- the dispatch queue ---------------------------------------------------------------------
    def add_entry(self, group: str, template: str, inputs: dict[str, Any], *, priority: int = 0, created_by: str = "") -> Entry:
        with self._tx() as conn:
            last = conn.execute(sa.select(sa.func.max(entries.c.position)).where(entries.c.group_name == group)).scalar()
            row = conn.execute(
                entries.insert().returning(*entries.c),
                {"group_name": group, "template": template, "inputs": inputs, "priority": int(priority),
                 "position": int(last or 0) + 1, "state": "queued", "created_by": created_by, "created_at": now()},
            ).one()
        return Entry.from_row(row)

    def get(self, entry_id: int) -> Entry | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(entries).where(entries.c.id == entry_id)).first()
        return Entry.from_row(row) if row else None

    def queue(self, group: str | None = None, states: Sequence[str] = ("queued",)) -> list[Entry]:
        """Entries in dispatch order: highest priority first, then queue position (FIFO)."""
        q = sa.select(entries).where(entries.c.state.in_(list(states)))
        if group is not None:
            q = q.where(entries.c.group_name == group)
        q = q.order_by(entries.c.priority.desc(), entries.c.position, entries.c.id)
        with self._tx() as conn:
            return [Entry.from_row(r) for r in conn.execute(q)]

    def in_flight(self, group: str) -> int:
        with self._tx() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(entries).where(entries.c.group_name == group, entries.c.state.in_(IN_FLIGHT))
            ).scalar() or 0)

    def reorder(self, group: str, ids: Sequence[int]) -> None:
        """Put the queued entries ``ids`` first, in that order (the others keep their order after)."""
        with self._tx() as conn:
            queued = [r.id for r in conn.execute(
                sa.select(entries.c.id).where(entries.c.group_name == group, entries.c.state == "queued").order_by(entries.c.position, entries.c.id)
            )]
            unknown = [i for i in ids if i not in queued]
            if unknown:
                raise GridctlError(f"not queued in group {group}: {', '.join(map(str, unknown))}")
            order = list(dict.fromkeys(ids)) + [i for i in queued if i not in ids]
            for pos, entry_id in enumerate(order, start=1):
                conn.execute(entries.update().where(entries.c.id == entry_id).values(position=pos))

    def cancel(self, entry_id: int) -> bool:
        """Cancel a queued entry; False when it is no longer queued (already dispatching or done)."""
        with self._tx() as conn:
            n = conn.execute(
                entries.update().where(entries.c.id == entry_id, entries.c.state == "queued").values(state="cancelled", completed_at=now())
            ).rowcount
        return bool(n)

    def begin_dispatch(self, entry_id: int) -> str | None:
        """Claim a queued entry for dispatch, before the POST: returns its dispatch key, or None
        when another controller (or an earlier attempt) already took it. Atomic: one winner."""
        key = secrets.token_hex(16)
        with self._tx() as conn:
            n = conn.execute(
                entries.update().where(entries.c.id == entry_id, entries.c.state == "queued")
                .values(state="dispatching", dispatch_key=key, dispatch_started_at=now())
            ).rowcount
        return key if n == 1 else None

    def dispatched(self, entry_id: int, key: str, *, run_id: int | None = None, run_url: str | None = None) -> bool:
        """GitHub accepted the dispatch (and, when known, which run it started)."""
        with self._tx() as conn:
            n = conn.execute(
                entries.update().where(entries.c.id == entry_id, entries.c.dispatch_key == key, entries.c.state.in_(IN_FLIGHT))
                .values(state="dispatched", dispatched_at=now(), run_id=run_id, run_url=run_url)
            ).rowcount
        return bool(n)

    def finish(self, entry_id: int, *, conclusion: str | None = None, error: str | None = None) -> bool:
        """The entry's run concluded (``completed``), or its dispatch failed for good (``failed``)."""
        state = "failed" if error is not None else "completed"
        with self._tx() as conn:
            n = conn.execute(
                entries.update().where(entries.c.id == entry_id, entries.c.state.in_(IN_FLIGHT))
                .values(state=state, conclusion=conclusion, error=(error or None) and error[:1000], completed_at=now())
            ).rowcount
        return bool(n)

    def history(self, group: str | None = None, limit: int = 100) -> list[Entry]:
        q = sa.select(entries).where(entries.c.state.in_(("completed", "failed", "cancelled")))
        if group is not None:
            q = q.where(entries.c.group_name == group)
        with self._tx() as conn:
            return [Entry.from_row(r) for r in conn.execute(q.order_by(entries.c.completed_at.desc(), entries.c.id.desc()).limit(limit))]

    # -- webhook deliveries ---------------------------------------------------------------------
    def remember_delivery(self, guid: str, event: str, result: str = "accepted") -> bool:
        """Record a delivery's GUID; False when it was seen before (a replay)."""
        try:
            with self._tx() as conn:
                conn.execute(deliveries.insert(), {"guid": guid[:100], "received_at": now(), "event": event[:60], "result": result})
        except IntegrityError:
            return False
        return True

    # -- events ---------------------------------------------------------------------------------
    def event(self, kind: str, subject: str, **detail: Any) -> None:
        with self._tx() as conn:
            conn.execute(events.insert(), {"at": now(), "kind": kind, "subject": subject, "detail": detail})


class Leadership:
    """At most one leading controller per database.

    PostgreSQL: ``pg_try_advisory_lock`` on a connection kept open for as long as this instance
    leads (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS: a
    session-level lock is held until released or the session ends — a killed process's session
    ends with it). SQLite: an exclusive ``flock`` on ``<database>.leader``.
    """

    def __init__(self, store: Store):
        self.store = store
        self._conn: Connection | None = None
        self._fh: Any = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fh is not None

    def try_acquire(self) -> bool:
        if self.held:
            return self.check()
        engine = self.store.engine
        if engine.dialect.name == "postgresql":
            conn = engine.connect()
            try:
                got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK}).scalar())
                conn.commit()
            except SQLAlchemyError:
                conn.close()
                return False
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        path = Path(str(engine.url.database) + ".leader")
        fh = open(path, "a+")  # noqa: SIM115 - held open while leading
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._fh = fh
        return True

    def check(self) -> bool:
        """Whether this instance still leads (its PostgreSQL session may have been cut)."""
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT 1"))
                self._conn.commit()
            except SQLAlchemyError:
                self.release()
                return False
        return self.held

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK})
                self._conn.commit()
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None
        if self._fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
