"""Running the sandbox: in-process on a free loopback port (tests, ``--sandbox``) or as a server.

    with Sandbox() as sb:                      # memory only, random port
        token = sb.add_user("alice")
        gh = Github(auth=Auth.Token(token), base_url=sb.url)

``Sandbox(data_dir=...)`` persists to that folder; the folder is locked while a sandbox serves
it, so ``gridctl sandbox user add --data DIR`` refuses to edit a store another process owns.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .app import SandboxApp
from .config import SandboxConfig
from .store import Store, StoreError
from .world import DEFAULT_SCOPES


class _Protocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, handing the transport to the app so a fault can reset it."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope.setdefault("extensions", {})["gridctl.transport"] = self.transport  # type: ignore[typeddict-item]


class DataDirLock:
    """An exclusive lock on a sandbox data folder, held while a process owns the store."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / "lock"
        self._fh: Any = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
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
        self.app = SandboxApp(store, self.config)
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            http=_Protocol,
            loop="asyncio",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_keep_alive=120,
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
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
) -> None:
    """Serve in the foreground until interrupted (``gridctl sandbox serve``)."""
    config = config or SandboxConfig()
    store, lock = open_store(data_dir)
    try:
        app = SandboxApp(store, config)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                http=_Protocol,
                loop="asyncio",
                lifespan="off",
                log_level="warning",
                access_log=False,
                timeout_keep_alive=120,
            )
        )

        async def main() -> None:
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    await task
                    return
                await asyncio.sleep(0.01)
            bound = server.servers[0].sockets[0].getsockname()[1]
            if not config.public_url:
                config.public_url = f"http://{host}:{bound}"
            if ready is not None:
                ready(config.public_url)
            await task

        asyncio.run(main())
    finally:
        store.close()
        if lock is not None:
            lock.release()
