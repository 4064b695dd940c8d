"""Rebuild the vendored webhook payload schemas from GitHub's published ones.

Usage (what ``nox -s webhook_schemas`` runs)::

    npm pack @octokit/webhooks-schemas@7.6.1          # into a scratch folder
    python -m gridctl.sandbox.webhooks.build package/schema.json

The source is one JSON Schema (draft-07) with every webhook event under ``definitions``
(``workflow_job$queued``, ``ping$event``...). We keep only the events the sandbox emits
(:data:`EVENTS`) and the definitions they reference, unchanged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
TARGET = HERE / "schemas.json"
PACKAGE = "@octokit/webhooks-schemas@7.6.1"
#: the payloads the sandbox sends, as ``event$action`` (``ping$event`` has no action)
EVENTS = (
    "ping$event",
    "workflow_job$queued",
    "workflow_job$in_progress",
    "workflow_job$completed",
    "workflow_job$waiting",
    "workflow_run$requested",
    "workflow_run$in_progress",
    "workflow_run$completed",
)


def _refs(node: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            out.add(ref[len("#/definitions/") :])
        for value in node.values():
            out |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            out |= _refs(value)
    return out


def build(source: Path) -> dict:
    doc = json.loads(source.read_text())
    defs = doc["definitions"]
    missing = [e for e in EVENTS if e not in defs]
    if missing:
        raise SystemExit(f"events not found in {source}: {', '.join(missing)}")
    keep: set[str] = set()
    todo = list(EVENTS)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        todo.extend(_refs(defs[name]) - keep)
    return {
        "$schema": doc.get("$schema", "http://json-schema.org/draft-07/schema#"),
        "x-subset-of": f"{PACKAGE} schema.json",
        "x-subset-note": "The events the gridctl sandbox emits and the definitions they reference; see LICENSE.md.",
        "x-events": list(EVENTS),
        "definitions": {k: defs[k] for k in sorted(keep)},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    doc = build(Path(argv[0]))
    TARGET.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes, {len(doc['definitions'])} definitions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
