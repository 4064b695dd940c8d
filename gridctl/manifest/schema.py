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
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from ..errors import Diagnostic
from .yamlpos import PathT, Positions

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


@functools.lru_cache(maxsize=None)
def load_schema(name: str = "grid.schema.json") -> dict:
    return json.loads(schema_path(name).read_text())


@functools.lru_cache(maxsize=None)
def validator(name: str = "grid.schema.json") -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


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
    return node


def _where(path: PathT) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


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


def translate(err: ValidationError, pos: Positions) -> list[Diagnostic]:
    path: PathT = tuple(err.absolute_path)
    v = err.validator
    if v in ("additionalProperties", "unevaluatedProperties"):
        extras = re.findall(r"'([^']+)'", err.message.split("(")[-1] if "(" in err.message else err.message)
        if isinstance(err.instance, dict):
            allowed = _known_props(err.schema)
            extras = [e for e in extras if e in err.instance] or [k for k in err.instance if k not in allowed]
        out = []
        allowed = _known_props(err.schema)
        if v == "unevaluatedProperties":
            # a property whose own value failed is reported as "unevaluated" too: skip it
            extras = [e for e in extras if e not in allowed]
            if not extras:
                return []
        for extra in extras or ["?"]:
            near = difflib.get_close_matches(extra, allowed, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            detail = f"allowed here: {', '.join(allowed)}" if allowed else ""
            out.append(pos.diag(path + (extra,), f"unknown field '{extra}' in {_where(path)}{hint}", detail, key=True))
        return out
    if v == "required":
        missing = re.findall(r"'([^']+)' is a required property", err.message)
        name = missing[0] if missing else err.message
        return [pos.diag(path, f"{_where(path)} is missing the required field '{name}'", key=True)]
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        wanted = " or ".join(_TYPE_NAMES.get(w, w) for w in want)
        return [pos.diag(path, f"{_where(path)} must be {wanted}, not {_kind(err.instance)}")]
    if v in ("enum", "const"):
        options = err.validator_value if v == "enum" else [err.validator_value]
        shown = ", ".join(json.dumps(o) for o in options)
        return [pos.diag(path, f"{_where(path)} must be one of {shown}, not {json.dumps(err.instance)}")]
    if v == "pattern" and "propertyNames" in err.schema_path:
        return [pos.diag(path + (err.instance,), f"invalid name '{err.instance}' in {_where(path)}", f"names must match {err.validator_value}", key=True)]
    if v == "pattern":
        return [pos.diag(path, f"{_where(path)} has an invalid value {json.dumps(err.instance)}", f"it must match {err.validator_value}")]
    if v == "oneOf":
        names = _one_of_required(err)
        if names is not None and isinstance(err.instance, dict):
            present = [n for n in names if n in err.instance]
            if len(present) > 1:
                return [pos.diag(path, f"{_where(path)} must have only one of {', '.join(names)} (found {', '.join(present)})", key=True)]
            return [pos.diag(path, f"{_where(path)} needs one of {', '.join(names)}", key=True)]
        best = min(err.context, key=lambda e: len(list(e.absolute_path)) * -1, default=None) if err.context else None
        if best is not None:
            return translate(best, pos)
        return [pos.diag(path, f"{_where(path)} is not valid here")]
    if v in ("minItems", "maxItems", "minProperties", "maxProperties", "minLength", "maxLength", "minimum", "maximum"):
        words = {
            "minItems": "must have at least {} item(s)",
            "maxItems": "must have at most {} item(s)",
            "minProperties": "must have at least {} entry(ies)",
            "maxProperties": "must have at most {} entry(ies)",
            "minLength": "must be at least {} character(s) long",
            "maxLength": "must be at most {} character(s) long",
            "minimum": "must be at least {}",
            "maximum": "must be at most {}",
        }
        return [pos.diag(path, f"{_where(path)} {words[v].format(err.validator_value)}")]
    if v == "uniqueItems":
        return [pos.diag(path, f"{_where(path)} has duplicate items")]
    return [pos.diag(path, f"{_where(path)}: {err.message[:200]}")]


def validate(data: Any, pos: Positions, skip: set[PathT] | None = None) -> list[Diagnostic]:
    """Every schema problem, translated and positioned, in file order."""
    skip = skip or set()
    out: list[Diagnostic] = []
    for err in validator().iter_errors(data):
        path = tuple(err.absolute_path)
        if any(path[: len(s)] == s for s in skip):
            continue
        out.extend(translate(err, pos))
    seen = set()
    unique = []
    for d in sorted(out, key=lambda d: (d.file or "", d.line or 0, d.col or 0, d.summary)):
        k = (d.file, d.line, d.col, d.summary)
        if k not in seen:
            seen.add(k)
            unique.append(d)
    return unique
