"""The contents API honours the media types GitHub documents for it: ``raw`` (the file's bytes),
``html`` (the file rendered), ``object`` (one object, a directory's items under ``entries``),
in each spelling clients send (``+json``, the versioned ``v3.``)."""

from __future__ import annotations

import base64

BINARY = bytes(range(256)) * 3
README = b"# Title\n\nSome *text* here.\n\n```\ncode <x>\n```\n"


def _put(seed, path: str, data: bytes) -> None:
    resp = seed.call("alice", "PUT", f"/repos/alice/pub/contents/{path}",
                     {"message": f"add {path}", "content": base64.b64encode(data).decode()})
    assert resp.status_code in (200, 201), resp.text


def _get(seed, path: str, accept: str):
    return seed.api("alice").get(f"{seed.url}/repos/alice/pub/contents/{path}", headers={"Accept": accept}, timeout=30)


def test_raw_returns_the_files_bytes(seed):
    _put(seed, "bin/blob.dat", BINARY)
    for accept in ("application/vnd.github.raw", "application/vnd.github.raw+json", "application/vnd.github.v3.raw"):
        resp = _get(seed, "bin/blob.dat", accept)
        assert resp.status_code == 200
        assert resp.content == BINARY, accept
        assert resp.headers["Content-Type"].startswith("application/vnd.github.raw")
        assert "param=raw" in resp.headers["X-GitHub-Media-Type"]
    # the plain media type still answers the JSON object
    plain = _get(seed, "bin/blob.dat", "application/vnd.github+json")
    assert base64.b64decode(plain.json()["content"]) == BINARY


def test_raw_answers_are_conditional_like_json_ones(seed):
    _put(seed, "notes.txt", b"one\n")
    first = _get(seed, "notes.txt", "application/vnd.github.raw")
    assert first.content == b"one\n"
    again = seed.api("alice").get(f"{seed.url}/repos/alice/pub/contents/notes.txt",
                                  headers={"Accept": "application/vnd.github.raw", "If-None-Match": first.headers["ETag"]}, timeout=30)
    assert again.status_code == 304
    # the JSON answer of the same file has another validator (the media type is part of it)
    assert _get(seed, "notes.txt", "application/json").headers["ETag"] != first.headers["ETag"]


def test_html_renders_the_file(seed):
    _put(seed, "docs/README.md", README)
    resp = _get(seed, "docs/README.md", "application/vnd.github.html+json")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/vnd.github.html")
    assert "<h1>Title</h1>" in resp.text and "code &lt;x&gt;" in resp.text and "<p>" in resp.text
    plain = _get(seed, "README.md", "application/vnd.github.html")  # auto_init's README
    assert plain.status_code == 200 and "<h1>" in plain.text


def test_object_gives_a_directory_as_one_object_with_entries(seed):
    _put(seed, "dir/a.txt", b"a")
    _put(seed, "dir/b.txt", b"b")
    resp = _get(seed, "dir", "application/vnd.github.object")
    assert resp.status_code == 200
    doc = resp.json()
    assert isinstance(doc, dict) and doc["type"] == "dir" and doc["path"] == "dir"
    assert [e["name"] for e in doc["entries"]] == ["a.txt", "b.txt"]
    root = _get(seed, "", "application/vnd.github.object+json").json()
    assert root["type"] == "dir" and "dir" in {e["name"] for e in root["entries"]}
    one = _get(seed, "dir/a.txt", "application/vnd.github.object").json()
    assert one["type"] == "file" and base64.b64decode(one["content"]) == b"a"
    # a plain request for the directory is still the bare list
    assert isinstance(_get(seed, "dir", "application/vnd.github+json").json(), list)
