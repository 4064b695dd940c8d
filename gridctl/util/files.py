"""gridctl's own folders (``.gridctl/``, its journal, cache and state folders) are private.

They hold the state and the journal that an apply replays: in a folder other local users can
write, one of them could plant a journal run that the next command replays into the state. So
gridctl creates its folders with mode 0700 whatever the umask, and refuses to use one that
others can write to.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import GridctlError


def private_dir(path: Path) -> Path:
    """``path`` as a folder: missing parts created with mode 0700 (the umask cannot widen it);
    an existing folder that other users can write to is refused."""
    missing = []
    p = path
    while not os.path.lexists(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        else:
            os.chmod(d, 0o700)  # mkdir's mode is masked by the umask; this makes it exact
    check_private_dir(path)
    return path


def check_private_dir(path: Path) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise GridctlError(f"{path}: cannot use this folder ({exc.strerror or exc.__class__.__name__})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise GridctlError(f"{path} is not a folder; move it away (gridctl keeps its work files there)")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        raise GridctlError(
            f"{path} can be written by other users (mode {stat.S_IMODE(st.st_mode):04o}): one of them could "
            f"plant a journal run or a state file; make it private with: chmod 700 {path}"
        )
