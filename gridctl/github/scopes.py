"""Classic token scopes: which granted scopes satisfy a needed one.

GitHub's scope list (docs.github.com, "Scopes for OAuth apps") nests some scopes: ``repo``
includes ``public_repo``, ``admin:org`` and ``write:org`` include ``read:org``, ``admin:org`` includes ``write:org``, and
``codespace`` covers Codespaces user secrets, as does the narrower ``codespace:secrets``.
"""

from __future__ import annotations

#: a needed scope is also satisfied by these broader (or equivalent) ones
IMPLIED_BY: dict[str, set[str]] = {
    "public_repo": {"repo"},
    "codespace": {"codespace:secrets"},
    "read:org": {"admin:org", "write:org"},
    "write:org": {"admin:org"},
}


def satisfied(needed: str, granted: set[str]) -> bool:
    return needed in granted or bool(IMPLIED_BY.get(needed, set()) & granted)
