"""Reads as one account, memoized for the duration of one planning task."""

from __future__ import annotations

from typing import Any

from .client import AccountClient


class Reader:
    """GETs as one account, memoized for the duration of one planning task."""

    def __init__(self, client: AccountClient):
        self.client = client
        self.memo: dict[tuple, Any] = {}

    def get(self, url: str, params: dict | None = None) -> Any:
        key = ("get", url, tuple(sorted((params or {}).items())))
        if key not in self.memo:
            self.memo[key] = self.client.get(url, params)
        return self.memo[key]

    def list(self, url: str, *, key: str | None = None, per_page: int = 100, params: dict | None = None) -> list[Any] | None:
        mk = ("list", url, key, per_page, tuple(sorted((params or {}).items())))
        if mk not in self.memo:
            self.memo[mk] = self.client.get_list(url, params, key=key, per_page=per_page)
        items: list[Any] | None = self.memo[mk]
        return items

    def repo(self, full_name: str) -> dict | None:
        """The repository, or None when it does not exist (or cannot be seen)."""
        repo: dict | None = self.get(f"/repos/{full_name}")
        return repo
