"""GitHub's published webhook payload schemas, the subset the sandbox emits.

``schemas.json`` is built from the npm package ``@octokit/webhooks-schemas`` by
``python -m gridctl.sandbox.webhooks.build`` (``nox -s webhook_schemas``); LICENSE.md says where
it comes from and under which licence. Strict mode checks every payload the sandbox sends
against it (:mod:`gridctl.sandbox.api.hooks`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SCHEMAS_PATH = Path(__file__).parent / "schemas.json"


@functools.lru_cache(maxsize=1)
def load_schemas() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SCHEMAS_PATH.read_text())
    return doc
