"""JSON shapes of the objects many areas return: users, organizations, repositories.

Each function builds exactly the fields GitHub's description requires (and the optional ones
gridctl reads), with every URL rooted at the sandbox's public base URL so PyGithub follows
them to the same host and port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import role_at_least
from .world import node_id

if TYPE_CHECKING:
    from .http import Ctx


def web_root(ctx: Ctx) -> str:
    """``scheme://host:port`` of the sandbox, the stand-in for https://github.com."""
    parts = urlsplit(ctx.base_url)
    return f"{parts.scheme}://{parts.netloc}"


def simple_user(ctx: Ctx, user: dict) -> dict[str, Any]:
    login = user["login"]
    api = ctx.url(f"/users/{login}")
    out = {
        "login": login,
        "id": user["id"],
        "node_id": node_id("User", user["id"]),
        "avatar_url": f"{web_root(ctx)}/avatars/{login}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{web_root(ctx)}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": user["type"],
        "user_view_type": "public",
        "site_admin": False,
    }
    if user.get("name"):
        out["name"] = user["name"]
    if user.get("email"):
        out["email"] = user["email"]
    return out


def public_user(ctx: Ctx, user: dict, public_repos: int = 0) -> dict[str, Any]:
    out = simple_user(ctx, user)
    out.update(
        {
            "name": user.get("name"),
            "company": None,
            "blog": "",
            "location": None,
            "email": user.get("email"),
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": public_repos,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": user["created_at"],
            "updated_at": user["updated_at"],
        }
    )
    return out


def private_user(ctx: Ctx, user: dict, public_repos: int, private_repos: int) -> dict[str, Any]:
    out = public_user(ctx, user, public_repos)
    out.update(
        {
            "private_gists": 0,
            "total_private_repos": private_repos,
            "owned_private_repos": private_repos,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
            "plan": {"name": "pro", "space": 976562499, "private_repos": 9999, "collaborators": 0},
            "notification_email": user.get("email"),
        }
    )
    return out


def organization(ctx: Ctx, org: dict, *, full: bool = True, public_repos: int = 0, owner_view: bool = False) -> dict[str, Any]:
    login = org["login"]
    api = ctx.url(f"/orgs/{login}")
    out: dict[str, Any] = {
        "login": login,
        "id": org["id"],
        "node_id": node_id("Organization", org["id"]),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{web_root(ctx)}/avatars/{login}",
        "description": org.get("description"),
    }
    if full:
        out.update(
            {
                "html_url": f"{web_root(ctx)}/{login}",
                "has_organization_projects": True,
                "has_repository_projects": True,
                "public_repos": public_repos,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "type": "Organization",
                "created_at": org["created_at"],
                "updated_at": org["updated_at"],
                "archived_at": None,
                "default_repository_permission": org.get("default_repository_permission", "read"),
                "members_can_create_repositories": True,
                # profile fields are sent even when not filled in: empty (the description types
                # them as strings) or, where it allows it, null
                "name": org.get("name") or "",
                "company": "",
                "blog": "",
                "location": "",
                "email": org.get("email") or "",
                "twitter_username": None,
            }
        )
        if owner_view:  # what github.com adds for an owner of the organization
            private = sum(1 for r in ctx.world.repos_of(login) if r["private"])
            out.update(
                {
                    "billing_email": org.get("email") or f"billing@{login}.example",
                    "collaborators": 0,
                    "disk_usage": 0,
                    "is_verified": False,
                    "members_allowed_repository_creation_type": "all",
                    "members_can_create_internal_repositories": False,
                    "members_can_create_pages": True,
                    "members_can_create_private_pages": True,
                    "members_can_create_private_repositories": True,
                    "members_can_create_public_pages": True,
                    "members_can_create_public_repositories": True,
                    "members_can_fork_private_repositories": False,
                    "owned_private_repos": private,
                    "total_private_repos": private,
                    "private_gists": 0,
                    "plan": {"name": "team", "space": 976562499, "private_repos": 999999, "filled_seats": len(org.get("members", {})), "seats": 50},
                    "two_factor_requirement_enabled": False,
                    "web_commit_signoff_required": False,
                    "members_can_change_repo_visibility": True,
                    "members_can_create_teams": True,
                    "members_can_delete_issues": False,
                    "members_can_delete_repositories": True,
                    "members_can_invite_outside_collaborators": True,
                    "members_can_view_dependency_insights": True,
                    "readers_can_create_discussions": True,
                    "display_commenter_full_name_setting_enabled": False,
                    "deploy_keys_enabled_for_repositories": True,
                    "default_repository_branch": "main",
                    # code security defaults for new repositories: all off, as for a new organization
                    **{f"{feature}_enabled_for_new_repositories": False for feature in _NEW_REPO_SECURITY},
                    "secret_scanning_push_protection_custom_link_enabled": False,
                    "secret_scanning_push_protection_custom_link": None,
                }
            )
    return out


#: the ``*_enabled_for_new_repositories`` settings an organization's owners see
_NEW_REPO_SECURITY = (
    "advanced_security",
    "dependabot_alerts",
    "dependabot_security_updates",
    "dependency_graph",
    "secret_scanning",
    "secret_scanning_push_protection",
)


_REPO_URL_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}

#: settings fields that appear in the full shape (and, for the caller's own repos, in lists)
SETTINGS_FIELDS = (
    "allow_squash_merge",
    "allow_merge_commit",
    "allow_rebase_merge",
    "allow_auto_merge",
    "delete_branch_on_merge",
    "allow_update_branch",
    "use_squash_pr_title_as_default",
    "squash_merge_commit_title",
    "squash_merge_commit_message",
    "merge_commit_title",
    "merge_commit_message",
)


def repository(ctx: Ctx, repo: dict, *, level: str = "full") -> dict[str, Any]:
    """A repository as GitHub renders it.

    ``level`` is ``full`` (GET/PATCH/POST a repository), ``repository`` (``GET /user/repos``)
    or ``minimal`` (``GET /orgs/{org}/repos``, ``/users/{u}/repos`` and nested references).
    """
    world = ctx.world
    owner = world.find_user(repo["owner"]) or {"login": repo["owner"], "id": 0, "type": "User"}
    full_name = f"{repo['owner']}/{repo['name']}"
    api = ctx.url(f"/repos/{full_name}")
    html = f"{web_root(ctx)}/{full_name}"
    host = urlsplit(ctx.base_url).netloc
    role = world.role(ctx.login, repo, ctx.scopes)
    out: dict[str, Any] = {
        "id": repo["id"],
        "node_id": node_id("Repository", repo["id"]),
        "name": repo["name"],
        "full_name": full_name,
        "owner": simple_user(ctx, owner),
        "private": repo["private"],
        "html_url": html,
        "description": repo.get("description"),
        "fork": False,
        "url": api,
    }
    for field, suffix in _REPO_URL_TEMPLATES.items():
        out[field] = api + suffix
    open_issues = repo.get("open_issues_count", 0)
    out.update(
        {
            "git_url": f"git://{host}/{full_name}.git",
            "ssh_url": f"git@{host}:{full_name}.git",
            "clone_url": f"{html}.git",
            "svn_url": html,
            "mirror_url": None,
            "homepage": repo.get("homepage"),
            "language": None,
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": repo.get("size", 0),
            "default_branch": repo["default_branch"],
            "open_issues_count": open_issues,
            "open_issues": open_issues,
            "is_template": repo.get("is_template", False),
            "topics": list(repo.get("topics", [])),
            "has_issues": repo["has_issues"],
            "has_projects": repo["has_projects"],
            "has_wiki": repo["has_wiki"],
            "has_pages": False,
            "has_downloads": repo.get("has_downloads", True),
            "has_discussions": repo.get("has_discussions", False),
            "archived": repo["archived"],
            "disabled": repo.get("disabled", False),
            "visibility": repo["visibility"],
            "pushed_at": repo["pushed_at"],
            "created_at": repo["created_at"],
            "updated_at": repo["updated_at"],
            "allow_forking": repo.get("allow_forking", True),
            "web_commit_signoff_required": repo.get("web_commit_signoff_required", False),
            "license": None,
        }
    )
    if role is not None and ctx.user is not None:
        out["permissions"] = world.permissions_object(role)
    if level == "minimal":
        out["delete_branch_on_merge"] = repo.get("delete_branch_on_merge", False)
        return out
    if level in ("full", "repository") and ctx.user is not None and role == "admin":
        for field in SETTINGS_FIELDS:
            out[field] = repo.get(field)
    if level == "repository":
        return out
    out["network_count"] = 0
    out["subscribers_count"] = 0
    out["custom_properties"] = dict(repo.get("custom_properties") or {})
    out["master_branch"] = repo["default_branch"]  # the old name of default_branch, still sent
    out["has_pull_requests"] = repo.get("has_pull_requests", True)
    out["pull_request_creation_policy"] = repo.get("pull_request_creation_policy", "all")
    # a token for cloning over HTTPS, for callers who may push to a private repository
    out["temp_clone_token"] = _clone_token(repo) if repo["private"] and role_at_least(role, "write") else ""
    if ctx.user is not None and role == "admin":  # the code security settings, shown to admins
        off = {"status": "disabled"}
        out["security_and_analysis"] = {
            "secret_scanning": dict(off),
            "secret_scanning_push_protection": dict(off),
            "dependabot_security_updates": dict(off),
            "secret_scanning_non_provider_patterns": dict(off),
        }
        if not repo["private"]:  # GitHub Advanced Security is on for every public repository
            out["security_and_analysis"]["advanced_security"] = {"status": "enabled"}
    if owner.get("type") == "Organization":
        out["organization"] = simple_user(ctx, owner)
    return out


def _clone_token(repo: dict) -> str:
    """A stand-in for GitHub's short-lived clone token: not a credential (nothing accepts it)."""
    import hashlib

    return "SBX" + hashlib.sha256(f"clone:{repo['id']}:{repo['updated_at']}".encode()).hexdigest()[:26].upper()
