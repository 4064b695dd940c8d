"""A real PostgreSQL for the tests: the server named by ``GRIDCTL_TEST_DATABASE_URL``, else a
throwaway one started from the machine's PostgreSQL binaries (initdb + pg_ctl, trust auth, a
Unix socket and a loopback port of its own). Each test gets a fresh database, dropped after it.
Neither available is a failure, never a skip: CI must not pass without PostgreSQL."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: [int(x) for x in Path(d).parent.name.split(".") if x.isdigit()])
    return Path(dirs[-1]) if dirs else None


def free_port() -> int:
    """A loopback port nothing listens on now (for test servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Start a private PostgreSQL; yields its admin URL (database ``postgres``)."""
    bindir = _binaries()
    if bindir is None:
        raise RuntimeError("no PostgreSQL: set GRIDCTL_TEST_DATABASE_URL or install the server (initdb, pg_ctl)")
    root = Path(tempfile.mkdtemp(prefix="gridctl-pg-"))
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:  # initdb refuses to run as root: run the server as the postgres user
        os.chmod(root, 0o700)
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"],
                       check=True, capture_output=True, timeout=120, env=env)
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(root / "log"),
                        "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off", "start"],
                       check=True, capture_output=True, timeout=120, env=env)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60, env=env)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def server_url() -> Iterator[str]:
    url = os.environ.get("GRIDCTL_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with throwaway_server() as url:
        yield url


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``; dropped afterwards."""
    import psycopg

    name = "gridctl_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
