"""``gridctl sandbox ...`` as a user runs it: the real entry point in subprocesses."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from github import Auth, Github
from typer.testing import CliRunner

from gridctl.cli import app as cli_app
from gridctl.sandbox.server import Sandbox
from gridctl.sandbox.store import FILE_NAME

_SCRIPT = Path(sys.executable).parent / "gridctl"
GRIDCTL = [str(_SCRIPT)] if _SCRIPT.exists() else (
    [shutil.which("gridctl")] if shutil.which("gridctl") else [sys.executable, "-c", "from gridctl.cli import main; main()"]
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "GRIDCTL_SANDBOX_URL"}
    out.update(extra)
    return out


def gridctl(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GRIDCTL, "sandbox", *args], capture_output=True, text=True, timeout=60, env=env(**extra_env))


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


class Server:
    def __init__(self, proc: subprocess.Popen, url: str, banner: str):
        self.proc = proc
        self.url = url
        self.banner = banner

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return self.proc.returncode, err


@contextmanager
def serving(*args: str) -> Iterator[Server]:
    port = free_port()
    proc = subprocess.Popen(
        [*GRIDCTL, "sandbox", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=30):
            raise AssertionError("gridctl sandbox serve printed nothing in 30 s")
        banner = proc.stdout.readline()
        assert banner.startswith("gridctl sandbox listening on http://"), (banner, proc.stderr and proc.poll())
        url = banner.split()[4]
        assert url == f"http://127.0.0.1:{port}"
        yield Server(proc, url, banner)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def github(url: str, token: str) -> Github:
    return Github(auth=Auth.Token(token), base_url=url, retry=None, seconds_between_requests=None, seconds_between_writes=None)


def test_serve_user_add_stop_and_restart(tmp_path):
    data = tmp_path / "sbx"
    with serving("--data", str(data)) as srv:
        assert str(data) in srv.banner
        added = gridctl("user", "add", "alice", "--url", srv.url)
        assert added.returncode == 0, added.stderr
        token = added.stdout.strip()
        assert added.stdout == token + "\n"  # the token and nothing else on stdout
        assert token.startswith("gridsbx_")
        gh = github(srv.url, token)
        assert gh.get_user().login == "alice"
        gh.get_user().create_repo("made-by-cli", private=True)

        org = gridctl("user", "add", "acme", "--org", "--admins", "alice", "--url", srv.url)
        assert org.returncode == 0 and org.stdout == "", org.stderr
        bob = gridctl("user", "add", "bob", "--member-of", "acme", "--scopes", "repo,read:org",
                      GRIDCTL_SANDBOX_URL=srv.url)  # the URL from the environment
        assert bob.returncode == 0, bob.stderr
        bob_token = bob.stdout.strip()
        r = requests.get(srv.url + "/orgs/acme/memberships/bob", headers={"Authorization": f"token {bob_token}"}, timeout=10)
        assert r.json()["role"] == "member"
        assert r.headers["X-OAuth-Scopes"] == "read:org, repo"
        assert github(srv.url, token).get_organization("acme").get_repos().totalCount == 0
        membership = requests.get(srv.url + "/orgs/acme/memberships/alice", headers={"Authorization": f"token {token}"}, timeout=10)
        assert membership.json()["role"] == "admin"

        another = gridctl("token", "alice", "--scopes", "repo", "--url", srv.url)
        assert another.returncode == 0 and another.stdout.strip() != token
        assert github(srv.url, another.stdout.strip()).get_user().login == "alice"

        table = gridctl("stats", "--url", srv.url)
        assert table.returncode == 0
        assert "users/get-authenticated" in table.stdout and "requests" in table.stdout.splitlines()[0]

        # the folder is the server's while it runs
        busy = gridctl("user", "add", "carol", "--data", str(data))
        assert_one_line_error(busy, "in use by a running sandbox")

        code, err = srv.stop(signal.SIGTERM)
        assert code == 0, err
        assert "Traceback" not in err

    # stopped: edit the folder directly
    carol = gridctl("user", "add", "carol", "--data", str(data))
    assert carol.returncode == 0, carol.stderr
    carol_token = carol.stdout.strip()

    with serving("--data", str(data)) as srv:
        gh = github(srv.url, token)
        assert gh.get_user().login == "alice"  # the token survived the restart
        assert gh.get_repo("alice/made-by-cli").private is True
        assert github(srv.url, carol_token).get_user().login == "carol"
        code, err = srv.stop(signal.SIGINT)  # Ctrl-C stops it cleanly too
        assert code == 0 and "Traceback" not in err, err


def test_serve_flags_reach_the_sandbox():
    with serving("--rate-limit", "3", "--latency", "40ms", "--faults", "nth=2,op=users/get-authenticated,status=503",
                 "--strict", "--seed", "5") as srv:
        token = gridctl("user", "add", "dora", "--url", srv.url).stdout.strip()
        auth = {"Authorization": f"token {token}"}
        t0 = time.perf_counter()
        first = requests.get(srv.url + "/user", headers=auth, timeout=10)
        assert time.perf_counter() - t0 >= 0.04
        assert first.headers["x-ratelimit-limit"] == "3"
        assert requests.get(srv.url + "/user", headers=auth, timeout=10).status_code == 503
        assert requests.get(srv.url + "/user", headers=auth, timeout=10).status_code == 200
        conformance = requests.get(srv.url + "/_sandbox/conformance", timeout=10).json()
        assert conformance["strict"] is True and conformance["validated"] and not conformance["violations"]
        code, err = srv.stop()
        assert code == 0, err


def test_corrupt_store_is_a_one_line_error(tmp_path):
    data = tmp_path / "broken"
    data.mkdir()
    garbage = b"\x00not a database\xff" * 64
    (data / FILE_NAME).write_bytes(garbage)
    result = gridctl("serve", "--port", str(free_port()), "--data", str(data))
    assert_one_line_error(result, str(data / FILE_NAME), "damaged")
    assert (data / FILE_NAME).read_bytes() == garbage  # never silently reset
    assert_one_line_error(gridctl("user", "add", "x", "--data", str(data)), str(data / FILE_NAME))


def test_data_dir_held_by_another_sandbox(tmp_path):
    data = tmp_path / "held"
    with Sandbox(data_dir=data):
        assert_one_line_error(gridctl("serve", "--port", str(free_port()), "--data", str(data)), "in use")
        assert_one_line_error(gridctl("token", "alice", "--data", str(data)), "in use")


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--latency", "80xs"], "not a duration"),
        (["--latency", "lognormal:median=0ms"], "median"),
        (["--faults", "rate=2"], "between 0 and 1"),
        (["--faults", "rate=often"], "fault rate"),
        (["--faults", "nth=1"], "op="),
        (["--faults", "nth=0,op=repos/get"], "from 1"),
        (["--faults", "rate=0.1,statuses=200"], "fault status"),
        (["--faults", "sometimes"], "key=value"),
        (["--rate-limit", "0"], "rate-limit"),
    ],
)
def test_bad_serve_flags(flags, needle):
    # in-process (typer's runner) to keep this fast; the subprocess tests cover the entry point
    result = CliRunner().invoke(cli_app, ["sandbox", "serve", "--port", str(free_port()), *flags])
    assert_one_line_error(
        subprocess.CompletedProcess([], result.exit_code, result.stdout, result.stderr), needle
    )


def test_busy_port_and_missing_sandbox(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert_one_line_error(gridctl("serve", "--port", str(port)), f"127.0.0.1:{port}")
    assert_one_line_error(gridctl("user", "add", "x"), "--url")
    assert_one_line_error(gridctl("user", "add", "x", "--url", f"http://127.0.0.1:{free_port()}"), "cannot reach")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert_one_line_error(gridctl("serve", "--port", str(free_port()), "--data", str(a_file)), "not a folder")


def test_user_add_direct_edits(tmp_path):
    data = tmp_path / "offline"
    alice = gridctl("user", "add", "alice", "--data", str(data))
    assert alice.returncode == 0 and alice.stdout.strip().startswith("gridsbx_")
    org = gridctl("user", "add", "acme", "--org", "--admins", "alice", "--data", str(data))
    assert org.returncode == 0, org.stderr
    assert_one_line_error(gridctl("user", "add", "acme", "--data", str(data)), "already exists")
    assert_one_line_error(gridctl("user", "add", "bob", "--admin-of", "nope", "--data", str(data)), "nope")
    assert_one_line_error(gridctl("user", "add", "acme2", "--org", "--admins", "ghost", "--data", str(data)), "ghost")
    assert_one_line_error(gridctl("user", "add", "x", "--admins", "alice", "--data", str(data)), "--org")
    with Sandbox(data_dir=data) as sb:
        r = requests.get(sb.url + "/orgs/acme/memberships/alice",
                         headers={"Authorization": f"token {alice.stdout.strip()}"}, timeout=10)
        assert r.status_code == 200 and r.json()["role"] == "admin"
