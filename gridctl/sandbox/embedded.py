"""The embedded sandbox behind ``--sandbox``: persisted in ``.gridctl/sandbox/``, with the
manifest's accounts provisioned automatically, so trying gridctl needs no token at all.

Tokens are derived from a random secret kept in the sandbox folder (mode 0600), so the same
account gets the same token on every run (and conditional requests keep working across runs).
An organization account is driven by a generated owner, ``<org>-owner``.

Everything the embedded sandbox keeps is private whatever the umask: its folders are 0700 and
its files (the store and its WAL, the lock, the token secret) 0600. A folder left by an older
gridctl with looser modes is tightened when the sandbox starts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from ..manifest.model import Manifest
from ..manifest.sources import Sensitive
from .server import Sandbox
from .store import make_private_dir
from .world import DEFAULT_SCOPES

ALL_SCOPES = (*DEFAULT_SCOPES, "read:org")


class EmbeddedSandbox:
    def __init__(self, workdir: Path):
        self.data_dir = workdir / "sandbox"
        self.sandbox: Sandbox | None = None

    def _secret(self) -> bytes:
        path = self.data_dir / "token-secret"
        if path.exists():
            return path.read_bytes().strip()
        make_private_dir(self.data_dir)
        value = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        return value.encode()

    def _make_private(self) -> None:
        """The sandbox folder 0700 and the files in it 0600 (it is all ours; links are left)."""
        make_private_dir(self.data_dir)
        os.chmod(self.data_dir, 0o700)
        for entry in os.scandir(self.data_dir):
            if entry.is_file(follow_symlinks=False):
                os.chmod(entry.path, 0o600)
            elif entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)

    def token_for(self, login: str) -> str:
        digest = hmac.new(self._secret(), login.lower().encode(), hashlib.sha256).hexdigest()
        return "gridsbx_" + digest[:40]

    def start(self, manifest: Manifest) -> tuple[str, dict[str, Sensitive]]:
        self._make_private()
        self.sandbox = Sandbox(data_dir=self.data_dir).start()
        tokens: dict[str, Sensitive] = {}
        for acc in manifest.accounts.values():
            if acc.is_org:
                owner = f"{acc.login}-owner"
                self._user(owner)
                self.sandbox.add_org(acc.login, admins=(owner,))
                tokens[acc.id] = Sensitive(self._token(owner))
            else:
                self._user(acc.login)
                tokens[acc.id] = Sensitive(self._token(acc.login))
        return self.sandbox.url, tokens

    def _user(self, login: str) -> None:
        assert self.sandbox is not None and self.sandbox.app is not None
        world = self.sandbox.app.world
        with self.sandbox.app.store.lock:
            if world.find_user(login) is None:
                world.create_user(login)
            self.sandbox.app.store.commit()

    def _token(self, login: str) -> str:
        assert self.sandbox is not None
        return self.sandbox.add_user(login, scopes=ALL_SCOPES, token=self.token_for(login))

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
