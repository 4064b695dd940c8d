"""Classic token scopes: which granted scopes satisfy a needed one; and what a GitHub App
installation needs instead.

GitHub's scope list (docs.github.com, "Scopes for OAuth apps") nests some scopes: ``repo``
includes ``public_repo``, ``admin:org`` and ``write:org`` include ``read:org``, ``admin:org`` includes ``write:org``,
``codespace`` covers Codespaces user secrets, as does the narrower ``codespace:secrets``, and
``repo`` grants "full access to ... repository webhooks", so it includes ``admin:repo_hook``.

A GitHub App installation has no scopes but permissions, each ``read`` or ``write`` (a few
``admin``), named as in GitHub Docs, "Permissions required for GitHub Apps"
(https://docs.github.com/en/rest/authentication/permissions-required-for-github-apps) and in an
installation's ``permissions``. Kinds declare classic scopes (``Kind.token_scopes``);
:data:`APP_PERMISSIONS` says which permissions stand for each, and a kind may say more precisely
(``Kind.app_scope_permissions``, ``Kind.app_permissions``).
"""

from __future__ import annotations

#: a needed scope is also satisfied by these broader (or equivalent) ones
IMPLIED_BY: dict[str, set[str]] = {
    "public_repo": {"repo"},
    "codespace": {"codespace:secrets"},
    "read:org": {"admin:org", "write:org"},
    "admin:repo_hook": {"repo"},
    "write:org": {"admin:org"},
}


def satisfied(needed: str, granted: set[str]) -> bool:
    return needed in granted or bool(IMPLIED_BY.get(needed, set()) & granted)


#: permission levels, weakest first
LEVELS = ("read", "write", "admin")

#: the App permissions (name, level) a classic scope stands for in what gridctl does with it:
#: ``repo`` creates and edits repositories (Administration); ``workflow`` writes workflow files
#: (Contents and Workflows); ``admin:org`` edits organization settings; Codespaces user secrets
#: need a user's own token (no installation has ``codespaces_user_secrets``)
APP_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "repo": (("administration", "write"),),
    "public_repo": (("administration", "write"),),
    "workflow": (("contents", "write"), ("workflows", "write")),
    "admin:org": (("organization_administration", "write"),),
    "read:org": (("members", "read"),),
    "codespace": (("codespaces_user_secrets", "write"),),
}


def permission_covers(granted: str | None, needed: str) -> bool:
    """Whether a granted level (``read``/``write``/``admin``, or None) covers the needed one."""
    return granted in LEVELS and needed in LEVELS and LEVELS.index(granted) >= LEVELS.index(needed)
