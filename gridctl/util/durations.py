"""One duration grammar: a number and an optional unit — ``80ms``, ``1.5s``, ``2m``, ``1h``, ``3d``
(no unit: seconds). Used by the manifest (``orphan_after``) and the sandbox's knobs."""

from __future__ import annotations

import re

_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def seconds(text: str) -> float | None:
    """The duration in seconds, or None when ``text`` is not one."""
    m = _DURATION.fullmatch(text)
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None
