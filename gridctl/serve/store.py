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
from collections.abc import Callable, Iterator, Sequence
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
    sa.Column("runner", sa.String(200)),
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
    sa.Column("scope", sa.String(200), nullable=False, server_default=""),
    sa.Column("account", sa.String(200), nullable=False, server_default=""),
    sa.Column("offline_since", sa.DateTime(timezone=True)),
    sa.Column("busy", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("launcher_start", sa.BigInteger),
    sa.Column("reason", sa.String(40), nullable=False, server_default=""),
    sa.Column("removed_why", sa.String(300)),
)
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)
settings = sa.Table(
    "settings", metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.String(1000), nullable=False),
)
api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_name", sa.String(200), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
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
    #: the runner (its name) the dispatch counted on
    runner: str | None = None

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
            runner=m["runner"],
        )


#: runner record states: ``launching`` (recorded before the JIT registration), ``registered``
#: (GitHub knows it; its launcher was started), ``removed`` (gone from GitHub; launcher ended)
RUNNER_STATES = ("launching", "registered", "removed")


@dataclass(frozen=True)
class RunnerRecord:
    """A runner the controller launched."""

    id: int
    pool: str
    name: str
    scope: str
    account: str
    state: str
    labels: tuple[str, ...]
    launched_at: datetime
    reason: str = ""
    github_id: int | None = None
    launcher_pid: int | None = None
    launcher_start: int | None = None
    online_at: datetime | None = None
    idle_since: datetime | None = None
    offline_since: datetime | None = None
    busy: bool = False
    removed_at: datetime | None = None
    removed_why: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> RunnerRecord:
        m = row._mapping
        return cls(
            id=m["id"], pool=m["pool"], name=m["name"], scope=m["scope"], account=m["account"], state=m["state"],
            labels=tuple(m["labels"] or ()), launched_at=_aware(m["launched_at"]),  # type: ignore[arg-type]
            reason=m["reason"], github_id=m["github_id"], launcher_pid=m["launcher_pid"], launcher_start=m["launcher_start"],
            online_at=_aware(m["online_at"]), idle_since=_aware(m["idle_since"]), offline_since=_aware(m["offline_since"]),
            busy=bool(m["busy"]), removed_at=_aware(m["removed_at"]), removed_why=m["removed_why"],
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
    with _sqlite_migration_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # two controllers starting at once: one migrates, the other waits for it
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        revision = MigrationContext.configure(conn).get_current_revision()
    return str(revision)


@contextlib.contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """Two processes opening a new SQLite database at once: one migrates, the other waits for it.

    pysqlite runs Alembic's DDL outside one transaction, so without this the second process
    would see the first one's half-made schema and fail on ``CREATE TABLE``. The lock is a
    ``flock`` on ``<database>.migrate``, released when the migration ends (or the process dies).
    """
    if engine.dialect.name != "sqlite" or not engine.url.database:
        yield
        return
    fd = os.open(str(engine.url.database) + ".migrate", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


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

    def place(self, group: str, ids: Sequence[int], moved: int) -> None:
        """A drag and drop: the queued entries in the order ``ids``, and the ``moved`` entry's
        priority brought between its new neighbours' (dispatch goes by priority first), so it
        is dispatched where it was dropped."""
        with self._tx() as conn:
            rows = {r.id: r.priority for r in conn.execute(
                sa.select(entries.c.id, entries.c.priority).where(entries.c.group_name == group, entries.c.state == "queued"))}
        order = [i for i in dict.fromkeys(ids) if i in rows]
        if moved not in order:
            raise GridctlError(f"entry {moved} is not queued in group {group}")
        k = order.index(moved)
        priority = rows[moved]
        if k + 1 < len(order):
            priority = max(priority, rows[order[k + 1]])
        if k > 0:
            priority = min(priority, rows[order[k - 1]])
        self.reorder(group, order)
        self.set_priority(moved, priority)

    def cancel(self, entry_id: int) -> bool:
        """Cancel a queued entry; False when it is no longer queued (already dispatching or done)."""
        with self._tx() as conn:
            n = conn.execute(
                entries.update().where(entries.c.id == entry_id, entries.c.state == "queued").values(state="cancelled", completed_at=now())
            ).rowcount
        return bool(n)

    def begin_dispatch(self, entry_id: int, runner: str | None = None) -> str | None:
        """Claim a queued entry for dispatch, before the POST: returns its dispatch key, or None
        when another controller (or an earlier attempt) already took it. Atomic: one winner.
        ``runner`` is the idle runner the dispatch counts on (kept for the next decisions)."""
        key = secrets.token_hex(16)
        with self._tx() as conn:
            n = conn.execute(
                entries.update().where(entries.c.id == entry_id, entries.c.state == "queued")
                .values(state="dispatching", dispatch_key=key, dispatch_started_at=now(), runner=runner)
            ).rowcount
        return key if n == 1 else None

    def requeue(self, entry_id: int, key: str, why: str) -> bool:
        """A dispatch that certainly did not start a run (GitHub refused it, or no run appeared
        for it): the entry goes back to the queue, keeping its place."""
        with self._tx() as conn:
            n = conn.execute(
                entries.update().where(entries.c.id == entry_id, entries.c.dispatch_key == key, entries.c.state == "dispatching")
                .values(state="queued", dispatch_key=None, dispatch_started_at=None, runner=None, error=why[:1000])
            ).rowcount
        return bool(n)

    def fail_queued(self, entry_id: int, reason: str) -> bool:
        """A queued entry that can no longer be dispatched (its group or template went away)."""
        with self._tx() as conn:
            n = conn.execute(
                entries.update().where(entries.c.id == entry_id, entries.c.state == "queued")
                .values(state="failed", error=reason[:1000], completed_at=now())
            ).rowcount
        return bool(n)

    def active(self) -> list[Entry]:
        """Every entry that is not over (queued or in flight), oldest first."""
        with self._tx() as conn:
            return [Entry.from_row(r) for r in conn.execute(
                sa.select(entries).where(entries.c.state.in_(("queued", *IN_FLIGHT))).order_by(entries.c.id))]

    def counts(self) -> dict[tuple[str, str], int]:
        """(group, state) -> number of entries, every state."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(entries.c.group_name, entries.c.state, sa.func.count()).group_by(entries.c.group_name, entries.c.state))
            return {(g, st): int(n) for g, st, n in rows}

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

    def history_page(self, group: str | None, *, outcome: str | None = None, since: datetime | None = None,
                     limit: int = 50, offset: int = 0) -> tuple[list[Entry], int]:
        """One page of finished entries (newest first) and how many match in all. ``outcome`` is a
        run conclusion, or ``failed`` for entries whose dispatch failed."""
        cond: list[sa.ColumnElement[bool]] = [entries.c.state.in_(("completed", "failed", "cancelled"))]
        if group is not None:
            cond.append(entries.c.group_name == group)
        if outcome == "failed":
            cond.append(entries.c.state == "failed")
        elif outcome == "cancelled":
            cond.append(sa.or_(entries.c.state == "cancelled", entries.c.conclusion == "cancelled"))
        elif outcome:
            cond.append(entries.c.conclusion == outcome)
        if since is not None:
            cond.append(entries.c.completed_at >= since)
        with self._tx() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(entries).where(*cond)).scalar() or 0)
            rows = conn.execute(sa.select(entries).where(*cond).order_by(entries.c.completed_at.desc(), entries.c.id.desc())
                                .limit(limit).offset(offset))
            return [Entry.from_row(r) for r in rows], total

    def set_priority(self, entry_id: int, priority: int) -> bool:
        with self._tx() as conn:
            n = conn.execute(entries.update().where(entries.c.id == entry_id, entries.c.state == "queued").values(priority=int(priority))).rowcount
        return bool(n)

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
            conn.execute(events.insert(), {"at": now(), "kind": kind, "subject": subject[:200], "detail": detail})

    def last_event(self, kind: str, subject: str) -> datetime | None:
        with self._tx() as conn:
            at = conn.execute(sa.select(sa.func.max(events.c.at)).where(events.c.kind == kind, events.c.subject == subject)).scalar()
        return _aware(at)

    def events(self, limit: int = 100, kind: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(events)
        if kind is not None:
            q = q.where(events.c.kind == kind)
        with self._tx() as conn:
            rows = conn.execute(q.order_by(events.c.id.desc()).limit(limit))
            return [{"id": r.id, "at": _aware(r.at), "kind": r.kind, "subject": r.subject, "detail": r.detail} for r in rows]

    # -- settings shared by every instance ------------------------------------------------------
    def setting(self, key: str, make: Callable[[], str]) -> str:
        """The value of ``key``; the first caller (of any instance) stores ``make()``."""
        with self._tx() as conn:
            value = conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).scalar()
        if value is not None:
            return str(value)
        try:
            with self._tx() as conn:
                conn.execute(settings.insert(), {"key": key, "value": make()})
        except IntegrityError:
            pass  # another instance stored it first
        with self._tx() as conn:
            return str(conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).scalar_one())

    # -- API tokens made for scripts ------------------------------------------------------------
    def add_token(self, user: str, label: str, digest: str, role: str) -> int:
        with self._tx() as conn:
            return int(conn.execute(api_tokens.insert().returning(api_tokens.c.id),
                                    {"user_name": user, "label": label[:200], "digest": digest, "role": role, "created_at": now()}).scalar_one())

    def token_user(self, digest: str) -> tuple[str, str] | None:
        """(user, role) of a live token with this SHA-256, else None."""
        with self._tx() as conn:
            row = conn.execute(sa.select(api_tokens.c.user_name, api_tokens.c.role)
                               .where(api_tokens.c.digest == digest, api_tokens.c.revoked_at.is_(None))).first()
        return (str(row[0]), str(row[1])) if row else None

    def tokens(self, user: str) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(api_tokens).where(api_tokens.c.user_name == user).order_by(api_tokens.c.id))
            return [{"id": r.id, "label": r.label, "role": r.role, "created_at": _aware(r.created_at), "revoked_at": _aware(r.revoked_at)} for r in rows]

    def revoke_token(self, user: str, token_id: int) -> bool:
        with self._tx() as conn:
            n = conn.execute(api_tokens.update().where(api_tokens.c.id == token_id, api_tokens.c.user_name == user, api_tokens.c.revoked_at.is_(None))
                             .values(revoked_at=now())).rowcount
        return bool(n)

    # -- runners the controller launched --------------------------------------------------------
    def add_runner(self, pool: str, name: str, *, scope: str, account: str, labels: Sequence[str], reason: str) -> RunnerRecord:
        """Recorded *before* the JIT registration: a crash after it leaves a name to look for."""
        with self._tx() as conn:
            row = conn.execute(
                runners.insert().returning(*runners.c),
                {"pool": pool, "name": name, "scope": scope, "account": account, "state": "launching", "labels": list(labels),
                 "launched_at": now(), "reason": reason},
            ).one()
        return RunnerRecord.from_row(row)

    def runner_registered(self, name: str, github_id: int) -> None:
        with self._tx() as conn:
            conn.execute(runners.update().where(runners.c.name == name, runners.c.state == "launching")
                         .values(state="registered", github_id=github_id))

    def runner_started(self, name: str, pid: int, start: int | None) -> None:
        with self._tx() as conn:
            conn.execute(runners.update().where(runners.c.name == name).values(launcher_pid=pid, launcher_start=start))

    def runner_seen(self, name: str, *, online: bool, busy: bool, github_id: int | None = None) -> None:
        """What GitHub shows of the runner now: keeps ``online_at``, ``idle_since`` and
        ``offline_since`` (the decision's clocks) moving only when the state changes."""
        at = now()
        with self._tx() as conn:
            row = conn.execute(sa.select(runners).where(runners.c.name == name)).first()
            if row is None:
                return
            r = RunnerRecord.from_row(row)
            values: dict[str, Any] = {"busy": busy}
            if github_id is not None and r.github_id is None:
                values.update(github_id=github_id)
            if r.state == "launching" and github_id is not None:
                values.update(state="registered")
            if online:
                values.update(offline_since=None)
                if r.online_at is None:
                    values.update(online_at=at)
                values.update(idle_since=None if busy else (r.idle_since or at))
            else:
                values.update(idle_since=None, offline_since=r.offline_since or at)
            conn.execute(runners.update().where(runners.c.name == name).values(**values))

    def runner_removed(self, name: str, why: str) -> bool:
        with self._tx() as conn:
            n = conn.execute(runners.update().where(runners.c.name == name, runners.c.state != "removed")
                             .values(state="removed", removed_at=now(), removed_why=why[:300], busy=False)).rowcount
        return bool(n)

    def runners(self, *, include_removed: bool = False, pool: str | None = None, limit: int = 1000) -> list[RunnerRecord]:
        q = sa.select(runners)
        if not include_removed:
            q = q.where(runners.c.state != "removed")
        if pool is not None:
            q = q.where(runners.c.pool == pool)
        with self._tx() as conn:
            return [RunnerRecord.from_row(r) for r in conn.execute(q.order_by(runners.c.id.desc()).limit(limit))]

    def runner(self, key: str | int) -> RunnerRecord | None:
        """By record id, GitHub id or name."""
        cond = runners.c.name == str(key)
        if isinstance(key, int) or str(key).isdigit():
            cond = sa.or_(cond, runners.c.id == int(key), runners.c.github_id == int(key))
        with self._tx() as conn:
            row = conn.execute(sa.select(runners).where(cond).order_by(runners.c.id.desc())).first()
        return RunnerRecord.from_row(row) if row else None


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
