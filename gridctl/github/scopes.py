"""Classic token scopes: which granted scopes satisfy a needed one.

GitHub's scope list (docs.github.com, "Scopes for OAuth apps") nests some scopes: ``repo``
includes ``public_repo``, ``admin:org`` and ``write:org`` include ``read:org``, and
``codespace`` covers Codespaces user secrets, as does the narrower ``codespace:secrets``, and
``repo`` grants "full access to ... repository webhooks", so it includes ``admin:repo_hook``.
"""

from __future__ import annotations

#: a needed scope is also satisfied by these broader (or equivalent) ones
IMPLIED_BY: dict[str, set[str]] = {
    "public_repo": {"repo"},
    "codespace": {"codespace:secrets"},
    "read:org": {"admin:org", "write:org"},
    "admin:repo_hook": {"repo"},
}


def satisfied(needed: str, granted: set[str]) -> bool:
    return needed in granted or bool(IMPLIED_BY.get(needed, set()) & granted)
