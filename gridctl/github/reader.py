"""Reads as one account, memoized for the duration of one planning task.

The kinds of one repository are read concurrently (``core.engine.build_plan``), so the memo is
single-flight: the first thread to ask for a URL reads it, the others asking meanwhile wait for
that answer instead of sending the same request again (the repository GET that most kinds start
with is sent once).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

from ..errors import GitHubError
from .client import AccountClient, Keep


def _no_urls(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _no_urls(v) for k, v in body.items() if not k.endswith("_url")}
    if isinstance(body, list):
        return [_no_urls(v) for v in body]
    return body


#: a body without its ``*_url`` links (``url`` itself stays)
NO_URLS = Keep("no-urls", _no_urls)


def fields(*names: str) -> Keep:
    """A projection of a list page (a bare array, or ``{total_count, <key>: [...]}``) to these
    fields of each item."""

    def items(page: Any) -> Any:
        return [{k: it[k] for k in names if k in it} if isinstance(it, dict) else it for it in page]

    def fn(body: Any) -> Any:
        if isinstance(body, list):
            return items(body)
        if isinstance(body, dict):
            return {k: items(v) if isinstance(v, list) else v for k, v in body.items()}
        return body

    return Keep("fields:" + ",".join(names), fn)


class _Slot:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class Reader:
    """GETs as one account, memoized (single-flight) for the duration of one planning task.

    ``slots``, when given, bounds the reads in flight: a read holds one of its slots while its
    requests are out (all the pages of a listing), and a thread that waits for another's read, or
    works on what came back, holds none — so ``n`` slots keep ``n`` requests in flight however
    many threads share them (``core.engine`` gives each account one semaphore of
    ``settings.parallelism``)."""

    def __init__(self, client: AccountClient, slots: threading.Semaphore | None = None):
        self.client = client
        self.memo: dict[tuple, _Slot] = {}
        self._lock = threading.Lock()
        self.slots = slots

    def request(self, read: Any) -> Any:
        """``read()`` (requests of this account) inside one of the slots, if there are slots."""
        if self.slots is None:
            return read()
        with self.slots:
            return read()

    def _once(self, key: tuple, read: Any) -> Any:
        with self._lock:
            slot = self.memo.get(key)
            mine = slot is None
            if slot is None:
                slot = self.memo[key] = _Slot()
        if mine:
            try:
                slot.value = self.request(read)
            except BaseException as exc:
                slot.error = exc
                raise
            finally:
                slot.done.set()
            return slot.value
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.value

    def get(self, url: str, params: dict | None = None, *, keep: Keep | None = None) -> Any:
        key = ("get", url, tuple(sorted((params or {}).items())), keep.name if keep else None)
        return self._once(key, lambda: self.client.get(url, params, keep=keep))

    def list(self, url: str, *, key: str | None = None, per_page: int = 100, params: dict | None = None, keep: Keep | None = None) -> list[Any] | None:
        mk = ("list", url, key, per_page, tuple(sorted((params or {}).items())), keep.name if keep else None)
        items: list[Any] | None = self._once(mk, lambda: self.client.get_list(url, params, key=key, per_page=per_page, keep=keep))
        return items

    def repo(self, full_name: str) -> dict | None:
        """The repository, or None when it does not exist (or cannot be seen): every field but
        the API and web links (``*_url``), which no kind reads and which are most of its size."""
        repo: dict | None = self.get(f"/repos/{full_name}", keep=NO_URLS)
        return repo

    def tree(self, full_name: str, ref: str, keep: Keep) -> Any:
        """The recursive git tree of ``ref`` (a branch) as ``keep`` projects it, in one request
        (``GET /repos/{owner}/{repo}/git/trees/{tree_sha}?recursive=1``; ``tree_sha`` may be a
        branch name, GitHub Docs, "Get a tree": https://docs.github.com/en/rest/git/trees#get-a-tree).
        None when there is no such branch, or the repository is empty (GitHub answers 409
        "Git Repository is empty" there)."""

        def read() -> Any:
            try:
                return self.client.get(f"/repos/{full_name}/git/trees/{quote(ref, safe='')}", {"recursive": "1"}, keep=keep)
            except GitHubError as exc:
                if exc.status == 409:
                    return None
                raise

        return self._once(("tree", full_name, ref, keep.name), read)
