"""A quick "no error" for JSON Schema: :func:`accepts` is true exactly when jsonschema's draft
2020-12 validator would find no error in a value; false means "ask jsonschema" (which then finds
the errors to report, with their messages and places).

jsonschema walks a schema afresh for every value (a validator object per step, a ``$ref`` looked
up each time): about 1 s of CPU for a 1,000-repository manifest and 0.8 s for a state of 20,000
entries, paid by every plan even when nothing is wrong. A schema is compiled here once into plain
predicates, for the keywords gridctl's schemas use; a schema with any other keyword (or a form of
one that is not handled, such as a ``$ref`` outside ``#/$defs/``) gets no predicate, and
jsonschema alone decides. Equality (``const``, ``enum``, ``uniqueItems``) is jsonschema's own,
except where JSON Schema's rule is plain and decided here without importing jsonschema (which
``gridctl validate`` then never loads): strings, and a scalar (number, boolean, null) compared
with a scalar — numbers by value, a boolean never equal to a number.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Iterable
from typing import Any

Check = Callable[[Any], bool]
Keys = Callable[[dict], Iterable[Any]]

#: keywords that never make a value invalid (jsonschema's validator has no format checker)
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples", "deprecated"})
_KEYWORDS = frozenset({
    "$ref", "type", "enum", "const", "required", "properties", "patternProperties", "additionalProperties",
    "unevaluatedProperties", "propertyNames", "minProperties", "maxProperties", "items", "minItems", "maxItems",
    "uniqueItems", "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
})


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, numbers.Number)


#: jsonschema's draft 2020-12 type checker: a bool is not a number, 1.0 is an integer
_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and v.is_integer())),
    "number": _is_number,
}

_COMPILED: dict[int, tuple[Any, Check | None]] = {}

#: values compared here without jsonschema (see :func:`_scalar_equal`)
_SCALARS = (int, float, bool, type(None))


def _jsonschema_equality() -> tuple[Callable[[Any, Any], Any], Callable[[Any], Any]] | None:
    """jsonschema's ``equal`` and ``uniq``, imported on first need (None: another jsonschema,
    whose const, enum and uniqueItems then go to jsonschema itself)."""
    try:
        from jsonschema._utils import equal, uniq
    except ImportError:
        return None
    return equal, uniq


def _scalar_equal(a: Any, b: Any) -> bool | None:
    """JSON Schema's equality where it is plain: two strings by text; a string and any other value
    never equal; two scalars (numbers, booleans, null) equal when both are booleans and the same,
    or neither is a boolean and they are equal (1 and 1.0 are). None: ask jsonschema."""
    if a is b:  # (as jsonschema: a value is equal to itself, NaN included)
        return True
    if isinstance(a, str) or isinstance(b, str):
        return bool(a == b)
    if isinstance(a, _SCALARS) and isinstance(b, _SCALARS):
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b
        return bool(a == b)
    return None


class _Unsupported(Exception):
    """The schema uses a keyword, or a form of one, that is not compiled here."""


def accepts(schema: Any, value: Any) -> bool:
    """True when ``value`` certainly matches ``schema``; False: ask jsonschema. May raise
    RecursionError on deeply nested values, as jsonschema does."""
    held = _COMPILED.get(id(schema))
    if held is None or held[0] is not schema:  # (the schema is held, so its id is never reused)
        try:
            check: Check | None = _Compiler(schema).node(schema).ok
        except _Unsupported:
            check = None
        held = _COMPILED[id(schema)] = (schema, check)
    return held[1] is not None and held[1](value)


class _Node:
    """One compiled schema: ``ok(value)``, and ``evaluated(mapping)`` — the keys
    ``unevaluatedProperties`` counts as evaluated by it (jsonschema's
    ``find_evaluated_property_keys_by_schema``). ``evaluated`` is asked only of a value the
    schema accepts (by the schema holding it, once its other keywords passed, or after ``ok``)."""

    def __init__(self) -> None:
        self.ok: Check = lambda v: True
        self.evaluated: Keys = lambda v: ()
        #: ``evaluated`` is known to give no key, whatever the value
        self.no_keys = True
        #: the name, for a schema that is ``{required: [name]}`` and nothing else
        self.required_only: str | None = None


class _Compiler:
    def __init__(self, root: Any):
        self.root = root
        self.refs: dict[str, _Node] = {}
        #: the references being compiled (their nodes are not filled yet)
        self.compiling: set[str] = set()

    def node(self, schema: Any) -> _Node:
        out = _Node()
        if schema is True or schema is False:
            out.ok = (lambda v: True) if schema else (lambda v: False)
            return out
        if not isinstance(schema, dict) or set(schema) - _KEYWORDS - _ANNOTATIONS or ("$id" in schema and schema is not self.root):
            raise _Unsupported(str(schema)[:80])  # (an inner $id would change what a $ref names)
        if set(schema) == {"required"} and isinstance(schema["required"], list) and len(schema["required"]) == 1 and isinstance(schema["required"][0], str):
            out.required_only = schema["required"][0]
        checks: list[Check] = []
        keys: list[Keys] = []
        if "$ref" in schema:
            target = self.ref(schema["$ref"])
            if schema["$ref"] in self.compiling:  # late-bound: a schema refers to itself
                checks.append(lambda v: target.ok(v))
                keys.append(lambda v: target.evaluated(v))
            else:  # compiled already: its very functions (one call less per value)
                checks.append(target.ok)
                if not target.no_keys:
                    keys.append(target.evaluated)
        checks += self.values(schema)
        checks += self.strings_numbers_arrays(schema)
        props_checks, props_keys = self.objects(schema)
        checks += props_checks
        keys += props_keys
        logic_checks, logic_keys = self.logic(schema)
        checks += logic_checks
        keys += logic_keys
        if "unevaluatedProperties" in schema:
            rest = self.node(schema["unevaluatedProperties"])
            if schema["unevaluatedProperties"] is not False:  # (false evaluates no key)
                keys.append(lambda v: [k for k, x in v.items() if rest.ok(x)])

            def unevaluated(v: Any) -> bool:
                if not isinstance(v, dict):
                    return True
                seen = set(out.evaluated(v))
                return all(rest.ok(x) for k, x in v.items() if k not in seen)

            def evaluated_all(v: Any) -> bool:  # unevaluatedProperties: false
                return not isinstance(v, dict) or seen_all(v)

            def seen_all(v: dict) -> bool:
                seen = out.evaluated(v)
                return v.keys() <= (seen if type(seen) is set else set(seen))

            checks.append(evaluated_all if schema["unevaluatedProperties"] is False else unevaluated)
        out.ok = _all(checks)
        if len(keys) == 1:
            out.evaluated = keys[0]
        else:
            out.evaluated = (lambda v: [k for f in keys for k in f(v)]) if keys else (lambda v: ())
        out.no_keys = not keys
        return out

    def ref(self, ref: Any) -> _Node:
        if not isinstance(ref, str) or not ref.startswith("#/$defs/") or "/" in ref[8:] or "~" in ref or "%" in ref:
            raise _Unsupported(str(ref))
        if ref not in self.refs:
            defs = self.root.get("$defs") if isinstance(self.root, dict) else None
            if not isinstance(defs, dict) or ref[8:] not in defs:
                raise _Unsupported(ref)
            holder = self.refs[ref] = _Node()  # filled below; refers to itself through the holder
            holder.no_keys = False  # (until filled: a schema referring to itself asks it)
            self.compiling.add(ref)
            done = self.node(defs[ref[8:]])
            self.compiling.discard(ref)
            holder.ok, holder.evaluated, holder.no_keys = done.ok, done.evaluated, done.no_keys
        return self.refs[ref]

    def values(self, s: dict) -> list[Check]:
        out: list[Check] = []
        if "type" in s:
            names = [s["type"]] if isinstance(s["type"], str) else s["type"]
            if not isinstance(names, list) or not names or any(n not in _TYPES for n in names):
                raise _Unsupported("type")
            types = [_TYPES[n] for n in names]
            out.append(types[0] if len(types) == 1 else (lambda v: any(t(v) for t in types)))
        if "const" in s:
            out.append(_const(s["const"]))
        if "enum" in s:
            choices: list[Any] = s["enum"]
            if not isinstance(choices, list):
                raise _Unsupported("enum")
            out.append(_enum(choices))
        return out

    def strings_numbers_arrays(self, s: dict) -> list[Check]:
        out: list[Check] = []
        if "pattern" in s:
            rx = re.compile(s["pattern"])
            out.append(lambda v: not isinstance(v, str) or rx.search(v) is not None)
        if "minLength" in s:
            least = s["minLength"]
            out.append(lambda v: not isinstance(v, str) or not len(v) < least)
        if "maxLength" in s:
            most = s["maxLength"]
            out.append(lambda v: not isinstance(v, str) or not len(v) > most)
        for word in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if word in s:
                out.append(_bound(word, s[word]))
        if "items" in s:
            item = self.node(s["items"])
            out.append(lambda v: not isinstance(v, list) or all(item.ok(x) for x in v))
        if "minItems" in s:
            least_items = s["minItems"]
            out.append(lambda v: not isinstance(v, list) or not len(v) < least_items)
        if "maxItems" in s:
            most_items = s["maxItems"]
            out.append(lambda v: not isinstance(v, list) or not len(v) > most_items)
        if s.get("uniqueItems"):
            out.append(_unique_items)
        return out

    def objects(self, s: dict) -> tuple[list[Check], list[Keys]]:
        out: list[Check] = []
        keys: list[Keys] = []
        if "required" in s:
            need = list(s["required"])
            if len(need) == 1:  # (the usual form: one of several sources, a oneOf of required)
                only = need[0]
                out.append(lambda v: not isinstance(v, dict) or only in v)
            else:
                out.append(lambda v: not isinstance(v, dict) or all(k in v for k in need))
        if "minProperties" in s:
            least = s["minProperties"]
            out.append(lambda v: not isinstance(v, dict) or not len(v) < least)
        if "maxProperties" in s:
            most = s["maxProperties"]
            out.append(lambda v: not isinstance(v, dict) or not len(v) > most)
        props = s.get("properties")
        if props is not None:
            if not isinstance(props, dict):
                raise _Unsupported("properties")
            compiled = {k: self.node(sub).ok for k, sub in props.items()}

            def properties(v: Any) -> bool:
                if not isinstance(v, dict):
                    return True
                if len(v) < len(compiled):  # (the same lookups, from the smaller side)
                    for k, x in v.items():
                        c = compiled.get(k)
                        if c is not None and not c(x):
                            return False
                    return True
                for k, c in compiled.items():  # noqa: SIM110 (a loop: all() over a generator is slower)
                    if k in v and not c(v[k]):
                        return False
                return True

            out.append(properties)
            keys.append(lambda v: compiled.keys() & v.keys())
        patterns = s.get("patternProperties")
        if patterns is not None:
            if not isinstance(patterns, dict):
                raise _Unsupported("patternProperties")
            by_rx = [(re.compile(p), self.node(sub).ok) for p, sub in patterns.items()]
            out.append(lambda v: not isinstance(v, dict) or all(c(x) for k, x in v.items() for rx, c in by_rx if rx.search(k)))
            keys.append(lambda v: [k for k in v for rx, _ in by_rx if rx.search(k)])
        if "additionalProperties" in s:
            known = set(props or ())
            # as jsonschema: the patterns joined into one expression
            joined = re.compile("|".join(patterns)) if patterns else None
            extra = self.node(s["additionalProperties"])

            def additional(v: Any) -> bool:
                if not isinstance(v, dict):
                    return True
                ok = extra.ok
                for k, x in v.items():
                    if k not in known and not (joined is not None and joined.search(k)) and not ok(x):
                        return False
                return True

            out.append(additional)
            keys.append(lambda v: [k for k, x in v.items() if extra.ok(x)])
        if "propertyNames" in s:
            name = self.node(s["propertyNames"])
            out.append(lambda v: not isinstance(v, dict) or all(name.ok(k) for k in v))
        return out, keys

    def logic(self, s: dict) -> tuple[list[Check], list[Keys]]:
        out: list[Check] = []
        keys: list[Keys] = []
        for word in ("allOf", "anyOf", "oneOf"):
            if word not in s:
                continue
            if not isinstance(s[word], list) or not s[word]:
                raise _Unsupported(word)
            check, evaluated = _applicator(word, [self.node(sub) for sub in s[word]])
            out.append(check)
            if evaluated is not None:
                keys.append(evaluated)
        if "not" in s:
            negated = self.node(s["not"])
            out.append(lambda v: not negated.ok(v))
        if "if" in s:
            cond = self.node(s["if"])
            then = self.node(s["then"]) if "then" in s else None
            other = self.node(s["else"]) if "else" in s else None

            def branch(v: Any) -> bool:
                if cond.ok(v):
                    return then is None or then.ok(v)
                return other is None or other.ok(v)

            def branch_keys(v: dict) -> list[Any]:
                if cond.ok(v):
                    return [*cond.evaluated(v), *(then.evaluated(v) if then is not None else ())]
                return list(other.evaluated(v)) if other is not None else []

            out.append(branch)
            keys.append(branch_keys)
        return out, keys


def _const(want: Any) -> Check:
    def const(v: Any) -> bool:
        same = _scalar_equal(v, want)
        if same is None:
            jsonschema = _jsonschema_equality()
            return jsonschema is not None and bool(jsonschema[0](v, want))
        return same

    return const


def _enum(choices: list[Any]) -> Check:
    if all(isinstance(c, str) for c in choices):  # (the usual form: a string equals only a string)
        texts = frozenset(choices)
        return lambda v: isinstance(v, str) and v in texts
    held = tuple(_const(c) for c in choices)
    return lambda v: any(c(v) for c in held)


def _unique_items(v: Any) -> bool:
    if not isinstance(v, list):
        return True
    if all(isinstance(x, str) for x in v):  # strings: equal exactly when the same text
        return len(set(v)) == len(v)
    jsonschema = _jsonschema_equality()
    return jsonschema is not None and bool(jsonschema[1](v))


def _bound(word: str, bound: Any) -> Check:
    """``minimum`` and the like: only numbers are held to them."""
    if word == "minimum":
        return lambda v: not _is_number(v) or not v < bound
    if word == "maximum":
        return lambda v: not _is_number(v) or not v > bound
    if word == "exclusiveMinimum":
        return lambda v: not _is_number(v) or not v <= bound
    return lambda v: not _is_number(v) or not v >= bound


def _applicator(word: str, subs: list[_Node]) -> tuple[Check, Keys | None]:
    """``allOf`` / ``anyOf`` / ``oneOf`` (exactly one valid), and the keys its valid subschemas
    evaluate (None: none, whatever the value)."""
    oks = tuple(n.ok for n in subs)  # (each node is complete: self.node returns it built)
    only = _one_required(subs)

    def any_of(v: Any) -> bool:
        for ok in oks:  # noqa: SIM110
            if ok(v):
                return True
        return False

    def one_of(v: Any) -> bool:
        found = False
        for ok in oks:
            if ok(v):
                if found:
                    return False
                found = True
        return found

    def one_of_keys(v: Any) -> bool:
        # oneOf of {required: [name]} schemas, each name once: exactly one of the names present
        # (a value that is not a mapping meets every such schema)
        return len(only & v.keys()) == 1 if isinstance(v, dict) else len(only) == 1

    check = _all(list(oks)) if word == "allOf" else any_of if word == "anyOf" else one_of_keys if only else one_of

    def evaluated(v: dict) -> list[Any]:
        return [k for n in subs if n.ok(v) for k in n.evaluated(v)]

    def evaluated_all(v: dict) -> list[Any]:
        # asked only of a valid value (see _Node.evaluated's callers), so every subschema holds
        return [k for n in subs for k in n.evaluated(v)]

    if all(n.no_keys for n in subs):
        return check, None
    return check, evaluated_all if word == "allOf" else evaluated


def _one_required(subs: list[_Node]) -> frozenset[str]:
    """The names, when every node is ``{required: [name]}`` alone and the names differ (else empty)."""
    names = [n.required_only for n in subs]
    if any(name is None for name in names) or len(set(names)) != len(names):
        return frozenset()
    return frozenset(name for name in names if name is not None)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:  # (the usual sizes, without a loop)
        a, b = checks
        return lambda v: a(v) and b(v)
    if len(checks) == 3:
        a, b, c = checks
        return lambda v: a(v) and b(v) and c(v)
    held = tuple(checks)

    def every(v: Any) -> bool:
        for c in held:  # noqa: SIM110 (a loop: all() over a generator costs a frame per value)
            if not c(v):
                return False
        return True

    return every
