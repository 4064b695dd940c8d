"""The vendored GitHub OpenAPI description, as validators.

GitHub's description is OpenAPI 3.0, whose schemas are *almost* JSON Schema draft 4. The two
differences that matter here are handled by :func:`to_json_schema`:

* ``nullable: true`` becomes ``type: [T, "null"]`` (and ``null`` joins an ``enum``, because
  OpenAPI 3.0 does not add ``null`` to an ``enum`` by itself and real ``null`` values would fail);
* OpenAPI-only keywords (``example``, ``readOnly``, ``x-*``...) are dropped.

The same validators serve two purposes: request bodies are checked before a handler runs (a
schema-invalid body is a 422, as on github.com), and in strict mode every response the sandbox
sends is checked against the documented response schema for its status.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft4Validator, FormatChecker

SPEC_PATH = Path(__file__).parent / "openapi" / "github-openapi.json"

_OAS_ONLY = {
    "example",
    "examples",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "discriminator",
    "deprecated",
    "nullable",
}

_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$"
)

format_checker = FormatChecker(formats=())


def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


_NOT_IN_URI = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def _is_uri(value: object) -> bool:
    """An absolute URL, or a URI reference without whitespace or control characters: GitHub
    returns what users typed in some ``uri`` fields (a repository's ``homepage`` of
    ``example.com``)."""
    return not isinstance(value, str) or "://" in value or not _NOT_IN_URI.search(value)


# registered by calling jsonschema's (untyped) decorator, so the checkers keep their types
format_checker.checks("date-time")(_is_date_time)
format_checker.checks("uri")(_is_uri)


def to_json_schema(node: Any) -> Any:
    """Translate one OpenAPI 3.0 schema object into draft-4 JSON Schema."""
    if isinstance(node, list):
        return [to_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: to_json_schema(v)
        for k, v in node.items()
        if k not in _OAS_ONLY and not k.startswith("x-")
    }
    # "properties" maps names to schemas: a property may be called "example" or "readOnly".
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: to_json_schema(v) for k, v in node["properties"].items()}
    if node.get("nullable"):
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        elif isinstance(t, list) and "null" not in t:
            out["type"] = [*t, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        for combinator in ("oneOf", "anyOf"):
            if combinator in out:
                out[combinator] = [*out[combinator], {"type": "null"}]
        if "allOf" in out:
            out = {"anyOf": [{"allOf": out.pop("allOf"), **out}, {"type": "null"}]}
    return out


@dataclass(frozen=True)
class Operation:
    op_id: str
    method: str
    path: str
    group: str
    doc_url: str
    raw: dict

    @property
    def statuses(self) -> list[str]:
        return list(self.raw.get("responses", {}))

    def request_schema(self) -> dict | None:
        body = self.raw.get("requestBody")
        if not body:
            return None
        content = body.get("content", {})
        media = content.get("application/json") or next(iter(content.values()), None)
        if not media or "schema" not in media:
            return None
        schema: dict = to_json_schema(media["schema"])
        return schema

    def response_schema(self, status: int, media_type: str | None = None) -> dict | None | bool:
        """The JSON schema of the documented response (of ``media_type`` when the operation
        documents that one, else of ``application/json``), ``None`` for a bodiless one,
        ``False`` when the status is not documented for this operation."""
        resp = self.raw.get("responses", {}).get(str(status))
        if resp is None:
            return False
        content = resp.get("content") or {}
        media = (content.get(media_type) if media_type else None) or content.get("application/json") or next(iter(content.values()), None)
        if not media or "schema" not in media:
            return None
        schema: dict = to_json_schema(media["schema"])
        return schema


_ONE_LABEL = {
    "oneOf": [
        {"type": "string"},
        {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    ]
}

#: Request bodies GitHub accepts beyond the vendored schema, where its own description says so in
#: prose. add-labels / set-labels: "an ``array`` of labels directly", "a single label as a
#: ``string``", and for set-labels "an empty array to remove all labels" — PyGithub's
#: ``add_to_labels`` / ``set_labels`` send a bare array. Each entry extends the body's ``oneOf``.
REQUEST_ALTERNATIVES: dict[str, list[dict]] = {
    "issues/add-labels": [
        {"type": "array", "minItems": 1, "items": _ONE_LABEL},
        {"type": "string"},
    ],
    "issues/set-labels": [
        {"type": "array", "items": _ONE_LABEL},
        {"type": "string"},
        {"type": "object", "properties": {"labels": {"type": "array", "maxItems": 0}}, "required": ["labels"]},
    ],
}

#: Members a request schema lists as required that GitHub's own description says to leave out, by
#: operation and the path to the object schema. update-branch-protection: ``contexts`` is
#: "**Closing down notice** ... Use ``checks`` instead of ``contexts``" (PyGithub's
#: ``edit_protection`` sends ``checks`` alone).
REQUEST_NOT_REQUIRED: dict[str, dict[tuple[str, ...], tuple[str, ...]]] = {
    "repos/update-branch-protection": {("properties", "required_status_checks"): ("contexts",)},
}


class Spec:
    """All vendored operations, indexed by operationId."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.operations: dict[str, Operation] = {}
        for path, item in doc["paths"].items():
            for method, raw in item.items():
                if not isinstance(raw, dict) or "operationId" not in raw:
                    continue
                op = Operation(
                    op_id=raw["operationId"],
                    method=method.upper(),
                    path=path,
                    group=raw.get("x-gridctl-group", ""),
                    doc_url=(raw.get("externalDocs") or {}).get("url", "https://docs.github.com/rest"),
                    raw=raw,
                )
                self.operations[op.op_id] = op
        for op_id, alternatives in REQUEST_ALTERNATIVES.items():
            found = self.operations.get(op_id)
            schema = ((found.raw.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")) if found else None
            if isinstance(schema, dict) and isinstance(schema.get("oneOf"), list):
                schema["oneOf"] = [*schema["oneOf"], *alternatives]
        for op_id, paths in REQUEST_NOT_REQUIRED.items():
            found = self.operations.get(op_id)
            for path, names in paths.items():
                node = ((found.raw.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")) if found else None
                for step in path:
                    node = node.get(step) if isinstance(node, dict) else None
                if isinstance(node, dict) and isinstance(node.get("required"), list):
                    node["required"] = [r for r in node["required"] if r not in names]
        self._basic_error = self._find_component_response("basic-error")
        self._validation_error = self._find_component_response("validation-error")

    def _find_component_response(self, title: str) -> dict:
        for op in self.operations.values():
            for resp in op.raw.get("responses", {}).values():
                schema = ((resp.get("content") or {}).get("application/json") or {}).get("schema")
                if isinstance(schema, dict) and schema.get("title", "").lower().replace(" ", "-") == title:
                    found: dict = to_json_schema(schema)
                    return found
        raise LookupError(title)

    def operation(self, op_id: str) -> Operation:
        return self.operations[op_id]

    @functools.cache  # noqa: B019  (one Spec per process: load_spec() is cached)
    def request_validator(self, op_id: str) -> Draft4Validator | None:
        schema = self.operations[op_id].request_schema()
        if schema is None:
            return None
        return Draft4Validator(schema, format_checker=format_checker)

    @functools.cache  # noqa: B019  (one Spec per process: load_spec() is cached)
    def response_validator(self, op_id: str, status: int, media_type: str | None = None) -> Draft4Validator | None | bool:
        schema = self.operations[op_id].response_schema(status, media_type)
        if schema is False or schema is None:
            return schema
        return Draft4Validator(schema, format_checker=format_checker)

    def error_validator(self, status: int) -> Draft4Validator:
        schema = self._validation_error if status == 422 else self._basic_error
        return Draft4Validator(schema, format_checker=format_checker)

    def check_response(self, op_id: str, status: int, body: bytes, media_type: str | None = None) -> list[str]:
        """Problems with one response, as readable strings (empty when it conforms).

        A documented status is checked against its own schema. An error status the
        description does not list (GitHub documents few of them) is checked against the
        ``basic-error`` / ``validation-error`` shapes that github.com uses everywhere.
        """
        problems: list[str] = []
        validator = self.response_validator(op_id, status, media_type)
        if status in (204, 304):
            if body:
                problems.append(f"{op_id} {status}: body must be empty")
            return problems
        if validator is False:
            if status < 400 and status not in (301, 302, 307):
                return [f"{op_id}: status {status} is not documented"]
            if status >= 400:
                validator = self.error_validator(status)
            else:
                return problems
        if validator is None:
            return problems
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return [f"{op_id} {status}: body is not JSON"]
        assert isinstance(validator, Draft4Validator)
        for err in validator.iter_errors(data):
            if status >= 400 and err.validator == "oneOf" and "is valid under each of" in err.message:
                # GitHub documents some error bodies as a oneOf of shapes that require nothing
                # (e.g. basic-error vs "Repository rule violation"); its real bodies match both.
                continue
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            problems.append(f"{op_id} {status} at {where}: {err.message[:300]}")
            if len(problems) >= 10:
                break
        return problems


@functools.lru_cache(maxsize=1)
def load_spec() -> Spec:
    return Spec(json.loads(SPEC_PATH.read_text()))


def describe_error(err: jsonschema.ValidationError) -> str:
    """A request-body schema error in GitHub's wording."""
    where = "/".join(
        f"properties/{p}" if isinstance(p, str) else f"items/{p}" for p in err.absolute_path
    )
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return f'"{missing}" wasn\'t supplied.'
    if err.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", err.message)
        return f'"{extra[0] if extra else "?"}" is not a permitted key.'
    value = json.dumps(err.instance)
    if err.validator == "type":
        expected = err.validator_value
        if isinstance(expected, list):
            expected = "/".join(str(e) for e in expected)
        article = "an" if str(expected)[:1] in "aeiou" else "a"
        return f"For '{where}', {value} is not {article} {expected}."
    if err.validator == "enum":
        opts = ", ".join(json.dumps(v) for v in err.validator_value if v is not None)
        return f"For '{where}', {value} is not a member of [{opts}]."
    if err.validator == "pattern":
        return f"For '{where}', {value} does not match /{err.validator_value}/."
    if err.validator in ("maxItems", "minItems", "maxLength", "minLength", "maximum", "minimum", "maxProperties"):
        return f"For '{where}', {value} is invalid ({err.validator} {err.validator_value})."
    return f"For '{where}', {value} is not valid."
