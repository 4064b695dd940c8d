"""Deploy keys: list, create, get, delete (all need admin rights on the repository).

Records live in ``repo["deploy_keys"]`` as ``{str(id): {id, title, key, read_only, created_at,
added_by, last_used}}`` (LAYOUT.md). ``key`` is kept normalised to ``"<type> <base64>"``: GitHub
drops the comment of the key it was sent.

As on github.com a public key may be a deploy key of one repository only: adding a key that
is already a deploy key anywhere in the sandbox is a 422 "key is already in use".
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Any

from ..errors import ApiError, not_found
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route

#: accepted key types -> number of SSH wire strings in the key blob (the type name included)
KEY_TYPES: dict[str, int] = {
    "ssh-ed25519": 2,  # type, 32-byte point
    "ssh-rsa": 3,  # type, e, n
    "ecdsa-sha2-nistp256": 3,  # type, curve, Q
    "ecdsa-sha2-nistp384": 3,
    "ecdsa-sha2-nistp521": 3,
    "sk-ssh-ed25519@openssh.com": 3,  # type, point, application
    "sk-ecdsa-sha2-nistp256@openssh.com": 4,  # type, curve, Q, application
}

INVALID_KEY = "key is invalid. You must supply a key in OpenSSH public key format"


def _invalid(message: str = INVALID_KEY) -> ApiError:
    return ApiError(
        422,
        "Validation Failed",
        errors=[{"resource": "PublicKey", "code": "custom", "field": "key", "message": message}],
    )


def _wire_strings(blob: bytes) -> list[bytes] | None:
    """Split an SSH public key blob into its length-prefixed strings (None if malformed)."""
    out: list[bytes] = []
    pos = 0
    while pos < len(blob):
        if pos + 4 > len(blob):
            return None
        (size,) = struct.unpack(">I", blob[pos : pos + 4])
        pos += 4
        if size == 0 or pos + size > len(blob):
            return None
        out.append(blob[pos : pos + size])
        pos += size
    return out


def parse_public_key(text: str) -> tuple[str, str, str]:
    """``(normalised key, key type, comment)`` of an OpenSSH public key line, or GitHub's 422."""
    parts = text.strip().split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise _invalid()
    kind, b64 = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) > 2 else ""
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid() from None
    fields = _wire_strings(blob)
    if fields is None or len(fields) != KEY_TYPES[kind] or fields[0] != kind.encode():
        raise _invalid()
    if kind in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com") and len(fields[1]) != 32:
        raise _invalid()
    curve = re.search(r"nistp\d+", kind)
    if curve and fields[1] != curve.group().encode():
        raise _invalid()
    return f"{kind} {b64}", kind, comment


def deploy_key_shape(ctx: Ctx, repo: dict, rec: dict) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "key": rec["key"],
        "url": ctx.url(f"/repos/{repo['owner']}/{repo['name']}/keys/{rec['id']}"),
        "title": rec["title"],
        "verified": True,
        "created_at": rec["created_at"],
        "read_only": rec["read_only"],
        "added_by": rec.get("added_by"),
        "last_used": rec.get("last_used"),
        "enabled": True,
    }


def _admin_repo(ctx: Ctx) -> dict:
    ctx.require_auth()
    return ctx.repo("admin")


def _key_in_use(ctx: Ctx, key: str) -> bool:
    for other in ctx.world.store.values("repos"):
        for rec in (other.get("deploy_keys") or {}).values():
            if rec["key"] == key:
                return True
    return False


@route("GET", "/repos/{owner}/{repo}/keys", "repos/list-deploy-keys")
def list_deploy_keys(ctx: Ctx) -> Reply:
    repo = _admin_repo(ctx)
    keys = sorted((repo.get("deploy_keys") or {}).values(), key=lambda r: r["id"])
    return ctx.paginate([deploy_key_shape(ctx, repo, r) for r in keys])


@route("POST", "/repos/{owner}/{repo}/keys", "repos/create-deploy-key")
def create_deploy_key(ctx: Ctx) -> Reply:
    repo = _admin_repo(ctx)
    key, _kind, comment = parse_public_key(ctx.body["key"])
    if _key_in_use(ctx, key):
        raise _invalid("key is already in use")
    title = ctx.body.get("title")
    if title is None:
        title = comment
    rec = {
        "id": ctx.world.next_id("deploy_keys", 90000000),
        "title": title,
        "key": key,
        "read_only": bool(ctx.body.get("read_only", False)),
        "created_at": ctx.world.now_iso(),
        "added_by": ctx.login,
        "last_used": None,
    }
    repo.setdefault("deploy_keys", {})[str(rec["id"])] = rec
    ctx.world.save("repos", repo["id"], repo)
    return json_reply(
        deploy_key_shape(ctx, repo, rec),
        status=201,
        headers={"Location": ctx.url(f"/repos/{repo['owner']}/{repo['name']}/keys/{rec['id']}")},
    )


def _find(repo: dict, key_id: int) -> dict:
    rec: dict | None = (repo.get("deploy_keys") or {}).get(str(key_id))
    if rec is None:
        raise not_found()
    return rec


@route("GET", "/repos/{owner}/{repo}/keys/{key_id:int}", "repos/get-deploy-key")
def get_deploy_key(ctx: Ctx) -> Reply:
    repo = _admin_repo(ctx)
    return json_reply(deploy_key_shape(ctx, repo, _find(repo, ctx.params["key_id"])))


@route("DELETE", "/repos/{owner}/{repo}/keys/{key_id:int}", "repos/delete-deploy-key")
def delete_deploy_key(ctx: Ctx) -> Reply:
    repo = _admin_repo(ctx)
    rec = _find(repo, ctx.params["key_id"])
    del repo["deploy_keys"][str(rec["id"])]
    ctx.world.save("repos", repo["id"], repo)
    return empty()
