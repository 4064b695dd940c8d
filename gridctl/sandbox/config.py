"""Sandbox settings and the realism knobs (latency, faults, rate limits), all off by default.

The knob strings are what ``gridctl sandbox serve`` accepts:

* ``--latency 80ms`` (fixed) or ``--latency lognormal:median=120ms,sigma=0.6``;
* ``--faults rate=0.05,statuses=502|503|reset`` (a probability per request), and/or
  ``--faults nth=3,op=repos/get,status=502`` ("fail the 3rd request to repos/get"); several
  ``--faults`` options add up. ``after=1`` on an nth rule applies the request first and then
  fails the response (the write happened, the client does not know).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from ..util.durations import seconds


class ConfigError(ValueError):
    pass


def parse_duration(text: str) -> float:
    value = seconds(text)
    if value is None:
        raise ConfigError(f"not a duration: {text!r} (use 80ms, 1.5s, 2m)")
    return value


@dataclass
class Latency:
    kind: str = "off"  # off | fixed | lognormal
    value: float = 0.0  # fixed seconds, or the median for lognormal
    sigma: float = 0.6

    @classmethod
    def parse(cls, text: str | None) -> Latency:
        if not text or text == "off":
            return cls()
        if text.startswith("lognormal"):
            opts = _options(text.partition(":")[2])
            unknown = set(opts) - {"median", "sigma"}
            if unknown:
                raise ConfigError(f"latency {text!r}: unknown option(s) {', '.join(sorted(unknown))} (median, sigma)")
            median = parse_duration(opts.get("median", "120ms"))
            sigma = _number(opts.get("sigma", "0.6"), "sigma", float)
            if median <= 0 or not 0 <= sigma <= 10:
                raise ConfigError(f"latency {text!r}: median must be above 0 and sigma from 0 to 10")
            return cls("lognormal", median, sigma)
        return cls("fixed", parse_duration(text))

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.value
        if self.kind == "lognormal":
            return rng.lognormvariate(math.log(self.value), self.sigma)
        return 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "sigma": self.sigma}


@dataclass
class FaultRule:
    """Fail the ``nth`` request (1-based, counted from when the rule was set) to ``op``."""

    op: str
    nth: int
    status: int | str = 502  # an HTTP status or "reset"
    after: bool = False  # run the handler first, then fail the response
    method: str | None = None
    seen: int = 0
    fired: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "nth": self.nth,
            "status": self.status,
            "after": self.after,
            "seen": self.seen,
            "fired": self.fired,
        }


@dataclass
class Faults:
    rate: float = 0.0
    statuses: list[int | str] = field(default_factory=lambda: [502, 503, "reset"])
    rules: list[FaultRule] = field(default_factory=list)

    @classmethod
    def parse(cls, specs: list[str] | None) -> Faults:
        out = cls()
        for spec in specs or []:
            opts = _options(spec)
            if "rate" in opts:
                out.rate = _number(opts["rate"], "fault rate", float)
                if "statuses" in opts:
                    out.statuses = [_status(s) for s in opts["statuses"].split("|")]
            elif "nth" in opts:
                if "op" not in opts:
                    raise ConfigError(f"fault rule {spec!r} needs op=OPERATION_ID")
                out.rules.append(
                    FaultRule(
                        op=opts["op"],
                        nth=_number(opts["nth"], "nth", int),
                        status=_status(opts.get("status", "502")),
                        after=opts.get("after", "0") in ("1", "true", "yes"),
                    )
                )
            else:
                raise ConfigError(f"fault spec {spec!r} needs rate=P or nth=N,op=OP")
        if any(r.nth < 1 for r in out.rules):
            raise ConfigError("nth counts requests from 1")
        if not 0.0 <= out.rate <= 1.0:
            raise ConfigError("fault rate must be between 0 and 1")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"rate": self.rate, "statuses": self.statuses, "rules": [r.as_dict() for r in self.rules]}


def _status(text: str | int) -> int | str:
    if isinstance(text, int):
        return text
    text = text.strip()
    if text == "reset":
        return "reset"
    try:
        code = int(text)
    except ValueError:
        code = 0
    if not 400 <= code <= 599:
        raise ConfigError(f"fault status must be an HTTP error status (400-599) or 'reset', not {text!r}")
    return code


def _number(text: str, what: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{what} must be {'an integer' if kind is int else 'a number'}, not {text!r}") from None


def _options(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"expected key=value, got {part!r}")
        out[key.strip()] = value.strip()
    return out


#: the choices of the limits that are words; every other limit is a number from 0 to _LIMIT_MAX
_LIMIT_CHOICES = {
    "primary_status": ("403", "429", "random"),
    "secondary_status": ("403", "429", "random"),
    "content_mode": ("contents", "all"),
}
_LIMIT_MAX = 10**9


@dataclass
class Limits:
    """GitHub's rate limits as the sandbox enforces them (GitHub Docs, "Rate limits for the REST API": 5,000 requests an hour for a user token, secondary limits on concurrency, content creation and points per minute)."""

    primary_per_hour: int = 5000
    anonymous_per_hour: int = 60
    primary_status: str = "403"  # "403" | "429" | "random"
    secondary_status: str = "403"
    max_concurrent: int = 100
    content_per_minute: int = 80
    content_per_hour: int = 500
    endpoint_points_per_minute: int = 900
    secondary_block_seconds: float = 60.0
    retry_after_probability: float = 0.8
    #: "contents" counts commits, repo creation, invitations, comments; "all" every mutation
    content_mode: str = "contents"
    #: entries of a recursive git tree before GitHub cuts it and says ``truncated`` (GitHub Docs,
    #: "Get a tree": 100,000 entries or 7 MB, https://docs.github.com/en/rest/git/trees#get-a-tree)
    tree_max_entries: int = 100_000

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def update(self, values: dict[str, Any]) -> None:
        """Set some limits; every value is checked (type and range) before any is set."""
        checked = {key: self._checked(key, value) for key, value in values.items()}
        for key, value in checked.items():
            setattr(self, key, value)

    def _checked(self, key: str, value: Any) -> Any:
        if key not in self.__dict__:
            raise ConfigError(f"unknown limit {key!r}")
        current = getattr(self, key)
        if isinstance(current, str):
            allowed = _LIMIT_CHOICES[key]
            if isinstance(value, bool) or str(value) not in allowed:
                raise ConfigError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
            return str(value)
        kind = type(current)
        try:
            number = kind(value) if not isinstance(value, bool) and isinstance(value, (int, float, str)) else None
        except (ValueError, OverflowError):
            number = None
        high = 1.0 if key == "retry_after_probability" else _LIMIT_MAX
        if number is None or not math.isfinite(number) or not 0 <= number <= high:
            what = "an integer" if kind is int else "a number"
            raise ConfigError(f"{key} must be {what} from 0 to {high:g}, not {value!r}")
        return number


@dataclass
class SandboxConfig:
    public_url: str | None = None
    latency: Latency = field(default_factory=Latency)
    faults: Faults = field(default_factory=Faults)
    limits: Limits = field(default_factory=Limits)
    #: validate every response against the vendored OpenAPI description and record violations
    strict: bool = False
    seed: int | None = None
