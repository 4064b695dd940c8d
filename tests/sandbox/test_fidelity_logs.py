"""Runs link to ``logs`` and the sandbox serves them as github.com does: ``GET .../runs/{id}/logs``
(and ``.../jobs/{id}/logs``) answers 302 to a short-lived link; the run's link gives a zip with a
text file per job and per step, the job's a plain text file."""

from __future__ import annotations

import io
import zipfile

import requests

from .cases.fidelity import dispatched, ran_on_a_runner


def _follow(seed, path: str, login: str = "alice") -> requests.Response:
    hop = seed.api(login).get(seed.url + path, allow_redirects=False, timeout=30)
    assert hop.status_code == 302, hop.text
    # the link needs no token, like GitHub's signed storage URL
    return requests.get(hop.headers["Location"], timeout=30)


def test_the_runs_logs_url_redirects_to_a_zip_of_one_file_per_step(seed):
    out = ran_on_a_runner(seed)
    run = seed.call("alice", "GET", f"/repos/alice/pub/actions/runs/{out['run']}").json()
    assert run["logs_url"] == f"{seed.url}/repos/alice/pub/actions/runs/{out['run']}/logs"
    got = _follow(seed, f"/repos/alice/pub/actions/runs/{out['run']}/logs")
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(got.content)).namelist()
    job = seed.call("alice", "GET", f"/repos/alice/pub/actions/jobs/{out['job']}").json()
    steps = [s["name"] for s in job["steps"]]
    assert "Compile" in steps
    assert f"0_{job['name']}.txt" in names
    for step in job["steps"]:
        assert f"{job['name']}/{step['number']}_{step['name']}.txt" in names
    text = zipfile.ZipFile(io.BytesIO(got.content)).read(f"{job['name']}/2_Compile.txt").decode()
    assert "Run Compile" in text and text.split(" ", 1)[0].endswith("Z")


def test_the_jobs_logs_url_redirects_to_its_text(seed):
    out = ran_on_a_runner(seed, conclusion="failure")
    got = _follow(seed, f"/repos/alice/pub/actions/jobs/{out['job']}/logs")
    assert got.status_code == 200 and got.headers["Content-Type"].startswith("text/plain")
    assert "Compile" in got.text and "failure" in got.text


def test_links_expire_after_a_minute_and_unfinished_runs_have_none(seed):
    out = ran_on_a_runner(seed)
    hop = seed.api("alice").get(f"{seed.url}/repos/alice/pub/actions/runs/{out['run']}/logs", allow_redirects=False, timeout=30)
    seed.ctl("POST", "/clock", {"advance": 61})
    assert requests.get(hop.headers["Location"], timeout=30).status_code == 403
    assert requests.get(hop.headers["Location"].rsplit("/", 1)[0] + "/forged", timeout=30).status_code == 403
    pending = dispatched(seed)
    assert seed.call("alice", "GET", f"/repos/alice/pub/actions/runs/{pending['run']}/logs").status_code == 404
    assert seed.call("alice", "GET", f"/repos/alice/pub/actions/jobs/{pending['job']}/logs").status_code == 404


def test_a_run_completed_without_a_runner_has_one_text_file(seed):
    out = dispatched(seed)
    seed.ctl("POST", f"/runs/{out['run']}", {"status": "completed", "conclusion": "success"})
    got = _follow(seed, f"/repos/alice/pub/actions/runs/{out['run']}/logs")
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    assert archive.namelist() == ["run.txt"]
    assert "No job of this run ran" in archive.read("run.txt").decode()


def test_logs_follow_the_repositorys_access_rules(seed):
    out = ran_on_a_runner(seed, repo="alice/priv")
    assert seed.call("carol", "GET", f"/repos/alice/priv/actions/runs/{out['run']}/logs").status_code == 404
    assert _follow(seed, f"/repos/alice/priv/actions/runs/{out['run']}/logs").status_code == 200
