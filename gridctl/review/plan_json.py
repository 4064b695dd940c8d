"""The canonical, versioned plan JSON (schemas/plan.schema.json)."""

from __future__ import annotations

import json

from ..plan import Plan


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
