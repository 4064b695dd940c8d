"""Under umask 000, every file and folder gridctl and its embedded sandbox create is private, and
a journal or state folder that other users can write to is refused."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def gridctl(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import os, sys; os.umask(0); from gridctl.cli import main; sys.argv = ['gridctl', *sys.argv[1:]]; main()"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_", "GITHUB_"))}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_everything_created_under_umask_000_is_private(tmp_path):
    work = tmp_path / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", work, ignore=shutil.ignore_patterns(".gridctl"))
    r = gridctl(["apply", "--sandbox", "--auto-approve"], work)
    assert r.returncode == 0, r.stdout + r.stderr
    r = gridctl(["plan", "--sandbox", "--detailed-exitcode"], work)
    assert r.returncode == 0, r.stdout + r.stderr
    made = [work / ".gridctl", *(work / ".gridctl").rglob("*")]
    assert len(made) > 5
    loose = [f"{p.relative_to(work)} {stat.S_IMODE(p.lstat().st_mode):04o}" for p in made
             if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077]
    assert not loose, loose


def test_a_journal_folder_others_can_write_is_refused(tmp_path):
    work = tmp_path / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", work, ignore=shutil.ignore_patterns(".gridctl"))
    assert gridctl(["apply", "--sandbox", "--auto-approve"], work).returncode == 0
    journal = work / ".gridctl" / "journal"
    os.chmod(journal, 0o777)  # noqa: S103 - the permissive folder under test
    r = gridctl(["plan", "--sandbox"], work)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "can be written by other users (mode 0777)" in r.stderr and "chmod 700" in r.stderr
    assert "Traceback" not in r.stderr
