"""``GITHUB_API_URL`` (set by GitHub Actions on every runner, GitHub Enterprise Server included)
is honoured by ``plan`` and ``apply``: ``--api-url`` > ``GRIDCTL_API_URL`` > ``GITHUB_API_URL`` >
https://api.github.com, and ``--sandbox`` ignores them all. The sandbox serves on a loopback port."""

from __future__ import annotations

import socket

import pytest

from ..helpers import grid_yaml

MANIFEST = grid_yaml("""\
repos:
  alice/ghes-demo: {description: Made through GITHUB_API_URL}
""")


@pytest.fixture
def closed_port_url():
    """A loopback URL nothing listens on: any request sent there fails at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def ghes(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    assert grid.sb.url.startswith("http://127.0.0.1:")
    return grid


def test_plan_and_apply_use_github_api_url_when_nothing_else_is_set(ghes):
    env = {"GRIDCTL_API_URL": None, "GITHUB_API_URL": ghes.sb.url}
    r = ghes.run("plan", "--detailed-exitcode", env=env)
    assert r.code == 2, r.all
    assert "+ repo alice/ghes-demo" in r.out
    r = ghes.run("apply", "--auto-approve", env=env)
    assert r.code == 0, r.all
    assert ghes.api("alice", "GET", "/repos/alice/ghes-demo").json()["description"] == "Made through GITHUB_API_URL"
    r = ghes.run("plan", "--detailed-exitcode", env=env)
    assert r.code == 0, r.all


def test_an_explicit_url_wins_over_github_api_url(ghes, closed_port_url):
    # GRIDCTL_API_URL (the fixture's) beats GITHUB_API_URL
    r = ghes.run("plan", "--detailed-exitcode", env={"GITHUB_API_URL": closed_port_url})
    assert r.code == 2, r.all
    # and --api-url beats both
    r = ghes.run("plan", "--detailed-exitcode", "--api-url", ghes.sb.url, env={"GRIDCTL_API_URL": closed_port_url, "GITHUB_API_URL": closed_port_url})
    assert r.code == 2, r.all
    # the URL really is used: pointing GRIDCTL_API_URL at nothing fails even with a good GITHUB_API_URL
    r = ghes.run("plan", env={"GRIDCTL_API_URL": closed_port_url, "GITHUB_API_URL": ghes.sb.url, "GRIDCTL_MAX_ATTEMPTS": "1"})
    assert r.code == 1
    assert "connection failed" in r.err


def test_the_embedded_sandbox_ignores_github_api_url(ghes, closed_port_url):
    r = ghes.run("plan", "--sandbox", "--detailed-exitcode", env={"GRIDCTL_API_URL": None, "GITHUB_API_URL": closed_port_url})
    assert r.code == 2, r.all
    assert "+ repo alice/ghes-demo" in r.out
