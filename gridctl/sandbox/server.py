"""Running the sandbox: in-process on a free loopback port (tests, ``--sandbox``) or as a server.

    with Sandbox() as sb:                      # memory only, random port
        token = sb.add_user("alice")
        gh = Github(auth=Auth.Token(token), base_url=sb.url)

``Sandbox(data_dir=...)`` persists to that folder; the folder is locked while a sandbox serves
it, so ``gridctl sandbox user add --data DIR`` refuses to edit a store another process owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .app import SandboxApp
from .config import SandboxConfig
from .store import Store, StoreError, create_private_file, make_private_dir
from .world import DEFAULT_SCOPES


class _Protocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, handing the transport to the app so a fault can reset it."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # an ASGI extension is a dict (the spec's rule, and asgiref's type)
        self.scope.setdefault("extensions", {})["gridctl.transport"] = {"transport": self.transport}


def _uvicorn_config(app: SandboxApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_Protocol,
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=120,
        server_header=False,  # the app says "Server: github.com"
    )


class DataDirLock:
    """An exclusive lock on a sandbox data folder, held while a process owns the store."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / "lock"
        self._fh: Any = None

    def acquire(self) -> None:
        make_private_dir(self.path.parent)
        create_private_file(self.path)
        fh = open(self.path, "r+")  # noqa: SIM115  (held open: the lock lives as long as the file)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise StoreError(
                f"{self.path.parent} is in use by a running sandbox; talk to it over HTTP (--url) instead"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def open_store(data_dir: str | os.PathLike[str] | None) -> tuple[Store, DataDirLock | None]:
    if data_dir is None:
        return Store(), None
    lock = DataDirLock(Path(data_dir))
    lock.acquire()
    try:
        return Store(data_dir), lock
    except BaseException:
        lock.release()
        raise


class Sandbox:
    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_prefix: str = "",
    ):
        self.data_dir = data_dir
        self.config = config or SandboxConfig()
        self.host = host
        self.port = port
        self.api_prefix = api_prefix
        self.app: SandboxApp | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock: DataDirLock | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Sandbox:
        store, self._lock = open_store(self.data_dir)
        try:
            self.app = SandboxApp(store, self.config)
        except BaseException:
            store.close()
            if self._lock is not None:
                self._lock.release()
                self._lock = None
            raise
        self._server = uvicorn.Server(_uvicorn_config(self.app, self.host, self.port))
        # (uvicorn installs signal handlers only in the main thread: this one is not)
        self._thread = threading.Thread(target=self._run, name="gridctl-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        sock = self._server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        if not self.config.public_url:
            self.config.public_url = f"http://{self.host}:{self.port}"
        self.app.start_services()
        return self

    def _run(self) -> None:
        assert self._server is not None
        asyncio.run(self._server.serve())

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.app is not None:
            self.app.stop_services()
            self.app.store.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- convenience -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL to give PyGithub (``base_url=``)."""
        return f"{self.config.public_url}{self.api_prefix}"

    def add_user(
        self,
        login: str,
        *,
        scopes: tuple[str, ...] | list[str] = DEFAULT_SCOPES,
        token: str | None = None,
    ) -> str:
        """Create a user (if needed) and return a new token for it."""
        assert self.app is not None
        world = self.app.world
        with self.app.store.lock:
            if world.find_user(login) is None:
                world.create_user(login)
            tok = world.issue_token(login, scopes, token)
            self.app.store.commit()
        return tok

    def add_org(self, login: str, *, admins: tuple[str, ...] = (), members: tuple[str, ...] = ()) -> None:
        assert self.app is not None
        world = self.app.world
        with self.app.store.lock:
            org = world.find_user(login) or world.create_user(login, org=True)
            for who in admins:
                world.set_membership(org, who, "admin")
            for who in members:
                world.set_membership(org, who, "member")
            self.app.store.commit()


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    data_dir: str | None = None,
    config: SandboxConfig | None = None,
    ready: Any = None,
) -> SandboxApp:
    """Serve in the foreground until SIGINT/SIGTERM (``gridctl sandbox serve``).

    Either signal stops the server gracefully (requests in flight finish), the store is
    committed and closed, the data folder's lock released, and the function returns the app
    (its stats and conformance records) instead of re-raising the signal.
    """
    config = config or SandboxConfig()
    store, lock = open_store(data_dir)
    sock: socket.socket | None = None
    try:
        app = SandboxApp(store, config)
        # bind here, not in uvicorn: a busy port is then an OSError the caller can report
        # in one line (uvicorn would log it and sys.exit)
        sock = _listen(host, port)
        # the public URL is known once bound: set it before the first request can arrive
        # (setting it after uvicorn reports started let early requests see no port)
        if not config.public_url:
            config.public_url = f"http://{host}:{sock.getsockname()[1]}"
        server = uvicorn.Server(_uvicorn_config(app, host, port))
        server.capture_signals = lambda: _graceful_signals(server)  # type: ignore[method-assign]

        async def main() -> None:
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started:
                if task.done():
                    await task
                    return
                await asyncio.sleep(0.01)
            app.start_services()
            if ready is not None:
                ready(config.public_url)
            await task

        try:
            asyncio.run(main())
        finally:
            app.stop_services()
        return app
    finally:
        if sock is not None:
            sock.close()
        store.close()
        if lock is not None:
            lock.release()


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def _graceful_signals(server: uvicorn.Server) -> Any:
    """Like uvicorn's own signal capture, minus re-raising the signal after shutdown (which
    would kill the process before the store is closed). A second SIGINT forces the exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(sig: int, frame: Any) -> None:
        if server.should_exit and sig == signal.SIGINT:
            server.force_exit = True
        server.should_exit = True

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
