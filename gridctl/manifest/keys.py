"""Key sets: spreading keys over accounts, and formatting a set into one secret value.

Spread is deterministic and stable: each key goes to the account that ranks highest for it
(rendezvous hashing) among those with room left, keys taken in a fixed order. Adding a key
therefore moves few or no existing keys, and the same input always gives the same spread.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable

from .sources import Sensitive


def _digest(*parts: str) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.digest()


def spread(
    values: list[Sensitive],
    accounts: list[str],
    per_account: int | None = None,
    previous: dict[str, set[str]] | None = None,
    fingerprint: Callable[[Sensitive], str] | None = None,
) -> tuple[dict[str, list[Sensitive]], int]:
    """Assign each value to one account. Returns ``(assignment, unassigned_count)``.

    With ``previous`` (account -> fingerprints of the values it held last time, from state) and
    the ``fingerprint`` function, values stay where they were while their account has room, so
    replacing or adding a key moves only that key; the rest are placed by rendezvous hashing.
    Within an account, values keep their order in the source, so the formatted secret is stable.
    """
    if not accounts:
        return {}, len(values)
    cap = per_account or math.ceil(len(values) / len(accounts))
    order = {id(v): i for i, v in enumerate(values)}
    by_digest = sorted(values, key=lambda v: _digest("key", v.reveal()))
    load: dict[str, list[Sensitive]] = {a: [] for a in accounts}
    unassigned = 0
    if previous and fingerprint is not None:
        where = {fp: a for a, fps in previous.items() if a in load for fp in fps}
        kept = []
        for v in by_digest:
            a = where.get(fingerprint(v))
            if a is not None and len(load[a]) < cap:
                load[a].append(v)
            else:
                kept.append(v)
        by_digest = kept
    for v in by_digest:
        ranked = sorted(accounts, key=lambda a: _digest("rank", a, v.reveal()), reverse=True)
        for a in ranked:
            if len(load[a]) < cap:
                load[a].append(v)
                break
        else:
            unassigned += 1
    for a in load:
        load[a].sort(key=lambda v: order[id(v)])
    return load, unassigned


def format_values(values: list[Sensitive], fmt: str) -> Sensitive:
    """One secret value from a set: ``single`` (exactly one), ``json`` (a JSON list), ``lines``."""
    if fmt == "json":
        return Sensitive(json.dumps([v.reveal() for v in values]))
    if fmt == "lines":
        return Sensitive("\n".join(v.reveal() for v in values))
    if len(values) != 1:
        raise ValueError(f"format single needs exactly one value, the key holds {len(values)}")
    return values[0]
