"""The compiled schema check (gridctl.manifest.quickcheck, issue 16) accepts a value exactly when
jsonschema's draft 2020-12 validator finds no error in it: keyword by keyword on awkward values,
on random schemas made of its keywords, on random states against the state schema, and on
mutated example and test manifests against the manifest schema. Only its "no error" is used
(jsonschema still reports every error), so an error it missed would be a diagnostic lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gridctl.manifest import load as manifest_load
from gridctl.manifest.quickcheck import accepts
from gridctl.manifest.schema import validator
from gridctl.manifest.yamlpos import YamlLoadError, load_yaml
from gridctl.resources import SECTIONS
from gridctl.state.local import STATE_SCHEMA, state_problem

ROOT = Path(__file__).resolve().parents[2]
PROPERTY = settings(max_examples=300, deadline=None, database=None, derandomize=True,
                    phases=[Phase.generate, Phase.shrink], suppress_health_check=[HealthCheck.too_slow])


def same_as_jsonschema(schema: Any, value: Any) -> None:
    assert accepts(schema, value) == Draft202012Validator(schema).is_valid(value), (schema, value)


# -- keyword by keyword ---------------------------------------------------------------------------
TRICKY = (None, True, False, 0, 1, -1, 0.0, 1.0, 0.5, -0.5, "", "a", "ab", "ba", "1", [], [1], [1, True], [1, 1.0],
          ["a", "a"], [[1], [True], [1]], {}, {"a": 1}, {"a": 1, "b": "x"}, {"b": True, "c": None})
ONE_KEYWORD: tuple[Any, ...] = (
    True, False, {},
    *({"type": t} for t in ("object", "array", "string", "integer", "number", "boolean", "null")),
    {"type": ["string", "null"]}, {"type": ["integer", "boolean"]},
    *({"const": c} for c in (None, True, False, 0, 1, 1.0, 0.5, "", "1", "a", [1], {"a": 1})),
    {"enum": [1, "a", None]}, {"enum": [True]}, {"enum": [[1], {"a": 1}]},
    *({"minimum": m} for m in (0, 1, 0.5, -1)), {"maximum": 0}, {"exclusiveMinimum": 0}, {"exclusiveMaximum": 1},
    *({"minLength": m} for m in (0, 1, 2)), {"maxLength": 1}, *({"pattern": r} for r in ("^a", "b$", "^$")),
    {"required": ["a"]}, {"minProperties": 1}, {"maxProperties": 1},
    {"properties": {"a": {"type": "string"}}}, {"patternProperties": {"^[ab]$": {"type": "integer"}}},
    {"additionalProperties": False}, {"properties": {"a": True}, "additionalProperties": {"type": "string"}},
    {"patternProperties": {"^b": True}, "additionalProperties": False}, {"propertyNames": {"pattern": "^b"}},
    {"items": {"type": "integer"}}, {"items": False}, {"minItems": 1}, {"maxItems": 1}, {"uniqueItems": True}, {"uniqueItems": False},
    {"allOf": [{"type": "object"}, {"required": ["a"]}]}, {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    {"oneOf": [{"type": "number"}, {"type": "integer"}]}, {"not": {"type": "string"}},
    {"if": {"type": "string"}, "then": {"minLength": 1}, "else": {"type": "integer"}}, {"then": False}, {"else": False},
    {"properties": {"a": True}, "unevaluatedProperties": False},
    {"allOf": [{"properties": {"a": True}}], "unevaluatedProperties": False},
    {"anyOf": [{"properties": {"b": {"type": "string"}}}, {"properties": {"a": True}}], "unevaluatedProperties": False},
    {"oneOf": [{"required": ["a"]}, {"required": ["b"]}], "properties": {"a": True, "b": True}, "unevaluatedProperties": False},
    {"if": {"required": ["a"]}, "then": {"properties": {"b": True}}, "else": {"properties": {"c": True}},
     "properties": {"a": True}, "unevaluatedProperties": False},
    {"additionalProperties": {"type": "integer"}, "unevaluatedProperties": False},
    {"patternProperties": {"^a": True}, "unevaluatedProperties": {"type": "boolean"}},
    {"$ref": "#/$defs/d", "unevaluatedProperties": False, "$defs": {"d": {"properties": {"a": True}}}},
    {"$ref": "#/$defs/d", "$defs": {"d": {"type": ["array", "integer"], "items": {"$ref": "#/$defs/d"}}}},
)


def test_keyword_by_keyword() -> None:
    for schema in ONE_KEYWORD:
        for value in TRICKY:
            same_as_jsonschema(schema, value)


def test_a_keyword_it_does_not_know_leaves_the_answer_to_jsonschema() -> None:
    for schema in ({"format": "email"}, {"prefixItems": [True]}, {"$ref": "other.json"}, {"dependentSchemas": {}}):
        assert not accepts(schema, "a")
        assert not accepts(schema, None)


# -- random schemas of its keywords ---------------------------------------------------------------
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from((0.0, 1.0, 1.5, -1.0)),
    st.sampled_from(("", "x", "main", "alice/demo", "keyspread", "repo", "Repo", "hmac-sha256:ab", "a b", "a", "b")),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(("a", "b", "main")), inner, max_size=3)), max_leaves=6)
single = st.one_of(st.sampled_from(ONE_KEYWORD[:-2]), st.builds(lambda c: {"const": c}, scalars))


def schemas(ref: bool) -> st.SearchStrategy[Any]:
    def node(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        subs = st.lists(inner, min_size=1, max_size=3)
        return st.fixed_dictionaries({}, optional={
            "type": st.sampled_from(("object", "array", "string", "integer", "number")), "enum": st.lists(scalars, min_size=1, max_size=3),
            "required": st.lists(st.sampled_from(("a", "b")), max_size=2), "properties": st.dictionaries(st.sampled_from(("a", "b")), inner, max_size=2),
            "patternProperties": st.dictionaries(st.sampled_from(("^a", "b$")), inner, max_size=1),
            "additionalProperties": inner, "unevaluatedProperties": inner, "propertyNames": inner, "items": inner,
            "allOf": subs, "anyOf": subs, "oneOf": subs, "not": inner, "if": inner, "then": inner, "else": inner,
            "uniqueItems": st.booleans(), "minProperties": st.integers(0, 2), "maxItems": st.integers(0, 2),
            **({"$ref": st.just("#/$defs/d")} if ref else {}),
        })
    return st.recursive(single, node, max_leaves=6)


@PROPERTY
@given(schemas(ref=True), schemas(ref=False), values)
def test_random_schemas(schema: Any, defs: Any, value: Any) -> None:
    if isinstance(schema, dict):
        schema = {**schema, "$defs": {"d": defs}}
    same_as_jsonschema(schema, value)


# -- the state schema -----------------------------------------------------------------------------
FIELDS = ("kind", "scope", "account", "id", "name", "login", "path", "branch", "fingerprint", "updated_at",
          "prevent_destroy", "on_destroy", "invitee_account", "jit_file", "shares", "other")
state_entries = st.one_of(
    values,
    st.dictionaries(st.sampled_from(FIELDS), st.one_of(values, st.dictionaries(st.sampled_from(("main", "ops")), st.lists(scalars, max_size=2), max_size=2)), max_size=6),
    st.builds(lambda k, extra: {"kind": k, "scope": "alice/demo", "account": "main", **extra},
              st.sampled_from(("repo", "secret", "keyspread", "Bad", "")), st.dictionaries(st.sampled_from(FIELDS), scalars, max_size=2)),
)
states = st.one_of(
    values,
    st.fixed_dictionaries(
        {"format_version": st.sampled_from((1, 1.0, True)), "serial": st.one_of(st.integers(-1, 3), st.sampled_from((2.0, 0.5, False))),
         "lineage": st.sampled_from(("x", "", 7)),
         "resources": st.one_of(values, st.dictionaries(st.sampled_from(("repo:a/b", "secret:a/b:actions:S", "Repo:a/b", "repo", ":x", "repo:")), state_entries, max_size=4))},
        optional={"extra": scalars},
    ),
)


@PROPERTY
@given(states)
def test_state_schema(d: Any) -> None:
    checker = validator(STATE_SCHEMA)
    assert accepts(checker.schema, d) == checker.is_valid(d)


def test_state_problems_read_as_before() -> None:
    good = {"format_version": 1, "serial": 3, "lineage": "l", "resources": {"repo:a/b": {"kind": "repo", "scope": "a/b", "account": "main"}}}
    assert state_problem(good) is None
    bad = {**good, "resources": {"repo:a/b": {"kind": "repo", "scope": 5, "account": "main"}}}
    assert state_problem(bad) == "resources['repo:a/b'].scope is an integer, not a string"
    spread = {**good, "resources": {"keyspread:k": {"kind": "keyspread"}}}
    assert state_problem(spread) == "resources['keyspread:k'] lacks 'shares'"


# -- the manifest schema --------------------------------------------------------------------------
def _documents() -> list[Any]:
    out = []
    for path in sorted([*ROOT.glob("examples/*/grid.yaml"), *ROOT.glob("tests/manifests/*.yaml")]):
        try:
            data, _ = load_yaml(path)
        except YamlLoadError:
            continue
        out.append(data)
    return out


DOCUMENTS = _documents()


def _places(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _places(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _places(v, (*path, i))
    return out


def _mutated(doc: Any, path: tuple, how: str, new: Any) -> Any:
    if not path:
        return new if how == "set" else doc
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        copy = dict(doc)
        if not rest and how == "drop":
            copy.pop(head, None)
        elif not rest and how == "add":
            copy[head] = doc[head]
            copy["unknown_field"] = new
        else:
            copy[head] = _mutated(doc[head], rest, how, new)
        return copy
    copy_list = list(doc)
    if not rest and how == "drop":
        del copy_list[head]
    else:
        copy_list[head] = _mutated(doc[head], rest, how, new)
    return copy_list


@st.composite
def manifests(draw: st.DrawFn) -> Any:
    doc = draw(st.sampled_from(DOCUMENTS))
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(_places(doc)))
        doc = _mutated(doc, path, draw(st.sampled_from(("set", "drop", "add"))), draw(values))
    return doc


@settings(PROPERTY, max_examples=400)
@given(manifests())
def test_manifest_schema(doc: Any) -> None:
    checker = manifest_load._validator_for(SECTIONS)
    assert accepts(checker.schema, doc) == checker.is_valid(doc)


def test_manifest_schema_is_compiled() -> None:
    """The manifest schema uses only keywords the check knows (else every load pays jsonschema)."""
    checker = manifest_load._validator_for(SECTIONS)
    assert len(DOCUMENTS) > 50
    assert any(accepts(checker.schema, d) for d in DOCUMENTS)
