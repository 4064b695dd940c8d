"""`gridctl runners install` end to end, against the strict sandbox over HTTP, as real processes:
the release resolved through the REST API, the package downloaded once and verified, every
runner folder prepared so that `gridctl runners run` (its default ./run.sh) brings the runners
online and they take the jobs of a dispatched workflow; a wrong checksum, a tampered release and
unsafe packages refused with nothing left behind."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import requests

from gridctl.fleet.install import InstallError, download, host_platform, published_checksums, resolve
from gridctl.sandbox.api.releases import LATEST, RELEASES, package_name

from ..helpers import grid_yaml, wait_for

OLDER = RELEASES[1][0]
RUNNERS = Path("fleet/repos/alice/app")
WORKFLOW = """\
on: workflow_dispatch
jobs:
  test:
    strategy: {matrix: {part: [1, 2]}}
    runs-on: [self-hosted, linux]
    env: {GRIDCTL_SANDBOX_JOB_SECONDS: "0.3"}
    steps:
      - run: make test PART=${{ matrix.part }}
"""
MANIFEST = grid_yaml("""\
settings: {runner_dir: fleet}      # install's default --dir, as runners run --dir fleet
repos:
  alice/app: {description: app}
runners:
  - scope: alice/app
    names: [ci-1, ci-2]
    labels: [linux]
""")
ZEROS = "0" * 64


@pytest.fixture
def app(grid):
    """alice, alice/app with a workflow of two jobs (a matrix), two declared runners registered (JIT files)."""
    grid.user("alice")
    grid.ctl("PUT", "/jobs/settings", {"poll_seconds": 0.05, "tick_seconds": 0.05})
    grid.write("grid.yaml", MANIFEST)
    r = grid.run("apply", "--auto-approve")
    assert r.code == 0, r.all
    body = {"message": "ci", "content": base64.b64encode(WORKFLOW.encode()).decode()}
    resp = grid.api("alice", "PUT", "/repos/alice/app/contents/.github/workflows/ci.yml", body)
    assert resp.status_code == 201, resp.text
    assert sorted(p.name for p in (grid.dir / RUNNERS).iterdir()) == ["ci-1.jit", "ci-2.jit"]
    return grid


def gridctl(grid, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """gridctl as its own process, talking to the test's sandbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_", "ACTIONS_RUNNER_", "GRID_TOKEN_"))}
    env.update({"GRIDCTL_API_URL": grid.sb.url, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1",
                "GRIDCTL_BACKOFF_BASE": "0.01", **grid.env})
    return subprocess.run([sys.executable, "-m", "gridctl", *args], cwd=grid.dir, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assets(grid, version: str = LATEST) -> dict[str, dict]:
    release = grid.api("alice", "GET", f"/repos/actions/runner/releases/tags/v{version}").json()
    return {a["name"]: a for a in release["assets"]}


def this_package(version: str = LATEST) -> str:
    return package_name(version, *host_platform())


def left_behind(grid) -> list[str]:
    """What install may have left: the shared unpack, runner folders, temporary folders."""
    out = [p.name for p in grid.dir.iterdir() if p.name.startswith(".gridctl-runner-install")]
    out += [str(p.relative_to(grid.dir)) for p in (grid.dir / "fleet").rglob("*") if not p.name.endswith(".jit")
            and p.relative_to(grid.dir) != RUNNERS and p.relative_to(grid.dir) not in RUNNERS.parents]
    return out


def tarball(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o755) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


def serve_instead(grid, data: bytes, *, publish: bool, version: str = LATEST) -> None:
    """The sandbox serves ``data`` as this machine's package (``publish``: its release vouches for it)."""
    grid.ctl("PUT", f"/releases/v{version}/assets/{this_package(version)}",
             {"content_base64": base64.b64encode(data).decode(), "publish": publish})


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


# -- the sandbox's side ---------------------------------------------------------------------------------
def test_the_sandbox_publishes_the_checksums_of_the_packages_it_serves(app):
    grid = app
    latest = grid.api("alice", "GET", "/repos/actions/runner/releases/latest").json()
    assert latest["tag_name"] == f"v{LATEST}" and not latest["prerelease"] and not latest["draft"]
    downloads = grid.api("alice", "GET", "/repos/alice/app/actions/runners/downloads").json()
    assert len(downloads) == len(latest["assets"]) == 7
    by_name = {a["name"]: a for a in latest["assets"]}
    for d in downloads:
        served = requests.get(d["download_url"], timeout=30)
        assert served.status_code == 200
        sha = hashlib.sha256(served.content).hexdigest()
        asset = by_name[d["filename"]]
        plat = f"{d['os']}-{d['architecture']}"
        assert d["sha256_checksum"] == sha and asset["digest"] == f"sha256:{sha}" and asset["size"] == len(served.content)
        assert f"<!-- BEGIN SHA {plat} -->{sha}<!-- END SHA {plat} -->" in latest["body"]
        assert requests.get(d["download_url"], timeout=30).content == served.content  # built deterministically
    # the asset endpoint: JSON, or with Accept: application/octet-stream a redirect to the download
    asset = by_name[this_package()]
    headers = {"Authorization": f"token {grid.tokens['alice']}", "Accept": "application/octet-stream"}
    resp = requests.get(asset["url"], headers=headers, allow_redirects=False, timeout=30)
    assert resp.status_code == 302 and resp.headers["Location"] == asset["browser_download_url"]
    assert grid.api("alice", "GET", f"/repos/actions/runner/releases/assets/{asset['id']}").json()["download_count"] == 2
    with tarfile.open(fileobj=io.BytesIO(requests.get(asset["browser_download_url"], timeout=30).content)) as tar:
        run_sh = tar.extractfile("./run.sh").read().decode()
    assert "-m gridctl sandbox runner" in run_sh and sys.executable in run_sh
    assert assets(grid, OLDER)[this_package(OLDER)]["digest"] != asset["digest"]
    for path in ("/repos/alice/app/releases/latest", f"/repos/actions/runner/releases/tags/v{LATEST}9",
                 "/repos/actions/runner/releases/assets/1"):
        assert grid.api("alice", "GET", path).status_code == 404


# -- install, then run ------------------------------------------------------------------------------
def test_install_then_run_brings_the_runners_online_and_they_take_jobs(app):
    grid = app
    r = gridctl(grid, "runners", "install")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{this_package()}: downloaded" in r.stdout and "SHA-256 verified against the release notes" in r.stdout
    assert "2 runner folder(s): 2 installed, 0 already installed" in r.stdout
    shared = grid.dir / "fleet/.runner" / LATEST
    for name in ("ci-1", "ci-2"):
        folder = grid.dir / RUNNERS / name
        assert folder.is_dir() and not folder.is_symlink()
        assert (folder / "run.sh").stat().st_ino == (shared / "run.sh").stat().st_ino  # one unpack, linked
        assert oct((folder / "run.sh").stat().st_mode & 0o777) == oct(0o555)
    assert assets(grid)[this_package()]["download_count"] == 1
    rows = json.loads(grid.run("runners", "status", "--json").out)
    assert {(row["name"], row["installed"]) for row in rows} == {("ci-1", True), ("ci-2", True)}

    again = gridctl(grid, "runners", "install")  # idempotent: nothing downloaded again
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing downloaded" in again.stdout and "0 installed, 2 already installed" in again.stdout
    assert assets(grid)[this_package()]["download_count"] == 1

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_", "ACTIONS_RUNNER_"))}
    out = grid.dir / "supervisor.out"
    with open(out, "wb") as fh:  # the default command: ./run.sh of each runner folder
        sup = subprocess.Popen([sys.executable, "-m", "gridctl", "runners", "run", "--dir", "fleet"], cwd=grid.dir,
                               env={**env, "PYTHONUNBUFFERED": "1"}, stdout=fh, stderr=subprocess.STDOUT)
    try:
        def listening() -> set[str]:
            ids = set(grid.ctl("GET", "/jobs")["listening_runners"])
            return {x["name"] for x in grid.ctl("GET", "/runners")["runners"] if x["id"] in ids}

        wait_for(lambda: listening() == {"ci-1", "ci-2"}, "both runners online", timeout=60)
        resp = grid.api("alice", "POST", "/repos/alice/app/actions/workflows/ci.yml/dispatches",
                        {"ref": "main", "return_run_details": True})
        assert resp.status_code == 200, resp.text
        run = resp.json()["workflow_run_id"]
        done = wait_for(lambda: (x := grid.api("alice", "GET", f"/repos/alice/app/actions/runs/{run}").json())["status"]
                        == "completed" and x, "the run to complete", timeout=60)
        assert done["conclusion"] == "success"
        jobs = grid.api("alice", "GET", f"/repos/alice/app/actions/runs/{run}/jobs").json()["jobs"]
        assert sorted(j["runner_name"] for j in jobs) == ["ci-1", "ci-2"]
        wait_for(lambda: out.read_text().count("exited normally") == 2, "both runners to end after their job")
    finally:
        sup.send_signal(signal.SIGINT)
        assert sup.wait(timeout=60) == 0
    text = out.read_text()
    assert "no runner installed" not in text
    pids = [int(line.split("pid ")[1].rstrip(")")) for line in text.splitlines() if "started (pid" in line]
    assert len(pids) == 2 and not any(alive(p) for p in pids)  # the supervisor reaped its runners
    log = (grid.dir / RUNNERS / "ci-1/runner.log").read_text()
    assert "ran its job and is removed" in log
    for jit in (grid.dir / RUNNERS).glob("*.jit"):
        assert jit.read_text().strip() not in text + log


def test_another_version_replaces_the_package_in_each_folder_and_keeps_the_rest(app):
    grid = app
    assert gridctl(grid, "runners", "install").returncode == 0
    log = grid.dir / RUNNERS / "ci-1/runner.log"
    log.write_text("earlier output\n")
    r = gridctl(grid, "runners", "install", "--version", f"v{OLDER}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 runner folder(s): 2 installed, 0 already installed" in r.stdout and "replacing what was there" in r.stdout
    run_sh = (grid.dir / RUNNERS / "ci-1/run.sh").read_text()
    assert f"runner {OLDER} (" in run_sh and log.read_text() == "earlier output\n"
    assert sorted(p.name for p in (grid.dir / "fleet/.runner").iterdir()) == sorted([LATEST, OLDER])
    assert not [p for p in (grid.dir / RUNNERS / "ci-1").iterdir() if p.name.startswith(".gridctl-") and p.is_dir()]


def test_a_folder_with_no_runner_is_marked_and_install_prepares_it(app):
    grid = app
    r = grid.run("runners", "status")
    assert r.code == 0 and "2 with no runner installed in its folder (gridctl runners install)" in r.out, r.all
    # `runners run` before any install: a warning, and ./run.sh fails to start (a crash, retried)
    out = grid.dir / "supervisor.out"
    with open(out, "wb") as fh:
        sup = subprocess.Popen([sys.executable, "-m", "gridctl", "runners", "run", "--dir", "fleet", "--grace", "5"],
                               cwd=grid.dir, stdout=fh, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "could not start" in out.read_text(), "the supervisor to try ./run.sh")
    finally:
        sup.send_signal(signal.SIGINT)
        assert sup.wait(timeout=30) == 0
    assert "2 runner folder(s) have no runner installed (no run.sh): repos/alice/app/ci-1, repos/alice/app/ci-2" in out.read_text()
    (grid.dir / RUNNERS / "ci-2/runner.log").write_text("x\n")  # the folder `runners run` made, its log kept
    assert gridctl(grid, "runners", "install").returncode == 0
    r = grid.run("runners", "status")
    assert r.code == 0 and "no runner installed" not in r.out, r.all
    assert (grid.dir / RUNNERS / "ci-2/runner.log").read_text() == "x\n"


# -- refusals: nothing left behind -----------------------------------------------------------------------
def test_a_wrong_checksum_refuses_and_leaves_nothing(app):
    grid = app
    r = gridctl(grid, "runners", "install", "--sha256", ZEROS)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"not the {ZEROS} expected (from --sha256): refusing to unpack it (nothing was installed)" in r.stderr
    assert "Traceback" not in r.stderr and left_behind(grid) == []


def test_a_tampered_release_refuses_and_leaves_nothing(app):
    grid = app
    serve_instead(grid, tarball((member("./run.sh"), b"#!/bin/sh\necho owned\n")), publish=False)
    r = gridctl(grid, "runners", "install")
    assert r.returncode == 1, r.stdout + r.stderr
    published = assets(grid)[this_package()]["digest"].removeprefix("sha256:")
    assert f"not the {published} expected (from the release notes and the asset's digest): refusing to unpack it" in r.stderr
    assert "Traceback" not in r.stderr and left_behind(grid) == []


UNSAFE = {
    "dotdot": ([(member("../escaped.sh"), b"x")], "has '..' in its path"),
    "absolute": ([(member("/tmp/gridctl-absolute-member"), b"x")], "has an absolute path"),
    "link-outside": ([(member("./lnk", tarfile.SYMTYPE, "../../escaped"), None)], "is a link pointing outside the package"),
    "absolute-link": ([(member("./etc", tarfile.SYMTYPE, "/etc"), None)], "is a link to an absolute path"),
    "through-a-link": ([(member("./here", tarfile.SYMTYPE, "."), None), (member("./here/x"), b"x")],
                       "lies under a link of the archive"),
    "hardlink-outside": ([(member("./h", tarfile.LNKTYPE, "../outside"), None)], "is a link pointing outside the package"),
    "device": ([(member("./null", tarfile.CHRTYPE), None)], "is a device, FIFO or other special file"),
    "fifo": ([(member("./pipe", tarfile.FIFOTYPE), None)], "is a device, FIFO or other special file"),
    "setuid": ([(member("./run.sh", mode=0o4755), b"x")], "has the setuid or setgid bit"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_an_unsafe_package_is_refused_even_when_its_release_vouches_for_it(app, case):
    grid = app
    bad, message = UNSAFE[case]
    serve_instead(grid, tarball((member("./run.sh"), b"#!/bin/sh\n"), *bad), publish=True)
    r = gridctl(grid, "runners", "install")
    assert r.returncode == 1, r.stdout + r.stderr
    assert message in r.stderr and "refusing to unpack it" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and left_behind(grid) == []
    assert not (grid.dir.parent / "escaped.sh").exists() and not Path("/tmp/gridctl-absolute-member").exists()


def test_a_package_that_is_not_a_runner_is_refused(app):
    grid = app
    serve_instead(grid, tarball((member("./README.md", mode=0o644), b"hello\n")), publish=True)
    r = gridctl(grid, "runners", "install")
    assert r.returncode == 1 and "has no run.sh at its top: not an Actions runner package" in r.stderr, r.stderr
    serve_instead(grid, b"not a tarball", publish=True)
    r = gridctl(grid, "runners", "install")
    assert r.returncode == 1 and "is not a readable .tar.gz" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert left_behind(grid) == []


def test_bad_input_is_one_clear_line(app):
    grid = app
    for args, message in (
        (["--sha256", "abc"], "--sha256 must be 64 hexadecimal digits"),
        (["--version", "9.9.9"], "actions/runner has no release v9.9.9"),
        (["--version", "../x"], "is not a runner version"),
        (["--account", "nobody"], "is not an account of"),
    ):
        r = gridctl(grid, "runners", "install", *args)
        assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert left_behind(grid) == []


# -- the pieces ------------------------------------------------------------------------------------------
def release_with(body: str | None, digest: str | None) -> dict:
    name = "actions-runner-linux-x64-2.0.0.tar.gz"
    return {"tag_name": "v2.0.0", "body": body, "assets": [
        {"name": name, "browser_download_url": f"https://example.invalid/{name}", "digest": digest}]}


def test_the_checksum_comes_from_the_release_and_both_places_must_agree():
    a, b = "a" * 64, "b" * 64
    notes = f"- x <!-- BEGIN SHA linux-x64 -->{a.upper()}<!-- END SHA linux-x64 -->\n<!-- BEGIN SHA osx-x64 -->{b}<!-- END SHA osx-x64 -->"
    assert published_checksums(notes) == {"linux-x64": a, "osx-x64": b}
    linux = ("linux", "x64")
    assert resolve(lambda path: release_with(notes, None), None, linux).sha256 == a
    assert resolve(lambda path: release_with(None, f"sha256:{a}"), "2.0.0", linux).source == "the asset's digest"
    assert resolve(lambda path: release_with(notes, f"sha256:{b}"), None, linux, sha256=b).source == "--sha256"
    for release, message in (
        (release_with(notes, f"sha256:{b}"), "publishes two different SHA-256"),
        (release_with("no checksums here", None), "publishes no SHA-256 for actions-runner-linux-x64-2.0.0.tar.gz"),
        ({"tag_name": "v2.0.0", "assets": []}, "has no package actions-runner-linux-x64-2.0.0.tar.gz"),
        ({"message": "Not Found"}, "did not answer with a release"),
        (None, "has no published release"),
    ):
        with pytest.raises(InstallError, match=message):
            resolve(lambda path, r=release: r, None, linux)
    assert host_platform("Linux", "x86_64") == ("linux", "x64") and host_platform("Darwin", "arm64") == ("osx", "arm64")
    assert host_platform("Linux", "armv7l") == ("linux", "arm")
    with pytest.raises(InstallError, match="no Actions runner package to install for this machine"):
        host_platform("Windows", "AMD64")


def test_a_download_above_the_cap_is_refused(app, tmp_path):
    url = assets(app)[this_package()]["browser_download_url"]
    with pytest.raises(InstallError, match="more than the 100 bytes a runner package may have"):
        download(url, tmp_path / "pkg", limit=100)
    assert download(url, tmp_path / "pkg")[1] == (tmp_path / "pkg").stat().st_size
