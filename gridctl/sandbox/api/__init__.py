"""GitHub API areas. Importing this package registers every route (see ..routing).

One module per area; each registers its own routes and control routes. Order matters only
where paths overlap within a module.
"""

from . import (  # noqa: F401
    accounts,
    actions_permissions,
    apps,
    branch_protection,
    collaborators,
    contents,
    control,
    deploy_keys,
    environments,
    git,
    hooks,
    issues,
    jobs,
    logs,
    oauth,
    org_members,
    pages,
    releases,
    repo_security,
    repos,
    rulesets,
    runner_groups,
    runners,
    secrets,
    teams,
    variables,
    workflows,
)
