"""``gridctl serve`` (preview): the controller's store and HTTP API, from the manifest's ``serve:``.

What runs today: the database (migrated on start), leadership (one leader per database), and the
API with its users — ``/health``, ``/metrics``, the dispatch queue under ``/api/v1``. Scaling
pools and dispatching queue entries (:mod:`gridctl.serve.decide` is ready) join this process
next. SIGTERM/SIGINT stop it cleanly: the server finishes the requests in hand, leadership is
released, the database closed, and the process exits 0.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from ..errors import GridctlError, SourceError
from ..manifest.model import Manifest
from ..manifest.sources import Source, read_source
from .api import ApiConfig, GroupView, create_app, token_digest
from .declare import database_url, groups_of, serve_of
from .store import Leadership, Store, default_url


def api_users(m: Manifest) -> dict[str, tuple[str, str]]:
    """``serve.api.users`` as the API takes them: sha256(token) -> (name, role). A user whose
    token source is unavailable is an error naming the user, never what the source holds."""
    out: dict[str, tuple[str, str]] = {}
    for user in serve_of(m).users:
        try:
            token = read_source(user.token, m.root, allow_outside=True).strip()
        except SourceError as exc:
            raise GridctlError(f"serve.api.users.{user.name}: token source unavailable: {exc}") from None
        if not token:
            raise GridctlError(f"serve.api.users.{user.name}: the token source is empty")
        out[token_digest(token)] = (user.name, user.role)
    return out


def store_url(m: Manifest, workdir: Path) -> str:
    db = serve_of(m).database
    if db is None:
        return default_url(workdir)
    if isinstance(db, Source):
        try:
            return database_url(read_source(db, m.root, allow_outside=True).strip(), m.root)
        except SourceError as exc:
            raise GridctlError(f"serve.database: source unavailable: {exc}") from None
    return database_url(db, m.root)


def serve(m: Manifest, workdir: Path, listen: tuple[str, int] | None = None, say: Callable[[str], None] = print) -> int:
    import uvicorn

    spec = serve_of(m)
    host, port = listen or (spec.host, spec.port)
    users = api_users(m)
    store = Store.open(store_url(m, workdir))
    lead = Leadership(store)
    try:
        lead.try_acquire()
        groups = {g.name: GroupView(g.name, tuple(g.templates), tuple(g.labels), g.max_concurrent) for g in groups_of(m).values()}
        app = create_app(store, ApiConfig(groups=groups, users=users, is_leader=lead.check))
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
        server = uvicorn.Server(config)
        say(f"gridctl: serving the controller API on http://{host}:{port} "
            f"({'leader' if lead.held else 'follower'}; {len(groups)} group(s), {len(users)} API user(s))")
        # uvicorn stops gracefully on SIGTERM/SIGINT and then raises the signal again for the
        # handler that was there before; that handler only notes it: a requested stop exits 0
        stops: list[int] = []
        previous = {sig: signal.signal(sig, lambda signum, _frame: stops.append(signum)) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            server.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        lead.release()
        store.close()
    return 0
