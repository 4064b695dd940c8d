"""JSON Schema validation of the manifest, every error at once, each at its ``file:line:col``.

The schema is ``schemas/grid.schema.json`` — the same file editors use. jsonschema's messages
are rewritten into sentences a person can act on ("unknown field 'visibilty' (did you mean
'visibility'?)"), and each is placed at the key or value it is about.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic
from .yamlpos import PathT, Positions

if TYPE_CHECKING:  # (imported where a manifest is validated: a valid one never needs jsonschema)
    from jsonschema import Draft202012Validator, ValidationError

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def schema_path(name: str) -> Path:
    """Where a schema file lives: the installed package, or ``schemas/`` in a checkout."""
    try:
        ref = resources.files("gridctl.schemas").joinpath(name)
        if ref.is_file():
            return Path(str(ref))
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    return Path(__file__).resolve().parents[2] / "schemas" / name


@functools.cache
def load_schema(name: str = "grid.schema.json") -> dict:
    schema: dict = json.loads(schema_path(name).read_text())
    return schema


@functools.cache
def validator(name: str = "grid.schema.json") -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name))


#: how a YAML value's type is named in messages (bool before int: a bool is an int in Python)
_VALUE_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "true/false"), (int, "an integer"), (float, "a number"), (str, "a string"), (list, "a list"), (dict, "a mapping"),
)


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    return next((name for t, name in _VALUE_KINDS if isinstance(value, t)), type(value).__name__)


def _known_props(schema: dict) -> list[str]:
    props = set(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        if "$ref" in sub:
            sub = _resolve(sub["$ref"])
        props |= set(sub.get("properties", {}))
    return sorted(props)


def _resolve(ref: str) -> dict:
    node: Any = load_schema()
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    found: dict = node
    return found


def _where(path: PathT) -> str:
    """``repos.alice/demo.topics[0]``; "the manifest" for the top level."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the manifest"


#: what a ``pattern`` means, in words (the regex itself is a poor message)
_PATTERN_HINTS = {
    "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$": "ids start with a letter or digit, followed by letters, digits, '_', '.' or '-' (at most 64 characters)",
    "^[A-Za-z_][A-Za-z0-9_]*$": "names are letters, digits and '_', not starting with a digit",
    "^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$": "a GitHub login is letters, digits and hyphens (at most 39 characters), not starting or ending with a hyphen",
    "^[a-z0-9][a-z0-9-]{0,49}$": "topics are lowercase letters, digits and hyphens, starting with a letter or digit (at most 50 characters)",
    "^[0-9]+(s|m|h|d)$": "a duration is a number and a unit: 90s, 30m, 1h or 2d",
    "^[A-Za-z0-9._-]{1,64}$": "names are letters, digits, '.', '_' and '-' (at most 64 characters)",
}

#: how to add a required field that is missing
_REQUIRED_HINTS = {
    "version": "add `version: 1` at the top of the file",
    "token": "give the account a token source: {env: VAR}, {file: path} or {command: [...]}",
    "source": "give the key a source: {env: VAR}, {file: path} or {command: [...]}",
}

#: how to add one of several fields of which one is required
_ONE_OF_HINTS: dict[tuple[str, ...], str] = {
    ("token", "app"): "give the account a token source: {env: VAR}, {file: path} or {command: [...]}; or, for a GitHub App "
                      "installation, app: {id, private_key: <source>, installation}",
}

_SOURCE_FORMS = "{env: VAR}, {file: path} or {command: [...]}"


def _suggest(name: str, allowed: list[str]) -> str | None:
    """The allowed name a misspelt ``name`` most likely meant (typo, or a longer/shorter word)."""
    near = difflib.get_close_matches(name, allowed, n=1)
    if near:
        return near[0]
    low = name.lower()
    prefixed = [a for a in allowed if min(len(a), len(low)) >= 3 and (low.startswith(a.lower()) or a.lower().startswith(low))]
    return max(prefixed, key=len) if prefixed else None


def _unknown_fields(err: ValidationError) -> list[tuple[str, str | None]]:
    """``(field, suggestion)`` for each unknown field an additional/unevaluatedProperties error is about."""
    allowed = _known_props(err.schema)
    if isinstance(err.instance, dict):
        extras = [k for k in err.instance if k not in allowed]
    else:
        extras = re.findall(r"'([^']+)'", err.message.split("(")[-1] if "(" in err.message else err.message)
    return [(str(e), _suggest(str(e), allowed)) for e in extras]


def _is_source(schema: dict) -> str | None:
    """``"source"`` or ``"secret"`` when ``schema`` describes a value source (never a literal)."""
    refs = json.dumps(schema.get("allOf", []))
    if "secretValueFields" in refs:
        return "secret"
    props = schema.get("properties", {})
    if "env" in props and "command" in props:
        return "secret" if "key" in props else "source"
    return None


def _one_of_required(err: ValidationError) -> list[str] | None:
    """For a ``oneOf`` of ``required`` alternatives, the alternative field names."""
    names = []
    for sub in err.validator_value:
        if isinstance(sub, dict) and "$ref" in sub:
            sub = _resolve(sub["$ref"])
        if not isinstance(sub, dict) or set(sub) - {"required"} or len(sub.get("required", [])) != 1:
            return None
        names.append(sub["required"][0])
    return names


def _types(names: list[str]) -> str:
    words = [_TYPE_NAMES.get(w, w) for w in names]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def translate(err: ValidationError, pos: Positions, skip: set[PathT] | frozenset[PathT] = frozenset()) -> list[Diagnostic]:
    """Diagnostics for one jsonschema error; nothing about a place in ``skip`` (a literal token's)."""
    path: PathT = tuple(err.absolute_path)
    v = err.validator
    where = _where(path)
    if v in ("additionalProperties", "unevaluatedProperties"):
        allowed = _known_props(err.schema)
        out = []
        for extra, near in _unknown_fields(err):
            if path + (extra,) in skip:
                continue
            hint = f" (did you mean '{near}'?)" if near else ""
            place = f"in {where}" if path else "at the top level"
            detail = f"allowed here: {', '.join(allowed)}" if allowed else ""
            out.append(pos.diag(path + (extra,), f"unknown field '{extra}' {place}{hint}", detail, key=True))
        return out
    if v == "required":
        missing = re.findall(r"'([^']+)' is a required property", err.message)
        name = missing[0] if missing else err.message
        return [pos.diag(path, f"{where} is missing the required field '{name}'", _REQUIRED_HINTS.get(name, ""), key=True)]
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        source = _is_source(err.schema) if "object" in want else None
        if source and not isinstance(err.instance, (dict, list)):
            forms = "{key: id}, " + _SOURCE_FORMS if source == "secret" else _SOURCE_FORMS
            return [pos.diag(path, f"{where} must be a source ({forms}), not a literal value", "values of tokens and secrets are read at run time and never written in the manifest")]
        return [pos.diag(path, f"{where} must be {_types(want)}, not {_kind(err.instance)}")]
    if v in ("enum", "const"):
        options = err.validator_value if v == "enum" else [err.validator_value]
        shown = json.dumps(options[0]) if len(options) == 1 else "one of " + ", ".join(json.dumps(o) for o in options)
        return [pos.diag(path, f"{where} must be {shown}, not {json.dumps(err.instance)}")]
    if v == "pattern":
        hint = _PATTERN_HINTS.get(err.validator_value, f"it must match {err.validator_value}")
        if "propertyNames" in err.schema_path:
            if path + (err.instance,) in skip:
                return []
            return [pos.diag(path + (err.instance,), f"invalid name '{err.instance}' in {where}", hint, key=True)]
        return [pos.diag(path, f"{where} has an invalid value {json.dumps(err.instance)}", hint)]
    if v == "oneOf":
        names = _one_of_required(err)
        if names is not None:
            if not isinstance(err.instance, dict):
                return []  # the schema's own "type": "object" reports it
            present = [n for n in names if n in err.instance]
            if len(present) > 1:
                return [pos.diag(path, f"{where} must have only one of {', '.join(names)} (found {', '.join(present)})", key=True)]
            return [pos.diag(path, f"{where} needs one of {', '.join(names)}", _ONE_OF_HINTS.get(tuple(names), ""), key=True)]
        return _one_of_branch(err, pos, skip)
    if v in _BOUND_WORDS:
        n = err.validator_value
        words = _BOUND_WORDS[v][0 if n == 1 and len(_BOUND_WORDS[v]) > 1 else -1]
        return [pos.diag(path, f"{where} {words.format(n)}")]
    if v == "uniqueItems":
        return [pos.diag(path, f"{where} has duplicate items")]
    return [pos.diag(path, f"{where}: {err.message[:200]}")]


#: words for bounds; the first form (when there are two) is for a bound of 1
_BOUND_WORDS = {
    "minItems": ("must list at least one item", "must have at least {} items"),
    "maxItems": ("must have at most {} items",),
    "minProperties": ("must not be empty", "must have at least {} entries"),
    "maxProperties": ("must have at most {} entries",),
    "minLength": ("must not be empty", "must be at least {} characters long"),
    "maxLength": ("must be at most {} characters long",),
    "minimum": ("must be at least {}",),
    "maximum": ("must be at most {}",),
}


def _one_of_branch(err: ValidationError, pos: Positions, skip: set[PathT] | frozenset[PathT]) -> list[Diagnostic]:
    """A ``oneOf`` of shapes (a scalar or a mapping...): report the errors of the branch whose
    type matches the value, or say which shapes are allowed."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in err.context or []:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [errs for errs in branches.values() if not any(e.validator == "type" and not e.relative_path for e in errs)]
    if len(fitting) == 1:
        return [d for e in fitting[0] for d in translate(e, pos, skip)]
    kinds = []
    for sub in err.validator_value:
        if isinstance(sub, dict) and "$ref" in sub:
            sub = _resolve(sub["$ref"])
        t = sub.get("type") if isinstance(sub, dict) else None
        kinds.extend(t if isinstance(t, list) else [t] if t else [])
    if kinds:
        return [pos.diag(tuple(err.absolute_path), f"{_where(tuple(err.absolute_path))} must be {_types(list(dict.fromkeys(kinds)))}, not {_kind(err.instance)}")]
    return [pos.diag(tuple(err.absolute_path), f"{_where(tuple(err.absolute_path))} is not valid here")]


def _superseded(errors: list[ValidationError]) -> set[int]:
    """Errors another one explains better: a field reported missing when a misspelling of it is
    present (the "did you mean" says it all), "must not be empty" beside "needs one of"."""
    typos: dict[PathT, set[str]] = {}
    one_of_at: set[PathT] = set()
    for e in errors:
        if e.validator in ("additionalProperties", "unevaluatedProperties"):
            typos.setdefault(tuple(e.absolute_path), set()).update(n for _, n in _unknown_fields(e) if n)
        elif e.validator == "oneOf" and _one_of_required(e) is not None:
            one_of_at.add(tuple(e.absolute_path))

    def superseded(e: ValidationError) -> bool:
        path = tuple(e.absolute_path)
        if e.validator == "required":
            missing = re.findall(r"'([^']+)' is a required property", e.message)
            return bool(missing) and missing[0] in typos.get(path, set())
        if e.validator == "oneOf":
            names = _one_of_required(e)
            return bool(names and set(names) & typos.get(path, set()))
        return e.validator == "minProperties" and path in one_of_at

    return {i for i, e in enumerate(errors) if superseded(e)}


def validate(data: Any, pos: Positions, skip: set[PathT] | None = None, *, using: Draft202012Validator | None = None) -> list[Diagnostic]:
    """Every schema problem, translated and positioned, in file order (``using``: a validator
    of the manifest schema with the kinds' sections merged in; default the file as it is)."""
    skip = skip or set()
    errors = [e for e in (using or validator()).iter_errors(data) if not any(tuple(e.absolute_path)[: len(s)] == s for s in skip)]
    drop = _superseded(errors)
    out: list[Diagnostic] = []
    for i, err in enumerate(errors):
        if i not in drop:
            out.extend(translate(err, pos, skip))
    seen = set()
    unique = []
    # a stable sort: diagnostics at the same place keep the schema's order (version before accounts)
    for d in sorted(out, key=lambda d: (d.file or "", d.line or 0, d.col or 0)):
        k = (d.file, d.line, d.col, d.summary)
        if k not in seen:
            seen.add(k)
            unique.append(d)
    return unique
