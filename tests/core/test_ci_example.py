"""The CI example installs gridctl from a source that exists: this repository's git history at a
release tag, as the distribution named in pyproject.toml — never the unrelated `gridctl` on PyPI.

The test clones this checkout, tags it as the workflow's GRIDCTL_REF, and builds the very
requirement the workflow's `pip install` line names (with GRIDCTL_GIT pointed at the clone):
the wheel must come out as our distribution at our version, holding the `gridctl` package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from ruamel.yaml import YAML

import gridctl

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "workflows" / "gridctl.yml"


def _workflow() -> dict:
    return YAML(typ="safe").load(WORKFLOW.read_text())


def _install_lines(wf: dict) -> list[str]:
    out = []
    for job in wf["jobs"].values():
        for step in job.get("steps", []):
            run = step.get("run") or ""
            out += [ln.strip() for ln in run.splitlines() if "pip install" in ln]
    return out


def test_workflow_pins_a_tag_of_our_distribution():
    wf = _workflow()
    dist = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert dist != "gridctl"  # that name on PyPI is another project's
    lines = _install_lines(wf)
    assert lines, "the workflow installs gridctl somewhere"
    for line in lines:
        assert line == f'pip install "{dist} @ git+${{GRIDCTL_GIT}}@${{GRIDCTL_REF}}"', line
    assert wf["env"]["GRIDCTL_REF"] == f"v{gridctl.__version__}"
    assert re.fullmatch(r"https://github\.com/[^/]+/gridctl", wf["env"]["GRIDCTL_GIT"])
    assert "GRIDCTL_VERSION" not in WORKFLOW.read_text()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_workflows_requirement_builds_our_wheel_from_a_tag(tmp_path):
    wf = _workflow()
    dist = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    clone = tmp_path / "gridctl"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=120)
    # the working tree may hold changes not committed yet: build what is here, as a commit
    for rel in ("pyproject.toml", "gridctl/__init__.py"):
        shutil.copy(ROOT / rel, clone / rel)
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "commit", "-q", "-a", "-m", "snapshot", "--allow-empty"], check=True, timeout=60)
    subprocess.run([*git, "tag", wf["env"]["GRIDCTL_REF"]], check=True, timeout=60)
    line = _install_lines(wf)[0]
    requirement = re.search(r'"([^"]+)"', line).group(1)  # type: ignore[union-attr]
    # pip reads a file URL in a "name @ url" requirement only with a host part
    requirement = requirement.replace("${GRIDCTL_GIT}", "file://localhost" + clone.as_posix()).replace("${GRIDCTL_REF}", wf["env"]["GRIDCTL_REF"])
    out = tmp_path / "wheels"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), requirement],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1
    assert wheels[0].name.startswith(f"{dist.replace('-', '_')}-{gridctl.__version__}-"), wheels[0].name
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "gridctl/__init__.py" in names and "gridctl/cli/__init__.py" in names
