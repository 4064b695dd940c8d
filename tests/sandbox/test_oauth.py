"""GitHub OAuth's web application flow on the sandbox, driven as a web application would drive
it: a browser hop to ``/login/oauth/authorize``, the redirect back with ``code`` and ``state``,
the code exchanged at ``/login/oauth/access_token``, and the token used on the REST API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from gridctl.sandbox.testing import pygithub

CALLBACK = "https://dash.example/auth/callback"


def _register(seed, callback: str = CALLBACK) -> dict:
    resp = requests.post(f"{seed.sb.config.public_url}/_sandbox/oauth/apps", json={"name": "dash", "callback_url": callback}, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _web(seed) -> str:
    return seed.sb.config.public_url


def _authorize(seed, params: dict) -> requests.Response:
    return requests.get(f"{_web(seed)}/login/oauth/authorize", params=params, allow_redirects=False, timeout=30)


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _code(seed, app: dict, login: str = "alice", scope: str | None = "repo read:org", **extra: str) -> str:
    params = {"client_id": app["client_id"], "state": "st-1", "login": login, **extra}
    if scope is not None:
        params["scope"] = scope
    resp = _authorize(seed, params)
    assert resp.status_code == 302, resp.text
    q = _query(resp.headers["Location"])
    assert q["state"] == "st-1"
    return q["code"]


def _exchange(seed, app: dict, code: str, *, json_answer: bool = True, **extra: str) -> requests.Response:
    headers = {"Accept": "application/json"} if json_answer else {}
    data = {"client_id": app["client_id"], "client_secret": app["client_secret"], "code": code, **extra}
    return requests.post(f"{_web(seed)}/login/oauth/access_token", data=data, headers=headers, timeout=30)


def test_the_web_flow_gives_a_token_that_works_as_that_user_with_the_granted_scopes(seed):
    app = _register(seed)
    resp = _authorize(seed, {"client_id": app["client_id"], "redirect_uri": CALLBACK + "/sub",
                             "scope": "repo read:org", "state": "xyz", "login": "bob"})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(CALLBACK + "/sub?")
    q = _query(location)
    assert q["state"] == "xyz" and len(q["code"]) == 20

    answer = _exchange(seed, app, q["code"], redirect_uri=CALLBACK + "/sub")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["token_type"] == "bearer" and body["scope"] == "repo,read:org"
    token = body["access_token"]

    me = requests.get(f"{seed.url}/user", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert me.status_code == 200 and me.json()["login"] == "bob"
    assert me.headers["X-OAuth-Scopes"] == "read:org, repo"
    # real PyGithub with the token: bob sees acme's private repository (member, repo scope)
    gh = pygithub(seed.sb, token)
    assert gh.get_user().login == "bob"
    assert gh.get_repo("acme/svc").private is True


def test_the_granted_scopes_are_the_only_ones_the_token_has(seed):
    app = _register(seed)
    token = _exchange(seed, app, _code(seed, app, scope="read:user")).json()["access_token"]
    s = requests.Session()
    s.headers["Authorization"] = f"token {token}"
    assert s.get(f"{seed.url}/user", timeout=30).headers["X-OAuth-Scopes"] == "read:user"
    assert s.get(f"{seed.url}/repos/alice/priv", timeout=30).status_code == 404  # private needs repo
    created = s.post(f"{seed.url}/user/repos", json={"name": "x"}, timeout=30)
    assert created.status_code == 403


def test_the_default_answer_is_form_encoded_and_xml_on_request(seed):
    app = _register(seed)
    answer = _exchange(seed, app, _code(seed, app), json_answer=False)
    assert answer.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    fields = {k: v[0] for k, v in parse_qs(answer.text).items()}
    assert fields["token_type"] == "bearer" and fields["scope"] == "repo,read:org" and fields["access_token"]
    xml = requests.post(
        f"{_web(seed)}/login/oauth/access_token",
        data={"client_id": app["client_id"], "client_secret": app["client_secret"], "code": _code(seed, app)},
        headers={"Accept": "application/xml"}, timeout=30,
    )
    assert xml.text.startswith("<OAuth>") and "<token_type>bearer</token_type>" in xml.text


def test_a_code_works_once_and_expires_after_ten_minutes(seed):
    app = _register(seed)
    code = _code(seed, app)
    assert "access_token" in _exchange(seed, app, code).json()
    again = _exchange(seed, app, code)
    assert again.status_code == 200 and again.json()["error"] == "bad_verification_code"

    late = _code(seed, app)
    seed.ctl("POST", "/clock", {"advance": 601})
    answer = _exchange(seed, app, late)
    assert answer.status_code == 200 and answer.json()["error"] == "bad_verification_code"
    assert "incorrect or expired" in answer.json()["error_description"]


def test_errors_are_githubs_with_status_200(seed):
    app = _register(seed)
    code = _code(seed, app)
    wrong = requests.post(
        f"{_web(seed)}/login/oauth/access_token",
        data={"client_id": app["client_id"], "client_secret": "nope", "code": code},
        headers={"Accept": "application/json"}, timeout=30,
    )
    assert wrong.status_code == 200 and wrong.json()["error"] == "incorrect_client_credentials"
    mismatch = _exchange(seed, app, code, redirect_uri="https://dash.example/elsewhere")
    assert mismatch.status_code == 200 and mismatch.json()["error"] == "redirect_uri_mismatch"
    # the refused exchanges did not use the code up
    assert "access_token" in _exchange(seed, app, code).json()
    # form-encoded errors too
    form = _exchange(seed, app, "0" * 20, json_answer=False)
    assert parse_qs(form.text)["error"] == ["bad_verification_code"]


def test_a_redirect_uri_outside_the_callback_goes_back_to_the_callback_with_an_error(seed):
    app = _register(seed)
    for bad in ("https://evil.example/auth/callback", "https://dash.example/other", "https://dash.example:8443/auth/callback"):
        resp = _authorize(seed, {"client_id": app["client_id"], "redirect_uri": bad, "state": "s", "login": "alice"})
        assert resp.status_code == 302
        location = resp.headers["Location"]
        assert location.startswith(CALLBACK + "?"), location
        q = _query(location)
        assert q["error"] == "redirect_uri_mismatch" and q["state"] == "s" and "code" not in q
    # a loopback callback accepts any port (native apps)
    loop = _register(seed, "http://127.0.0.1/cb")
    resp = _authorize(seed, {"client_id": loop["client_id"], "redirect_uri": "http://127.0.0.1:53682/cb", "login": "alice"})
    assert resp.headers["Location"].startswith("http://127.0.0.1:53682/cb?code=")


def test_sign_in_page_lists_users_and_cancel_denies(seed):
    app = _register(seed)
    page = _authorize(seed, {"client_id": app["client_id"], "scope": "repo", "state": "s"})
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for login in ("alice", "bob", "carol"):
        assert f">{login}</a>" in page.text
    assert ">acme</a>" not in page.text  # an organization cannot sign in
    denied = _authorize(seed, {"client_id": app["client_id"], "state": "s", "deny": "1"})
    assert _query(denied.headers["Location"])["error"] == "access_denied"
    unknown = _authorize(seed, {"client_id": "nope"})
    assert unknown.status_code == 404


def test_no_scope_reuses_what_the_user_granted_the_app_before(seed):
    app = _register(seed)
    _exchange(seed, app, _code(seed, app, scope="user"))
    _exchange(seed, app, _code(seed, app, scope="repo"))
    third = _exchange(seed, app, _code(seed, app, scope=None)).json()
    assert third["scope"] == "repo,user"
    first_for_carol = _exchange(seed, app, _code(seed, app, login="carol", scope=None)).json()
    assert first_for_carol["scope"] == ""


def test_secrets_are_never_listed_or_stored(seed):
    app = _register(seed)
    token = _exchange(seed, app, _code(seed, app)).json()["access_token"]
    listed = requests.get(f"{_web(seed)}/_sandbox/oauth/apps", timeout=30).text
    assert app["client_secret"] not in listed and app["client_id"] in listed
    tables = seed.sb.app.store.tables
    dumped = repr(tables)
    assert app["client_secret"] not in dumped and token not in dumped
