"""Headers github.com sends on writes: ``Location`` on a 201 (a new collaborator invitation, a
file created through the contents API) and ``ETag`` on every successful write with a body."""

from __future__ import annotations

import base64


def test_a_new_invitation_names_itself_in_location(seed):
    resp = seed.call("alice", "PUT", "/repos/alice/pub/collaborators/carol", {"permission": "push"})
    assert resp.status_code == 201, resp.text
    assert resp.headers.get("Location") == resp.json()["url"]
    assert resp.headers["Location"].startswith(f"{seed.url}/user/repository_invitations/")
    # inviting again answers the still-open invitation, named the same way
    again = seed.call("alice", "PUT", "/repos/alice/pub/collaborators/carol", {"permission": "pull"})
    assert again.status_code == 201 and again.headers.get("Location") == resp.headers["Location"]


def test_a_created_file_names_itself_in_location_and_can_be_read_there(seed):
    body = {"message": "add", "content": base64.b64encode(b"hello\n").decode()}
    resp = seed.call("alice", "PUT", "/repos/alice/pub/contents/docs/new.txt", body)
    assert resp.status_code == 201, resp.text
    location = resp.headers.get("Location")
    assert location and location.startswith(f"{seed.url}/repos/alice/pub/contents/docs/new.txt")
    read = seed.api("alice").get(location, timeout=30)
    assert read.status_code == 200 and base64.b64decode(read.json()["content"]) == b"hello\n"
    # an update is a 200 and names nothing
    update = seed.call("alice", "PUT", "/repos/alice/pub/contents/docs/new.txt",
                       {**body, "content": base64.b64encode(b"again\n").decode(), "sha": resp.json()["content"]["sha"]})
    assert update.status_code == 200 and "Location" not in update.headers


def test_successful_writes_carry_an_etag(seed):
    created = seed.call("alice", "POST", "/user/repos", {"name": "fresh"})
    patched = seed.call("alice", "PATCH", "/repos/alice/fresh", {"description": "d"})
    put = seed.call("alice", "PUT", "/repos/alice/fresh/topics", {"names": ["grid"]})
    for resp in (created, patched, put):
        assert resp.status_code in (200, 201), resp.text
        etag = resp.headers.get("ETag", "")
        assert etag.startswith('"') and etag.endswith('"') and len(etag) == 66, (resp.request.method, etag)
    # different bodies, different validators; a bodiless answer has none
    assert patched.headers["ETag"] != put.headers["ETag"]
    deleted = seed.call("alice", "DELETE", "/repos/alice/fresh")
    assert deleted.status_code == 204 and "ETag" not in deleted.headers
