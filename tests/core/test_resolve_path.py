"""``resolve_path`` (a manifest's file sources: inside its folder, symbolic links followed) gives
what ``Path.resolve()`` gives, with and without ``folders_resolved_once`` (a load resolves each
folder's links once, issue 16): every path of one to two steps over folders, files, links in,
out, to themselves and in a loop, ``.``, ``..``, empty steps and ``~`` — from the real folder, a
link to it and a relative path; the same path, the same refusal or the same exception."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from gridctl.errors import SourceError
from gridctl.manifest.sources import folders_resolved_once, resolve_path


def reference(root: Path, raw: str, allow_outside: bool) -> Path:
    """The rule in Path's terms: relative paths resolved inside ``root`` (or refused)."""
    p = Path(os.path.expanduser(raw))
    if p.is_absolute():
        if not allow_outside:
            raise SourceError(f"file {raw} must be relative to the manifest's folder")
        return p
    if raw.startswith("~") and allow_outside:
        return p
    root_real, candidate = root.resolve(), (root / p).resolve()
    if candidate != root_real and root_real not in candidate.parents:
        raise SourceError(f"file {raw} is outside the manifest's folder")
    return candidate


def outcome(fn, *args) -> tuple[str, str]:
    try:
        return "path", str(fn(*args))
    except SourceError as exc:
        return "refused", str(exc)
    except Exception as exc:  # noqa: BLE001 - a symlink loop: the same exception either way
        return "raised", type(exc).__name__


def test_resolve_path_is_path_resolve(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "f").write_text("x")
    root = tmp_path / "m"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "f").write_text("x")
    for name, target in {"lo": tmp_path / "out", "ld": root / "d", "self": root, "loop": "loop", "dangling": "nowhere",
                         "d/lf": "f", "d/esc": "../../out/f"}.items():
        os.symlink(target, root / name)
    os.symlink(root, tmp_path / "rootlink")
    monkeypatch.chdir(tmp_path)
    steps = ["d", "f", "lo", "ld", "lf", "esc", "loop", "dangling", "self", "..", ".", "", "~"]
    checked = 0
    for base in (root, tmp_path / "rootlink", Path("m")):
        for n in (1, 2):
            for combo in itertools.product(steps, repeat=n):
                for lead in ("", "/", "./", "~/"):
                    raw = lead + "/".join(combo)
                    for allow_outside in (False, True):
                        want = outcome(reference, base, raw, allow_outside)
                        assert outcome(lambda *a: resolve_path(*a[:2], allow_outside=a[2]), base, raw, allow_outside) == want, raw
                        with folders_resolved_once():  # twice: the second time from the folders resolved
                            for _ in range(2):
                                assert outcome(lambda *a: resolve_path(*a[:2], allow_outside=a[2]), base, raw, allow_outside) == want, raw
                        checked += 1
    assert checked == 3 * (13 + 13 * 13) * 4 * 2
