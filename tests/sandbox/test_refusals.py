"""Malformed requests get GitHub's 400/422, never a 500; what GitHub refuses the sandbox refuses;
the files the sandbox keeps are private whatever the umask.

Every request here goes over HTTP to a strict sandbox (a 500 would also be a recorded violation),
PyGithub included where a client library is what sends the request.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from github import GithubException, InputGitTreeElement

from gridctl.sandbox.api.control import MAX_CLOCK_OFFSET

from .test_cli import GRIDCTL

JSON = {"Content-Type": "application/json"}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def post_raw(seed, path: str, raw: bytes, login: str | None = "alice"):
    return seed.api(login).post(seed.url + path, data=raw, headers=JSON)


def ctl_raw(seed, method: str, path: str, body: object = None, raw: bytes | None = None):
    session = seed.api(None)
    url = f"{seed.sb.config.public_url}/_sandbox{path}"
    if raw is not None:
        return session.request(method, url, data=raw, headers=JSON, timeout=30)
    return session.request(method, url, json=body, timeout=30)


def assert_problem_parsing_json(resp) -> None:
    assert resp.status_code == 400, resp.text
    assert resp.json()["message"] == "Problems parsing JSON"
    assert resp.json()["documentation_url"].startswith("https://docs.github.com/")


# -- JSON bodies ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,  # was a RecursionError: 500
        b'{"name": ' + b'{"a": ' * 65 + b"1" + b"}" * 65 + b"}",  # deeper than 64: refused before parsing
        b'{"name": "a\\ud800b"}',  # a lone surrogate is not text
        b'{"name": "ok", "description": "\\udfff"}',  # was stored, then a 500 on every answer about it
        b'{"name": "NaN", "has_wiki": NaN}',  # not JSON
        b'{"name": "big", "homepage": 1e400}',  # overflows to infinity
        b'{"name": "\xed\xa0\x80"}',  # not UTF-8
    ],
    ids=["deep-arrays", "deep-objects", "lone-surrogate", "surrogate-in-description", "nan", "1e400", "bad-utf8"],
)
def test_unparsable_bodies_are_400(seed, raw):
    resp = post_raw(seed, "/user/repos", raw)
    assert_problem_parsing_json(resp)
    assert seed.call("alice", "GET", "/user/repos").status_code == 200  # and the sandbox still answers


def test_what_parses_still_works(seed):
    # a surrogate *pair* is one character (an emoji): fine, GitHub makes the name "-x"
    made = post_raw(seed, "/user/repos", b'{"name": "\\ud83d\\ude00x", "description": "\\ud83d\\ude00"}')
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "-x" and made.json()["description"] == "\U0001f600"
    # nesting within the bound parses, and the schema answers 422 for what does not fit it
    nested = post_raw(seed, "/user/repos", b'{"name": ' + b"[" * 60 + b"]" * 60 + b"}")
    assert nested.status_code == 422, nested.text
    # a body that is JSON but not an object
    listed = post_raw(seed, "/user/repos", b"[]")
    assert listed.status_code == 400 and listed.json()["message"] == "Body should be a JSON object"


def test_control_routes_parse_bodies_the_same_way(seed):
    assert_problem_parsing_json(ctl_raw(seed, "POST", "/users", raw=b"[" * 100_000))
    assert_problem_parsing_json(ctl_raw(seed, "POST", "/users", raw=b'{"login": "a\\ud800"}'))
    not_object = ctl_raw(seed, "POST", "/users", raw=b'["alice"]')
    assert not_object.status_code == 400 and not_object.json()["message"] == "Body should be a JSON object"


# -- control routes -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/users", {"login": 5}, "login"),  # was a 500 (AttributeError)
        ("/users", {"login": ["x"]}, "login"),  # was a 500
        ("/users", {"login": "a/b"}, "login"),  # not a login: it could never be routed
        ("/users", {"login": "x" * 40}, "login"),
        ("/users", {"login": "dave", "org": "yes"}, "org"),
        ("/users", {"login": "acme2", "org": True, "admins": [5]}, "admins"),  # was a 500
        ("/users", {"login": "acme2", "org": True, "members": ["a b"]}, "members/0"),
        ("/users", {"login": "dave", "scopes": "repo"}, "scopes"),
        ("/tokens", {"login": 5}, "login"),  # was a 500
        ("/tokens", {"login": "alice", "token": 5}, "token"),
        ("/clock", {"advance": "soon"}, "advance"),  # was a 400 with Python's words
        ("/clock", {"advance": 1e300}, "advance"),  # was accepted: every later write a 500
        ("/clock", {"advance": True}, "advance"),
        ("/repos/alice/pub/issues", {"title": "t", "user": 5}, "user"),  # was a 500
        ("/repos/alice/pub/issues", {"title": ["t"]}, "title"),
        ("/runners/connect", {"encoded_jit_config": 5}, "encoded_jit_config"),
    ],
)
def test_control_fields_of_the_wrong_kind_are_422(seed, path, body, field):
    resp = ctl_raw(seed, "POST", path, body)
    assert resp.status_code == 422, resp.text
    assert f"'properties/{field}'" in resp.json()["message"]
    assert seed.sb.app.world.find_user("dave") is None  # a refused request created nothing


def test_the_clock_stays_within_ten_years(seed):
    far = ctl_raw(seed, "POST", "/clock", {"advance": 1e300})
    assert far.status_code == 422
    write = seed.call("alice", "POST", "/user/repos", {"name": "after-clock"})
    assert write.status_code == 201, write.text  # was a 500 (timestamp out of range), and every write after
    # two big steps in the same direction add up: the second would leave the bound
    step = MAX_CLOCK_OFFSET * 0.75
    assert seed.ctl("POST", "/clock", {"advance": step})["offset"] == step
    again = ctl_raw(seed, "POST", "/clock", {"advance": step})
    assert again.status_code == 422 and "ten years" in again.json()["message"]
    assert seed.call("alice", "POST", "/user/repos", {"name": "later"}).status_code == 201
    assert seed.ctl("POST", "/clock", {"advance": -step})["offset"] == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/limits", {"primary_per_hour": -1}),
        ("PUT", "/limits", {"primary_per_hour": [1]}),  # was a 400 with Python's words
        ("PUT", "/limits", {"primary_status": "500"}),  # was accepted: every limited request a 500
        ("PUT", "/limits", {"retry_after_probability": 2}),
        ("PUT", "/limits", {"content_mode": "everything"}),
        ("PUT", "/limits", {"secondary_block_seconds": 1e300}),
        ("PUT", "/ratelimit/alice", {"remaining": "3"}),
        ("PUT", "/ratelimit/alice", {"reset_in": 1e300}),  # was accepted
        ("PUT", "/latency", {"latency": "1000000h"}),  # every later request would hang
        ("PUT", "/latency", {"latency": "lognormal:median=10ms,sigma=1000"}),
        ("PUT", "/faults", {"specs": "rate=1"}),
        ("PUT", "/faults", {"specs": ["rate=2"]}),
    ],
)
def test_knobs_out_of_range_are_422_and_change_nothing(seed, method, path, body):
    before = (seed.ctl("GET", "/limits"), seed.ctl("GET", "/faults"))
    resp = ctl_raw(seed, method, path, body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["message"]
    assert (seed.ctl("GET", "/limits"), seed.ctl("GET", "/faults")) == before
    assert seed.call("alice", "GET", "/repos/alice/pub").status_code == 200


def test_primary_status_429_still_works(seed):
    limits = seed.ctl("PUT", "/limits", {"primary_status": 429, "primary_per_hour": 1, "reset": True})
    assert limits["primary_status"] == "429"
    assert seed.call("alice", "GET", "/user").status_code == 200
    assert seed.call("alice", "GET", "/user").status_code == 429


# -- file paths ---------------------------------------------------------------------------------------
BAD_PATHS = [
    ".GIT/config",  # was created
    "a/.git/hooks/x",  # was created
    "a\x00b",  # was created
    "x" * 5000,  # was created
    ".git./config",  # NTFS drops trailing dots
    "GIT~1/config",  # NTFS short name
    ".g\u200cit/config",  # HFS+ ignores zero-width characters
    "a//b",
    "a/./b",  # (only through git trees: HTTP clients resolve dot segments in URLs)
]
GOOD_PATHS = [".github/x.yml", "a/.gitignore", ".gitx", "x" * 255, "d\u00e9j\u00e0/vu.txt"]


def put_file(seed, path: str):
    return seed.call(
        "alice",
        "PUT",
        "/repos/alice/pub/contents/" + quote(path),
        {"message": "m", "content": base64.b64encode(b"x").decode()},
    )


@pytest.mark.parametrize("path", [p for p in BAD_PATHS if "/./" not in p], ids=[p[:12].encode("unicode_escape").decode() for p in BAD_PATHS if "/./" not in p])
def test_contents_refuse_what_git_refuses(seed, path):
    resp = put_file(seed, path)
    assert resp.status_code == 422, resp.text
    assert "not a valid file path" in resp.json()["message"]
    assert len(resp.json()["message"]) < 400  # a 5,000-character name is not echoed whole


def test_contents_accept_what_git_accepts(seed):
    for path in GOOD_PATHS:
        assert put_file(seed, path).status_code == 201, path


def test_git_trees_refuse_the_same_paths(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    blob = repo.create_git_blob("x", "utf-8")
    for path in BAD_PATHS:
        element = InputGitTreeElement(path, "100644", "blob", sha=blob.sha)
        with pytest.raises(GithubException) as exc:
            repo.create_git_tree([element])
        assert exc.value.status == 422, path
        assert "malformed path component" in exc.value.data["message"]
    tree = repo.create_git_tree([InputGitTreeElement(p, "100644", "blob", sha=blob.sha) for p in GOOD_PATHS])
    assert sorted(e.path for e in tree.tree) == sorted(p.split("/")[0] for p in GOOD_PATHS)


# -- repository names ---------------------------------------------------------------------------------
def test_repository_names_follow_githubs_limits(seed):
    gh = seed.gh("alice")
    assert gh.get_user().create_repo("n" * 100).name == "n" * 100
    with pytest.raises(GithubException) as exc:
        gh.get_user().create_repo("n" * 101)
    assert exc.value.status == 422
    assert exc.value.data["errors"][0]["message"] == "Name cannot be more than 100 characters."
    assert gh.get_user().create_repo("tools.git").name == "tools"  # the suffix is dropped
    with pytest.raises(GithubException) as exc:
        gh.get_user().create_repo("notes.wiki")
    assert exc.value.status == 422
    with pytest.raises(GithubException) as exc:
        gh.get_repo("alice/pub").edit(name="p" * 5000)
    assert exc.value.status == 422


def test_a_homepage_with_control_characters_is_refused(seed):
    resp = seed.call("alice", "PATCH", "/repos/alice/pub", {"homepage": "https://example.com/\x0b"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "homepage"
    # what users type without a scheme stays as typed, and matches the description
    ok = seed.call("alice", "PATCH", "/repos/alice/pub", {"homepage": "example.com"})
    assert ok.status_code == 200 and ok.json()["homepage"] == "example.com"


# -- private files ----------------------------------------------------------------------------------
def modes(root: Path) -> dict[str, str]:
    """``{relative path: octal mode}`` of every file and folder under ``root`` (itself included)."""
    out = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return out


def umask_000(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRID_TOKEN", "GRIDCTL_API_URL"))}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        ["sh", "-c", 'umask 000 && exec "$@"', "sh", *argv], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def test_the_embedded_sandbox_keeps_its_files_private_under_umask_000(tmp_path):
    import shutil

    work = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns(".gridctl"))
    applied = umask_000(*GRIDCTL, "apply", "--sandbox", "-f", "grid.yaml", "--auto-approve", cwd=work)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    sandbox = work / ".gridctl" / "sandbox"
    found = modes(sandbox)
    assert {"sandbox.sqlite3", "lock", "token-secret"} <= set(found), found
    loose = {
        name: mode
        for name, mode in found.items()
        if mode != ("0o700" if (sandbox / name).is_dir() else "0o600")
    }
    assert not loose, f"not private under umask 000: {loose}"


def test_a_sandbox_data_folder_is_private_under_umask_000(tmp_path):
    data = tmp_path / "deep" / "sbx"
    added = umask_000(*GRIDCTL, "sandbox", "user", "add", "alice", "--data", str(data), cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert modes(tmp_path / "deep") == {".": "0o700", "sbx": "0o700", "sbx/lock": "0o600", "sbx/sandbox.sqlite3": "0o600"}


def test_an_older_sandbox_folder_is_tightened_and_its_wal_is_private(tmp_path):
    """A folder made by an older gridctl (0755/0644) is made private when the embedded sandbox
    starts; while it runs, SQLite's -wal and -shm files are private too (umask 000 here)."""
    from gridctl.resources import load_manifest
    from gridctl.sandbox.embedded import EmbeddedSandbox

    workdir = tmp_path / ".gridctl"
    (workdir / "sandbox").mkdir(parents=True)
    os.chmod(workdir / "sandbox", 0o755)  # noqa: S103  (the old, loose mode this test tightens)
    (workdir / "sandbox" / "token-secret").write_text("0" * 64 + "\n")
    os.chmod(workdir / "sandbox" / "token-secret", 0o644)
    old_umask = os.umask(0)
    try:
        embedded = EmbeddedSandbox(workdir)
        url, tokens = embedded.start(load_manifest(EXAMPLE / "grid.yaml", tokens=False))
        try:
            token = next(iter(tokens.values())).reveal()
            made = requests.post(url + "/user/repos", json={"name": "wal"}, headers={"Authorization": f"token {token}"}, timeout=30)
            assert made.status_code == 201, made.text
            found = modes(workdir / "sandbox")
        finally:
            embedded.stop()
    finally:
        os.umask(old_umask)
    assert {"sandbox.sqlite3-wal", "sandbox.sqlite3-shm"} <= set(found), found
    loose = {name: mode for name, mode in found.items() if mode != ("0o700" if name == "." else "0o600")}
    assert not loose, f"not private under umask 000: {loose}"
