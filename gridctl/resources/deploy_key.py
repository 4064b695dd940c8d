"""Kind ``deploy-key``: a repository's deploy keys (``repos.<r>.deploy_keys``), identified by title.

Managed fields: ``key`` and ``read_only``. A public key is not secret, but plans show only its
OpenSSH fingerprint (``ssh-ed25519 SHA256:...``), never its text; apply looks the key text up in
the manifest (or, for a rollback, in ``meta["public_key"]``) and checks it still has the planned
fingerprint. GitHub cannot edit a deploy key: any difference is a **replace** (delete, then
create, in one apply step — a public key can be a deploy key only once, so it must go first).

Reads: one list call per repository (``GET /repos/{r}/keys``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING, Any

from ..errors import GitHubError, GridctlError
from ..manifest.load import deploy_key_value
from ..plan import Action, Change
from .base import ApplyResult, Item, Kind, Scope, _flip
from .repository import repos_with

if TYPE_CHECKING:
    from .base import ApplyContext, PlanEnv, Reader


def normalize_key(text: str) -> str:
    """``"<type> <base64>"``: the comment dropped, as GitHub stores it."""
    parts = text.strip().split()
    if len(parts) < 2:
        raise GridctlError("a deploy key must be an OpenSSH public key: <type> <base64> [comment]")
    return f"{parts[0]} {parts[1]}"


def key_fingerprint(text: str) -> str:
    """OpenSSH's fingerprint of a public key line: ``"<type> SHA256:<base64 digest>"``."""
    kind, b64 = normalize_key(text).split(" ", 1)
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        blob = b64.encode()  # not valid base64: still a stable, comparable fingerprint
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"{kind} SHA256:{digest}"


class DeployKey(Kind):
    name = "deploy-key"
    order = 70
    prune_key = "deploy_keys"
    #: GitHub cannot edit a deploy key: a planned update is a replace (delete + create)
    replace_on_change = True

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return repos_with(env, self, lambda spec: spec.deploy_keys)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        assert spec is not None
        out: dict[str, Item] = {}
        for title, dk in spec.deploy_keys.items():
            text = deploy_key_value(env.manifest, dk)
            out[title] = Item(
                title,
                attrs={"key": key_fingerprint(text.reveal()), "read_only": bool(dk.read_only)},
                source=env.manifest.positions.source(dk.path),
            )
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        out: dict[str, Item] = {}
        for k in sorted(reader.list(f"/repos/{scope.name}/keys") or [], key=lambda k: k["id"]):
            title = k.get("title") or ""
            if title in out:
                continue  # GitHub allows duplicate titles; the oldest one is the managed one
            out[title] = Item(
                title,
                attrs={"key": key_fingerprint(k["key"]), "read_only": bool(k.get("read_only"))},
                meta={"id": k["id"]},
            )
        return out

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list, str]:
        diffs, _ = super().compare(desired, live, state)
        fields = " and ".join(d.field for d in diffs)
        return diffs, (
            f"{fields} changed; GitHub cannot edit a deploy key, so it is deleted and re-created" if diffs else ""
        )

    # -- apply ------------------------------------------------------------------------------------
    def _key_text(self, ctx: ApplyContext, change: Change) -> str:
        """The public key to create, checked against the planned fingerprint."""
        want = (change.after or {}).get("key")
        text = change.meta.get("public_key")
        if text is None:
            spec = ctx.manifest.repo(change.scope)
            dk = spec.deploy_keys.get(change.meta["key"]) if spec else None
            if dk is None:
                raise GridctlError(
                    f"deploy key {change.meta['key']} is no longer in the manifest; run gridctl plan again"
                )
            text = deploy_key_value(ctx.manifest, dk).reveal()
        if key_fingerprint(text) != want:
            raise GridctlError(
                f"deploy key {change.meta['key']} changed in the manifest since the plan was made; run gridctl plan again"
            )
        return normalize_key(text)

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        full = change.scope
        title = change.meta["key"]
        result: dict[str, Any] = {}
        if change.action in (Action.DELETE, Action.REPLACE):
            key_id = change.meta.get("id")
            if key_id is None:
                raise GridctlError(f"deploy key {title}: no key id to delete; run gridctl plan again")
            old = client.get(f"/repos/{full}/keys/{int(key_id)}")
            if old is None:
                raise GitHubError(
                    f"deploy key {title} (id {key_id}) is no longer on {full}; run gridctl plan again", status=404
                )
            result["old_public_key"] = normalize_key(old["key"])  # a public key: kept for a rollback
            # https://docs.github.com/en/rest/deploy-keys/deploy-keys#delete-a-deploy-key
            client.raw("DELETE", f"/repos/{full}/keys/{int(key_id)}")
            if change.action == Action.DELETE:
                return ApplyResult(None, result=result)
        text = self._key_text(ctx, change)
        read_only = bool((change.after or {}).get("read_only", True))

        def verify() -> Any:
            for k in client.get_list(f"/repos/{full}/keys") or []:
                if k.get("title") == title and normalize_key(k["key"]) == text:
                    return k
            return None

        # https://docs.github.com/en/rest/deploy-keys/deploy-keys#create-a-deploy-key
        created = client.raw(
            "POST",
            f"/repos/{full}/keys",
            {"title": title, "key": text, "read_only": read_only},
            idempotent=False,
            verify=verify,
        )
        new_id = created["id"]
        result["id"] = new_id
        entry = {"kind": self.name, "scope": full, "account": change.account, "id": new_id}
        return ApplyResult(entry, result=result)

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        meta = {k: v for k, v in change.meta.items() if k != "public_key"}
        new_id = result.result.get("id")
        old_key = result.result.get("old_public_key")
        if change.action == Action.CREATE:
            return _flip(change, Action.DELETE, before=change.after, after=None, meta={**meta, "id": new_id})
        if change.action == Action.DELETE:
            return _flip(change, Action.CREATE, before=None, after=change.before, meta={**meta, "public_key": old_key})
        if change.action == Action.REPLACE:
            return _flip(
                change,
                Action.REPLACE,
                before=change.after,
                after=change.before,
                meta={**meta, "id": new_id, "public_key": old_key},
            )
        return None


KINDS = [DeployKey()]
