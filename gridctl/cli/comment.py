"""``gridctl comment``: put a saved plan on its pull request as one sticky comment, with labels.

    gridctl plan --out plan.json
    gridctl comment plan.json --repo acme/infra --pr 42                # a manifest account posts
    gridctl comment plan.json --pr 42 --token-env GITHUB_TOKEN         # in GitHub Actions

``gridctl plan --comment-pr N`` does the same right after planning (see :func:`comment_after_plan`).

Who posts: ``--token-env VAR`` (the token in that environment variable, e.g. Actions'
``GITHUB_TOKEN``; never printed), else ``--account ID``, else the manifest account that manages
the repository, else the account whose login owns it, else the manifest's only account. Inside
GitHub Actions ``--repo`` defaults to ``$GITHUB_REPOSITORY`` and ``--pr`` to the pull request of
the triggering event.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from ..errors import Diagnostic, GridctlError, SourceError


def api_url(explicit: str | None) -> str:
    from ..github.client import DEFAULT_API_URL

    url = explicit or os.environ.get("GRIDCTL_API_URL") or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL
    return url.rstrip("/")


def _client(account_id: str, token: Any, explicit_url: str | None) -> Any:
    from ..github.client import AccountClient, EtagCache
    from ..github.retry import RetryPolicy

    interval = float(os.environ.get("GRIDCTL_WRITE_INTERVAL", "1.0"))
    return AccountClient(
        account_id,
        token,
        api_url(explicit_url),
        policy=RetryPolicy.from_env(),
        cache=EtagCache(),
        write_interval=interval,
    )


def token_from_env(var: str) -> Any:
    from ..manifest.sources import Sensitive

    value = os.environ.get(var, "").strip()
    if not value:
        raise SourceError(f"env {var} is not set (--token-env)")
    return Sensitive(value)


def default_repo(repo: str | None) -> str:
    repo = repo or os.environ.get("GITHUB_REPOSITORY")
    if not repo or repo.count("/") != 1:
        raise GridctlError("name the pull request's repository with --repo OWNER/NAME")
    return repo


def default_pr(pr: int | None) -> int:
    if pr is not None:
        return pr
    event = os.environ.get("GITHUB_EVENT_PATH")
    if event:
        try:
            number = json.loads(Path(event).read_text(encoding="utf-8")).get("pull_request", {}).get("number")
        except (OSError, ValueError, AttributeError):
            number = None
        if isinstance(number, int):
            return number
    raise GridctlError("name the pull request: --pr N (gridctl comment) or --comment-pr N (gridctl plan)")


def pick_account(manifest: Any, repo: str, account: str | None) -> Any:
    """The manifest account that posts on ``repo``'s pull requests."""
    if account:
        acc = manifest.accounts.get(account)
        if acc is None:
            raise GridctlError(
                f"--account {account}: no such account in the manifest (accounts: {', '.join(sorted(manifest.accounts))})"
            )
        return acc
    spec = manifest.repo(repo)
    if spec is not None:
        return manifest.accounts[spec.account]
    acc = manifest.account_for_owner(repo.split("/")[0])
    if acc is not None:
        return acc
    if len(manifest.accounts) == 1:
        return next(iter(manifest.accounts.values()))
    raise GridctlError(f"no account of the manifest manages {repo}; choose one with --account ID (or use --token-env)")


def _report(result: Any, repo: str, pr: int) -> None:
    from .common import err

    err(f"gridctl: plan comment {result.comment} on {repo}#{pr}: {result.url}")
    changed = [f"+{x}" for x in result.added] + [f"-{x}" for x in result.removed]
    err(f"gridctl: label {result.label}" + (f" ({', '.join(changed)})" if changed else " (unchanged)"))


def comment_after_plan(
    session: Any,
    plan: Any,
    diagnostics: list[Any],
    *,
    pr: int | None,
    repo: str | None,
    account: str | None,
    token_env: str | None,
    manifest_file: Path,
    plan_file: Path | None,
    api_url_opt: str | None,
) -> Any:
    """``gridctl plan --comment-pr N``: post with the session's client for the account (or a
    token from the environment)."""
    from ..review.pr import comment_key, full_plan_pointer, post_plan

    repo = default_repo(repo)
    number = default_pr(pr)
    if token_env:
        client = _client("token-env", token_from_env(token_env), api_url_opt)
    else:
        client = session.clients[pick_account(session.manifest, repo, account).id]
    result = post_plan(
        client,
        repo,
        number,
        plan,
        key=comment_key(manifest_file),
        diagnostics=diagnostics,
        full_plan=full_plan_pointer(plan_file),
    )
    _report(result, repo, number)
    return result


def load_saved(plan_file: Path) -> tuple[Any, list[Diagnostic]]:
    """A plan saved by ``gridctl plan --out`` and its diagnostics. Anything else — unreadable,
    not JSON, another format version, edited after saving (its ``plan_id`` no longer matches),
    or values of the wrong type — is refused naming the file (exit 1, no traceback)."""
    from ..plan import Plan

    try:
        text = plan_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise GridctlError(f"{plan_file}: cannot read the plan ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise GridctlError(f"{plan_file}: not a gridctl plan (not UTF-8 text)") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        plan = Plan.from_json(data)
        _check_shape(plan)
        diags = [Diagnostic(**d) for d in data.get("diagnostics") or [] if isinstance(d, dict)]
    except RecursionError:
        raise GridctlError(f"{plan_file}: not a gridctl plan (nested too deeply)") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GridctlError(f"{plan_file}: not a gridctl plan ({exc})") from None
    return plan, diags


def _check_shape(plan: Any) -> None:
    """What the renderers and apply rely on, for a file that parsed: text where text is
    expected, objects where objects are."""
    for i, c in enumerate(plan.changes):
        for name in ("address", "kind", "account", "scope"):
            if not isinstance(getattr(c, name), str):
                raise ValueError(f"changes[{i}].{name} is not a string")
        for name in ("before", "after", "meta"):
            value = getattr(c, name)
            if not (isinstance(value, dict) or (value is None and name != "meta")):
                raise ValueError(f"changes[{i}].{name} is not an object")
    if not isinstance(plan.accounts, dict) or not all(isinstance(x, str) for x in plan.unsafe):
        raise ValueError("accounts/unsafe have the wrong type")


def register(app: typer.Typer) -> None:
    """Add ``gridctl comment``."""
    from .common import ApiUrlOpt, run_command

    @app.command("comment")
    def comment(
        plan_file: Path = typer.Argument(..., metavar="PLAN_FILE", help="A plan saved by `gridctl plan --out` (its JSON)."),
        repo: str = typer.Option(None, "--repo", help="OWNER/NAME of the pull request (default $GITHUB_REPOSITORY)."),
        pr: int = typer.Option(
            None, "--pr", help="The pull request number (default: the triggering pull request in Actions)."
        ),
        file: Path = typer.Option(
            None, "--file", "-f", help="The manifest, to choose the posting account (default: the plan's)."
        ),
        account: str = typer.Option(None, "--account", help="Post as this manifest account."),
        token_env: str = typer.Option(
            None, "--token-env", help="Post with the token held in this environment variable (e.g. GITHUB_TOKEN)."
        ),
        key: str = typer.Option(
            None,
            "--key",
            help="The sticky comment's key (default: the manifest path; '' for one comment per pull request).",
        ),
        api_url_opt: str = ApiUrlOpt,
    ) -> None:
        """Post a saved plan on a pull request as one sticky comment (updated in place) and set its
        gridctl label (gridctl:changes, gridctl:no-changes or gridctl:destroys)."""

        def go() -> None:
            from ..manifest.sources import Sensitive, read_source
            from ..resources import load_manifest
            from ..review.pr import comment_key, full_plan_pointer, post_plan

            plan, diags = load_saved(plan_file)
            full_repo = default_repo(repo)
            number = default_pr(pr)
            manifest_file = file or (Path(plan.manifest_file) if plan.manifest_file else Path("grid.yaml"))
            if token_env:
                client = _client("token-env", token_from_env(token_env), api_url_opt)
            else:
                m = load_manifest(manifest_file, resolve=False)
                acc = pick_account(m, full_repo, account)
                if acc.app is not None:  # a GitHub App installation: its tokens, never the key
                    from ..core.session import app_key, installation_tokens
                    from ..github.retry import RetryPolicy

                    app_key(m, acc)
                    client = _client(acc.id, installation_tokens(acc, api_url(api_url_opt), RetryPolicy.from_env()), api_url_opt)
                else:
                    token = Sensitive(read_source(acc.token_source, m.root, allow_outside=True).strip())
                    client = _client(acc.id, token, api_url_opt)
            try:
                sticky = comment_key(manifest_file) if key is None else key
                result = post_plan(
                    client,
                    full_repo,
                    number,
                    plan,
                    key=sticky,
                    diagnostics=diags,
                    full_plan=full_plan_pointer(plan_file),
                )
            finally:
                client.close()
            _report(result, full_repo, number)

        run_command(go)
