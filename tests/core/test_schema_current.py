"""``schemas/grid.schema.json`` (the file editors use) holds every kind's manifest section: it is
the frame schema with each section's fragment merged in (``nox -s schema`` rewrites it)."""

from __future__ import annotations

import json

from gridctl.manifest.schema import schema_path
from gridctl.resources import SECTIONS, manifest_schema


def test_the_schema_file_is_current():
    on_disk = json.loads(schema_path("grid.schema.json").read_text())
    assert on_disk == manifest_schema(), "schemas/grid.schema.json is out of date: run nox -s schema"
    repo = on_disk["$defs"]["repo"]["properties"]
    for s in SECTIONS:
        if s.where == "repo":
            assert repo[s.key] == s.schema
            assert ("prune" in repo and s.key in repo["prune"]["properties"]) == s.prunable
        else:
            assert on_disk["properties"][s.key] == s.schema
