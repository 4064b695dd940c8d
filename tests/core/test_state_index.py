"""The state's index by kind and by (kind, scope) answers exactly what a scan of every entry
answers, in the same order, after any sequence of changes (issue 16: plans ask it once per scope
instead of scanning the whole state each time)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gridctl.errors import GridctlError
from gridctl.state.local import State

KINDS = ("repo", "secret", "collaborator")
SCOPES = ("alice/demo", "Alice/Demo", "alice/demo env prod", "alice/other", "org acme")
KEYS = ("a", "B", "c")

PROPERTY = settings(max_examples=300, deadline=None, database=None, derandomize=True,
                    phases=[Phase.generate, Phase.shrink], suppress_health_check=[HealthCheck.too_slow])


def _address(kind: str, scope: str, key: str) -> str:
    return f"repo:{scope}" if kind == "repo" else f"{kind}:{scope}:{key}"


entries = st.builds(
    lambda kind, scope, key, extra: (_address(kind, scope or "x", key), {"kind": kind, **({"scope": scope} if scope else {}), **extra}),
    st.sampled_from(KINDS),
    st.one_of(st.none(), st.sampled_from(SCOPES)),
    st.sampled_from(KEYS),
    st.fixed_dictionaries({}, optional={"login": st.sampled_from(("bob", "Carol")), "account": st.just("main")}),
)
addresses = st.one_of(entries.map(lambda e: e[0]), st.sampled_from(("repo:alice/demo", "repo:ALICE/DEMO", "alice/demo", "nothing:here")))
operations = st.one_of(
    st.tuples(st.just("set"), entries),
    st.tuples(st.just("forget"), addresses),
    st.tuples(st.just("move"), st.tuples(addresses, st.one_of(addresses, st.sampled_from(("alice/renamed", "bob/demo"))))),
    st.tuples(st.just("remove"), st.lists(addresses, min_size=1, max_size=2)),
    st.tuples(st.just("update"), st.dictionaries(addresses, st.one_of(st.none(), entries.map(lambda e: e[1])), max_size=3)),
    st.tuples(st.just("assign"), st.lists(entries, max_size=4)),
    st.tuples(st.just("ask"), st.none()),
)


def _apply(state: State, op: str, arg: Any) -> None:
    if op == "set":
        state.set(*arg)
    elif op == "forget":
        state.forget(arg)
    elif op == "move":
        try:
            state.move(*arg)
        except GridctlError:
            pass  # refused, changing nothing
    elif op == "remove":
        try:
            state.remove(arg)
        except GridctlError:
            pass
    elif op == "update":
        state.apply_update(arg)
    elif op == "assign":  # as the GitHub backend does after a merge
        state.resources = {**state.resources, **dict(arg)}


def _same_as_scan(state: State) -> None:
    res = state.resources
    for kind in (*KINDS, "nothing"):
        scan = [(a, e) for a, e in res.items() if e.get("kind") == kind]
        assert list(state.of_kind(kind).items()) == scan
        for scope in (*SCOPES, "ALICE/DEMO", "", "x", "none"):
            exact = [(a, e) for a, e in res.items() if e.get("kind") == kind and e.get("scope") == scope]
            folded = [(a, e) for a, e in res.items() if e.get("kind") == kind and str(e.get("scope", "")).lower() == scope.lower()]
            assert list(state.in_scope(kind, scope).items()) == exact
            assert list(state.in_scope(kind, scope, ignore_case=True).items()) == folded


@PROPERTY
@given(st.lists(operations, max_size=25))
def test_index_answers_as_a_scan_after_any_changes(ops: list[tuple[str, Any]]) -> None:
    state = State()
    for op, arg in ops:
        _apply(state, op, arg)
        _same_as_scan(state)


def test_index_is_built_once_per_version_of_the_state() -> None:
    state = State(resources={f"secret:alice/r{i}:actions:S": {"kind": "secret", "scope": f"alice/r{i}"} for i in range(50)})
    first = state._indexed()
    for i in range(50):
        assert list(state.in_scope("secret", f"alice/r{i}")) == [f"secret:alice/r{i}:actions:S"]
    assert state._indexed() is first  # 50 questions, one index
    state.set("repo:alice/r1", {"kind": "repo", "scope": "alice/r1"})
    assert state._indexed() is not first
    assert list(state.of_kind("repo")) == ["repo:alice/r1"]


def test_index_is_read_only() -> None:
    state = State(resources={"repo:a/b": {"kind": "repo", "scope": "a/b"}})
    view = state.of_kind("repo")
    with pytest.raises(TypeError):
        view["repo:c/d"] = {}  # type: ignore[index]
    assert list(state.of_kind("repo")) == list(state.resources) == ["repo:a/b"]


def test_threads_asking_at_once_see_one_answer() -> None:
    state = State(resources={f"collaborator:o/r{i % 20}:u{i}": {"kind": "collaborator", "scope": f"o/r{i % 20}"} for i in range(400)})
    answers: list[int] = []
    lock = threading.Lock()

    def ask() -> None:
        n = sum(len(state.in_scope("collaborator", f"o/r{j}")) for j in range(20))
        with lock:
            answers.append(n)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert answers == [400] * 8
