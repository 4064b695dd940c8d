"""GitHub Actions workflow files: the document, its ``on:`` triggers and its
``workflow_dispatch`` inputs.

One reader for every layer that looks inside a workflow: gridctl's dispatch templates check
their inputs with it, and the sandbox decides with it whether a workflow can be dispatched and
with which inputs. Pure: it parses what it is given and reads nothing else.

Workflow files are read with a YAML safe loader. ``on:`` may be a string (one event), a list of
events, or a mapping of events to their settings; a loader reading YAML 1.1 (a file with a
``%YAML 1.1`` directive) turns a bare ``on`` key into boolean ``true``, which is accepted too.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

__all__ = ["WorkflowError", "dispatch_inputs", "parse_workflow", "triggers"]


class WorkflowError(Exception):
    """A workflow file that cannot be read as a workflow."""


def parse_workflow(data: bytes | str) -> dict[Any, Any]:
    """The workflow document (a fresh safe loader each time: a ``%YAML`` directive in one file
    must not leak into the next).

    Raises :class:`WorkflowError`, whose message reads after the file's name ("is not valid
    YAML (...)"), for bytes that are not UTF-8, text that is not YAML, and a document that is
    not a mapping.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise WorkflowError("is not UTF-8 text") from None
    try:
        doc = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = (getattr(exc, "problem", None) or "invalid YAML").strip()
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise WorkflowError(f"is not valid YAML ({problem}{where})") from None
    except (ValueError, TypeError) as exc:
        raise WorkflowError(f"is not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise WorkflowError("is not a workflow (expected a mapping with `on:` and `jobs:`)")
    return doc


def triggers(doc: Any) -> Any:
    """The ``on:`` value (None when ``doc`` is not a mapping or has none)."""
    if not isinstance(doc, dict):
        return None
    if "on" in doc:
        return doc["on"]
    return doc.get(True)


def dispatch_inputs(doc: Any) -> dict[str, dict[str, Any]] | None:
    """The ``workflow_dispatch`` inputs by name (``{}`` when the trigger declares none), or None
    when the workflow has no ``workflow_dispatch`` trigger. An input declared without settings
    reads as ``{}``."""
    on = triggers(doc)
    if isinstance(on, str):
        return {} if on == "workflow_dispatch" else None
    if isinstance(on, list):
        return {} if "workflow_dispatch" in on else None
    if isinstance(on, dict):
        if "workflow_dispatch" not in on:
            return None
        spec = on["workflow_dispatch"]
        inputs = spec.get("inputs") if isinstance(spec, dict) else None
        if not isinstance(inputs, dict):
            return {}
        return {str(k): (v if isinstance(v, dict) else {}) for k, v in inputs.items()}
    return None
