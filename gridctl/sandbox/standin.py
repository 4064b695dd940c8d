"""The stand-in runner: ``gridctl sandbox runner``, a small program in place of the Actions runner.

    gridctl sandbox runner --jit-file runner.jit          # or ACTIONS_RUNNER_INPUT_JITCONFIG=...

It takes a JIT configuration the sandbox issued (``generate-jitconfig``) from ``--jit-file``,
``--jitconfig`` or the ``ACTIONS_RUNNER_INPUT_JITCONFIG`` environment variable (where the Actions
runner reads its ``--jitconfig`` argument; ``gridctl runners run`` starts runners that way), and
talks to the sandbox over HTTP only, through its broker control routes (``/_sandbox/broker``,
see :mod:`gridctl.sandbox.api.jobs`): it opens a session (the runner comes online), polls for a
job (each poll renews its lease), starts the job it is given (busy), "runs" it and completes it.
An ephemeral runner (every JIT runner) exits 0 after its one job.

The sandbox is found from the configuration itself (its ``server_url``), unless ``--url`` or
``GRIDCTL_SANDBOX_URL`` says otherwise. A job lasts the seconds its workflow's ``env`` gives in
``GRIDCTL_SANDBOX_JOB_SECONDS``, else this process's ``GRIDCTL_SANDBOX_JOB_SECONDS``, else
:data:`DEFAULT_SECONDS`; it ends with ``GRIDCTL_SANDBOX_JOB_CONCLUSION`` the same way (default
``success``). A run can thus choose per job, and a test per process.

SIGTERM or SIGINT stop it cleanly: the session is closed (a job it was running fails, as
github.com fails the job of a runner that received a shutdown signal) and it exits 0. Killed
outright (SIGKILL), it stops renewing its lease and the sandbox fails its job as a lost
runner. It starts no other process. It never prints the JIT configuration or its session.

Exit codes: 0 — the job is done (ephemeral), the runner was removed, or a signal stopped it;
1 — no usable configuration, or the sandbox refused the runner.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

JIT_ENV = "ACTIONS_RUNNER_INPUT_JITCONFIG"
URL_ENV = "GRIDCTL_SANDBOX_URL"
SECONDS_ENV = "GRIDCTL_SANDBOX_JOB_SECONDS"
CONCLUSION_ENV = "GRIDCTL_SANDBOX_JOB_CONCLUSION"
DEFAULT_SECONDS = 2.0
CONCLUSIONS = ("success", "failure")
#: how long to keep trying a sandbox that does not answer before giving up
UNREACHABLE_SECONDS = 60.0


class RunnerError(Exception):
    """A failure reported as one ``error: ...`` line (exit code 1)."""


def sandbox_url(config: str, override: str | None) -> str:
    """The sandbox's base URL: ``override`` (``--url`` / ``GRIDCTL_SANDBOX_URL``) or the
    ``server_url`` inside the configuration (scheme, host and port)."""
    if override:
        url = override.rstrip("/")
        return url[: -len("/api/v3")] if url.endswith("/api/v3") else url
    try:
        payload = json.loads(base64.b64decode(config, validate=True))
        server = payload["server_url"] if isinstance(payload, dict) else None
    except (binascii.Error, ValueError, KeyError):
        server = None
    parts = urlsplit(server) if isinstance(server, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise RunnerError(f"the JIT configuration does not say where its sandbox is; give --url or set {URL_ENV}")
    return f"{parts.scheme}://{parts.netloc}"


def job_seconds(job: dict[str, Any], env: dict[str, str]) -> float:
    if job.get("seconds") is not None:
        return float(job["seconds"])
    raw = env.get(SECONDS_ENV)
    if raw is None:
        return DEFAULT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise RunnerError(f"{SECONDS_ENV}={raw!r} is not a number of seconds") from None
    if not 0 <= value <= 86400:
        raise RunnerError(f"{SECONDS_ENV}={raw!r} must be between 0 and 86400")
    return value


def job_conclusion(job: dict[str, Any], env: dict[str, str]) -> str:
    value = job.get("conclusion") or env.get(CONCLUSION_ENV) or "success"
    if value not in CONCLUSIONS:
        raise RunnerError(f"{CONCLUSION_ENV}={value!r} must be one of {', '.join(CONCLUSIONS)}")
    return str(value)


@dataclass
class Answer:
    status: int
    body: Any


class StandIn:
    """One runner process's life: session, polling, one job at a time."""

    def __init__(self, config: str, url: str, say: Callable[[str], None], env: dict[str, str] | None = None):
        self._config = config
        self.url = url
        self.say = say
        self.env = dict(os.environ if env is None else env)
        self.stop = threading.Event()
        self.http = requests.Session()
        self.session: str | None = None
        self.poll_seconds = 0.5
        self.name = "?"
        self.ephemeral = True

    # -- HTTP ------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None) -> Answer:
        """One control request; a sandbox that does not answer is retried (with backoff) until
        it does, :data:`UNREACHABLE_SECONDS` pass, or a signal stops the runner."""
        deadline = time.monotonic() + UNREACHABLE_SECONDS
        delay, told = 0.2, False
        while True:
            try:
                resp = self.http.request(method, f"{self.url}/_sandbox/broker{path}", json=body, timeout=30)
            except requests.RequestException as exc:
                if time.monotonic() > deadline or self.stop.is_set():
                    raise RunnerError(f"cannot reach the sandbox at {self.url} ({type(exc).__name__})") from None
                if not told:
                    self.say(f"the sandbox at {self.url} does not answer ({type(exc).__name__}); retrying")
                    told = True
                self.stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                data = resp.json()
            except ValueError:
                data = None
            return Answer(resp.status_code, data)

    @staticmethod
    def _message(answer: Answer) -> str:
        if isinstance(answer.body, dict) and isinstance(answer.body.get("message"), str):
            return str(answer.body["message"])[:300]
        return f"HTTP {answer.status}"

    # -- the session --------------------------------------------------------------------------
    def connect(self, *, first: bool) -> bool:
        """Open a session; False when the runner no longer exists (after the first time)."""
        answer = self._call("POST", "/sessions", {"encoded_jit_config": self._config})
        if answer.status == 404 and not first:
            return False
        if answer.status != 201 or not isinstance(answer.body, dict):
            raise RunnerError(f"the sandbox refused this runner: {self._message(answer)}")
        self.session = str(answer.body["session_id"])
        runner = answer.body["runner"]
        self.name, self.ephemeral = str(runner["name"]), bool(runner["ephemeral"])
        self.poll_seconds = float(answer.body.get("poll_seconds", self.poll_seconds))
        self.say(f"runner {self.name} (id {runner['id']}) is online at {self.url}; listening for jobs")
        return True

    def close(self) -> None:
        if self.session is not None:
            try:
                self._call("DELETE", f"/sessions/{self.session}")
            except RunnerError:
                pass
            self.session = None

    def poll(self) -> Answer:
        return self._call("POST", f"/sessions/{self.session}/poll")

    # -- main loop ----------------------------------------------------------------------------
    def run(self) -> int:
        self.connect(first=True)
        while not self.stop.is_set():
            answer = self.poll()
            if answer.status == 410:
                self.say(f"runner {self.name} was removed from the sandbox; exiting")
                self.session = None
                return 0
            if answer.status == 404:  # the session lapsed (or the sandbox restarted): reconnect
                if not self.connect(first=False):
                    self.say(f"runner {self.name} was removed from the sandbox; exiting")
                    self.session = None
                    return 0
                continue
            if answer.status != 200:
                raise RunnerError(f"the sandbox refused a poll: {self._message(answer)}")
            self.poll_seconds = float(answer.body.get("poll_seconds", self.poll_seconds))
            job = answer.body.get("job")
            if job:
                done = self.run_job(job)
                if done and self.ephemeral:
                    self.say(f"runner {self.name} ran its job and is removed (ephemeral); exiting")
                    self.session = None
                    return 0
                continue
            self.stop.wait(self.poll_seconds)
        self.say(f"runner {self.name} stopping (signal)")
        self.close()
        return 0

    def run_job(self, job: dict[str, Any]) -> bool:
        """Run one job; True when it completed (the sandbox removed an ephemeral runner)."""
        jid = job["id"]
        seconds, conclusion = job_seconds(job, self.env), job_conclusion(job, self.env)
        answer = self._call("POST", f"/sessions/{self.session}/jobs/{jid}/start")
        if answer.status != 200:
            self.say(f"job {jid} could not start: {self._message(answer)}")
            return False
        self.say(f"running job {jid} ({job['name']}) of {job.get('repository')} for {seconds:g}s")
        end = time.monotonic() + seconds
        while not self.stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                break
            self.stop.wait(min(left, self.poll_seconds))
            beat = self.poll()  # renews the lease, and tells of a cancellation
            if beat.status == 200 and jid in (beat.body.get("cancelled") or []):
                self.say(f"job {jid} was cancelled")
                return True
            if beat.status in (404, 410):
                self.say(f"job {jid}: the sandbox dropped this runner ({self._message(beat)})")
                return True
        if self.stop.is_set():
            return False  # close() fails the job, as a runner that received a shutdown signal
        answer = self._call("POST", f"/sessions/{self.session}/jobs/{jid}/complete", {"conclusion": conclusion})
        if answer.status == 200:
            self.say(f"job {jid} completed: {conclusion}")
            if answer.body.get("removed"):
                self.session = None
        else:
            self.say(f"job {jid} could not be completed: {self._message(answer)}")
        return True


def read_config(jit_file: str | None, jitconfig: str | None, env: dict[str, str]) -> str:
    """The JIT configuration from ``--jit-file``, ``--jitconfig`` or the environment."""
    if jit_file and jitconfig:
        raise RunnerError("give either --jit-file or --jitconfig, not both")
    if jit_file:
        try:
            with open(jit_file, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            raise RunnerError(f"cannot read {jit_file}: {exc.strerror or type(exc).__name__}") from None
        except UnicodeDecodeError:
            raise RunnerError(f"{jit_file} is not a JIT configuration (not UTF-8 text)") from None
        if not value:
            raise RunnerError(f"{jit_file} is empty")
        return value
    value = (jitconfig or env.get(JIT_ENV) or "").strip()
    if not value:
        raise RunnerError(f"no JIT configuration: give --jit-file FILE, or set {JIT_ENV}")
    return value


def main(jit_file: str | None, jitconfig: str | None, url: str | None, say: Callable[[str], None]) -> int:
    """Run a stand-in runner in this process until its job is done or a signal stops it."""
    env = dict(os.environ)
    config = read_config(jit_file, jitconfig, env)
    runner = StandIn(config, sandbox_url(config, url or env.get(URL_ENV)), say, env)
    del config

    def stop(signum: int, frame: Any) -> None:
        runner.stop.set()

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return runner.run()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        runner.close()  # a session still open (a signal, an error) is closed: the runner goes offline
        runner.http.close()
