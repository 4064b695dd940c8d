"""How the key spreads move, for reviewers: per account, which keys it holds before and after.

Keys are named by number (``#3`` is the third key of the key set's source, in file order), never
by value; a key the account held that is no longer in the source shows as ``removed``. "Before"
is what the last apply recorded in state (``keyspread:<id>``, HMAC fingerprints only).
"""

from __future__ import annotations

from ..manifest.model import Manifest
from ..plan import Note
from ..state.local import State


def _numbers(indices: list[int], removed: int = 0) -> str:
    parts = [f"#{i}" for i in sorted(indices)]
    if removed:
        parts.append(f"{removed} removed")
    return " ".join(parts) if parts else "—"


def spread_notes(manifest: Manifest, state: State, fp_key: bytes) -> list[Note]:
    """One note per key set whose spread this plan changes (or lays out for the first time),
    then one per account whose share changes."""
    notes: list[Note] = []
    for ks in manifest.keys.values():
        if not ks.spread_over or not ks.values:
            continue
        index = {v.fingerprint(fp_key): i for i, v in enumerate(ks.values, start=1)}
        entry = state.get(f"keyspread:{ks.id}") or {}
        previous: dict[str, list[str]] = {a: list(fps) for a, fps in (entry.get("shares") or {}).items()}
        now = {a: sorted(v.fingerprint(fp_key) for v in vs) for a, vs in ks.shares.items()}
        accounts = sorted(set(previous) | set(now))
        moved = [a for a in accounts if sorted(previous.get(a, [])) != now.get(a, [])]
        if not moved:
            continue
        address = f"keyspread:{ks.id}"
        src = ks.source.describe()
        notes.append(Note(address, f"{len(ks.values)} keys from {src} over {len(ks.spread_over)} account(s); "
                                   f"{len(moved)} share(s) change (#n is the n-th key of the source)"))
        for a in moved:
            acc = manifest.accounts.get(a)
            who = f"{a} ({acc.login}{', retired' if acc.retired else ''})" if acc else f"{a} (no longer declared)"
            before_fps = previous.get(a, [])
            before = _numbers([index[f] for f in before_fps if f in index], sum(1 for f in before_fps if f not in index))
            after = _numbers([index[f] for f in now.get(a, [])])
            notes.append(Note(address, f"{who}: {before} → {after}"))
    return notes
