"""The installed package ships what the tree has: every Python package, and schemas/ as
gridctl.schemas (the same files editors use)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_lists_every_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "gridctl").rglob("__init__.py")}
    assert listed == found | {"gridctl.schemas"}
    assert config["package-dir"] == {"gridctl.schemas": "schemas"}


def test_schemas_resolve_to_the_top_level_files():
    from gridctl.manifest.schema import schema_path

    for name in ("grid.schema.json", "plan.schema.json", "task.schema.json"):
        assert schema_path(name).resolve() == (ROOT / "schemas" / name).resolve()
