"""Rebuild the vendored OpenAPI subset from GitHub's official description.

Usage (what ``nox -s spec`` runs)::

    npm pack @octokit/openapi@23.0.2          # into a scratch folder
    python -m gridctl.sandbox.openapi.build package/generated/api.github.com.deref.json

The source is the fully dereferenced description (no ``$ref``). We keep only the operations
listed in ``operations.txt`` and drop ``example``/``examples`` to keep the file small; schemas,
statuses and operation descriptions (which carry the token-scope sentences) stay as published.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
OPERATIONS = HERE / "operations.txt"
TARGET = HERE / "github-openapi.json"
PACKAGE = "@octokit/openapi@23.0.2"


def wanted_operations() -> dict[str, str]:
    """operationId -> group, from operations.txt."""
    out: dict[str, str] = {}
    for line in OPERATIONS.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        group, op_id = line.split()
        out[op_id] = group
    return out


def _strip(node: object) -> object:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in ("example", "examples")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def build(source: Path) -> dict:
    spec = json.loads(source.read_text())
    wanted = wanted_operations()
    paths: dict[str, dict] = {}
    seen: set[str] = set()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or op.get("operationId") not in wanted:
                continue
            op = dict(_strip(op))  # type: ignore[call-overload]
            op["x-gridctl-group"] = wanted[op["operationId"]]
            op.pop("x-octokit", None)
            paths.setdefault(path, {})[method] = op
            seen.add(op["operationId"])
    missing = sorted(set(wanted) - seen)
    if missing:
        raise SystemExit(f"operations not found in {source}: {', '.join(missing)}")
    return {
        "openapi": spec["openapi"],
        "info": {
            "title": spec["info"]["title"],
            "version": spec["info"]["version"],
            "license": spec["info"].get("license"),
            "x-subset-of": f"{PACKAGE} generated/api.github.com.deref.json",
            "x-subset-note": "Operations listed in operations.txt; examples removed.",
        },
        "servers": spec.get("servers", []),
        "paths": dict(sorted(paths.items())),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    doc = build(Path(argv[0]))
    TARGET.write_text(json.dumps(doc, separators=(",", ":"), sort_keys=False) + "\n")
    n = sum(len(v) for v in doc["paths"].values())
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes, {n} operations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
